"""``biobench serve``: an OpenAI-compatible server on 127.0.0.1 for a local transformers model.

    biobench serve                                  # the embedded SmolLM2-135M-Instruct, port 8000
    biobench serve --model path/or/hub-id --port 8011 --name my-model

Endpoints (``runners/openai_server.py``): ``/v1/models``, ``/v1/completions`` (with ``echo`` and
``logprobs``, as lm-eval's ``local-completions`` uses them), ``/v1/chat/completions``,
``/health``. Evaluate through it with lm-eval::

    lm_eval --model local-completions --tasks bio_qa --include_path tasks \\
      --model_args model=<name>,base_url=http://127.0.0.1:8000/v1/completions,\\
    tokenizer_backend=huggingface,tokenizer=<model path>

or point the judge at it: ``biobench judge RUN_DIR --base-url http://127.0.0.1:8000/v1
--judge-model <name>``. The server binds to loopback only unless ``--host`` says otherwise.

Request limits (a bad request gets HTTP 400 with an OpenAI-style error naming the field in
``param``; see ``runners/openai_server.py`` for every check):

* ``--max-prompts-per-request N`` (default 64): prompts in one ``/v1/completions`` request (a
  list of strings or of token-id lists); lm-eval sends ``batch_size`` prompts per request;
* ``--max-request-tokens N`` (default 65536): prompt tokens + ``max_tokens`` x prompts of one
  request (chat: prompt + completion tokens), so no single request holds the model for long;
  each prompt + ``max_tokens`` must also fit the model's context;
* bodies over 32 MiB get 413; the body must be UTF-8 JSON; every string (prompts, message
  contents, stop strings, ...) valid UTF-8 without lone surrogates or NUL; every integer within
  64 bits (``seed`` too); ``temperature`` 0..2, ``top_p`` (0, 1], ``n`` 1, ``logprobs`` 0..20,
  at most 16 ``stop`` strings; wrong types are refused, not coerced.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from runners.cli import Parser
from runners.hardware import add_matmul_precision_argument
from runners.serve_backend import (
    DEFAULT_BATCH_WINDOW,
    DEFAULT_MAX_PROMPTS,
    DEFAULT_MAX_REQUEST_TOKENS,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 8000


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="biobench serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", default="default", help="model folder or hub id (default: embedded SmolLM2)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--name", default="", help="served model name (default: folder name)")
    parser.add_argument(
        "--dtype", default="float32", help="torch dtype: float32 (default), bfloat16, float16"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_matmul_precision_argument(parser)
    parser.add_argument(
        "--max-batch",
        type=int,
        default=8,
        help="most concurrent generation requests decoded together in one batch (default 8; "
        "1 turns batching off)",
    )
    parser.add_argument(
        "--max-batch-tokens",
        type=int,
        default=16384,
        help="a batch grows only while rows x (longest prompt + max_tokens) stays within this "
        "(default 16384), so long prompts run alone or in small batches",
    )
    parser.add_argument(
        "--batch-window-ms",
        type=float,
        default=DEFAULT_BATCH_WINDOW * 1000,
        help="a free model waits up to this long after a generation request arrives for others "
        f"to share its batch (default {DEFAULT_BATCH_WINDOW * 1000:g} ms; 0 turns waiting off)",
    )
    parser.add_argument(
        "--max-prompts-per-request",
        type=int,
        default=DEFAULT_MAX_PROMPTS,
        help=f"most prompts one completions request may carry (default {DEFAULT_MAX_PROMPTS}); "
        "more get HTTP 400",
    )
    parser.add_argument(
        "--max-request-tokens",
        type=int,
        default=DEFAULT_MAX_REQUEST_TOKENS,
        help="most tokens one request may ask for: prompt tokens + max_tokens x prompts "
        f"(default {DEFAULT_MAX_REQUEST_TOKENS}); more get HTTP 400",
    )
    return parser


def served_name(model: str, path: str) -> str:
    if model.lower() == "default":
        from runners.model import DEFAULT_MODEL_NAME

        return DEFAULT_MODEL_NAME
    return Path(path).name if Path(path).exists() else model


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise SystemExit(f"biobench serve: --port must be 1..65535, got {args.port}")
    if args.max_batch < 1:
        raise SystemExit(f"biobench serve: --max-batch must be >= 1, got {args.max_batch}")
    if not 0 <= args.batch_window_ms <= 10_000:
        raise SystemExit(
            f"biobench serve: --batch-window-ms must be 0..10000, got {args.batch_window_ms:g}"
        )
    for flag in ("max_prompts_per_request", "max_request_tokens"):
        if getattr(args, flag) < 1:
            name = "--" + flag.replace("_", "-")
            raise SystemExit(f"biobench serve: {name} must be >= 1, got {getattr(args, flag)}")
    import uvicorn

    from runners.model import resolve_model_path
    from runners.openai_server import Limits, create_app
    from runners.serve_backend import LocalLM

    path = resolve_model_path(args.model)
    name = args.name or served_name(args.model, path)
    try:
        if args.device == "cpu" and args.dtype == "float32":
            from runners.hardware import apply_matmul_precision

            apply_matmul_precision(args.matmul_precision)
        lm = LocalLM(
            path,
            dtype=args.dtype,
            device=args.device,
            max_batch=args.max_batch,
            max_batch_tokens=args.max_batch_tokens,
            batch_window=args.batch_window_ms / 1000,
        )
    except ValueError as exc:
        raise SystemExit(f"biobench serve: {exc}") from exc
    limits = Limits(
        max_prompts_per_request=args.max_prompts_per_request,
        max_request_tokens=args.max_request_tokens,
    )
    app = create_app(lm, name, limits)
    print(f"biobench serve: {name} ({path}) at http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
