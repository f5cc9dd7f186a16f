"""``biobench eval``: lm-eval with the suite's defaults, provenance, and a table per group.

Everything lm-eval's ``run`` accepts is passed through unchanged. Added here:

* ``--include_path`` the suite's ``tasks/`` folder (always);
* ``--model default`` = the embedded SmolLM2-135M-Instruct (on ``--backend``, default ``hf``);
* ``--backend hf|vllm`` with ``--tensor-parallel-size`` / ``--data-parallel-size``: lm-eval's
  ``hf`` model (data parallel under ``accelerate launch``, one process per GPU) or ``vllm``
  model (tensor parallel replicas, data-parallel replicas on Ray), model arguments passed as one
  JSON object (``runners/backends.py``; docs/scaling.md has the commands);
* ``--log_samples`` on (``--no_log_samples`` to turn it off), ``--output_path`` the checkout's ``runs/`` by default;
  lm-eval writes ``<output_path>/<model>/results_<time>.json`` and ``samples_<task>_<time>.jsonl``;
* ``--matmul-precision auto|ieee|bf16``: on the CPU, float32 matrix products in plain float32
  (``ieee``) or on the processor's bf16 units (``bf16``: weights, activations and everything
  between the products stay float32); ``auto`` (default) is ``bf16`` where the CPU has
  AMX-BF16 / AVX512-BF16 units and the model runs on the CPU, else ``ieee``
  (:mod:`runners.hardware`; docs/precision-and-speed.md has the measured speed and agreement);
* ``--allow-remote-code``: the only way to load a model with ``trust_remote_code=True`` (its
  repository's Python runs as you); ``trust_remote_code`` in ``--model_args`` (any spelling the
  loader takes as true), lm-eval's ``--trust_remote_code`` or a ``--metadata`` setting it is
  refused without it (docs/security.md);
* a ``biobench`` block in the results JSON: suite version, the matmul precision of a CPU run,
  the lite size of a ``--lite`` run, and per task the data source, record count and SHA-256
  of the canonical test records, so a run can be checked later.

The same tasks run with plain lm-eval: ``lm_eval --tasks bio_qa ...`` once ``make setup`` has
registered them (``biobench lm-eval-tasks``), or ``lm_eval --include_path tasks ...``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboard import evalspec
from leaderboard.schemas import MAX_DATA_PARALLEL, MAX_TENSOR_PARALLEL
from runners import backends
from runners.backends import BACKENDS, Backend, BackendError, Parallelism, parse_model_args
from runners.cli import Parser, runs_dir
from runners.hardware import MATMUL_ENV, add_matmul_precision_argument
from tasks import registry
from tasks.common.sources import load
from tasks.ground import atomic

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    # lm-eval's own spellings (--model_args, --output_path) are accepted without a note
    parser = Parser(
        prog="biobench eval",
        description=__doc__,
        underscore_note=False,
        epilog="All other arguments go to `lm_eval run` unchanged (see `lm_eval run --help`).",
    )
    parser.add_argument(
        "--model", help="lm-eval model type (hf, vllm, ...), or `default` (the embedded model)"
    )
    parser.add_argument("--model_args", default="", help="lm-eval model_args (k=v,... or JSON)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="hf or vllm (default: --model if it is one of them, else hf)",
    )
    parser.add_argument(
        "--tensor-parallel-size",
        dest="tensor_parallel_size",
        type=int,
        default=1,
        metavar="N",
        help=f"vllm: GPUs per model replica (1-{MAX_TENSOR_PARALLEL})",
    )
    parser.add_argument(
        "--data-parallel-size",
        dest="data_parallel_size",
        type=int,
        default=1,
        metavar="N",
        help=f"model replicas (1-{MAX_DATA_PARALLEL}): hf = processes on this machine's GPUs "
        "(accelerate launch), vllm = replicas on Ray",
    )
    parser.add_argument("--tasks", required=True, help="comma-separated tasks or groups")
    parser.add_argument(
        "--output_path",
        default=str(runs_dir()),
        help="results folder root (default: the checkout's runs/, or $BIOBENCH_RUNS_DIR)",
    )
    parser.add_argument(
        "--no_log_samples", action="store_true", help="do not log per-sample records"
    )
    parser.add_argument(
        "--lite",
        type=int,
        metavar="N",
        help="evaluate each task's fixed seeded lite subset of N items (tasks/common/subsets.py; "
        "comparable across runs, unlike --limit's first N)",
    )
    add_matmul_precision_argument(parser)
    parser.add_argument(
        "--num_fewshot",
        type=int,
        metavar="N",
        help="few-shot examples per prompt (0 or more; default: each task's own)",
    )
    parser.add_argument(
        "--allow-remote-code",
        dest="allow_remote_code",
        action="store_true",
        help="load the model with trust_remote_code=True: Python code from the model's "
        "repository runs as you; only after reviewing that code (the only way to turn it on)",
    )
    parser.add_argument(
        "--submit", action="store_true", help="store the run as a submission (biobench submit)"
    )
    from runners.submit import add_metadata_arguments

    add_metadata_arguments(parser)
    return parser


# lm-eval options that turn remote code on besides model_args.trust_remote_code
REMOTE_CODE_FLAG = "--trust_remote_code"


def check_remote_code(args: argparse.Namespace, extra: list[str]) -> None:
    """Remote code runs only with this command's own ``--allow-remote-code``: a
    ``trust_remote_code`` in ``--model_args`` (any spelling the loader takes as true), lm-eval's
    ``--trust_remote_code`` (or an abbreviation of it), or a ``--metadata`` / ``--config`` that
    sets it is refused without that flag (BackendError)."""
    if getattr(args, "allow_remote_code", False):
        return
    found = []
    if evalspec.uses_remote_code(getattr(args, "model_args", "") or ""):
        found.append("--model_args trust_remote_code")
    for i, token in enumerate(extra):
        name = token.split("=", 1)[0]
        if len(name) > 4 and REMOTE_CODE_FLAG.startswith(name):
            found.append(REMOTE_CODE_FLAG)
        elif name == "--metadata" and i + 1 < len(extra):
            if evalspec.uses_remote_code(extra[i + 1]):
                found.append("--metadata trust_remote_code")
        elif name == "--config" and "trust_remote_code" in _small_text(extra[i + 1 : i + 2]):
            found.append("--config trust_remote_code")
    if found:
        raise BackendError(
            f"{found[0]} asks to run code from the model's repository; that happens only with "
            "biobench eval's own --allow-remote-code (pass it after reviewing that code), or "
            "drop it"
        )


def _small_text(paths: list[str], limit: int = 1_000_000) -> str:
    """The text of a small regular file named on the command line ('' when there is none)."""
    from tasks.ground.atomic import read_bounded

    try:
        return read_bounded(Path(paths[0]), limit).decode("utf-8", "replace") if paths else ""
    except (OSError, ValueError):
        return ""


@dataclass(frozen=True)
class Plan:
    """What ``biobench eval`` runs: the backend, its parallelism, lm-eval's model type and
    model arguments (a dict for hf/vllm, passed as one JSON object; else the string as given)."""

    backend: Backend | None  # None: another lm-eval model type, passed through unchanged
    parallel: Parallelism
    model: str
    model_args: dict[str, Any] | str


def plan_of(args: argparse.Namespace) -> Plan:
    """Resolve ``--model`` / ``--backend`` / parallelism into one plan (BackendError if bad)."""
    model = (getattr(args, "model", None) or "").strip()
    chosen = getattr(args, "backend", None)
    tensor, data = (getattr(args, k, None) for k in ("tensor_parallel_size", "data_parallel_size"))
    parallel = Parallelism(1 if tensor is None else tensor, 1 if data is None else data)
    raw_args = getattr(args, "model_args", "") or ""
    if model.lower() == "default":
        from runners.model import prepare_default_model

        backend = Backend(chosen or Backend.HF)
        base = _remote_code(args, parse_model_args(raw_args))
        if "pretrained" in base:
            raise BackendError("--model default sets pretrained itself; drop it from --model_args")
        base = {"pretrained": str(prepare_default_model()), **base}
    elif not model or model in BACKENDS:
        backend = Backend(model or chosen or Backend.HF)
        if chosen and chosen != backend:
            raise BackendError(f"--model {model} and --backend {chosen} disagree; give one")
        base = _remote_code(args, parse_model_args(raw_args))
    else:
        if chosen or parallel != Parallelism():
            raise BackendError(
                f"--backend and the parallelism options apply to the hf and vllm models, not "
                f"--model {model}"
            )
        return Plan(None, parallel, model, raw_args)
    backends.check(backend, parallel)
    return Plan(backend, parallel, backend.value, backends.model_args(backend, base, parallel))


def _remote_code(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """The model arguments with trust_remote_code exactly as this command's flag says."""
    base = {k: v for k, v in base.items() if k not in evalspec.REMOTE_CODE_KEYS}
    if getattr(args, "allow_remote_code", False):
        base["trust_remote_code"] = True
    return base


def warn_slow_bf16(plan: Plan) -> None:
    """One line on stderr when a bfloat16 run would multiply in software here (it still runs:
    the user asked for it, e.g. for a precision comparison)."""
    from runners.hardware import slow_bf16

    args = plan.model_args if isinstance(plan.model_args, dict) else _kv(plan.model_args)
    if str(args.get("dtype", "")).lower() in ("bfloat16", "bf16") and (why := slow_bf16()):
        print(
            f"biobench eval: warning: dtype=bfloat16 will be slow: {why}; dtype=float32 "
            "(the default) runs at full speed here",
            file=sys.stderr,
        )


def matmul_precision(args: argparse.Namespace, plan: Plan, extra: list[str]) -> str | None:
    """The float32 matrix-product precision of this run on the CPU, or None where it does not
    apply (vLLM, a GPU, lm-eval model types other than hf, a model loaded in another dtype).
    ``bf16`` asked for where it does not apply, or on a CPU without bf16 units, is a
    BackendError."""
    from runners import hardware

    chosen = getattr(args, "matmul_precision", "auto") or "auto"
    device = extra[extra.index("--device") + 1] if "--device" in extra[:-1] else ""
    model_args = plan.model_args if isinstance(plan.model_args, dict) else _kv(plan.model_args)
    dtype = str(model_args.get("dtype", "float32")).lower().removeprefix("torch.")
    on_cpu = plan.backend is Backend.HF and not device.startswith("cuda") and not _cuda_available()
    if not on_cpu or dtype not in ("float32", "auto", "float"):
        if chosen == "bf16":
            raise BackendError(
                "--matmul-precision bf16 applies to float32 hf runs on the CPU; drop it for "
                "this run"
            )
        return None
    try:
        return hardware.resolve_matmul_precision(chosen, "--matmul-precision ieee")
    except ValueError as exc:
        raise BackendError(f"--{exc}") from exc


def lm_eval_argv(args: argparse.Namespace, extra: list[str], plan: Plan | None = None) -> list[str]:
    """The ``lm_eval run`` argument list for the parsed ``biobench eval`` arguments."""
    plan = plan or plan_of(args)
    output = results_target(args.output_path, plan.model_args)
    argv = ["run", "--model", plan.model, "--tasks", args.tasks, "--output_path", output]
    if not _registered():  # else lm-eval finds the tasks itself, and would warn per task that
        argv += ["--include_path", str(registry.TASKS_DIR)]  # --include_path overrides them
    if isinstance(plan.model_args, dict):
        argv += ["--model_args", evalspec.json_arg(plan.model_args)]
    elif plan.model_args:
        argv += ["--model_args", plan.model_args]
    if not args.no_log_samples:
        argv.append("--log_samples")
    if getattr(args, "num_fewshot", None) is not None:
        argv += ["--num_fewshot", str(args.num_fewshot)]
    if args.lite:
        argv += ["--samples", json.dumps(lite_samples(args.tasks, args.lite))]
    needs_device = plan.backend is not Backend.VLLM and plan.parallel.data == 1
    if needs_device and "--device" not in extra and not _cuda_available():
        # lm-eval's default is cuda:0; without CUDA it silently runs on the CPU but still
        # records cuda:0 in the results, so say where the run really is. (vLLM ignores
        # --device; under accelerate each process gets its own device.)
        argv += ["--device", "cpu"]
    return argv + extra


def command(args: argparse.Namespace, extra: list[str], plan: Plan | None = None) -> list[str]:
    """The whole command line: lm-eval's CLI, under ``accelerate launch`` for hf data parallel."""
    plan = plan or plan_of(args)
    prefix = backends.launcher(plan.backend, plan.parallel) if plan.backend else None
    prefix = prefix or [sys.executable, "-m", backends.LM_EVAL_MODULE]
    return prefix + lm_eval_argv(args, extra, plan)


def run_folder_name(model_args: dict[str, Any] | str) -> str | None:
    """A short results folder name for a model loaded from a local folder, else None.

    lm-eval names the folder after ``pretrained`` with every ``/`` made ``__``, so a local path
    gives ``__root__.cache__...__smollm2-135m-instruct``. A local model is named after its
    folder, a local PEFT adapter is appended (``base+adapter``; a folder called ``adapter`` is
    named after its parent, as ``biobench finetune`` writes ``<run>/adapter``). Hub ids keep
    lm-eval's own ``org__name``.
    """
    args = model_args if isinstance(model_args, dict) else _kv(model_args)
    pretrained = str(args.get("pretrained") or "")
    if not pretrained or not Path(pretrained).expanduser().exists():
        return None
    name = Path(pretrained).expanduser().resolve().name
    peft = str(args.get("peft") or "")
    if peft and Path(peft).expanduser().exists():
        folder = Path(peft).expanduser().resolve()
        name += "+" + (folder.parent.name if folder.name == "adapter" else folder.name)
    elif peft:
        name += "+" + peft.replace("/", "__")
    return name


def _kv(model_args: str) -> dict[str, str]:
    try:
        return {k: str(v) for k, v in parse_model_args(model_args).items()}
    except (BackendError, SystemExit, ValueError):  # lm-eval reports a bad value itself
        return {}


def results_target(output_path: str, model_args: dict[str, Any] | str) -> str:
    """lm-eval's ``--output_path``: ``<root>/<short name>/results.json`` for a local model.

    With a ``.json`` path lm-eval writes ``results_<time>.json`` and the samples logs next to
    it, so a local model's run lands in ``runs/<model>/`` like a hub model's, not under its
    flattened absolute path.
    """
    name = None if output_path.endswith(".json") else run_folder_name(model_args)
    return str(Path(output_path) / name / "results.json") if name else output_path


def lite_samples(tasks: str, size: int) -> dict[str, list[int]]:
    """lm-eval's ``--samples`` mapping for the lite subsets of every leaf of ``tasks``."""
    from leaderboard.suite import load_suite
    from tasks.common.subsets import lite_indices

    suite = load_suite(registry.TASKS_DIR)
    leaves: list[str] = []
    for name in (t.strip() for t in tasks.split(",") if t.strip()):
        leaves += suite.leaves_of(name) if name in suite.groups else [name]
    return {leaf: lite_indices(leaf, size) for leaf in dict.fromkeys(leaves)}


def _registered() -> bool:
    """``make setup``'s registration of this tasks folder is complete (``biobench lm-eval-tasks``)."""
    from runners import lm_eval_tasks

    try:
        return lm_eval_tasks.status().ok
    except (lm_eval_tasks.RegistrationError, OSError):
        return False


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def newest_results(root: Path, since: float) -> Path:
    found = [p for p in root.rglob("results_*.json") if p.stat().st_mtime >= since]
    if not found:
        raise FileNotFoundError(f"lm-eval wrote no results_*.json under {root}")
    return max(found, key=lambda p: p.stat().st_mtime)


def data_provenance(leaf_tasks: list[str]) -> dict[str, Any]:
    """Per leaf task: where its records came from, how many, and their SHA-256."""
    out: dict[str, Any] = {}
    for leaf in leaf_tasks:
        try:
            source = registry.leaf_source(leaf)
        except KeyError:
            continue
        split = load(source)
        out[leaf] = {
            "data_source": split.source,
            "data_location": split.location,
            "n_records": len(split.records),
            "data_sha256": split.sha256,
        }
    return out


def annotate(
    results_path: Path, matmul: str | None = None, lite: int | None = None
) -> dict[str, Any]:
    results = json.loads(results_path.read_text(encoding="utf-8"))
    leaves = sorted(results.get("configs", {}))
    results["biobench"] = {
        "suite_version": registry.SUITE_VERSION,
        **({"matmul_precision": matmul} if matmul else {}),
        **({"lite": lite} if lite else {}),
        "tasks": data_provenance(leaves),
    }
    atomic.write_json(results_path, results)
    return results


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if args.num_fewshot is not None and args.num_fewshot < 0:
        print(f"biobench eval: --num_fewshot {args.num_fewshot}: a few-shot count is 0 or more "
              "(examples per prompt); pass 0, 1, 2, ...", file=sys.stderr)  # fmt: skip
        return 2
    try:
        check_remote_code(args, extra)
        plan = plan_of(args)
        if plan.backend is not None:
            backends.preflight(plan.backend, plan.parallel)
        warn_slow_bf16(plan)
        matmul = matmul_precision(args, plan, extra)
        cmd = command(args, extra, plan)
    except BackendError as exc:
        print(f"biobench eval: {exc}", file=sys.stderr)
        return 2
    log.info("running: %s", " ".join(cmd))
    env = {k: v for k, v in os.environ.items() if k != MATMUL_ENV}  # this run's choice only
    if matmul:
        env[MATMUL_ENV] = matmul
    started = time.time() - 1
    proc = subprocess.run(cmd, check=False, env=env)
    if proc.returncode != 0:
        print(f"biobench eval: lm-eval failed with exit code {proc.returncode}", file=sys.stderr)
        return proc.returncode
    results_path = newest_results(Path(args.output_path), started)
    annotate(results_path, matmul, args.lite)  # the biobench block: suite version, data provenance
    print(f"\nresults: {results_path}")  # lm-eval has printed its table
    print(
        f"samples: {results_path.parent}/samples_*_{results_path.stem.removeprefix('results_')}.jsonl"
    )
    if args.submit:
        from leaderboard.validate import SubmissionError
        from runners.submit import submit

        try:
            print(f"submitted: {submit([results_path], args)}")
        except SubmissionError as exc:
            print(f"biobench eval: submission rejected: {exc}", file=sys.stderr)
            return 2
    return 0
