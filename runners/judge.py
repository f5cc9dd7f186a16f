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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bioinstruct_data.client import resolve_api_key
from bioinstruct_data.errors import ConfigError
from bioinstruct_data.prices import PRICES_FILE, load_prices, lookup
from runners import judge_store as store
from runners.cli import Parser
from runners.judge_client import Budget, FatalJudgeError, JudgeClient
from runners.judge_rubric import Rubric, load_rubric
from runners.judge_schemas import JudgeConfig, JudgeItem, Price, Verdict
from tasks.common import atomic

log = logging.getLogger(__name__)

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
        help="price table (JSON; default: the project's bioinstruct_data/prices.json)",
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


def api_key(config: JudgeConfig) -> str:
    return resolve_api_key(config.api_key_env, config.base_url)


async def judge_pending(
    pending: dict[str, JudgeItem],
    config: JudgeConfig,
    rubric: Rubric,
    key: str,
    cache: store.CacheWriter,
) -> tuple[dict[str, Verdict], dict[str, Any]]:
    """Verdicts for the pending items (by cache key), cached as each arrives."""
    from tqdm import tqdm

    budget = Budget(config.max_cost)
    client = JudgeClient(config, rubric, key, budget)
    out: dict[str, Verdict] = {}

    async def one(k: str, item: JudgeItem) -> None:
        verdict = await client.judge(item, k)
        cache.append(verdict)
        out[k] = verdict
        bar.update(1)

    bar = tqdm(total=len(pending), desc=f"judge {config.model}", unit="item")
    jobs = [asyncio.create_task(one(k, item)) for k, item in pending.items()]
    try:
        await asyncio.gather(*jobs)
    except FatalJudgeError:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        raise
    finally:
        bar.close()
        await client.close()
    run = {
        "requests_sent": client.counters.requests,
        "retries": client.counters.retries,
        "failures_by_kind": client.counters.by_error,
        "cost_usd": budget.spent if config.price is not None else None,
        "stopped_by_budget": budget.stopped,
    }
    return out, run


def summarise(
    groups: dict[tuple[Path, str], list[tuple[store.SamplesFile, list[JudgeItem], list[str]]]],
    verdicts: dict[str, Verdict],
    config: JudgeConfig,
    rubric: Rubric,
    run: dict[str, Any],
) -> list[dict[str, Any]]:
    """Write per-item files, summaries and plots; return the summaries."""
    summaries = []
    for files in groups.values():
        per_task: dict[str, dict[str, Any]] = {}
        pooled: list[Verdict] = []
        for sf, items, keys in files:
            vs = [verdicts[k] for k in keys]
            item_path, summary_path, plot_path = store.outputs_for(sf)
            store.write_item_scores(item_path, items, vs)
            per_task[sf.task] = {
                **store.task_summary(vs),
                "scores_file": item_path.name,
                "samples_file": sf.path.name,
            }
            pooled += vs
        means = [s["mean"] for s in per_task.values() if s["mean"] is not None]
        summary = {
            "judge": {
                "model": config.model,
                "base_url": config.base_url,
                "rubric": {"name": rubric.name, "version": rubric.version, "sha256": rubric.sha256},
                "max_tokens": config.max_tokens,
                "temperature": config.temperature,
                "price_usd_per_mtok": asdict(config.price) if config.price else None,
                "max_cost_usd": config.max_cost,
            },
            "tasks": per_task,
            "all_items": store.task_summary(pooled),
            "macro_mean": sum(means) / len(means) if len(means) == len(per_task) else None,
            "cost_usd_of_verdicts": _sum_cost(pooled),
            "this_run": run,
        }
        atomic.write_text(summary_path, json.dumps(summary, indent=2, ensure_ascii=False))
        title = f"{config.model} judge, rubric v{rubric.version} — {summary_path.parent.name}"
        store.plot_summary(plot_path, per_task, title)
        summaries.append({"path": str(summary_path), **summary})
    return summaries


def _sum_cost(verdicts: list[Verdict]) -> float | None:
    costs = [v.cost for v in verdicts if v.status in ("ok", "unparsable")]
    return None if any(c is None for c in costs) else float(sum(costs))


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        rubric = load_rubric(config.rubric)
        key = api_key(config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"biobench judge: {exc}", file=sys.stderr)
        return 2
    root = args.run_dir
    if not root.is_dir():
        print(f"biobench judge: {root} is not a folder", file=sys.stderr)
        return 2
    files = store.find_samples(root, config.tasks)
    if not files:
        print(
            f"biobench judge: no samples_<task>_*.jsonl of {', '.join(config.tasks)} under "
            f"{root}; run `biobench eval --tasks bio_gen --output_path {root}` first "
            "(it logs samples)",
            file=sys.stderr,
        )
        return 2
    config = replace(config, cache_path=config.cache_path or root / store.CACHE_NAME)

    groups: dict[tuple[Path, str], list] = defaultdict(list)
    pending: dict[str, JudgeItem] = {}
    cached = store.read_cache(config.cache_path)
    verdicts: dict[str, Verdict] = {}
    n_items = hits = 0
    for sf in files:
        try:
            items = store.read_items(sf, config.limit)
        except ValueError as exc:
            print(f"biobench judge: {exc}", file=sys.stderr)
            return 2
        keys = [item.key(config.model, rubric.version) for item in items]
        groups[(sf.path.parent, sf.stamp)].append((sf, items, keys))
        for item, k in zip(items, keys, strict=True):
            n_items += 1
            if k in cached:
                hits += 1
                verdicts[k] = cached[k]
            else:
                pending.setdefault(k, item)
    log.info("%d items, %d cached, %d to ask %s", n_items, hits, len(pending), config.model)

    writer = store.CacheWriter(config.cache_path)
    try:
        fresh, run = asyncio.run(judge_pending(pending, config, rubric, key, writer))
    except FatalJudgeError as exc:
        print(f"biobench judge: {exc}", file=sys.stderr)
        return 2
    finally:
        writer.close()
    verdicts.update(fresh)
    run["cache_hits"] = hits
    run["new_verdicts"] = sum(v.status in ("ok", "unparsable") for v in fresh.values())
    summaries = summarise(groups, verdicts, config, rubric, run)
    print_table(summaries)
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
