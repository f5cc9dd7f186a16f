"""One evaluation, described once: what ``biobench eval`` runs and how every command builds it.

An :class:`EvalSpec` holds the model (a hub id, a local folder, or ``default``: the embedded
SmolLM2), the lm-eval backend, the other model arguments as a structured dict, the tasks, the
item subset (``limit``: the first N; ``lite``: the seeded lite subset; ``samples``: named doc
ids), the float32 matmul precision, the chat template, the few-shot count, the seed and the
generation cap. It is made from a queued request (:meth:`EvalSpec.from_request`, the worker),
from a stored submission (:meth:`EvalSpec.for_submission`: ``biobench verify`` and the board's
"reproduce" line) or directly (the ablation, the demo), and it builds the ``biobench eval``
argument list (:meth:`EvalSpec.eval_argv`) and lm-eval's model arguments
(:meth:`EvalSpec.lm_eval_model_args`).

Model arguments are a dict everywhere and reach lm-eval as one JSON object (lm-eval 0.4.13's
``--model_args`` takes a JSON object as well as ``k=v,...``): never re-joined into a ``k=v``
string, so no key or value can add another argument (a folder named ``m,trust_remote_code=True``
stays one path). ``trust_remote_code`` is set only by :attr:`EvalSpec.trust_remote_code`, which
only an operator's own ``--allow-remote-code`` sets; arguments copied from a request or a
submission never carry it (:data:`REMOTE_CODE_KEYS` are dropped on the way in).

:func:`is_on` is the suite's one reading of a boolean model argument, as the loader reads it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from leaderboard.schemas import EvalBackend, EvalRequest, Precision

DEFAULT_MODEL = "default"  # ``biobench eval --model default``: the embedded SmolLM2
EMBEDDED_MODEL_DIR = "models/smollm2-135m-instruct"  # where `biobench model prepare` puts it
LOCAL_PLACEHOLDER = "MODEL_DIR"  # a local folder of another machine, in a shown command
# model arguments that make the loader run the model repository's own Python code
REMOTE_CODE_KEYS = ("trust_remote_code",)
# model arguments that say which weights are evaluated and how they are loaded (kept when a
# submission's run is evaluated again; others, such as a batch size or a device map, are not)
MODEL_KEYS = ("revision", "dtype", "peft", "lora_local_path", "max_lora_rank", "delta")
_DTYPES = {
    Precision.FLOAT32: "float32",
    Precision.FLOAT16: "float16",
    Precision.BFLOAT16: "bfloat16",
}


class SpecError(ValueError):
    """An evaluation the suite cannot describe or run; the message names the fix."""


# --- model arguments ----------------------------------------------------------------------------


def parse_model_args(value: str | dict[str, Any] | None) -> dict[str, Any]:
    """``--model_args`` (``k=v,...`` or a JSON object) parsed exactly as ``lm_eval run`` does
    (its own argparse action: typed values, commas inside brackets and quotes kept)."""
    if isinstance(value, dict):
        return dict(value)
    if not value or not str(value).strip():
        return {}
    from lm_eval._cli.utils import MergeDictAction

    class _Refuse(argparse.ArgumentParser):
        def error(self, message: str):  # lm-eval's parser exits; say what was wrong instead
            raise SpecError(f"--model_args {str(value)[:80]!r}: {message}")

    parser = _Refuse(add_help=False)
    parser.add_argument("--model_args", nargs="+", action=MergeDictAction)
    try:
        parsed = parser.parse_args(["--model_args", str(value)]).model_args
    except ValueError as exc:
        raise SpecError(f"--model_args {str(value)[:80]!r}: {exc}") from exc
    return dict(parsed or {})


def is_on(value: Any) -> bool:
    """Whether a boolean model argument is on, read as lm-eval and transformers read it.

    lm-eval turns ``k=v`` text into typed values (``true``/``True`` -> True, ``false`` -> False,
    ``1``/``2`` -> int, ``None`` -> None; :func:`parse_model_args`) and transformers then tests
    the value's truth (``if trust_remote_code``). So every truthy value is on — ``True``, ``1``,
    ``2``, ``"yes"``, ``"on"``, and any other non-empty text such as a JSON ``"false"`` string
    (the loader would honour it) — and only False, None, 0 and the empty string are off. Text
    is first read the way lm-eval reads a ``k=v`` value (``"false"``, ``"0"`` and ``"None"`` off).
    """
    if isinstance(value, str):
        from lm_eval._cli.utils import handle_cli_value_string

        text = value.strip()
        if not text:
            return False
        value = handle_cli_value_string(text)
        if isinstance(value, str):  # text lm-eval keeps as text: truthy to the loader
            return True
    try:
        return bool(value)
    except Exception:  # noqa: BLE001 - an object without a truth value: count it as on
        return True


def uses_remote_code(model_args: str | dict[str, Any] | None) -> bool:
    """Whether these model arguments make the loader run the model repository's code."""
    try:
        args = parse_model_args(model_args)
    except SpecError:
        return isinstance(model_args, str) and "trust_remote_code" in model_args
    return any(is_on(args.get(key)) for key in REMOTE_CODE_KEYS)


def json_arg(args: dict[str, Any]) -> str:
    """Model arguments as lm-eval's one-argument JSON object (stable key order)."""
    return json.dumps(args, sort_keys=True)


def _without_remote_code(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in REMOTE_CODE_KEYS}


# --- the spec ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalSpec:
    """One ``biobench eval`` run (see the module docstring)."""

    model: str  # hub id, local folder, DEFAULT_MODEL, or LOCAL_PLACEHOLDER in a shown command
    tasks: tuple[str, ...]
    backend: str = EvalBackend.HF.value
    model_args: dict[str, Any] = field(default_factory=dict)  # without pretrained
    dtype: str | None = None  # lm-eval's dtype model argument
    limit: int | None = None  # the first N documents per task
    lite: int | None = None  # each task's seeded lite subset of N documents
    samples: dict[str, list[int]] | None = None  # exactly these doc ids per task
    matmul_precision: str = ""  # "" (biobench eval's auto), "ieee" or "bf16"
    chat_template: bool = False
    num_fewshot: int | None = None  # None: each task's own
    seed: int | str | None = (
        None  # lm-eval's --seed (one int, or 4 comma-separated); None: its default
    )
    max_gen_toks: int | None = None  # None: each task's own cap
    batch_size: str | None = None
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    trust_remote_code: bool = False  # only from an operator's own --allow-remote-code

    def __post_init__(self) -> None:
        if self.num_fewshot is not None and (
            isinstance(self.num_fewshot, bool) or self.num_fewshot < 0
        ):
            raise SpecError(f"few-shot count {self.num_fewshot!r} must be 0 or more")
        chosen = [n for n, v in (("limit", self.limit), ("lite", self.lite),
                                 ("samples", self.samples)) if v is not None]  # fmt: skip
        if len(chosen) > 1:
            raise SpecError(f"choose one item subset: {' and '.join(chosen)} were both given")
        leaked = [k for k in self.model_args if k in REMOTE_CODE_KEYS or k == "pretrained"]
        if leaked:
            raise SpecError(
                f"model_args may not set {', '.join(leaked)}: the model is EvalSpec.model and "
                "remote code only the operator's --allow-remote-code turns on"
            )

    def with_(self, **changes: Any) -> EvalSpec:
        return replace(self, **changes)

    # --- lm-eval's arguments --------------------------------------------------------------

    def lm_eval_model_args(self) -> dict[str, Any]:
        """The complete model arguments lm-eval gets (``pretrained`` first)."""
        args: dict[str, Any] = {}
        if self.model != DEFAULT_MODEL:
            args["pretrained"] = self.model
        args.update(self.model_args)
        if self.dtype:
            args["dtype"] = self.dtype
        if self.trust_remote_code:
            args["trust_remote_code"] = True
        return args

    def eval_argv(self, output_path: str | None = None) -> list[str]:
        """``biobench eval``'s arguments for this run (one argument per value, no shell)."""
        if self.model == DEFAULT_MODEL:
            argv = ["--model", DEFAULT_MODEL]
            if self.backend != EvalBackend.HF.value:
                argv += ["--backend", self.backend]
        else:
            argv = ["--model", self.backend]
        args = self.lm_eval_model_args()
        if args:
            argv += ["--model_args", json_arg(args)]
        argv += ["--tasks", ",".join(self.tasks)]
        if self.tensor_parallel_size > 1:
            argv += ["--tensor-parallel-size", str(int(self.tensor_parallel_size))]
        if self.data_parallel_size > 1:
            argv += ["--data-parallel-size", str(int(self.data_parallel_size))]
        if self.limit is not None:
            argv += ["--limit", str(int(self.limit))]
        if self.lite is not None:
            argv += ["--lite", str(int(self.lite))]
        if self.samples is not None:
            argv += ["--samples", json.dumps(self.samples, sort_keys=True)]
        if self.num_fewshot is not None:
            argv += ["--num_fewshot", str(int(self.num_fewshot))]
        if self.chat_template:
            argv.append("--apply_chat_template")
        if self.matmul_precision:
            argv += ["--matmul-precision", self.matmul_precision]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        if self.batch_size:
            argv += ["--batch_size", str(self.batch_size)]
        if self.max_gen_toks is not None:
            argv += ["--gen_kwargs", f"max_gen_toks={int(self.max_gen_toks)}"]
        if self.trust_remote_code:
            argv.append("--allow-remote-code")
        if output_path is not None:
            argv += ["--output_path", str(output_path)]
        return argv

    def command(self, output_path: str, python: str = sys.executable) -> list[str]:
        """The ``biobench eval`` process of this run, with this interpreter."""
        return [python, "-m", "runners.cli", "eval", *self.eval_argv(output_path)]

    def shell_line(self, output_path: str) -> str:
        """``biobench eval ...`` as one shell line, every argument quoted (the model arguments
        stay one JSON argument, so a value cannot add another)."""
        return " ".join(shlex.quote(p) for p in ["biobench", "eval", *self.eval_argv(output_path)])

    # --- made from a request ------------------------------------------------------------------

    @classmethod
    def from_request(
        cls,
        req: EvalRequest,
        *,
        tasks: Iterable[str] | None = None,
        trust_remote_code: bool = False,
        lora_rank: int | None = None,
    ) -> EvalSpec:
        """A queued request's evaluation from its validated fields only (the request's own
        ``allow_remote_code`` is never read: ``trust_remote_code`` is the worker operator's)."""
        backend = EvalBackend(req.backend)
        precision = Precision(req.precision)
        args: dict[str, Any] = {}
        if not req.model.startswith("/"):
            args["revision"] = req.sha or req.revision
        dtype = _DTYPES.get(precision)
        if dtype is None:
            if backend is EvalBackend.HF and precision is Precision.INT8:
                args["load_in_8bit"] = True
            elif backend is EvalBackend.HF and precision is Precision.INT4:
                args["load_in_4bit"] = True
            else:
                raise SpecError(
                    f"precision {precision} cannot be evaluated with the {backend} model"
                )
        if req.peft_adapter:
            if backend is EvalBackend.HF:
                args["peft"] = req.peft_adapter
            else:
                if lora_rank is None:
                    raise SpecError(f"adapter {req.peft_adapter}: vLLM needs its LoRA rank")
                args["lora_local_path"] = req.peft_adapter
                args["max_lora_rank"] = lora_rank
        return cls(
            model=req.model,
            tasks=tuple(tasks if tasks is not None else req.tasks.split(",")),
            backend=backend.value,
            model_args=args,
            dtype=dtype,
            limit=req.limit,
            max_gen_toks=req.max_gen_toks,
            tensor_parallel_size=req.tensor_parallel_size,
            data_parallel_size=req.data_parallel_size,
            trust_remote_code=trust_remote_code,
        )

    # --- made from a stored submission -----------------------------------------------------------

    @classmethod
    def for_submission(
        cls,
        sub: Any,
        *,
        pretrained: str | None = None,
        trust_remote_code: bool = False,
        shown: bool = False,
    ) -> list[EvalSpec]:
        """The evaluations that rerun a stored submission's tasks as it ran them: the same
        weights and load arguments, prompt form (chat template), few-shot count, float32 matmul
        precision, seed, generation cap and item subset. Tasks that differ in any of these get
        an evaluation each. ``pretrained``: where the weights are here (default: the run's own);
        ``shown``: for display, a local folder of the submitting machine becomes
        :data:`LOCAL_PLACEHOLDER` and the embedded model ``--model default``."""
        from leaderboard.suite import load_suite
        from tasks import registry

        try:
            args = parse_model_args(sub.run.model_args or None)
        except SpecError:
            args = {}
        original = str(args.get("pretrained") or "")
        local = original.startswith("/")
        embedded = local and original.rstrip("/").endswith(EMBEDDED_MODEL_DIR)
        kept = {k: args[k] for k in MODEL_KEYS if k in args and k != "dtype"}
        dtype = str(args["dtype"]) if args.get("dtype") not in (None, "") else None
        if pretrained:
            model = pretrained
        elif shown and embedded:
            model = DEFAULT_MODEL
        elif shown:
            model = sub.model.base_model if sub.model.adapter else sub.model.id
            model = LOCAL_PLACEHOLDER if local else model
        else:
            model = original or sub.model.id
        if shown:
            kept.pop("revision", None)
            if not local:
                kept["revision"] = sub.model.revision
            if sub.model.adapter:
                kept["peft"] = sub.model.adapter.id
        elif model.startswith("/") or model == DEFAULT_MODEL:
            kept.pop("revision", None)
        backend = str(sub.run.model_source or EvalBackend.HF.value)
        backend = backend if backend in {b.value for b in EvalBackend} else EvalBackend.HF.value
        base = cls(
            model=model,
            tasks=(),
            backend=backend,
            model_args=_without_remote_code(kept),
            dtype=dtype,
            matmul_precision=sub.run.matmul_precision,
            chat_template=bool(sub.run.chat_template),
            seed=_seed_text(sub.run.seeds or {}),
            batch_size=sub.run.batch_size or None,
            trust_remote_code=trust_remote_code,
        )
        try:
            suite = load_suite(registry.TASKS_DIR)
        except Exception:  # noqa: BLE001 - without the suite, caps are passed as recorded
            suite = None
        spec_names = {t.name for t in registry.TASKS}
        groups: dict[tuple, list[str]] = {}
        for t in sub.tasks:
            if t.is_detail or t.task not in spec_names:
                continue
            own = suite.tasks[t.task].max_gen_toks if suite and t.task in suite.tasks else None
            cap = (t.generation_kwargs or {}).get("max_gen_toks")
            cap = int(cap) if isinstance(cap, int | float) and cap != own else None
            subset = subset_of(t.item_subset)
            groups.setdefault((subset, t.n_shot, cap), []).append(t.task)
        out = []
        for ((kind, size), shots, cap), names in groups.items():
            out.append(
                base.with_(
                    tasks=tuple(names),
                    limit=size if kind == "first" else None,
                    lite=size if kind == "lite" else None,
                    num_fewshot=shots or None,
                    max_gen_toks=cap,
                )
            )
        return out


LM_EVAL_DEFAULT_SEEDS = (0, 1234, 1234, 1234)  # lm-eval 0.4.13: python, numpy, torch, few-shot
SEED_KEYS = ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed")


def _seed_text(seeds: dict[str, int | None]) -> str | None:
    """lm-eval's ``--seed`` for a run's recorded seeds (None when they are lm-eval's default)."""
    values = tuple(seeds.get(k) for k in SEED_KEYS)
    if not seeds or values == LM_EVAL_DEFAULT_SEEDS:
        return None
    return ",".join("None" if v is None else str(int(v)) for v in values)


def subset_of(label: str) -> tuple[str, int | None]:
    """(kind, size) of a stored item-subset label: ``("lite", 200)`` for ``lite-200-v1``,
    ``("first", 5)`` for ``first-5``, ``("full", None)`` otherwise (``custom-...`` cannot be
    named by a flag: the items are listed by the submission itself)."""
    parts = label.split("-")
    if parts[0] in ("lite", "first") and len(parts) >= 2 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return "full", None
