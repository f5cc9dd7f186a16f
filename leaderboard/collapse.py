"""Collapse: a model that gives one and the same answer to every item of a task.

A tuned model has *collapsed* on a task when it answers every evaluated item identically, or
emits the same (possibly empty) text for every item of a free-text task: its output no longer
depends on the input. The rule is defined here once, on the answer summary every stored task
already carries (:class:`~leaderboard.schemas.TaskBaselines`: items, distinct answers, the most
frequent answer and its share), so reports and the board flag the same tasks:

* at least :data:`MIN_ITEMS` items, all given one answer (``top_share`` 1, one distinct answer);
* free-text tasks (NER, HoC, generation): any model, tuned or not — the same text for every
  document is never a summary, an entity list or a label set of that document. Responses the
  store withholds (they echo the item) count as distinct, so copying the input is not collapse;
* classification tasks: only a tuned model (one with a base model), and only when its base
  model did not already give a single answer throughout that task. A base model that answers
  "yes" (or always option A) throughout is at a constant-answer baseline (the ``at_baseline``
  flag); an adapter that keeps answering one option there, the same or another, was not made
  input-independent by its tuning;
* markers that name no answer (an unreadable answer on every item, a withheld or unresolved
  one) never count as one answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard.baselines import INVALID, UNRESOLVED, WITHHELD_ANSWER
from leaderboard.schemas import Submission, TaskBaselines

MIN_ITEMS = 3  # below this, one answer throughout says too little to call a collapse
NOT_ANSWERS = frozenset({INVALID, UNRESOLVED, WITHHELD_ANSWER})


@dataclass(frozen=True)
class Answers:
    """One run's answers on one task, as stored (``TaskBaselines`` or the loader's columns)."""

    n_items: int
    top_share: float
    top_answer: str | None = None  # None for free text: the store keeps no response text
    free_text: bool = False

    @classmethod
    def of(cls, b: TaskBaselines | None) -> Answers | None:
        if b is None:
            return None
        return cls(b.n_items, b.top_share, b.top_answer, free_text=not b.applicable)


@dataclass(frozen=True)
class Collapse:
    """A task on which a run answered every item identically."""

    task: str
    n_items: int
    answer: str | None

    def describe(self) -> str:
        said = f"{self.answer!r}" if self.answer is not None else "the same text"
        return f"{self.task}: {said} on all {self.n_items} items"


def one_answer(run: Answers) -> bool:
    """Every item (at least ``MIN_ITEMS``) got the same answer, and it is an answer."""
    return (
        run.n_items >= MIN_ITEMS
        and run.top_share >= 1.0
        and (run.top_answer is None or run.top_answer not in NOT_ANSWERS)
    )


def collapsed(
    task: str, run: Answers, *, tuned: bool, base: Answers | None = None
) -> Collapse | None:
    """The collapse of ``run`` on ``task`` (None: not collapsed); ``tuned``: the run is of a
    model with a base model; ``base``: that base model's answers on the same task, if stored."""
    if not one_answer(run):
        return None
    if not run.free_text:
        if not tuned:
            return None
        if base is not None and one_answer(base):
            return None  # the base model already answered one option throughout
    return Collapse(task, run.n_items, run.top_answer)


def legend() -> str:
    """One sentence for a report's methods and the board's help text."""
    return (
        "Collapsed: the same answer on every item of a task (at least "
        f"{MIN_ITEMS} items): the same text on a free-text task (any model), or one option on "
        "a classification task by a tuned model whose base model did not already answer one "
        "option throughout."
    )


def in_submission(sub: Submission, base: Submission | None = None) -> list[Collapse]:
    """Every task ``sub`` collapsed on; ``base``: a stored run of its base model, if any."""
    base_answers = {}
    if base is not None:
        base_answers = {t.task: Answers.of(t.baselines) for t in base.tasks if not t.is_detail}
    out = []
    for t in sub.tasks:
        run = Answers.of(t.baselines)
        if t.is_detail or run is None:
            continue
        tuned = bool(sub.model.base_model)
        found = collapsed(t.task, run, tuned=tuned, base=base_answers.get(t.task))
        if found is not None:
            out.append(found)
    return out
