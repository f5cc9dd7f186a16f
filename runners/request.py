"""``biobench request``: queue a model for evaluation (a PENDING request file).

    biobench request path/to/model --model-id my-org/my-model --model-type instruction-tuned
    biobench request org/name --revision main --precision bfloat16 --peft-adapter path/to/lora
    biobench request org/name-70b --model-type base --backend vllm --tensor-parallel-size 4

Checks before queuing (``leaderboard/request_queue.py``): the model folder or hub repository exists
with a config.json and safetensors weights (pickle checkpoints are refused), needs no custom code
unless ``--allow-remote-code``, declares a license (or ``--license``), a PEFT adapter names this
model as its base, and no PENDING/RUNNING/FINISHED request for the same model exists.
``biobench worker`` evaluates the queue (and inspects the model again before loading it).
``--list`` prints the queue, and the files in it that are not valid requests.
``--allow-remote-code`` lets a model that needs its own code into the queue; it runs only on a
worker whose operator started it with ``--allow-remote-code``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leaderboard.request_queue import RequestError, RequestQueue, new_request
from leaderboard.schemas import (
    MAX_DATA_PARALLEL,
    MAX_TENSOR_PARALLEL,
    EvalBackend,
    ModelType,
    Precision,
)
from leaderboard.store import Store
from runners.cli import Parser


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench request",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?", help="hub id (org/name) or local model folder")
    parser.add_argument("--revision", default="main")
    parser.add_argument("--precision", choices=[p.value for p in Precision])
    parser.add_argument(
        "--peft-adapter", dest="peft_adapter", help="local PEFT (LoRA) adapter folder"
    )
    parser.add_argument("--allow-remote-code", dest="allow_remote_code", action="store_true")
    parser.add_argument("--license", help="model license, when the model does not declare one")
    parser.add_argument("--model-type", dest="model_type", choices=[t.value for t in ModelType])
    parser.add_argument("--model-id", dest="model_id", help="org/name to list a local model under")
    parser.add_argument(
        "--tasks", default="bio_qa", help="suite tasks or groups (names only), e.g. bio_qa,bio_ie"
    )
    parser.add_argument("--limit", type=int, help="documents per task (smoke runs only)")
    parser.add_argument(
        "--max-gen-toks", dest="max_gen_toks", type=int, help="cap generated tokens (smoke runs)"
    )
    parser.add_argument("--submitter", default="anonymous")
    parser.add_argument(
        "--backend", choices=[b.value for b in EvalBackend], default=EvalBackend.HF.value,
        help="lm-eval model the worker evaluates with",
    )  # fmt: skip
    parser.add_argument(
        "--tensor-parallel-size", dest="tensor_parallel_size", type=int, default=1,
        help=f"vllm: GPUs per replica (1-{MAX_TENSOR_PARALLEL})",
    )  # fmt: skip
    parser.add_argument(
        "--data-parallel-size", dest="data_parallel_size", type=int, default=1,
        help=f"replicas (1-{MAX_DATA_PARALLEL}; hf: GPUs of the worker's machine, vllm: Ray)",
    )  # fmt: skip
    parser.add_argument("--store", type=Path, help="submissions root (default: submissions/)")
    parser.add_argument("--list", action="store_true", help="print the queue and exit")
    args = parser.parse_args(argv)
    queue = RequestQueue(Store(args.store).root)
    if args.list:
        valid, invalid = queue.scan()  # regular files only, bounded: a FIFO never blocks
        for _path, req in valid:
            last_error = (req.error or "").strip().splitlines()[-1:] or [""]
            print(
                f"{req.status:<8} {req.model_id:<45} {req.request_id}  {req.submission_id or last_error[0]}"
            )
        for path, why in queue.rejected():
            print(f"{'REJECTED':<8} {path.parent.name + '/' + path.stem:<45} {why}")
        for path, why in invalid:  # a worker will move them aside as .rejected
            print(f"{'INVALID':<8} {path.parent.name + '/' + path.name:<45} {why}")
        return 0
    if not args.model or not args.model_type:
        parser.error("a model and --model-type are required")
    try:
        request = new_request(
            args.model,
            revision=args.revision,
            precision=args.precision,
            peft_adapter=args.peft_adapter,
            allow_remote_code=args.allow_remote_code,
            license=args.license,
            model_type=args.model_type,
            model_id=args.model_id,
            tasks=args.tasks,
            limit=args.limit,
            max_gen_toks=args.max_gen_toks,
            submitter=args.submitter,
            backend=args.backend,
            tensor_parallel_size=args.tensor_parallel_size,
            data_parallel_size=args.data_parallel_size,
        )
        path = queue.add(request)
    except RequestError as exc:
        print(f"biobench request: refused: {exc}", file=sys.stderr)
        return 2
    print(f"queued {request.model_id} ({request.status}) as {path}")
    return 0
