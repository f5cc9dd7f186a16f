"""Re-score every logged item against the suite's own records, prompts and gold answers.

A samples line says what the model produced (the raw ``resps``: generated text, or one
log-likelihood per option) and what lm-eval made of it (hashes, filtered response, per-item
metric values). Only the first part is evidence; everything else can be recomputed, so it is:
for each item the suite builds the task exactly as lm-eval does (``TaskManager`` over the
suite's ``tasks/`` folder, the suite's data loaders) and checks, with lm-eval's own functions:

* ``doc_hash``  = lm-eval's hash of the suite's document with that ``doc_id``;
* ``target_hash`` = the hash of ``doc_to_target`` of that document (the sample's ``target`` is
  never read);
* the prompt: the logged context of every request equals the prompt the suite renders for the
  document (zero-shot, no chat template), or, for runs that declare a chat template, a system
  instruction or few-shot examples, contains it; ``prompt_hash`` is the hash of that context;
  multiple choice: one request per option, each continuation the suite's option text;
* the filtered response: the task's own filter pipeline applied to the raw response;
* every per-item metric: ``task.process_results`` on the suite's document and the recomputed
  filtered response (multiple choice: the option with the highest logged log-likelihood against
  the suite's gold index; generation: the task's extraction, entity F1 or ROUGE scorer).

A mismatch raises :class:`ItemError` naming the item and the field. What cannot be recomputed
without rerunning the model, the raw responses themselves, is trusted (see
``submissions/README.md``, "Threat model").

A stored run can be read again under a later answer-extraction rule without the model:
:func:`reapply` runs the task's current filter and ``process_results`` on an item record's
stored ``raw_response`` (kept since extraction rule v3; older records and withheld responses
cannot be re-read).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from leaderboard.items import ItemError, is_withheld
from leaderboard.schemas import ItemRecord

TOLERANCE = 1e-9


@dataclass(frozen=True)
class PromptPolicy:
    """How the logged prompt must relate to the suite's zero-shot prompt."""

    exact: bool  # False: a chat template / system instruction / few-shot run; containment only

    @classmethod
    def of_results(cls, data: dict[str, Any], leaf: str) -> PromptPolicy:
        shots = (data.get("n-shot") or {}).get(leaf) or 0
        wrapped = bool(data.get("chat_template") or data.get("system_instruction"))
        return cls(exact=not wrapped and not shots)


@cache
def _task_manager(tasks_dir: str):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=tasks_dir)


def build_tasks(leaves: Sequence[str], tasks_dir: Path) -> dict[str, Any]:
    """lm-eval Task objects of the suite's leaf tasks (loaded by the suite's own loaders)."""
    quiet = logging.getLogger("lm_eval")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # lm-eval logs every selected task and a warning per task
    try:
        manager = _task_manager(str(Path(tasks_dir).resolve()))
        return dict(manager.load(sorted(set(leaves)))["tasks"])
    finally:
        quiet.setLevel(level)


def _hash(text: str) -> str:
    from lm_eval.utils import hash_string

    return hash_string(text)


def doc_hash(doc: Any) -> str:
    """lm-eval's ``doc_hash`` of a document (evaluator: indented JSON, non-ASCII kept)."""
    from lm_eval.utils import handle_non_serializable

    return _hash(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False))


def _requests(arguments: Any, where: str) -> list[list[Any]]:
    """The logged requests' arguments: lm-eval writes ``{"gen_args_i": {"arg_j": ...}}``."""
    if isinstance(arguments, dict):
        out = []
        for i in range(len(arguments)):
            args = arguments.get(f"gen_args_{i}")
            if not isinstance(args, dict):
                raise ItemError(f"{where}: 'arguments' lacks gen_args_{i}")
            out.append([args.get(f"arg_{j}") for j in range(len(args))])
        return out
    if isinstance(arguments, list) and all(isinstance(a, list) for a in arguments):
        return arguments
    raise ItemError(f"{where}: 'arguments' is not lm-eval's list of request arguments")


def _sanitized(value: Any) -> Any:
    """What lm-eval writes for a response: every leaf as a string, tuples as JSON lists."""
    from lm_eval.utils import sanitize_list

    return json.loads(json.dumps(sanitize_list(value)))


def _same_number(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


class TaskRescorer:
    """Re-scores the samples of one leaf task (see the module docstring)."""

    def __init__(self, leaf: str, task: Any, policy: PromptPolicy):
        self.leaf, self.task, self.policy = leaf, task, policy
        self.docs = task.eval_docs
        self.filters = {f.name: f for f in task._filters}
        self.multiple_choice = task.OUTPUT_TYPE == "multiple_choice"

    # -- the pieces -------------------------------------------------------------------------

    def _doc(self, doc_id: int, where: str) -> Any:
        if not 0 <= doc_id < len(self.docs):
            raise ItemError(
                f"{where}: doc_id {doc_id} is outside the suite's test split of {self.leaf} "
                f"({len(self.docs)} documents)"
            )
        return self.docs[doc_id]

    def _check_hash(self, sample: dict, field: str, expected: str, where: str, what: str) -> None:
        if sample.get(field) != expected:
            raise ItemError(
                f"{where}: doc_id {sample['doc_id']} field {field} is {sample.get(field)!r} but "
                f"the suite's {what} hashes to {expected}; submit the unmodified samples file "
                "of a run of the suite's task"
            )

    def _check_prompt(self, sample: dict, doc: Any, where: str) -> None:
        requests = _requests(sample.get("arguments"), where)
        if not requests:
            raise ItemError(f"{where}: doc_id {sample['doc_id']} logs no request")
        contexts = [r[0] if r else None for r in requests]
        if not all(isinstance(c, str) for c in contexts) or len(set(contexts)) != 1:
            raise ItemError(
                f"{where}: doc_id {sample['doc_id']} requests do not share one prompt string"
            )
        context = contexts[0]
        self._check_hash(sample, "prompt_hash", _hash(context), where, "logged prompt")
        if self.policy.exact:
            expected = self.task.fewshot_context(doc, 0)
            ok = context == expected
        else:
            expected = self.task.doc_to_text(doc)
            ok = isinstance(expected, str) and expected in context
        if not ok:
            raise ItemError(
                f"{where}: doc_id {sample['doc_id']} prompt differs from the one the suite "
                f"renders for this document (task {self.leaf}, version "
                f"{self.task.VERSION}); evaluate with the suite's unmodified task"
            )
        if self.multiple_choice:
            choices = self.task.doc_to_choice(doc)
            delimiter = self.task.config.target_delimiter
            expected_c = [delimiter + str(c) for c in choices]
            logged_c = [r[1] if len(r) > 1 else None for r in requests]
            if logged_c != expected_c:
                raise ItemError(
                    f"{where}: doc_id {sample['doc_id']} scores options {logged_c!r} but the "
                    f"suite's options are {expected_c!r}"
                )

    def _filtered(self, sample: dict, doc: Any, where: str) -> list[Any]:
        name = str(sample.get("filter", "none"))
        ensemble = self.filters.get(name)
        if ensemble is None:
            raise ItemError(
                f"{where}: filter {name!r} is not one of the task's filters {sorted(self.filters)}"
            )
        raw = sample.get("resps")
        if not isinstance(raw, list) or not all(isinstance(r, list) for r in raw):
            raise ItemError(f"{where}: 'resps' is not a list of per-request responses")
        out = []
        for resps in raw:
            if self.multiple_choice:
                resps = [_loglikelihood(r, where) for r in resps]
            values = [resps]
            for make in ensemble.filters:
                values = make().apply(values, [doc])
            out.append(list(values)[0])
        if _sanitized(out) != sample.get("filtered_resps"):
            raise ItemError(
                f"{where}: doc_id {sample['doc_id']} filtered_resps "
                f"{_short(sample.get('filtered_resps'))} is not what the task's filter "
                f"{name!r} makes of the raw response ({_short(_sanitized(out))})"
            )
        return out

    def _check_metrics(self, sample: dict, doc: Any, filtered: list[Any], where: str) -> None:
        rescored = self.task.process_results(doc, filtered)
        names = sample.get("metrics")
        if sorted(names or []) != sorted(rescored):
            raise ItemError(
                f"{where}: doc_id {sample['doc_id']} logs metrics {names} but the task computes "
                f"{sorted(rescored)}"
            )
        for name, value in rescored.items():
            logged = sample.get(name)
            if not _same_value(logged, value):
                raise ItemError(
                    f"{where}: doc_id {sample['doc_id']} metric {name!r} is {_short(logged)} in "
                    f"the samples file, but re-scoring the logged response against the suite's "
                    f"gold gives {_short(value)}; submit the unmodified samples file"
                )

    # -- the whole check ----------------------------------------------------------------------

    def check(self, sample: dict, where: str) -> None:
        doc = self._doc(sample["doc_id"], where)
        self._check_hash(sample, "doc_hash", doc_hash(doc), where, "document")
        target = self.task.doc_to_target(doc)
        self._check_hash(sample, "target_hash", _hash(str(target)), where, "gold answer")
        self._check_prompt(sample, doc, where)
        filtered = self._filtered(sample, doc, where)
        self._check_metrics(sample, doc, filtered, where)


def _loglikelihood(value: Any, where: str) -> tuple[float, bool]:
    """One logged ``(loglikelihood, is_greedy)`` pair (lm-eval writes both as strings)."""
    try:
        ll, greedy = value
        number = float(ll)
    except (TypeError, ValueError) as exc:
        raise ItemError(f"{where}: a response is not a [loglikelihood, is_greedy] pair") from exc
    if not math.isfinite(number) or str(greedy) not in ("True", "False"):
        raise ItemError(f"{where}: log-likelihood {ll!r} / is_greedy {greedy!r} not valid")
    return number, str(greedy) == "True"


def _same_value(logged: Any, value: Any) -> bool:
    if isinstance(value, dict):
        if not isinstance(logged, dict):
            return False
        keys = [k for k in ("tp", "fp", "fn") if k in value] or list(value)
        return all(_same_value(logged.get(k), value[k]) for k in keys)
    if isinstance(value, int | float):
        return (
            isinstance(logged, int | float)
            and not isinstance(logged, bool)
            and _same_number(float(logged), float(value))
        )
    return logged == value


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reapply(task: Any, item: ItemRecord, doc: Any) -> tuple[list[Any], dict[str, Any]]:
    """(filtered response, per-item metrics) of a stored generative item under ``task``'s
    current filter and ``process_results`` (today's extraction rule), from its raw response."""
    where = f"{item.task} doc_id {item.doc_id}"
    raw = item.raw_response
    if raw is None:
        raise ItemError(
            f"{where}: no raw response stored (records written before extraction rule v3 keep "
            "only the extracted answer); rerun the model to score it under today's rule"
        )
    if is_withheld(raw):
        raise ItemError(f"{where}: the raw response was withheld (it repeats the test item)")
    ensemble = {f.name: f for f in task._filters}.get(item.filter)
    if ensemble is None:
        raise ItemError(f"{where}: filter {item.filter!r} is not one of the task's filters")
    values: Any = [[raw]]  # one request, one response (as TaskRescorer._filtered)
    for make in ensemble.filters:
        values = make().apply(values, [doc])
    filtered = [list(values)[0]]
    return filtered, task.process_results(doc, filtered)
