"""Synthetic submissions and stores, for the leaderboard's tests and benchmarks.

Synthetic scores are drawn per item from a seeded generator: 0/1 items for accuracy and exact
match, ROUGE-like values in [0, 1] for generation, tp/fp/fn counts for F1. Each task's score and
95% CI are recomputed from those items with the statistics engine, as ``biobench submit`` does,
and :func:`write_store` stores them through :class:`leaderboard.store.Store` (atomic folders).
Used by the leaderboard tests and by ``benchmarks/bench_leaderboard*.py`` (1,000 submissions).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from leaderboard import items as itemlib
from leaderboard import stats
from leaderboard.schemas import (
    Counts,
    DataProvenance,
    FileRef,
    Interval,
    ItemRecord,
    ModelInfo,
    RunInfo,
    Submission,
    TaskResult,
    model_folder,
)
from leaderboard.store import Store
from leaderboard.suite import load_suite
from leaderboard.validate import Prepared
from leaderboard.views import layout
from tasks import registry

CI_RESAMPLES = 200  # synthetic CIs only; real submissions use leaderboard.schemas.N_RESAMPLES
_START = datetime(2026, 1, 1, tzinfo=UTC)
_FAMILIES = (("meta-llama", "Llama-2", (7, 13, 70)), ("mistralai", "Mistral", (7,)),
             ("HuggingFaceTB", "SmolLM2", (0.135, 0.36, 1.7)), ("Qwen", "Qwen2.5", (0.5, 1.5, 7)))  # fmt: skip
_TYPES = ("base", "instruction-tuned", "domain-adapted")


def _sha(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def subset_docs(subset: str, n_total: int) -> list[int]:
    """The doc ids of a synthetic item subset of a test split of ``n_total`` items: ``full``,
    ``first-<k>`` (``--limit k``) or ``lite-<k>-v1`` (``--lite``: a seeded sample, the same for
    every run, as tasks/common/subsets.py draws one)."""
    if subset.startswith("first-"):
        return list(range(min(int(subset.split("-")[1]), n_total)))
    if subset.startswith("lite-"):
        k = min(int(subset.split("-")[1]), n_total)
        return sorted(np.random.default_rng(12345).choice(n_total, size=k, replace=False).tolist())
    return list(range(n_total))


def _items(
    spec: registry.TaskSpec,
    skill: float,
    n: int,
    rng: np.random.Generator,
    doc_ids: Sequence[int] | None = None,
) -> list[ItemRecord]:
    out = []
    for doc_id in range(n) if doc_ids is None else doc_ids:
        metrics: dict[str, float] = {}
        counts: dict[str, Counts] = {}
        if spec.metric == "f1":
            gold = int(rng.integers(1, 4))
            tp = int(rng.binomial(gold, skill))
            counts["f1"] = Counts(tp=tp, fp=int(rng.integers(0, 2)), fn=gold - tp)
        elif spec.metric in ("acc", "exact_match"):
            metrics[spec.metric] = float(rng.random() < skill)
        else:
            metrics[spec.metric] = float(np.clip(rng.normal(skill, 0.1), 0.0, 1.0))
        out.append(
            ItemRecord(
                task=spec.name,
                doc_id=doc_id,
                filter=spec.filter,
                doc_hash=_sha("doc", spec.name, doc_id),
                prompt_hash=_sha("prompt", spec.name, doc_id),
                target_hash=_sha("target", spec.name, doc_id),
                choice=0
                if spec.variant is registry.Variant.LOGLIK and spec.metric == "acc"
                else None,
                response=None if spec.metric == "acc" else "synthetic",
                metrics=metrics,
                counts=counts,
            )
        )
    return out


def _task_result(
    spec: registry.TaskSpec,
    items: list[ItemRecord],
    version: str,
    shots: int,
    n_total: int | None = None,
    subset: str = "",
) -> TaskResult:
    parts = itemlib.metric_data(items, spec.metric)
    score, low, high = stats.score_interval(
        parts.num, parts.den, spec.name, n_resamples=CI_RESAMPLES, seed=0
    )
    n = len(items)
    return TaskResult(
        task=spec.name,
        column=spec.name,
        version=version,
        n_shot=shots,
        output_type="multiple_choice"
        if spec.variant is registry.Variant.LOGLIK
        else "generate_until",
        metrics={spec.result_key: score},
        primary=spec.result_key,
        score=score,
        ci=Interval(low=low, high=high, n_resamples=CI_RESAMPLES, seed=0),
        stderr=stats.ratio_se(parts.num, parts.den),
        n_items=n,
        data=DataProvenance(
            source="sample",
            full_sha256=_sha("data", spec.name),
            full_sha256_from="recomputed",
            logged_sha256=_sha("data", spec.name),
            n_total=n_total or n,
            n_logged=n,
            complete=(n_total or n) == n,
            subset=subset,
        ),
    )


def make_submission(
    model_id: str,
    *,
    seed: int = 0,
    skill: float = 0.5,
    tasks: Sequence[registry.TaskSpec] | None = None,
    n_items: int = 30,
    shots: int = 0,
    model_type: str = "instruction-tuned",
    n_parameters: int | None = None,
    base_model: str = "",
    run_id: str = "run-1",
    submitter: str = "bench",
    training_data: Sequence[str] = (),
    contamination_notes: str = "",
    notes: str = "",
    subset: str = "",
) -> tuple[Submission, bytes]:
    """A synthetic submission and its ``items.jsonl`` bytes (per-item records, no text); with a
    ``subset`` (``first-<k>``, ``lite-<k>-v1``) every task ran on that part of its
    ``n_items`` items."""
    rng = np.random.default_rng(seed)
    suite = load_suite()
    specs = tuple(tasks) if tasks is not None else layout().tasks
    results, all_items = [], []
    for spec in specs:
        spec_skill = float(np.clip(skill + rng.normal(0, 0.05), 0.02, 0.98))
        docs = subset_docs(subset, n_items) if subset else None
        items = _items(spec, spec_skill, n_items, rng, docs)
        version = suite.tasks[spec.name].version if spec.name in suite.tasks else "1.0"
        results.append(_task_result(spec, items, version, shots, n_items, subset))
        all_items += items
    blob = itemlib.write_items(all_items)
    sub = Submission(
        submission_id=f"{model_folder(model_id)}/{run_id}",
        run_id=run_id,
        model=ModelInfo(
            id=model_id,
            precision="bfloat16",
            license="apache-2.0",
            model_type=model_type,
            n_parameters=n_parameters,
            base_model=base_model,
            training_data=list(training_data),
            contamination_notes=contamination_notes,
        ),
        submitter=submitter,
        submitted_at=_START + timedelta(hours=seed),
        suite_version=registry.SUITE_VERSION,
        run=RunInfo(lm_eval_version="0.4.13", results_files=["results_synthetic.json"]),
        tasks=results,
        files=[
            FileRef(
                role="items",
                name="items.jsonl",
                sha256=hashlib.sha256(blob).hexdigest(),
                bytes=len(blob),
            )
        ],
        notes=notes,
    )
    return sub, blob


def write_store(root: Path, submissions: Sequence[tuple[Submission, bytes]]) -> Store:
    """Store the submissions through the submission store (atomic folders, as ``biobench submit``)."""
    store = Store(root)
    for sub, blob in submissions:
        store.add(Prepared(sub, {"items.jsonl": blob}))
    return store


SUBSETS = (("", 0.6), ("lite-6-v1", 0.25), ("first-5", 0.15))  # item subsets, share of runs
PARTIAL_SHARE = 0.2  # runs that stopped part-way: a prefix of the tasks


def synthetic_population(
    n: int, seed: int = 0, n_items: int = 10
) -> list[tuple[Submission, bytes]]:
    """``n`` submissions of varied families, sizes, types and shots (seeded), as an open store
    holds them: most on full test sets, a quarter on a ``--lite`` subset, some with ``--limit``
    (:data:`SUBSETS`), and a fifth partial runs with only some of the tasks
    (:data:`PARTIAL_SHARE`)."""
    rng = np.random.default_rng(seed)
    tasks = layout().tasks
    labels, shares = zip(*SUBSETS, strict=True)
    out = []
    for i in range(n):
        org, name, sizes = _FAMILIES[i % len(_FAMILIES)]
        size = sizes[int(rng.integers(len(sizes)))]
        label = f"{size:g}B" if size >= 1 else f"{size * 1000:g}M"
        model_id = f"{org}/{name}-{label}-bio{i:04d}"
        mine = tasks
        if rng.random() < PARTIAL_SHARE:
            mine = tasks[: int(rng.integers(3, len(tasks)))]
        out.append(
            make_submission(
                model_id,
                seed=seed * 100_000 + i,
                skill=float(rng.uniform(0.2, 0.8)),
                tasks=mine,
                n_items=n_items,
                shots=int(rng.choice([0, 5])),
                model_type=_TYPES[i % len(_TYPES)],
                n_parameters=int(size * 1e9),
                base_model=f"{org}/{name}-{label}",
                subset=str(rng.choice(labels, p=shares)),
            )
        )
    return out


def timed_store(root: Path, n: int) -> tuple[list[tuple[Submission, bytes]], float, float]:
    """``n`` synthetic submissions written to a store at ``root``: (the submissions, seconds to
    generate them, seconds to store them), for the benchmarks' reports."""
    started = time.perf_counter()
    population = synthetic_population(n)
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    write_store(root, population)
    return population, generate_s, time.perf_counter() - started
