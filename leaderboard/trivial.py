"""Trivial answers of the tasks without an option list, fixed on TRAINING data.

A free-text task has no "constant option", but it has answers that need no model at all, and a
model's score means little until it beats them (issue 32). Per task type:

* multi-label (HoC): the all-labels set (every hallmark named) and the majority-label set (the
  label most frequent among the training abstracts, alone; :data:`HOC_MAJORITY_SET`). The most
  frequent whole label set of the training abstracts is the empty set (221 of 1,481), the
  answer ``none``, which scores F1 0 (no true positive), so it is not the one kept;
* summarisation and notes (MeQSum, MEDIQA-QS, MTS-Dialog, ACI-Bench, MEDIQA-QA): lead-k, the
  first ``k`` whitespace-separated words of the input copied as the answer, with ``k`` per task
  (:data:`LEAD_K`) the one of :data:`LEAD_K_GRID` with the highest mean ROUGE-L (the suite's
  scorer, ``tasks.common.generation.rouge``) on that task's training data (:data:`TRAINING`;
  ties: the smaller k);
* NER: the empty answer (``none``), which predicts no mention: tp = 0, so its micro F1 is 0 on
  every corpus — it is recorded so the board says so, never a score a model must beat.

The constants are fixed here, not recomputed at scoring time, so a baseline never depends on
which files a machine holds; ``tests/test_trivial_baselines.py`` recomputes them from the
training data when the real data is present, and ``python -m leaderboard.trivial`` prints the
selection (the ROUGE-L of every k on every task's training data).

The answers are scored by :mod:`leaderboard.baselines` with each task's own
``process_results`` on the run's items; this module only says what the answers are.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# fixed before any selection; it stops at 600 words, about the length of an ACI-Bench note (for
# MTS-Dialog and ACI-Bench the best k is this top value: a longer copy might score higher)
LEAD_K_GRID: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 600)

# k per generation task, chosen with choose_lead_k on the training data named in TRAINING
# (python -m leaderboard.trivial; mean ROUGE-L on that data at the chosen k in the comment)
LEAD_K: dict[str, int] = {
    "bio_meqsum": 20,  # 0.1992 (k = 15: 0.1991, 25: 0.1923)
    "bio_mediqa_qs": 20,  # the same training data as bio_meqsum
    "bio_mts_dialog": 600,  # 0.1576, the top of the grid: ~the whole conversation (20: 0.0977)
    "bio_aci_bench": 600,  # 0.1720, the top of the grid and still rising (400: 0.1562)
    "bio_mediqa_qa": 60,  # 0.1094 (flat from k = 40: the inputs are short)
}
# the most frequent gold label of HoC's 1,481 training abstracts (choose_majority_set): 359 of them
HOC_MAJORITY_SET: tuple[str, ...] = ("sustaining proliferative signaling",)
NONE_ANSWER = "none"


def _meqsum(root: Path):
    from tasks.bio_meqsum.utils import parse_train

    return parse_train(root)


def _mts(root: Path):
    from tasks.bio_mts_dialog.utils import parse_train

    return parse_train(root)


def _aci(root: Path):
    from tasks.bio_aci_bench.utils import parse_train

    return parse_train(root)


def _mediqa_qa(root: Path):
    from tasks.bio_mediqa_qa.utils import parse_train

    return parse_train(root)


def _hoc(root: Path):
    from tasks.bio_hoc.utils import parse_train

    return parse_train(root)


@dataclass(frozen=True)
class Training:
    """Where a task's trivial answer is fixed: a reader of training records and what they are."""

    read: Callable[[Path], Sequence[Any]]
    description: str


TRAINING: dict[str, Training] = {
    "bio_meqsum": Training(_meqsum, "MeQSum's 500 records outside the suite's test split"),
    "bio_mediqa_qs": Training(
        _meqsum,
        "MeQSum's 500 records outside bio_meqsum's test split (MEDIQA 2021 trained on MeQSum)",
    ),
    "bio_mts_dialog": Training(_mts, "MTS-Dialog's training set (1,201 conversations)"),
    "bio_aci_bench": Training(_aci, "ACI-Bench's training set (67 visits)"),
    "bio_mediqa_qa": Training(
        _mediqa_qa,
        "ChatDoctor GenMedGPT-5k question/answer pairs (MEDIQA 2019's QA training set is not in "
        "the suite's data)",
    ),
    "bio_hoc": Training(_hoc, "HoC's 1,481 abstracts outside the suite's test split"),
}


def lead(text: str, k: int) -> str:
    """The first ``k`` whitespace-separated words of ``text``."""
    return " ".join(text.split()[:k])


def lead_k_scores(records: Iterable[Any], grid: Sequence[int] = LEAD_K_GRID) -> dict[int, float]:
    """Mean ROUGE-L F of lead-k of each record's input against its references, per k."""
    from tasks.common.generation import rouge

    records = list(records)
    if not records:
        raise ValueError("no training records")
    return {
        k: sum(rouge(lead(r.input, k), r.references)["rougeL"] for r in records) / len(records)
        for k in grid
    }


def choose_lead_k(scores: Mapping[int, float]) -> int:
    """The k of the highest mean ROUGE-L (ties: the smaller k)."""
    return min(scores, key=lambda k: (-scores[k], k))


def choose_majority_set(records: Iterable[Any]) -> tuple[str, ...]:
    """The majority-label set: the most frequent gold label, alone (ties: the first by name)."""
    counts = Counter(label for r in records for label in r.labels)
    if not counts:
        raise ValueError("no labelled training records")
    return (min(counts, key=lambda label: (-counts[label], label)),)


def has_answers(leaf: str) -> bool:
    """Whether ``leaf`` has trivial answers here (generation, HoC, NER)."""
    return leaf in LEAD_K or leaf == "bio_hoc" or leaf.startswith("bio_ner_")


def answers(leaf: str, label_set: Sequence[str] = ()) -> dict[str, Callable[[Mapping], str]]:
    """The trivial answers of ``leaf``: name -> the answer text for a document. Empty for a task
    with an option list (its constants are the options, :mod:`leaderboard.baselines`)."""
    if leaf in LEAD_K:
        k = LEAD_K[leaf]
        return {f"lead-{k} copy of the input": lambda doc: lead(doc["input"], k)}
    if leaf == "bio_hoc":
        every = "; ".join(label_set)
        majority = "; ".join(HOC_MAJORITY_SET) or NONE_ANSWER
        name = "majority-label set (" + (", ".join(HOC_MAJORITY_SET) or "none") + ")"
        return {"all labels": lambda doc: every, name[:60]: lambda doc: majority}
    if leaf.startswith("bio_ner_"):
        return {"empty answer (none)": lambda doc: NONE_ANSWER}
    return {}


def words_text(b: Any) -> str:
    """``"61 / 11 / 20"``: mean words of a generation task's stored responses, references and
    tested trivial answer ("—" where the responses were withheld); "" for other tasks."""
    if b is None or b.reference_words is None or b.baseline_words is None:
        return ""
    run = "—" if b.response_words is None else f"{b.response_words:.0f}"
    return f"{run} / {b.reference_words:.0f} / {b.baseline_words:.0f}"


def main(argv: list[str] | None = None) -> int:
    """Print every task's selection from the training data under ``$BIOBENCH_DATA_DIR``."""
    from tasks.common.sources import data_dir

    root = data_dir()
    if root is None:
        print("python -m leaderboard.trivial: set BIOBENCH_DATA_DIR to the data", file=sys.stderr)
        return 2
    wanted = argv if argv else list(TRAINING)
    for leaf in wanted:
        records = TRAINING[leaf].read(root)
        if leaf == "bio_hoc":
            print(f"{leaf}: majority label set {choose_majority_set(records)}")
            continue
        scores = lead_k_scores(records)
        shown = ", ".join(f"{k}: {v:.4f}" for k, v in scores.items())
        print(f"{leaf}: k = {choose_lead_k(scores)} ({len(records)} records; {shown})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
