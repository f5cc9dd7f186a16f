"""Constant-answer baselines of a run, on exactly the items it evaluated, and a paired test of
the run against answering its most frequent option throughout.

A 135M model that answers "yes" to every PubMedQA question scores the share of "yes" gold
labels; its score says nothing about biomedical knowledge. For every classification task of a
submission (multiple-choice QA, log-likelihood or generative; relation extraction) this module
computes, with the suite's OWN scorer (``task.process_results`` of the lm-eval Task built from
the suite's YAML and records) on the run's doc ids:

* every constant answer ``c`` (option ``c`` on every item): its score in the task's primary
  metric (accuracy; or micro F1 from the summed tp/fp/fn of the relation tasks);
* ``majority``: the best constant — for accuracy the most frequent gold option; for F1 the
  constant with the highest F1 (the most frequent gold class is often the negative class,
  which scores F1 0);
* ``first_option``: option 1 throughout;
* ``random``: a uniform random option per item — expected accuracy (the mean of 1/options), or
  for F1 the F1 of the EXPECTED summed counts (each item's tp/fp/fn averaged over its options,
  then summed), which is not the expected F1;

and, from the stored item records, the run's answer distribution (the chosen option of a
log-likelihood task; the extracted option of a generative one, ``[invalid]`` when none was
extracted) with the share of its most frequent answer, and a paired two-sided test of the run
against the constant equal to that answer: McNemar's exact test on per-item correctness for
accuracy, an approximate randomisation test (:func:`leaderboard.stats.permutation_p`) for
corpus F1. ``at_baseline`` = p >= 0.05: the run cannot be told apart from the constant.

A generative variant (``bio_medqa_gen``, ``bio_gad_gen``) has the documents and doc ids of the
log-likelihood task of the same dataset (its "sibling", ``tasks/registry.py``); its baselines
are computed with the sibling's options and scorer, so both variants of a dataset get the same
numbers on the same items.

NER, HoC and the ROUGE generation tasks have no option list. Their baselines are the strongest
trivial answers of their type (:mod:`leaderboard.trivial`: the all-labels and majority-label
sets of HoC, a lead-k copy of the input with k fixed on training data, the empty NER answer),
scored with the task's own ``process_results`` on the run's doc ids (``trivial: true``):
``majority`` is the best of them, ``constants`` all of them, and the run is tested against the
best one with the paired approximate randomisation test. Generation tasks also record the mean
words of the run's responses, of the references and of that trivial answer (ROUGE is
length-sensitive). Without the task object (or for a task without trivial answers) the record
says so (``applicable: false``) and keeps only the share of the most frequent response.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leaderboard import items as itemlib
from leaderboard import stats, trivial
from leaderboard.schemas import N_RESAMPLES, ItemRecord, TaskBaselines
from tasks import registry
from tasks.registry import Category

ALPHA = 0.05
N_PERMUTATIONS = N_RESAMPLES
SEED = 0
INVALID = "[invalid]"  # tasks/common/multiple_choice.py: no option could be extracted
WITHHELD_ANSWER = "[withheld]"  # response withheld from the store and its option not recoverable
UNRESOLVED = "[unresolved]"  # stored counts fit several options and the response is not re-read
MAX_LABEL = 60


class BaselineError(ValueError):
    """Baselines cannot be computed as asked (e.g. the items do not match the suite's data)."""


# --- which task scores a leaf's constants ------------------------------------------------------


def leaves_needed(leaves: Sequence[str]) -> list[str]:
    """``leaves`` and the log-likelihood siblings their baselines are scored with."""
    out = dict.fromkeys(leaves)
    for leaf in leaves:
        sibling = registry.sibling_leaf(leaf)
        if sibling is not None:
            out.setdefault(sibling)
    return list(out)


def _no_baseline_note(spec: registry.TaskSpec) -> str:
    why = (
        "trivial answers not scored (the run's task version is not comparable with the suite's, "
        "or the suite's task was not built)"
    )
    if spec.category is Category.GEN:
        return f"free-text generation: {why}; the empty answer scores {spec.metric} 0"
    if spec.dataset.startswith("bio_ner"):
        return f"entity lists: {why}; the empty answer ('none') scores F1 0 (no true positives)"
    if spec.dataset == "bio_hoc":
        return f"multi-label: {why}; the empty answer scores F1 0"
    return "no option list: no constant-answer baseline"


# --- the constants' per-item scores ------------------------------------------------------------


@dataclass
class ConstantTable:
    """Per item (rows, the run's doc ids in order) and option (columns): the primary metric's
    ratio parts ``num/den`` of answering that option, and for count metrics the raw counts."""

    leaf: str
    metric: str
    kind: str  # "mean" or "counts"
    labels: list[str]  # option label per column
    n_options: np.ndarray  # options per item
    num: np.ndarray  # (items, max options)
    den: np.ndarray
    counts: np.ndarray | None  # (items, max options, 3): tp, fp, fn
    gold: list[int | None]
    docs: list[Any]
    choices: list[list[str]]  # option texts per item

    def score(self, c: int) -> float:
        return itemlib.ratio(self.num[:, c].sum(), self.den[:, c].sum())

    def valid(self) -> np.ndarray:
        return np.arange(self.num.shape[1])[None, :] < self.n_options[:, None]


def _label_of(text: Any, c: int) -> str:
    label = " ".join(str(text).split())[:MAX_LABEL]
    return label or f"option {c + 1}"


def _labels(choices: list[list[str]], width: int) -> list[str]:
    out = []
    for c in range(width):
        texts = {str(ch[c]) for ch in choices if c < len(ch)}
        out.append(_label_of(texts.pop(), c) if len(texts) == 1 else f"option {c + 1}")
    if len(set(out)) != len(out):  # two option texts cut to the same label
        out = [f"{c + 1}: {label}"[:MAX_LABEL] for c, label in enumerate(out)]
    return out


def _gold_index(task: Any, doc: Any, choices: list[str]) -> int | None:
    gold = task.doc_to_target(doc)
    if isinstance(gold, int | np.integer) and 0 <= int(gold) < len(choices):
        return int(gold)
    if isinstance(gold, str):
        if gold in choices:
            return choices.index(gold)
        if gold.isdigit() and int(gold) < len(choices):
            return int(gold)
    return None


def documents(task: Any, leaf: str, items: Sequence[ItemRecord]) -> list[Any]:
    """The suite's documents of ``items`` (by doc_id), each checked against its stored hash."""
    from leaderboard.rescore import doc_hash

    docs = task.eval_docs
    out = []
    for it in items:
        if not 0 <= it.doc_id < len(docs):
            raise BaselineError(
                f"{it.task}: doc_id {it.doc_id} is outside {leaf}'s test split ({len(docs)} "
                "documents); the run used other data than the suite's"
            )
        doc = docs[it.doc_id]
        if doc_hash(doc) != it.doc_hash:
            raise BaselineError(
                f"{it.task}: the stored item doc_id {it.doc_id} has another doc_hash than "
                f"document {it.doc_id} of {leaf} here; load the data the run was scored on "
                "(BIOBENCH_DATA_DIR / BIOBENCH_SOURCE)"
            )
        out.append(doc)
    return out


def constant_table(task: Any, leaf: str, metric: str, items: Sequence[ItemRecord]) -> ConstantTable:
    """Score every constant answer on the documents of ``items`` with ``task``'s own
    ``process_results`` (log-likelihood 0 for the constant's option, -1 for every other)."""

    if getattr(task, "OUTPUT_TYPE", None) != "multiple_choice":
        raise BaselineError(f"{leaf}: constant answers need a multiple-choice task")
    rows: list[list[Any]] = []
    choices_all: list[list[str]] = []
    gold: list[int | None] = []
    kept_docs = []
    for doc in documents(task, leaf, items):
        choices = [str(c) for c in task.doc_to_choice(doc)]
        n = len(choices)
        results = [
            task.process_results(doc, [(0.0 if i == c else -1.0, False) for i in range(n)])
            for c in range(n)
        ]
        rows.append([r[metric] for r in results])
        choices_all.append(choices)
        gold.append(_gold_index(task, doc, choices))
        kept_docs.append(doc)
    if not rows:
        raise BaselineError(f"{leaf}: no items")
    n_options = np.array([len(r) for r in rows])
    width = int(n_options.max())
    kind = "counts" if isinstance(rows[0][0], Mapping) else "mean"
    if kind == "counts" and n_options.min() != width:
        raise BaselineError(f"{leaf}: count metric {metric!r} with option lists of varying length")
    num = np.zeros((len(rows), width))
    den = np.ones((len(rows), width))  # an option an item lacks: a wrong answer (accuracy)
    counts = np.zeros((len(rows), width, 3)) if kind == "counts" else None
    for i, row in enumerate(rows):
        for c, value in enumerate(row):
            if kind == "counts":
                tp, fp, fn = (float(value[k]) for k in itemlib.COUNT_KEYS)
                counts[i, c] = (tp, fp, fn)
                part_num, part_den = itemlib.count_parts(
                    metric, np.array([tp]), np.array([fp]), np.array([fn])
                )
                num[i, c], den[i, c] = part_num[0], part_den[0]
            else:
                num[i, c] = float(value)
    return ConstantTable(
        leaf,
        metric,
        kind,
        _labels(choices_all, width),
        n_options,
        num,
        den,
        counts,
        gold,
        kept_docs,
        choices_all,
    )


# --- the run's answers -------------------------------------------------------------------------


def _match_option(response: str, choices: list[str]) -> int | None:
    text = response.strip().lower()
    lowered = [c.strip().lower() for c in choices]
    return lowered.index(text) if text in lowered else None


def _count_candidates(table: ConstantTable, i: int, item: ItemRecord) -> list[int]:
    """Options whose constant counts equal the item's stored counts."""
    stored = item.counts.get(table.metric)
    if stored is None or table.counts is None:
        return []
    want = np.array([stored.tp, stored.fp, stored.fn], float)
    return [c for c in range(int(table.n_options[i])) if np.array_equal(table.counts[i, c], want)]


def run_answers(
    items: Sequence[ItemRecord], table: ConstantTable, gen_task: Any | None
) -> list[int | str]:
    """Per item, the option index the run answered, or ``[invalid]`` / ``[withheld]`` /
    ``[unresolved]``.

    Log-likelihood: the stored ``choice``. Generative QA: the stored extracted answer (letter or
    word) matched to the sibling's options. Generative relation extraction (the stored record
    keeps the response and its tp/fp/fn, not the label read from it): the one option whose
    constant counts equal the stored counts; where several do (a wrong positive label of a
    multi-class task), the label ``gen_task``'s own ``process_results`` reads from the stored
    response, provided it is one of them — pass ``gen_task=None`` when the task's answer reading
    has changed since the run was scored (another task version), so that only the counts count.
    """
    out: list[int | str] = []
    for i, it in enumerate(items):
        n = int(table.n_options[i])
        if it.choice is not None:
            out.append(it.choice if it.choice < n else INVALID)
            continue
        response = it.response or ""
        withheld = itemlib.is_withheld(response)
        if table.kind == "mean":
            if withheld:
                out.append(WITHHELD_ANSWER)
                continue
            c = _match_option(response, table.choices[i])
            out.append(INVALID if c is None else c)
            continue
        candidates = _count_candidates(table, i, it)
        if len(candidates) == 1:
            out.append(candidates[0])
            continue
        answer: int | None = None
        doc = table.docs[i]
        if not withheld and gen_task is not None and candidates:
            try:
                parsed = gen_task.process_results(doc, [response])[table.metric]
            except Exception:  # noqa: BLE001 - an unreadable answer stays unresolved
                parsed = None
            pred = parsed.get("pred") if isinstance(parsed, Mapping) else None
            labels = list(doc.get("labels") or []) if isinstance(doc, Mapping) else []
            if isinstance(pred, str) and pred in labels and labels.index(pred) in candidates:
                answer = labels.index(pred)
        out.append(answer if answer is not None else WITHHELD_ANSWER if withheld else UNRESOLVED)
    return out


# --- one task ------------------------------------------------------------------------------


def _method(table: ConstantTable, test: str, n: int) -> str:
    accuracy = table.kind == "mean"
    return (
        f"Every constant option scored with {table.leaf}'s own process_results on the run's {n} "
        f"doc ids ({table.metric}). majority = the best constant "
        + ("(the most frequent gold option)" if accuracy else "(highest micro F1)")
        + "; first_option = option 1 throughout; random = "
        + (
            "expected accuracy of a uniform random option (mean of 1/options)"
            if accuracy
            else "F1 of the expected summed tp/fp/fn of a uniform random option per item "
            "(not the expected F1)"
        )
        + ". Test: the run against always answering its most frequent option, "
        + (
            "McNemar's exact test on per-item correctness"
            if test == "mcnemar"
            else f"paired approximate randomisation ({N_PERMUTATIONS} swaps, seed {SEED}; exact "
            "when 2^n is smaller)"
        )
        + f"; at_baseline = p >= {ALPHA}."
    )


def _free_text(leaf: str, spec: registry.TaskSpec, items: Sequence[ItemRecord]) -> TaskBaselines:
    def answer(it: ItemRecord) -> str:
        response = it.response if it.response is not None else str(it.choice)
        # a withheld response echoes its own item: one distinct answer per item, never a constant
        return f"{response}#{it.doc_id}" if response.startswith("[response withheld") else response

    answers = Counter(answer(it) for it in items)
    top = max(answers.values()) if answers else 0
    return TaskBaselines(
        applicable=False,
        method="No baseline answer scored (see note). top_share = share of items whose stored "
        "response equals the most frequent one (each withheld response counts as a distinct "
        "one: it echoes its own item); the response text is not repeated here.",
        note=_no_baseline_note(spec),
        metric=spec.metric,
        n_items=len(items),
        n_distinct=len(answers),
        top_share=top / len(items),
    )


def _words(text: str) -> int:
    return len(text.split())


def _parts(metric: str, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-item ratio parts of a metric's logged values (numbers, or tp/fp/fn counts)."""
    if values and isinstance(values[0], Mapping):
        tp, fp, fn = (np.array([float(v[k]) for v in values]) for k in itemlib.COUNT_KEYS)
        return itemlib.count_parts(metric, tp, fp, fn)
    return np.array([float(v) for v in values]), np.ones(len(values))


def _stored_words(items: Sequence[ItemRecord]) -> list[int]:
    """Words of each stored response (the raw text where stored), withheld ones left out."""
    out = []
    for it in items:
        text = it.raw_response if it.raw_response is not None else it.response
        if text is not None and not text.startswith("[response withheld"):
            out.append(_words(text))
    return out


def _trivial(
    leaf: str,
    spec: registry.TaskSpec,
    items: Sequence[ItemRecord],
    task: Any,
    scorer_version: str,
) -> TaskBaselines | None:
    """The trivial answers of a free-text task scored on the run's items, the run tested against
    the best one (None: the task has none)."""
    docs = documents(task, leaf, items)
    named = trivial.answers(leaf, list(docs[0].get("label_set") or []))
    if not named:
        return None
    metric = spec.metric
    scored: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for name, make in named.items():
        outputs = [make(doc) for doc in docs]
        values = [
            task.process_results(doc, [out])[metric] for doc, out in zip(docs, outputs, strict=True)
        ]
        num, den = _parts(metric, values)
        scored[name] = (num, den, float(np.mean([_words(o) for o in outputs])))
    scores = {name: itemlib.ratio(num.sum(), den.sum()) for name, (num, den, _) in scored.items()}
    best = min(scores, key=lambda name: (-scores[name], list(scores).index(name)))
    run = itemlib.metric_data(items, metric)
    b_num, b_den, b_words = scored[best]
    rng = stats.task_rng(SEED, f"baseline:{leaf}")
    p_value = float(
        stats.permutation_p(
            np.column_stack([run.num, b_num]),
            np.column_stack([run.den, b_den]),
            [(0, 1)],
            N_PERMUTATIONS,
            rng,
        )[0]
    )
    p_value = min(max(p_value, 0.0), 1.0)
    answers = Counter((it.response if it.response is not None else str(it.choice)) for it in items)
    n = len(items)
    generation = spec.category is Category.GEN
    words = _stored_words(items) if generation else []
    notes = []
    if n < 10:
        notes.append(f"only {n} items: no test can tell the run from a trivial answer")
    if generation and len(words) < n:
        notes.append(f"response length over {len(words)} of {n} responses (the rest withheld)")
    training = trivial.TRAINING.get(leaf)
    how = {
        "gen": f"lead-k = the first k words of the input, k = {trivial.LEAD_K.get(leaf)} "
        "chosen on training data"
        + (f" ({training.description})" if training else "")
        + " as the k of the highest mean ROUGE-L",
        "hoc": "all labels = every hallmark named; majority-label set = the most frequent label "
        "of the training abstracts" + (f" ({training.description})" if training else ""),
        "ner": "the empty answer predicts no mention (tp = 0): F1 0 on every corpus",
    }["gen" if generation else "hoc" if leaf == "bio_hoc" else "ner"]
    return TaskBaselines(
        applicable=True,
        trivial=True,
        method=(
            f"Trivial answers (leaderboard/trivial.py) scored with {leaf}'s own process_results "
            f"on the run's {n} doc ids ({metric}): {how}. majority = the best of them. Test: the "
            f"run against it, paired approximate randomisation ({N_PERMUTATIONS} swaps, seed "
            f"{SEED}; exact when 2^n is smaller); at_baseline = p >= {ALPHA}."
            + (" Words: whitespace-separated, mean per item." if generation else "")
        ),
        note="; ".join(notes),
        metric=metric,
        n_items=n,
        scored_with=leaf,
        scorer_version=scorer_version,
        majority=scores[best],
        majority_answer=best[:MAX_LABEL],
        constants={name[:MAX_LABEL]: score for name, score in scores.items()},
        n_distinct=len(answers),
        top_share=max(answers.values()) / n,
        tested_answer=best[:MAX_LABEL],
        tested_score=scores[best],
        test="permutation",
        p_value=p_value,
        at_baseline=p_value >= ALPHA,
        response_words=float(np.mean(words)) if words else None,
        n_response_words=len(words) if generation else None,
        reference_words=float(np.mean([_words(str(task.doc_to_target(d))) for d in docs]))
        if generation
        else None,
        baseline_words=b_words if generation else None,
    )


def compute(
    leaf: str,
    items: Sequence[ItemRecord],
    tasks: Mapping[str, Any],
    *,
    reread: bool = True,
    scorer_version: str = "",
) -> TaskBaselines:
    """Baselines of leaf task ``leaf`` from its item records (any filter) and the suite's Task
    objects (``tasks``: leaf name -> lm-eval Task; must hold ``registry.sibling_leaf(leaf)``, and ``leaf``
    itself for generative relation extraction and for the trivial answers of free-text tasks).
    ``reread``: whether ``leaf``'s answer reading is the one the run was scored with (same task
    version), so that stored responses may be read again to tell options apart
    (:func:`run_answers`) and a free-text task's trivial answers are scored by the same scorer
    and documents as the run. ``scorer_version``: the version of
    the task that scored the constants, recorded with them."""
    spec = registry.spec_of_leaf(leaf)
    if spec is None:
        raise BaselineError(f"{leaf} is not a suite task")
    chosen = sorted((it for it in items if it.filter == spec.filter), key=lambda it: it.doc_id)
    if not chosen:
        raise BaselineError(f"{leaf}: no items under filter {spec.filter!r}")
    sibling = registry.sibling_leaf(leaf)
    if sibling is None:
        usable = reread and leaf in tasks and trivial.has_answers(leaf)
        found = _trivial(leaf, spec, chosen, tasks[leaf], scorer_version) if usable else None
        return found if found is not None else _free_text(leaf, spec, chosen)
    if sibling not in tasks:
        raise BaselineError(f"{leaf}: its baselines need the suite's task {sibling}; build it")
    sibling_task = tasks[sibling]
    sibling_spec = registry.spec_of_leaf(sibling)
    table = constant_table(sibling_task, sibling, sibling_spec.metric, chosen)
    gen_task = tasks.get(leaf) if leaf != sibling and reread else None
    answers = run_answers(chosen, table, gen_task)
    n = len(chosen)
    width = table.num.shape[1]
    scores = [table.score(c) for c in range(width)]
    best = int(np.argmax(scores))
    valid = table.valid()
    per_item = valid.sum(axis=1)
    exp_num = (table.num * valid).sum(axis=1) / per_item
    exp_den = (table.den * valid).sum(axis=1) / per_item
    random = itemlib.ratio(exp_num.sum(), exp_den.sum())

    def label(a: int | str) -> str:
        return table.labels[a] if isinstance(a, int) else a

    counter = Counter(label(a) for a in answers)
    order = {lab: k for k, lab in enumerate([*table.labels, INVALID, WITHHELD_ANSWER, UNRESOLVED])}
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order))))
    top_answer, top_count = ranked[0]
    options = Counter(a for a in answers if isinstance(a, int))
    tested = min(options, key=lambda c: (-options[c], c)) if options else None

    run = itemlib.metric_data(chosen, spec.metric)
    test = "mcnemar" if run.binary and table.kind == "mean" else "permutation"
    p_value = at_baseline = tested_score = None
    if tested is not None:
        tested_score = scores[tested]
        if test == "mcnemar":
            correct = np.column_stack([run.num, table.num[:, tested]])
            b, c = stats.discordant(correct, [(0, 1)])
            p_value = float(stats.mcnemar_exact(b, c)[0])
        else:
            num = np.column_stack([run.num, table.num[:, tested]])
            den = np.column_stack([run.den, table.den[:, tested]])
            rng = stats.task_rng(SEED, f"baseline:{leaf}")
            p_value = float(stats.permutation_p(num, den, [(0, 1)], N_PERMUTATIONS, rng)[0])
        p_value = min(max(p_value, 0.0), 1.0)
        at_baseline = p_value >= ALPHA
    notes = []
    if tested is None:
        notes.append("the run answered no option on any item; not tested")
    elif n < 10:
        notes.append(f"only {n} items: no test can tell the run from a constant")
    lost = {m: counter[m] for m in (WITHHELD_ANSWER, UNRESOLVED) if counter.get(m)}
    if lost:
        shown = ", ".join(f"{k} {m}" for m, k in lost.items())
        notes.append(
            f"{sum(lost.values())} of {n} answers not recoverable from the stored records "
            f"({shown}); tested against the most frequent recovered option"
        )
    note = "; ".join(notes)
    return TaskBaselines(
        applicable=True,
        method=_method(table, test, n),
        note=note,
        metric=spec.metric,
        n_items=n,
        scored_with=sibling,
        scorer_version=scorer_version,
        majority=scores[best],
        majority_answer=table.labels[best],
        first_option=scores[0],
        first_option_answer=table.labels[0],
        random=random,
        constants={table.labels[c]: scores[c] for c in range(width)},
        answers=dict(ranked),
        n_distinct=len(counter),
        top_answer=top_answer,
        top_share=top_count / n,
        tested_answer=table.labels[tested] if tested is not None else None,
        tested_score=tested_score,
        test=test if tested is not None else None,
        p_value=p_value,
        at_baseline=at_baseline,
    )


def for_submission(
    sub_tasks: Sequence[str],
    items: Sequence[ItemRecord],
    tasks: Mapping[str, Any],
    *,
    reread: Mapping[str, bool] | None = None,
    versions: Mapping[str, str] | None = None,
) -> dict[str, TaskBaselines]:
    """Baselines of every leaf of a submission from its item records (``reread``: per leaf, see
    :func:`compute`, default True; ``versions``: the suite's task versions, leaf -> version)."""
    by_task: dict[str, list[ItemRecord]] = {}
    for it in items:
        by_task.setdefault(it.task, []).append(it)
    versions = versions or {}
    return {
        leaf: compute(
            leaf,
            by_task.get(leaf, []),
            tasks,
            reread=(reread or {}).get(leaf, True),
            scorer_version=versions.get(registry.sibling_leaf(leaf) or leaf, ""),
        )
        for leaf in sub_tasks
    }
