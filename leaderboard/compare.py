"""Pairwise statistical comparison of stored submissions -> a :class:`~leaderboard.schemas.Comparison`.

For every pair of submissions (A, B) and every task both evaluated:

* only items present in both with equal ``doc_hash`` and ``prompt_hash`` are paired; items of one
  side only, and items whose hashes differ between the two (``n_conflicting``), are counted and
  reported, never paired;
* the paired difference A - B with a paired-bootstrap CI and p-value, McNemar's exact test for
  0/1 metrics (accuracy, exact match), an approximate randomisation test otherwise (F1 from
  counts, ROUGE, judge scores); i.i.d. and, when items carry cluster ids, clustered standard
  errors; the minimum detectable effect at the chosen power for that many paired items;
* per registry group (QA, IE, GEN ...): the unweighted mean over the group's tasks both
  evaluated, its paired-bootstrap CI and p-value (tasks resampled independently);
* Holm and Benjamini-Hochberg adjustments across all task-level tests of the report (the
  family), and separately across the group-level tests;
* each side's stored constant-answer baselines (``TaskResult.baselines``,
  :mod:`leaderboard.baselines`) with the scores, and per task test whether A, B or both are at
  a constant baseline: a difference between two runs that both are is marked
  ``both_at_baseline`` (it compares two ways of answering one option, not two abilities);
* per task whether a run has collapsed (the same answer on every item,
  :mod:`leaderboard.collapse`), judged against its base model's run when one is stored.

Tasks are matched by name (``match="task"``) or by dataset (``match="dataset"``: e.g. the
log-likelihood ``bio_pubmedqa`` of A against the generative ``bio_pubmedqa_gen`` of B).
Reported reference rows have no items and are never tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np
from tqdm import tqdm

from leaderboard import collapse, stats
from leaderboard import items as itemlib
from leaderboard.loader import read_items
from leaderboard.schemas import (
    Comparison,
    ItemRecord,
    PairedTest,
    ScoreEstimate,
    StatsSettings,
    Submission,
)
from leaderboard.store import Store
from tasks import registry


class CompareError(ValueError):
    """Comparison impossible as asked; the message says why and what to pass instead."""


@dataclass
class Column:
    """The primary-metric items of one registry column of one submission."""

    spec: registry.TaskSpec
    items: list[ItemRecord]
    data: itemlib.MetricData
    replicates: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass
class Loaded:
    submission: Submission
    label: str
    columns: dict[str, Column]  # match key -> column


def _match_key(spec: registry.TaskSpec, match: str) -> str:
    return spec.dataset if match == "dataset" else spec.name


def _selected(spec: registry.TaskSpec, wanted: set[str] | None) -> bool:
    if not wanted:
        return True
    groups = {g.name for g in registry.GROUPS if spec in registry.tasks_of(g.name)}
    return bool({spec.name, spec.dataset} & wanted or groups & wanted)


def load_submission(
    store: Store, sid: str, label: str, match: str, wanted: set[str] | None, settings: StatsSettings
) -> Loaded:
    sub = store.read(sid)
    records = read_items(store.root, sub)
    by_task: dict[str, list[ItemRecord]] = {}
    for item in records:
        by_task.setdefault(item.task, []).append(item)
    columns: dict[str, Column] = {}
    for result in sub.tasks:
        spec = registry.spec_of_leaf(result.task)
        if result.is_detail or spec is None or not _selected(spec, wanted):
            continue
        chosen = sorted(
            (it for it in by_task.get(result.task, []) if it.filter == spec.filter),
            key=lambda it: it.doc_id,
        )
        if not chosen:
            continue
        data = itemlib.metric_data(chosen, spec.metric)
        clusters = [it.cluster for it in chosen]
        units = stats.to_units(
            data.num, data.den, clusters if all(c is not None for c in clusters) else None
        )
        reps = stats.bootstrap_ratios(
            units[0], units[1], settings.n_resamples, stats.task_rng(settings.seed, spec.name)
        )[:, 0]
        key = _match_key(spec, match)
        if key in columns:
            raise CompareError(
                f"{sid} has two tasks for dataset {spec.dataset}; compare with --match task"
            )
        columns[key] = Column(spec, chosen, data, reps)
    return Loaded(sub, label, columns)


@dataclass
class Pairing:
    a_idx: np.ndarray
    b_idx: np.ndarray
    only_a: int
    only_b: int
    conflicting: int


def pair_items(a: list[ItemRecord], b: list[ItemRecord], same_prompt: bool = True) -> Pairing:
    """Items with the same doc_id and equal doc and prompt hashes (positions in a and b); with
    ``same_prompt=False`` (runs in different prompt forms: plain vs chat template, whose
    prompts differ by design) equal doc hashes suffice."""
    pos_b = {it.doc_id: i for i, it in enumerate(b)}
    ia, ib, conflicting = [], [], 0
    for i, it in enumerate(a):
        j = pos_b.get(it.doc_id)
        if j is None:
            continue
        other = b[j]
        if other.doc_hash == it.doc_hash and (
            not same_prompt or other.prompt_hash == it.prompt_hash
        ):
            ia.append(i)
            ib.append(j)
        else:
            conflicting += 1
    matched = len(ia) + conflicting
    return Pairing(
        np.array(ia, int), np.array(ib, int), len(a) - matched, len(b) - matched, conflicting
    )


def subset_words(subset: str) -> str:
    """How a run chose its items, in the words of its command: ``lite-200-v1`` -> ``--lite
    (lite-200-v1)``, ``first-50`` -> ``--limit 50 (the first 50 items)``."""
    if subset.startswith("lite-"):
        return f"--lite ({subset})"
    if subset.startswith("first-") and subset.removeprefix("first-").isdigit():
        n = subset.removeprefix("first-")
        return f"--limit {n} (the first {n} items)"
    return f"item subset {subset or 'unknown'}"


def _labels(subs: list[Submission], given: list[str] | None) -> list[str]:
    if given:
        if len(given) != len(subs):
            raise CompareError(f"--labels has {len(given)} names for {len(subs)} submissions")
        return given
    short = [s.model.id.split("/")[-1] for s in subs]
    return [
        f"{name} [{s.run_id}]" if short.count(name) > 1 else name
        for name, s in zip(short, subs, strict=True)
    ]


def _interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    low, high = stats.percentile_interval(reps, level)
    return float(low), float(high)


def compare(
    refs: list[str],
    *,
    store: Store | None = None,
    tasks: list[str] | None = None,
    match: str = "task",
    labels: list[str] | None = None,
    settings: StatsSettings | None = None,
    now: datetime | None = None,
) -> Comparison:
    """Compare two or more stored submissions (ids, folders, or unique model names)."""
    store = store or Store()
    settings = settings or StatsSettings()
    if match not in ("task", "dataset"):
        raise CompareError(f"match must be 'task' or 'dataset', got {match!r}")
    if len(refs) < 2:
        raise CompareError("name at least two submissions to compare")
    sids = []
    for ref in refs:
        if ref.startswith("reference/") or Path(ref).parent.name == "reference":
            raise CompareError(
                f"{ref} is a reported reference row: published numbers without per-item records "
                "are shown on the leaderboard but never used in significance tests"
            )
        try:
            sids.append(store.resolve(ref))
        except KeyError as exc:
            raise CompareError(str(exc.args[0])) from exc
    if len(set(sids)) != len(sids):
        raise CompareError("the same submission is named twice")
    wanted = {t.strip() for t in tasks or [] if t.strip()} or None
    subs = [store.read(s) for s in sids]
    names = _labels(subs, labels)
    loaded = [
        load_submission(store, sid, name, match, wanted, settings)
        for sid, name in zip(sids, names, strict=True)
    ]
    notes: list[str] = []
    scores = _score_estimates(loaded, settings, _collapses(loaded, store))
    tests: list[PairedTest] = []
    pairs = list(combinations(loaded, 2))
    for a, b in tqdm(pairs, desc="comparing", unit="pair", disable=None, leave=False):
        shared = [k for k in a.columns if k in b.columns]
        for key in sorted(set(a.columns) ^ set(b.columns)):
            side = a if key in a.columns else b
            notes.append(f"{key}: only {side.label} has it; not compared")
        task_tests, task_reps = [], []
        for key in shared:
            test, reps = _compare_column(a, b, key, settings, notes)
            if test is not None:
                task_tests.append(test)
                task_reps.append((test, reps))
        tests += task_tests
        tests += _group_tests(a, b, task_reps, settings)
    _correct(tests, settings)
    for a, b in pairs:
        both = [
            t
            for t in tests
            if t.kind == "task"
            and t.both_at_baseline
            and (t.a, t.b) == (a.submission.submission_id, b.submission.submission_id)
        ]
        if both:
            notes.append(
                f"{a.label} vs {b.label}: both at a constant-answer baseline on {len(both)} "
                "task(s), so their difference there compares two ways of answering (nearly) "
                "one option, not two abilities: " + ", ".join(t.column for t in both)
            )
    for lo in loaded:
        fallen = [
            e.collapsed
            for e in scores
            if e.collapsed and e.submission_id == lo.submission.submission_id
        ]
        if fallen:
            notes.append(
                f"{lo.label}: COLLAPSED on {len(fallen)} task(s) (the same answer on every item): "
                + "; ".join(fallen)
            )
        flagged = [
            c.spec.name
            for c in lo.columns.values()
            if (b := lo.submission.task(c.spec.name).baselines) is not None and b.at_baseline
        ]
        if flagged:
            notes.append(
                f"{lo.label}: at a constant-answer baseline (not distinguishable from always "
                f"giving its most frequent answer, p >= 0.05) on {len(flagged)} task(s): "
                + ", ".join(flagged)
            )
        missing = [
            c.spec.name
            for c in lo.columns.values()
            if lo.submission.task(c.spec.name).baselines is None
        ]
        if missing:
            notes.append(
                f"{lo.label}: no constant-answer baselines stored for {len(missing)} task(s) "
                "(biobench baselines adds them)"
            )
        sources = {t.data.source for t in lo.submission.tasks}
        if "sample" in sources:
            notes.append(
                f"{lo.label}: evaluated on the shipped SAMPLE data; its scores mean nothing"
            )
        partial: dict[str, list[str]] = {}
        for t in lo.submission.tasks:
            if not t.data.complete and not t.is_detail:
                partial.setdefault(t.item_subset, []).append(t.task)
        if partial:
            parts = [
                f"{subset_words(subset)}: {len(names)} task(s) ({', '.join(names)})"
                for subset, names in sorted(partial.items())
            ]
            notes.append(f"{lo.label}: evaluated on part of the test set; " + "; ".join(parts))
    if not tests:
        raise CompareError(
            "the submissions share no task"
            + (
                "; to compare variants of one dataset use --match dataset"
                if match == "task"
                else ""
            )
        )
    return Comparison(
        created_at=now or datetime.now(UTC),
        submissions=sids,
        labels={lo.submission.submission_id: lo.label for lo in loaded},
        match=match,
        settings=settings,
        scores=scores,
        tests=tests,
        notes=notes,
    )


def _base_answers(lo: Loaded, loaded: list[Loaded], store: Store) -> dict[str, collapse.Answers]:
    """The base model's stored answer summaries per task: from a compared run of the base model
    first, else from any stored run of it (the first that has the task)."""
    base_id = lo.submission.model.base_model
    if not base_id:
        return {}
    runs = [x.submission for x in loaded if x.submission.model.id == base_id]
    prefix = base_id.replace("/", "__") + "/"
    runs += [store.read(sid) for sid in store.ids() if sid.startswith(prefix)]
    out: dict[str, collapse.Answers] = {}
    for sub in runs:
        for t in sub.tasks:
            found = collapse.Answers.of(t.baselines)
            if found is not None and not t.is_detail:
                out.setdefault(t.task, found)
    return out


def _collapses(loaded: list[Loaded], store: Store) -> dict[tuple[str, str], str]:
    """(submission id, task) -> the collapse's description, for every collapsed task."""
    out = {}
    for lo in loaded:
        base = _base_answers(lo, loaded, store)
        tuned = bool(lo.submission.model.base_model)
        for col in lo.columns.values():
            name = col.spec.name
            run = collapse.Answers.of(lo.submission.task(name).baselines)
            found = run and collapse.collapsed(name, run, tuned=tuned, base=base.get(name))
            if found:
                out[(lo.submission.submission_id, name)] = found.describe()
    return out


def _score_estimates(
    loaded: list[Loaded], settings: StatsSettings, collapses: dict[tuple[str, str], str]
) -> list[ScoreEstimate]:
    out = []
    for lo in loaded:
        sid = lo.submission.submission_id
        for col in lo.columns.values():
            low, high = _interval(col.replicates, settings.ci_level)
            out.append(
                ScoreEstimate(
                    submission_id=sid,
                    label=lo.label,
                    column=col.spec.name,
                    kind="task",
                    metric=col.spec.result_key,
                    value=col.data.value(),
                    ci_low=low,
                    ci_high=high,
                    n_items=len(col.items),
                    complete=lo.submission.task(col.spec.name).data.complete,
                    baselines=lo.submission.task(col.spec.name).baselines,
                    collapsed=collapses.get((sid, col.spec.name), ""),
                )
            )
        for group in registry.GROUPS:
            members = [c for c in lo.columns.values() if c.spec in registry.tasks_of(group.name)]
            if not members:
                continue
            reps = np.mean([c.replicates for c in members], axis=0)
            low, high = _interval(reps, settings.ci_level)
            out.append(
                ScoreEstimate(
                    submission_id=sid,
                    label=lo.label,
                    column=group.name,
                    kind="group",
                    metric=group.result_key,
                    value=float(np.mean([c.data.value() for c in members])),
                    ci_low=low,
                    ci_high=high,
                    n_items=sum(len(c.items) for c in members),
                    complete=len(members) == len(registry.tasks_of(group.name)),
                )
            )
    return out


def _compare_column(
    a: Loaded, b: Loaded, key: str, settings: StatsSettings, notes: list[str]
) -> tuple[PairedTest | None, np.ndarray]:
    ca, cb = a.columns[key], b.columns[key]
    if ca.data.kind != cb.data.kind:
        notes.append(f"{key}: {ca.data.kind} metric vs {cb.data.kind} metric; not comparable")
        return None, np.empty(0)
    same_form = a.submission.run.chat_template == b.submission.run.chat_template
    pairing = pair_items(ca.items, cb.items, same_prompt=same_form)
    if not same_form:
        notes.append(
            f"{key}: {a.label} and {b.label} use different prompt forms (plain vs chat template); "
            "items paired on the same document, not the same prompt"
        )
    if pairing.conflicting:
        notes.append(
            f"{key}: {pairing.conflicting} item(s) with the same doc_id but different document or "
            f"prompt hashes in {a.label} and {b.label}; left unpaired"
        )
    n = len(pairing.a_idx)
    if n < 2:
        notes.append(f"{key}: {n} paired item(s) between {a.label} and {b.label}; not tested")
        return None, np.empty(0)
    num = np.column_stack([ca.data.num[pairing.a_idx], cb.data.num[pairing.b_idx]])
    den = np.column_stack([ca.data.den[pairing.a_idx], cb.data.den[pairing.b_idx]])
    clusters = [ca.items[i].cluster for i in pairing.a_idx]
    cluster_arr = np.array(clusters) if all(c is not None for c in clusters) else None
    binary = ca.data.binary and cb.data.binary
    result = stats.analyse_task(
        stats.TaskInput(ca.spec.name, num, den, binary, cluster_arr),
        [(0, 1)],
        n_resamples=settings.n_resamples,
        n_permutations=settings.n_permutations,
        seed=settings.seed,
        level=settings.ci_level,
        alpha=settings.alpha,
        power=settings.power,
    )
    disc = None
    if result.discordant is not None:
        disc = (int(result.discordant[0][0]), int(result.discordant[1][0]))
    diff_reps = result.replicates[:, 0] - result.replicates[:, 1]
    reason = ""
    if n < settings.min_paired:
        reason = f"too few items (n={n} < {settings.min_paired})"
    elif stats.degenerate(diff_reps):
        reason = f"degenerate bootstrap ({np.unique(np.round(diff_reps, 12)).size} distinct values)"
    flag_a, flag_b = _at_baseline(a, ca), _at_baseline(b, cb)
    bca = (None, None)
    if n < settings.bca_below:
        bca = stats.bca_diff_interval(num, den, settings.ci_level, seed=settings.seed)
    test = PairedTest(
        kind="task",
        column=ca.spec.name,
        column_b=cb.spec.name,
        category=str(ca.spec.category),
        metric=ca.spec.result_key
        if ca.spec.result_key == cb.spec.result_key
        else f"{ca.spec.result_key} vs {cb.spec.result_key}",
        a=a.submission.submission_id,
        b=b.submission.submission_id,
        n_paired=n,
        n_only_a=pairing.only_a,
        n_only_b=pairing.only_b,
        n_conflicting=pairing.conflicting,
        score_a=float(result.scores[0]),
        score_b=float(result.scores[1]),
        diff=float(result.diff[0]),
        ci_low=float(result.diff_low[0]),
        ci_high=float(result.diff_high[0]),
        p_bootstrap=float(result.p_bootstrap[0]),
        test=result.test,
        p_value=float(result.p_value[0]),
        se_iid=float(result.se_iid[0]),
        se_cluster=float(result.se_cluster[0]) if result.se_cluster is not None else None,
        n_clusters=result.n_clusters,
        mde=float(result.mde[0]),
        discordant=disc,
        ci_bca_low=bca[0],
        ci_bca_high=bca[1],
        supported=not reason,
        unsupported_reason=reason,
        at_baseline_a=flag_a,
        at_baseline_b=flag_b,
        both_at_baseline=bool(flag_a and flag_b),
    )
    return test, diff_reps


def _at_baseline(lo: Loaded, col: Column) -> bool | None:
    stored = lo.submission.task(col.spec.name).baselines
    return stored.at_baseline if stored is not None else None


def _group_tests(
    a: Loaded, b: Loaded, task_reps: list[tuple[PairedTest, np.ndarray]], settings: StatsSettings
) -> list[PairedTest]:
    out = []
    for group in registry.GROUPS:
        names = {s.name for s in registry.tasks_of(group.name)}
        members = [(t, r) for t, r in task_reps if t.column in names]
        if not members:
            continue
        reps = np.mean([r for _, r in members], axis=0)
        diff = float(np.mean([t.diff for t, _ in members]))
        low, high = _interval(reps, settings.ci_level)
        n_group = sum(t.n_paired for t, _ in members)
        reason = ""
        if n_group < settings.min_paired:
            reason = f"too few items (n={n_group} < {settings.min_paired})"
        elif stats.degenerate(reps):
            reason = "degenerate bootstrap"
        p_boot = float(stats.bootstrap_p(reps[:, None], np.array([diff]))[0])
        se = float(np.sqrt(np.sum([t.se_iid**2 for t, _ in members])) / len(members))
        out.append(
            PairedTest(
                kind="group",
                column=group.name,
                column_b=group.name,
                category=str(group.category),
                metric=f"mean {group.metric} over {len(members)} task(s)",
                a=a.submission.submission_id,
                b=b.submission.submission_id,
                n_paired=sum(t.n_paired for t, _ in members),
                n_only_a=sum(t.n_only_a for t, _ in members),
                n_only_b=sum(t.n_only_b for t, _ in members),
                n_conflicting=sum(t.n_conflicting for t, _ in members),
                score_a=float(np.mean([t.score_a for t, _ in members])),
                score_b=float(np.mean([t.score_b for t, _ in members])),
                diff=diff,
                ci_low=low,
                ci_high=high,
                p_bootstrap=p_boot,
                test="bootstrap",
                p_value=p_boot,
                se_iid=se,
                mde=float(stats.mde(se, settings.alpha, settings.power)),
                supported=not reason,
                unsupported_reason=reason,
            )
        )
    return out


def _correct(tests: list[PairedTest], settings: StatsSettings) -> None:
    for kind in ("task", "group"):
        family = [t for t in tests if t.kind == kind]
        if not family:
            continue
        p = [t.p_value for t in family]
        holm = stats.adjust(p, "holm")
        bh = stats.adjust(p, "fdr_bh")
        for test, ph, pb in zip(family, holm, bh, strict=True):
            test.p_holm = float(ph)
            test.p_bh = float(pb)
            test.significant = bool(ph < settings.alpha) and test.supported
