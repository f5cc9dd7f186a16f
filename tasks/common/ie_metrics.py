"""Scoring of the ``bio_ie`` tasks: per-item counts and corpus-level micro P/R/F1.

Every IE metric here has the same shape. Each test item yields :class:`Counts` (true positives,
false positives, false negatives), which lm-eval logs with the sample; the task score is the
micro average over the corpus — P = ΣTP / (ΣTP + ΣFP), R = ΣTP / (ΣTP + ΣFN),
F1 = 2ΣTP / (2ΣTP + ΣFP + ΣFN) — never a mean of per-item scores. Keeping the counts per item
lets the statistics engine resample items (bootstrap) and recompute the same corpus metric.
A ratio whose denominator is zero is 0.0 (scikit-learn's ``zero_division=0``).

* NER (:func:`ner_counts`): entity-level, exact span match, as seqeval counts it. The model
  answers with mention strings; a string is matched against the sentence's tokens after
  :func:`normalise_mention` (Unicode NFKC, case-folded, all whitespace removed, so ``IL-2``
  matches the tokens ``IL - 2``). Every token span whose text equals a predicted string is a
  predicted span — a mention listed once covers each of its occurrences, and listing it twice
  changes nothing — except an occurrence lying inside another predicted span (longest match,
  as a tagger would mark it: listing ``lithium`` and ``lithium carbonate`` does not claim the
  ``lithium`` inside ``lithium carbonate``). A predicted string found nowhere in the sentence is
  one false positive. Gold mentions count per occurrence.
* Relation extraction (:func:`label_counts`): micro F1 over the positive classes, the negative
  ("no relation") class excluded — BLURB's definition for ChemProt and DDI; with one positive
  class (GAD) it is that class's F1. A generated answer that commits to no label is an
  abstention (:func:`unparsed_label_counts`): a false negative on a positive pair, no count on a
  negative pair, and wrong for accuracy.
* Multi-label classification (:func:`multilabel_counts`): micro F1 over (item, label) decisions —
  BLURB's HoC metric once sentence labels are pooled per abstract.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")  # zero-width characters


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def prf(counts: Counts) -> PRF:
    """Precision, recall and F1 of pooled counts."""
    return PRF(
        precision=_ratio(counts.tp, counts.tp + counts.fp),
        recall=_ratio(counts.tp, counts.tp + counts.fn),
        f1=_ratio(2 * counts.tp, 2 * counts.tp + counts.fp + counts.fn),
    )


def total(items: Iterable[Counts | Mapping[str, Any]]) -> Counts:
    """Sum of per-item counts; items may be :class:`Counts` or logged dicts with tp/fp/fn."""
    tp = fp = fn = 0
    for item in items:
        if isinstance(item, Counts):
            tp, fp, fn = tp + item.tp, fp + item.fp, fn + item.fn
        else:
            tp, fp, fn = tp + int(item["tp"]), fp + int(item["fp"]), fn + int(item["fn"])
    return Counts(tp, fp, fn)


# lm-eval aggregations: each receives the list of per-item dicts of one metric.
def precision_aggregate(items: Sequence[Mapping[str, Any]]) -> float:
    """Corpus-level micro precision from per-item counts (lm-eval ``aggregation``)."""
    return prf(total(items)).precision


def recall_aggregate(items: Sequence[Mapping[str, Any]]) -> float:
    """Corpus-level micro recall from per-item counts (lm-eval ``aggregation``)."""
    return prf(total(items)).recall


def f1_aggregate(items: Sequence[Mapping[str, Any]]) -> float:
    """Corpus-level micro F1 from per-item counts (lm-eval ``aggregation``)."""
    return prf(total(items)).f1


def f1_blue_aggregate(items: Sequence[Mapping[str, Any]]) -> float:
    """BLUE's HoC F1 (``eval_hoc.get_p_r_f_arrary`` in ncbi-nlp/BLUE_Benchmark): precision and
    recall of each item (abstract) averaged over items, then F1 of the two means.

    An item's precision is 0 when it predicts nothing. BLUE divides by the gold label count and
    so fails on an item without gold labels (51 of the suite's 371 HoC test abstracts): those
    items are left out of this metric — their wrong predictions still count in the micro F1.
    """
    precisions, recalls = [], []
    for item in items:
        tp, fp, fn = int(item["tp"]), int(item["fp"]), int(item["fn"])
        if tp + fn == 0:
            continue
        precisions.append(_ratio(tp, tp + fp))
        recalls.append(tp / (tp + fn))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return 2 * p * r / (p + r) if p + r else 0.0


# --- NER -----------------------------------------------------------------------------------


def normalise_mention(text: str) -> str:
    """The form in which mentions are compared: NFKC, case-folded, whitespace removed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in _INVISIBLE)


def find_occurrences(tokens: Sequence[str], mention: str) -> list[tuple[int, int]]:
    """Every ``[start, end)`` token span whose normalised text equals the normalised mention."""
    return _occurrences([normalise_mention(t) for t in tokens], normalise_mention(mention))


def _occurrences(norm_tokens: Sequence[str], target: str) -> list[tuple[int, int]]:
    if not target:
        return []
    spans = []
    for start, first in enumerate(norm_tokens):
        if not first or not target.startswith(first):
            continue
        text = ""
        for end in range(start, len(norm_tokens)):
            text += norm_tokens[end]
            if len(text) >= len(target):
                if text == target:
                    spans.append((start, end + 1))
                break
            if not target.startswith(text):
                break
    return spans


@dataclass(frozen=True)
class NerMatch:
    """How the predicted strings of one sentence map onto its tokens."""

    predicted_spans: frozenset[tuple[int, int]]  # after dropping spans nested in another
    unmatched: tuple[str, ...]  # normalised predictions found nowhere in the sentence


def match_mentions(tokens: Sequence[str], predictions: Iterable[str]) -> NerMatch:
    norm_tokens = [normalise_mention(t) for t in tokens]
    spans: set[tuple[int, int]] = set()
    unmatched: list[str] = []
    seen: set[str] = set()
    for mention in predictions:
        key = normalise_mention(mention)
        if not key or key in seen:
            continue
        seen.add(key)
        found = _occurrences(norm_tokens, key)
        if found:
            spans.update(found)
        else:
            unmatched.append(key)
    return NerMatch(frozenset(_outermost(spans)), tuple(unmatched))


def _outermost(spans: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The spans not contained in another span of the set (partial overlaps are all kept)."""
    return {
        (s, e)
        for s, e in spans
        if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2 in spans)
    }


def ner_counts(
    tokens: Sequence[str], gold_spans: Iterable[Sequence[int]], predictions: Iterable[str]
) -> Counts:
    """Entity-level counts of one sentence (matching rule in the module docstring)."""
    gold = {(int(s), int(e)) for s, e in gold_spans}
    match = match_mentions(tokens, predictions)
    tp = len(match.predicted_spans & gold)
    return Counts(
        tp=tp,
        fp=len(match.predicted_spans) - tp + len(match.unmatched),
        fn=len(gold) - tp,
    )


# --- classification ------------------------------------------------------------------------


def label_counts(gold: str, predicted: str, negative: str) -> Counts:
    """Counts of one single-label decision, the ``negative`` class excluded from scoring.

    A wrong positive prediction for a positive gold item is both a false positive (for the
    predicted class) and a false negative (for the gold class), as in micro-averaged F1.
    """
    if predicted == gold:
        return Counts(tp=1) if gold != negative else Counts()
    return Counts(fp=int(predicted != negative), fn=int(gold != negative))


def unparsed_label_counts(gold: str, negative: str) -> Counts:
    """Counts of an answer that commits to no label (an abstention, relation label rule v2).

    A positive gold pair is missed (one false negative); a gold-negative pair gives no count —
    no class was claimed, so it is no false positive, and it is not a correct "no relation"
    either: the accuracy metrics score it 0 (``tasks.common.ie_tasks.relation_gen_results``).
    """
    return Counts(fn=int(gold != negative))


def multilabel_counts(gold: Iterable[str], predicted: Iterable[str]) -> Counts:
    """Counts of one multi-label decision: each label is a binary decision."""
    g, p = set(gold), set(predicted)
    return Counts(tp=len(g & p), fp=len(p - g), fn=len(g - p))
