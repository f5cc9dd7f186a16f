"""``biobench judge``: LLM-judge scores (1-10) for the logged generations of ``bio_gen`` tasks.

    biobench judge runs/gen                                   # gpt-4o at api.openai.com
    biobench judge runs/gen --base-url http://127.0.0.1:8000/v1 --judge-model SmolLM2-135M-Instruct \\
        --price-in 0 --price-out 0

Reads every ``samples_<task>_<time>.jsonl`` of a ``bio_gen`` task under the folder (what
``biobench eval --tasks bio_gen`` writes), asks the judge model — any OpenAI-compatible
endpoint, through the ``openai`` client — to grade each response against the reference and the
input with the versioned rubric ``runners/prompts/judge_rubric_v1.md``, and writes next to each
samples file ``judge_<task>_<time>.jsonl`` (one verdict per sample), ``judge_summary_<time>.json``
(per task: mean, SD, 95% t-interval, counts; cost) and ``judge_scores_<time>.png``.

Verdicts are cached in ``<folder>/judge_cache.jsonl`` under SHA-256(judge model, rubric version,
instruction + input, reference, response): a second run sends no request, and a killed run
resumes where it stopped. Unparsable answers are recorded as such and never count as scores.

Exit status: 0 done; 2 bad arguments or the endpoint refused every request; 3 stopped by
``--max-cost`` (rerun with a larger budget to continue); 4 some items failed after all retries
(rerun to retry only those).

The command; the library is ``runners/judging/`` (schemas, rubric, client, store, run).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from runners.cli import Parser
from runners.judging import store
from runners.judging.client import FatalJudgeError
from runners.judging.rubric import load_rubric
from runners.judging.run import api_key, collect, judge_all, summarise
from runners.judging.schemas import JudgeConfig, Price
from tasks.ground.errors import ConfigError
from tasks.ground.prices import PRICES_FILE, load_prices, lookup

DEFAULTS = JudgeConfig()


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="biobench judge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, help="lm-eval output folder with bio_gen samples")
    p.add_argument("--base-url", default=DEFAULTS.base_url, help="OpenAI-compatible API root")
    p.add_argument("--judge-model", default=DEFAULTS.model, help="judge model name")
    p.add_argument(
        "--api-key-env",
        default=DEFAULTS.api_key_env,
        help="environment variable holding the API key",
    )
    p.add_argument("--rubric", default=DEFAULTS.rubric, help="rubric file name or path")
    p.add_argument("--tasks", default="", help="comma-separated bio_gen tasks (default: all)")
    p.add_argument("--limit", type=int, default=None, help="items per samples file")
    p.add_argument("--concurrency", type=int, default=DEFAULTS.concurrency)
    p.add_argument("--max-retries", type=int, default=DEFAULTS.max_retries)
    p.add_argument(
        "--backoff",
        type=float,
        default=DEFAULTS.backoff_base_s,
        help="first retry delay in seconds (doubles each retry)",
    )
    p.add_argument("--backoff-max", type=float, default=DEFAULTS.backoff_max_s)
    p.add_argument("--timeout", type=float, default=DEFAULTS.timeout_s, help="seconds per request")
    p.add_argument("--max-tokens", type=int, default=DEFAULTS.max_tokens)
    p.add_argument("--max-cost", type=float, default=None, help="USD budget for this run")
    p.add_argument(
        "--prices",
        type=Path,
        default=PRICES_FILE,
        help="price table (JSON; default: the project's tasks/ground/prices.json)",
    )
    p.add_argument("--price-in", type=float, default=None, help="USD per million input tokens")
    p.add_argument("--price-out", type=float, default=None, help="USD per million output tokens")
    p.add_argument("--cache", type=Path, default=None, help="cache file (default in run_dir)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the retry jitter")
    return p


def resolve_price(args: argparse.Namespace) -> Price | None:
    """--price-in/--price-out, else the judge model's entry in the price table (None: unknown)."""
    if (args.price_in is None) != (args.price_out is None):
        raise ConfigError("pass both --price-in and --price-out, or neither")
    if args.price_in is not None:
        return Price(args.price_in, args.price_out)
    return lookup(load_prices(args.prices), args.judge_model)


def config_from_args(args: argparse.Namespace) -> JudgeConfig:
    from tasks import registry

    known = [s.name for s in registry.tasks_of("bio_gen")]
    wanted = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigError(f"--tasks: {unknown} are not bio_gen tasks; known: {', '.join(known)}")
    return JudgeConfig(
        base_url=args.base_url,
        model=args.judge_model,
        api_key_env=args.api_key_env,
        rubric=args.rubric,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
        backoff_base_s=args.backoff,
        backoff_max_s=args.backoff_max,
        timeout_s=args.timeout,
        max_tokens=args.max_tokens,
        max_cost=args.max_cost,
        price=resolve_price(args),
        cache_path=args.cache,
        tasks=wanted or tuple(known),
        limit=args.limit,
        seed=args.seed,
    )


def print_table(summaries: list[dict[str, Any]]) -> None:
    for s in summaries:
        print(f"\n== {s['path']} ==")
        print(
            f"{'task':<18} {'n':>4} {'scored':>6} {'unpars':>6} {'error':>5} {'skip':>4} "
            f"{'mean':>6}  95% CI"
        )
        for task, t in s["tasks"].items():
            mean = f"{t['mean']:.2f}" if t["mean"] is not None else "-"
            ci = f"[{t['ci95'][0]:.2f}, {t['ci95'][1]:.2f}]" if t["ci95"] else "-"
            print(
                f"{task:<18} {t['n_items']:>4} {t['n_ok']:>6} {t['n_unparsable']:>6} "
                f"{t['n_error']:>5} {t['n_skipped_budget']:>4} {mean:>6}  {ci}"
            )
        run = s["this_run"]
        print(
            f"requests sent: {run['requests_sent']} (retries {run['retries']}), "
            f"cache hits: {run['cache_hits']}, cost this run: {run['cost_usd']}"
        )


def _fail(message: object) -> int:
    print(f"biobench judge: {message}", file=sys.stderr)
    return 2


def _exit_status(fresh: dict[str, Any], run: dict[str, Any], config: JudgeConfig) -> int:
    """3: stopped by the budget; 4: items failed after all retries; 0: done."""
    if run["stopped_by_budget"]:
        print(
            f"biobench judge: stopped before exceeding --max-cost {config.max_cost} USD; "
            "rerun with a larger budget to continue (cached verdicts are kept)",
            file=sys.stderr,
        )
        return 3
    if any(v.status == "error" for v in fresh.values()):
        print(
            "biobench judge: some items failed after all retries (see 'error' in the "
            "judge_*.jsonl files); rerun to retry only those",
            file=sys.stderr,
        )
        return 4
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        rubric = load_rubric(config.rubric)
        key = api_key(config)
    except (ValueError, FileNotFoundError) as exc:
        return _fail(exc)
    root = args.run_dir
    if not root.is_dir():
        return _fail(f"{root} is not a folder")
    files = store.find_samples(root, config.tasks)
    if not files:
        return _fail(
            f"no samples_<task>_*.jsonl of {', '.join(config.tasks)} under {root}; run "
            f"`biobench eval --tasks bio_gen --output_path {root}` first (it logs samples)"
        )
    config = replace(config, cache_path=config.cache_path or root / store.CACHE_NAME)
    try:
        work = collect(files, config, rubric)
    except ValueError as exc:
        return _fail(exc)
    try:
        fresh, run = judge_all(work, config, rubric, key)
    except FatalJudgeError as exc:
        return _fail(exc)
    print_table(summarise(work.groups, work.verdicts, config, rubric, run))
    return _exit_status(fresh, run, config)


if __name__ == "__main__":
    sys.exit(main())
