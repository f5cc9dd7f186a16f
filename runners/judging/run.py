"""One judge run over the samples files of a folder: the items to score (cached verdicts
reused), the pending ones asked concurrently and cached as each arrives, and the per-item files,
summaries and plots written next to each samples file."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runners.judging import store
from runners.judging.client import Budget, FatalJudgeError, JudgeClient
from runners.judging.rubric import Rubric
from runners.judging.schemas import JudgeConfig, JudgeItem, Verdict
from tasks.ground import atomic
from tasks.ground.openai_client import resolve_api_key

log = logging.getLogger(__name__)

# (folder, time stamp) -> the samples files of one lm-eval run, with their items and cache keys
Groups = dict[tuple[Path, str], list[tuple[store.SamplesFile, list[JudgeItem], list[str]]]]


@dataclass
class Work:
    """What a run has to do: every item by group, the verdicts known, the items to ask."""

    groups: Groups = field(default_factory=lambda: defaultdict(list))
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    pending: dict[str, JudgeItem] = field(default_factory=dict)
    n_items: int = 0
    hits: int = 0


def api_key(config: JudgeConfig) -> str:
    return resolve_api_key(config.api_key_env, config.base_url)


def collect(files: list[store.SamplesFile], config: JudgeConfig, rubric: Rubric) -> Work:
    """Items of ``files`` (``config.limit`` per file), cached verdicts reused, the rest pending;
    a samples file that cannot be read raises ValueError."""
    work = Work()
    cached = store.read_cache(config.cache_path)
    for sf in files:
        items = store.read_items(sf, config.limit)
        keys = [item.key(config.model, rubric.version) for item in items]
        work.groups[(sf.path.parent, sf.stamp)].append((sf, items, keys))
        for item, k in zip(items, keys, strict=True):
            work.n_items += 1
            if k in cached:
                work.hits += 1
                work.verdicts[k] = cached[k]
            else:
                work.pending.setdefault(k, item)
    log.info(
        "%d items, %d cached, %d to ask %s",
        work.n_items,
        work.hits,
        len(work.pending),
        config.model,
    )
    return work


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


def judge_all(
    work: Work, config: JudgeConfig, rubric: Rubric, key: str
) -> tuple[dict[str, Verdict], dict[str, Any]]:
    """Ask for every pending item (cached in ``config.cache_path``); the fresh verdicts join
    ``work.verdicts``. Returns them and the run's counters; FatalJudgeError stops the run."""
    writer = store.CacheWriter(config.cache_path)
    try:
        fresh, run = asyncio.run(judge_pending(work.pending, config, rubric, key, writer))
    finally:
        writer.close()
    work.verdicts.update(fresh)
    run["cache_hits"] = work.hits
    run["new_verdicts"] = sum(v.status in ("ok", "unparsable") for v in fresh.values())
    return fresh, run


def _judge_settings(config: JudgeConfig, rubric: Rubric) -> dict[str, Any]:
    return {
        "model": config.model,
        "base_url": config.base_url,
        "rubric": {"name": rubric.name, "version": rubric.version, "sha256": rubric.sha256},
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "price_usd_per_mtok": asdict(config.price) if config.price else None,
        "max_cost_usd": config.max_cost,
    }


def summarise(
    groups: Groups,
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
            "judge": _judge_settings(config, rubric),
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
