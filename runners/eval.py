"""``biobench eval``: lm-eval with the suite's defaults, provenance, and a table per group.

Everything lm-eval's ``run`` accepts is passed through unchanged. Added here:

* ``--include_path`` the suite's ``tasks/`` folder (always);
* ``--model default`` = lm-eval's ``hf`` model on the embedded SmolLM2-135M-Instruct;
* ``--log_samples`` on (``--no_log_samples`` to turn it off), ``--output_path runs`` by default;
  lm-eval writes ``<output_path>/<model>/results_<time>.json`` and ``samples_<task>_<time>.jsonl``;
* a ``biobench`` block in the results JSON: suite version, and per task the data source,
  record count and SHA-256 of the canonical test records, so a run can be checked later.

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
from pathlib import Path
from typing import Any

from tasks import registry
from tasks.common.sources import load

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = "runs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biobench eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="All other arguments go to `lm_eval run` unchanged (see `lm_eval run --help`).",
    )
    parser.add_argument("--model", default="hf", help="lm-eval model type, or `default`")
    parser.add_argument("--model_args", default="", help="lm-eval model_args")
    parser.add_argument("--tasks", required=True, help="comma-separated tasks or groups")
    parser.add_argument("--output_path", default=DEFAULT_OUTPUT, help="results folder root")
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
    parser.add_argument(
        "--submit", action="store_true", help="store the run as a submission (biobench submit)"
    )
    from runners.submit import add_metadata_arguments

    add_metadata_arguments(parser)
    return parser


def lm_eval_argv(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The ``lm_eval run`` argument list for the parsed ``biobench eval`` arguments."""
    model, model_args = args.model, args.model_args
    if model.lower() == "default":
        from runners.model import prepare_default_model

        model = "hf"
        pretrained = f"pretrained={prepare_default_model()}"
        model_args = f"{pretrained},{model_args}" if model_args else pretrained
    argv = ["run", "--model", model, "--tasks", args.tasks, "--output_path", args.output_path]
    argv += ["--include_path", str(registry.TASKS_DIR)]
    if model_args:
        argv += ["--model_args", model_args]
    if not args.no_log_samples:
        argv.append("--log_samples")
    if args.lite:
        argv += ["--samples", json.dumps(lite_samples(args.tasks, args.lite))]
    if "--device" not in extra and not _cuda_available():
        # lm-eval's default is cuda:0; without CUDA it silently runs on the CPU but still
        # records cuda:0 in the results, so say where the run really is.
        argv += ["--device", "cpu"]
    return argv + extra


def lite_samples(tasks: str, size: int) -> dict[str, list[int]]:
    """lm-eval's ``--samples`` mapping for the lite subsets of every leaf of ``tasks``."""
    from leaderboard.suite import load_suite
    from tasks.common.subsets import lite_indices

    suite = load_suite(registry.TASKS_DIR)
    leaves: list[str] = []
    for name in (t.strip() for t in tasks.split(",") if t.strip()):
        leaves += suite.leaves_of(name) if name in suite.groups else [name]
    return {leaf: lite_indices(leaf, size) for leaf in dict.fromkeys(leaves)}


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


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def annotate(results_path: Path) -> dict[str, Any]:
    results = json.loads(results_path.read_text(encoding="utf-8"))
    leaves = sorted(results.get("configs", {}))
    results["biobench"] = {
        "suite_version": registry.SUITE_VERSION,
        "tasks": data_provenance(leaves),
    }
    write_json_atomic(results_path, results)
    return results


def format_tables(results: dict[str, Any]) -> str:
    """One plain-text table per group (and one for tasks outside any group)."""
    scores = results.get("results", {})
    groups = results.get("group_subtasks", {})
    in_group = {t for subs in groups.values() for t in subs}
    top = [g for g in groups if g not in in_group]
    blocks = []

    def rows(name: str, depth: int) -> list[str]:
        metrics = {k: v for k, v in scores.get(name, {}).items() if "_stderr" not in k and "," in k}
        lines = []
        for key, value in metrics.items():
            if not isinstance(value, int | float):
                continue
            stderr = scores[name].get(key.replace(",", "_stderr,"), None)
            err = f" ± {stderr:.4f}" if isinstance(stderr, int | float) else ""
            lines.append(f"{'  ' * depth}{name:<{44 - 2 * depth}} {key:<22} {value:.4f}{err}")
        for sub in groups.get(name, []):
            lines += rows(sub, depth + 1)
        return lines

    for g in top:
        blocks.append(f"== {g} ==\n" + "\n".join(rows(g, 0)))
    loose = [t for t in scores if t not in in_group and t not in groups]
    if loose:
        blocks.append("== tasks ==\n" + "\n".join(line for t in loose for line in rows(t, 0)))
    return "\n\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    command = [sys.executable, "-m", "lm_eval", *lm_eval_argv(args, extra)]
    log.info("running: %s", " ".join(command))
    started = time.time() - 1
    proc = subprocess.run(command, check=False)
    if proc.returncode != 0:
        print(f"biobench eval: lm-eval failed with exit code {proc.returncode}", file=sys.stderr)
        return proc.returncode
    results_path = newest_results(Path(args.output_path), started)
    results = annotate(results_path)
    print(format_tables(results))
    print(f"\nresults: {results_path}")
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
