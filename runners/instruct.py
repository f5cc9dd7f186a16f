"""``biobench instruct``: the BioInstruct instruction-generation recipe, one subcommand per stage.

  run            generate -> parse -> filter -> dedup in rounds until --target records are kept,
                 then classify and write instructions.jsonl + stats (the whole recipe)
  generate       send generation requests (online, concurrent, checkpointed)
  batch          the same requests through the OpenAI Batch API (write, upload, create, poll, collect)
  parse          raw responses -> parsed.jsonl (malformed output counted and logged)
  filter         parsed.jsonl -> filtered.jsonl (length, blacklist, echo, non-English)
  dedup          filtered.jsonl -> deduped.jsonl (ROUGE-L F > threshold against the kept pool)
  classify       deduped.jsonl -> instructions.jsonl (QA / IE / GEN / other)
  stats          stats.md + plots of a run folder
  contamination  13-gram overlap of an instruction file with the test items of every bio_* task
  load-published the published BioInstruct dataset (hub, pinned; or --local FILE) as JSONL

Every setting has its default in ``bioinstruct_data.config.InstructConfig``; options given here
override it and are saved in the run folder's config.json. Exit status: 0 done, 1 some requests
failed (rerun to retry them) or ``run`` stopped short of --target (at --max-requests or
--max-rounds; what was kept is written), 2 bad usage or settings, 3 stopped by --max-cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from bioinstruct_data.config import InstructConfig
from runners.cli import Parser
from tasks.ground.errors import ConfigError
from tasks.ground.prices import load_prices

log = logging.getLogger("biobench.instruct")

# option -> (config field, type, help)
_OPTIONS: dict[str, tuple[str, type, str]] = {
    "--base-url": ("base_url", str, "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"),
    "--api-key-env": ("api_key_env", str, "environment variable holding the API key"),
    "--model": ("model", str, "generator model name"),
    "--temperature": ("temperature", float, "sampling temperature"),
    "--top-p": ("top_p", float, "nucleus sampling top_p"),
    "--max-tokens": ("max_tokens", int, "completion token limit per generation request"),
    "--tasks-per-request": ("tasks_per_request", int, "new tasks asked for per request"),
    "--seeds-per-prompt": ("seeds_per_prompt", int, "seed tasks shown per prompt"),
    "--seed-file": ("seed_file", str, "seed tasks JSONL (default: the shipped 80 seeds)"),
    "--seed": ("seed", int, "sampling seed"),
    "--target": ("target", int, "records wanted in instructions.jsonl"),
    "--max-requests": ("max_requests", int, "hard cap on generation requests (0 = none)"),
    "--concurrency": ("concurrency", int, "requests in flight"),
    "--max-retries": ("max_retries", int, "retries per request"),
    "--timeout": ("timeout_s", float, "seconds per attempt"),
    "--rouge-threshold": ("rouge_threshold", float, "drop if ROUGE-L F > this"),
    "--classifier": ("classifier", str, "model or keywords"),
    "--classify-model": ("classify_model", str, "model for classification (default: --model)"),
    "--max-cost": ("max_cost", float, "USD budget for the run folder (0 = none)"),
    "--batch-poll": ("batch_poll_s", float, "seconds between Batch API polls"),
}


def _config_parent() -> argparse.ArgumentParser:
    parent = Parser(add_help=False)
    group = parent.add_argument_group("settings (defaults: bioinstruct_data/config.py)")
    group.add_argument("--config", type=Path, help="JSON/YAML file of InstructConfig fields")
    for flag, (_, kind, help_) in _OPTIONS.items():
        group.add_argument(flag, type=kind, default=None, help=help_)
    group.add_argument(
        "--prices",
        type=Path,
        help='price table JSON, {"model": [usd_in, usd_out]} per 1M tokens or the shape of '
        "tasks/ground/prices.json",
    )
    group.add_argument("--price-in", type=float, help="USD per 1M prompt tokens for --model")
    group.add_argument("--price-out", type=float, help="USD per 1M completion tokens for --model")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="biobench instruct",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parent = _config_parent()
    p = sub.add_parser("run", parents=[parent], help="the whole recipe")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--batch", action="store_true", help="generate through the Batch API")
    for name, help_ in (
        ("generate", "online generation requests"),
        ("batch", "generation through the Batch API"),
    ):
        p = sub.add_parser(name, parents=[parent], help=help_)
        p.add_argument("--out", type=Path, required=True, help="run folder")
        p.add_argument(
            "--requests",
            type=int,
            default=None,
            help="request indices 0..N-1 (default: target / tasks-per-request)",
        )
        if name == "batch":
            p.add_argument(
                "--no-wait",
                action="store_true",
                help="submit (or check) and return; run again to collect",
            )
    for name in ("parse", "filter", "dedup", "classify"):
        p = sub.add_parser(name, parents=[parent], help=f"the {name} stage")
        p.add_argument("run_dir", type=Path)
    p = sub.add_parser("stats", help="stats.md and plots of a run folder")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--records", type=Path, help="records file (default: instructions.jsonl)")
    p = sub.add_parser("contamination", help="13-gram overlap with bio_* test items")
    p.add_argument("instructions", type=Path, help="instruction JSONL (or published .json)")
    p.add_argument("--n", type=int, default=13, help="n-gram length")
    p.add_argument("--out", type=Path, help="report prefix (default: <instructions>.contamination)")
    p = sub.add_parser("load-published", help="the published BioInstruct dataset as JSONL")
    p.add_argument("--local", type=Path, help="a local copy (.json/.jsonl/.parquet)")
    p.add_argument("--out", type=Path, required=True, help="output JSONL")
    return parser


def _changes(args: argparse.Namespace, base: InstructConfig) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for flag, (name, _, _) in _OPTIONS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
        if value is not None:
            changes[name] = value
    prices = dict(base.prices)
    if args.prices:
        prices.update({k: v.pair() for k, v in load_prices(args.prices).items()})
    if args.price_in is not None or args.price_out is not None:
        if args.price_in is None or args.price_out is None:
            raise ConfigError("give both --price-in and --price-out")
        model = changes.get("model", base.model)
        prices[model] = (args.price_in, args.price_out)
        classify_model = changes.get("classify_model", base.classify_model)
        if classify_model:
            prices[classify_model] = (args.price_in, args.price_out)
    if prices != base.prices:
        changes["prices"] = prices
    return changes


def _resolve(args: argparse.Namespace, folder: Path):
    from bioinstruct_data.rundir import RunDir

    run = RunDir(folder)
    base = InstructConfig.from_file(args.config) if args.config else None
    start = base or run.saved_config() or InstructConfig()
    return run, run.resolve_config(base, _changes(args, start))


def _status(report) -> int:
    if report.stopped_by_budget:
        print(f"stopped before the budget: spent ${report.spent_usd:.4f}", file=sys.stderr)
        return 3
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bioinstruct_data.jsonl import JsonlError
    from bioinstruct_data.pipeline import PipelineError
    from bioinstruct_data.published import PublishedDataError
    from bioinstruct_data.seeds import SeedError
    from tasks.common.sources import DataUnavailableError

    try:
        return _dispatch(args)
    except (ConfigError, JsonlError, SeedError, PublishedDataError, DataUnavailableError) as exc:
        print(f"biobench instruct: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"biobench instruct: {exc}", file=sys.stderr)
        return 2
    except PipelineError as exc:
        print(f"biobench instruct: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "contamination":
        return _contamination(args)
    if command == "load-published":
        return _load_published(args)
    if command == "stats":
        from bioinstruct_data.rundir import RunDir
        from bioinstruct_data.stats import write_report

        print(write_report(RunDir(args.run_dir), args.records))
        return 0
    folder = getattr(args, "out", None) or args.run_dir
    run, config = _resolve(args, folder)
    if command == "run":
        from bioinstruct_data.pipeline import run_pipeline
        from bioinstruct_data.stats import write_report

        summary = asyncio.run(run_pipeline(config, run, batch=args.batch))
        print(json.dumps(summary, indent=2))
        print(write_report(run))
        if summary["stopped"].startswith("budget"):
            return 3
        return 0 if summary["written"] >= config.target else 1
    if command in {"generate", "batch"}:
        count = args.requests or math.ceil(config.target / config.tasks_per_request)
        indices = list(range(count))
        if command == "generate":
            from bioinstruct_data.generate import generate

            report = generate(config, run, indices)
        else:
            from bioinstruct_data.batch import batch_generate

            report = batch_generate(config, run, indices, wait=not args.no_wait)
        print(json.dumps(report.to_dict(), indent=2))
        return _status(report)
    from bioinstruct_data import pipeline

    if command == "parse":
        records = pipeline.parse_stage(run, config)
    elif command == "filter":
        records = pipeline.filter_stage(run, config)
    elif command == "dedup":
        records = pipeline.dedup_stage(run, config)
    else:
        records = asyncio.run(pipeline.classify_stage(run, config))
    print(f"{command}: {len(records)} records in {run.root}")
    return 0


def _contamination(args: argparse.Namespace) -> int:
    from bioinstruct_data import contamination as cont
    from bioinstruct_data.jsonl import read_jsonl, write_json, write_text
    from bioinstruct_data.published import load_published

    path: Path = args.instructions
    rows = (
        read_jsonl(path) if path.suffix == ".jsonl" else [r.to_dict() for r in load_published(path)]
    )
    index = cont.InstructionIndex(rows, args.n)
    reports = cont.check_targets(index, cont.registry_targets())
    prefix = str(args.out or path.with_name(path.stem + ".contamination"))
    json_path, md_path = Path(prefix + ".json"), Path(prefix + ".md")
    write_json(
        json_path,
        {
            "instructions": str(path),
            "n": args.n,
            "records": len(rows),
            "targets": [r.to_dict() for r in reports],
        },
    )
    write_text(md_path, cont.render_markdown(reports, args.n, len(rows)))
    for r in reports:
        status = r.error or f"{r.n_overlapping} of {r.n_items} items overlap"
        print(f"{', '.join(r.tasks)}: {status}")
    print(md_path)
    return 0


def _load_published(args: argparse.Namespace) -> int:
    from bioinstruct_data.jsonl import write_jsonl
    from bioinstruct_data.published import load_published

    records = load_published(args.local)
    n = write_jsonl(args.out, (r.to_dict() for r in records))
    print(f"{n} records -> {args.out}")
    return 0
