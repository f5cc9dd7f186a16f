"""Wiring of the ``bio_ie`` tasks into lm-eval: prompts, targets and ``process_results``.

Data loading lives in each task folder's ``utils.py`` (and :mod:`tasks.common.ie_data` for the
NER corpora), scoring in :mod:`tasks.common.ie_metrics`, answer parsing in
:mod:`tasks.common.ie_parsing`. Prompts use the project's one instruction template.

Every ``process_results`` here returns, for each of the metrics ``f1``, ``precision`` and
``recall``, the same per-item dict ``{"tp", "fp", "fn", "pred"}``: lm-eval logs it with the
sample (``pred`` is what the answer was read as) and the metric's ``aggregation``
(:func:`tasks.common.ie_metrics.f1_aggregate` etc.) pools the counts over the corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.common import ie_metrics
from tasks.common.ie_parsing import parse_labels, read_label, read_mentions
from tasks.common.prompting import render_prompt

NONE_ANSWER = "none"
UNPARSED = "[unparsed]"  # ``pred`` of an answer that names no label (relation label rule v3)
_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")

Doc = dict[str, Any]
ProcessResults = Callable[[Doc, Sequence[Any]], dict[str, Any]]


def detokenize(tokens: Sequence[str]) -> str:
    """Readable text of a tokenised sentence: no space before closing punctuation or after an
    opening bracket (``heart failure ( HF ) .`` -> ``heart failure (HF).``). Prompt only: mentions
    are matched against the tokens with whitespace ignored, so this never changes a score."""
    text = _NO_SPACE_AFTER.sub(r"\1", " ".join(tokens))
    return _NO_SPACE_BEFORE.sub(r"\1", text)


def _item(counts: ie_metrics.Counts, pred: Any) -> dict[str, Any]:
    return {**counts.as_dict(), "pred": pred}


def _scores(item: dict[str, Any], **extra: float) -> dict[str, Any]:
    return {"f1": item, "precision": item, "recall": item, **extra}


# --- NER -----------------------------------------------------------------------------------


def ner_instruction(entity_type: str) -> str:
    return (
        f"List every {entity_type} mentioned in the sentence. Copy each mention exactly as it is "
        f"written in the sentence, one per line. If there is none, reply with {NONE_ANSWER}."
    )


def ner_doc_to_text(doc: Doc) -> str:
    return render_prompt(ner_instruction(doc["entity_type"]), detokenize(doc["tokens"]))


def ner_doc_to_target(doc: Doc) -> str:
    mentions = [detokenize(doc["tokens"][s:e]) for s, e in doc["spans"]]
    return "\n".join(dict.fromkeys(mentions)) or NONE_ANSWER


_AND = re.compile(r"\s+(?:and|&)\s+", re.IGNORECASE)


def split_unmatched_and(tokens: Sequence[str], mentions: Sequence[str]) -> list[str]:
    """Mentions with a mention "X and Y" that occurs nowhere in the sentence replaced by X and Y,
    when each of them occurs ("The chemicals are aspirin and ibuprofen"); a coordinated mention
    that does occur ("breast and ovarian cancer") stays whole (entity rule v2)."""
    out: list[str] = []
    for mention in mentions:
        parts = [p.strip() for p in _AND.split(mention)]
        if (
            len(parts) > 1
            and not ie_metrics.find_occurrences(tokens, mention)
            and all(p and ie_metrics.find_occurrences(tokens, p) for p in parts)
        ):
            out.extend(parts)
        else:
            out.append(mention)
    return list(dict.fromkeys(out))


def ner_process_results(doc: Doc, results: Sequence[str]) -> dict[str, Any]:
    """Entity counts of one sentence, and ``unparsed`` (an empty answer or a refusal: no
    mentions predicted, so its gold mentions are false negatives)."""
    predicted, understood = read_mentions(results[0])
    predicted = split_unmatched_and(doc["tokens"], predicted)
    counts = ie_metrics.ner_counts(doc["tokens"], doc["spans"], predicted)
    return _scores(_item(counts, predicted), unparsed=float(not understood))


# --- relation extraction -------------------------------------------------------------------


def relation_choices(doc: Doc, verbalise: Mapping[str, str]) -> list[str]:
    """The answer options (label verbalisations) in the order of the record's label set."""
    return [verbalise[label] for label in doc["labels"]]


def relation_target_index(doc: Doc) -> int:
    return list(doc["labels"]).index(doc["label"])


def relation_loglik_results(doc: Doc, results: Sequence[tuple[float, bool]]) -> dict[str, Any]:
    """Multiple choice by log-likelihood: the best-scoring verbalisation is the prediction."""
    lls = [float(ll) for ll, _ in results]
    pred = doc["labels"][max(range(len(lls)), key=lls.__getitem__)]
    counts = ie_metrics.label_counts(doc["label"], pred, doc["negative"])
    return _scores(_item(counts, pred), acc=float(pred == doc["label"]))


def relation_gen_results(
    aliases: Mapping[str, Sequence[str]], weak: Sequence[str] = ()
) -> ProcessResults:
    """``process_results`` of a generative RE task whose labels are named by ``aliases``.

    Relation label rule v3 (:func:`tasks.common.ie_parsing.read_label`). An answer that commits
    to no label (names none, several, or refuses) is *unparsed*, never read as "no relation":
    ``pred`` is ``[unparsed]``, ``unparsed`` is 1, ``acc`` is 0, and its counts are those of an
    abstention (:func:`tasks.common.ie_metrics.unparsed_label_counts`): a false negative when the
    gold label is a relation, nothing when it is the negative label.
    """

    def process_results(doc: Doc, results: Sequence[str]) -> dict[str, Any]:
        label = read_label(results[0], aliases, weak)
        if label is None:
            counts = ie_metrics.unparsed_label_counts(doc["label"], doc["negative"])
            return _scores(_item(counts, UNPARSED), acc=0.0, unparsed=1.0)
        counts = ie_metrics.label_counts(doc["label"], label, doc["negative"])
        return _scores(_item(counts, label), acc=float(label == doc["label"]), unparsed=0.0)

    return process_results


def regulation_words(direction: str) -> list[str]:
    """``up`` / ``down`` regulation as verb, noun and agent, hyphenated or not ("up-regulates",
    "upregulation", "down-regulator"): aliases of a relation label (extraction rule v3)."""
    stems = ("regulates", "regulate", "regulated", "regulating", "regulation", "regulator")
    return [f"{direction}{sep}{stem}" for stem in stems for sep in ("-", "")]


@dataclass(frozen=True)
class RelationPrompt:
    """Prompt and answer reading of one RE dataset (both variants share the prompt).

    ``verbalise`` maps each label to its answer option (the log-likelihood choices, and the word
    the generative variant asks for); ``aliases`` adds further phrases read as that label in a
    generated answer; ``weak`` labels are read only when no other label is named.
    """

    instruction: str
    verbalise: Mapping[str, str]
    aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)
    weak: tuple[str, ...] = ()

    def doc_to_text(self, doc: Doc) -> str:
        return render_prompt(self.instruction, doc["text"])

    def doc_to_choice(self, doc: Doc) -> list[str]:
        return relation_choices(doc, self.verbalise)

    def doc_to_target(self, doc: Doc) -> str:
        return self.verbalise[doc["label"]]

    def all_aliases(self) -> dict[str, list[str]]:
        return {
            label: [option, *self.aliases.get(label, ())]
            for label, option in self.verbalise.items()
        }

    def process_results_gen(self, doc: Doc, results: Sequence[str]) -> dict[str, Any]:
        return relation_gen_results(self.all_aliases(), self.weak)(doc, results)


# --- multi-label classification ------------------------------------------------------------


def multilabel_gen_results(
    aliases: Mapping[str, Sequence[str]], none_aliases: Sequence[str]
) -> ProcessResults:
    """``process_results`` of a generative multi-label task (every label named counts)."""

    def process_results(doc: Doc, results: Sequence[str]) -> dict[str, Any]:
        labels, understood = parse_labels(results[0], aliases, none_aliases)
        pred = sorted(labels)
        counts = ie_metrics.multilabel_counts(doc["labels"], pred)
        item = _item(counts, pred)
        return {**_scores(item, unparsed=float(not understood)), "f1_blue": item}

    return process_results
