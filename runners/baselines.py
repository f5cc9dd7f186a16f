"""``biobench baselines``: (re)compute the constant-answer baselines of stored submissions.

    biobench baselines                       # every submission of the store
    biobench baselines <org>__<model>/<run> --store DIR
    biobench baselines --check               # exit 1 when a stored record is missing or stale
    biobench baselines --markdown <id> <id>  # the stored numbers as docs/smollm2-results.md's table

For each task of each submission: the majority-class, always-first-option and uniform-random
scores on the items the run evaluated, the run's answer distribution and a paired test against
its most frequent answer (``leaderboard/baselines.py``), from the suite's canonical data and the
submission's stored item records. No model runs. Each ``submission.json`` is rewritten
atomically (temp file + rename, under the store's lock) with only its tasks' ``baselines``
fields changed; the results and items files, and the hashes submission.json lists for them,
are left as they are (checked before and after).

The stored items must match the canonical records here (doc hashes): export the data the
submission was scored on first (``BIOBENCH_DATA_DIR``, ``BIOBENCH_SOURCE``). Bad input: one
line, exit 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboard import baselines as baselinelib
from leaderboard import trivial
from leaderboard.loader import ItemsError, read_items
from leaderboard.rescore import build_tasks
from leaderboard.schemas import Submission, TaskBaselines
from leaderboard.store import SUBMISSION_FILE, Store
from leaderboard.suite import load_suite
from runners.cli import Parser
from tasks import registry
from tasks.ground import atomic


class BackfillError(ValueError):
    """A submission whose baselines cannot be computed here; the message says why."""


@dataclass
class Outcome:
    submission_id: str
    path: Path
    changed: bool
    baselines: dict[str, TaskBaselines]
    scores: dict[str, float]


def _file_hashes(folder: Path, sub: Submission) -> dict[str, str]:
    """SHA-256 of every results/items file, checked against submission.json."""
    out = {}
    for ref in sub.files:
        path = folder / ref.name
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise BackfillError(f"{path}: cannot read it ({exc})") from exc
        if digest != ref.sha256:
            raise BackfillError(
                f"{path}: SHA-256 differs from the one {folder.name}/{SUBMISSION_FILE} lists; the "
                "stored files changed, baselines not written"
            )
        out[ref.name] = digest
    return out


def _versions(sub: Submission, tasks_dir: Path) -> tuple[dict[str, bool], dict[str, str]]:
    """(leaf -> whether its answers may be re-read, the suite's task versions).

    A log-likelihood task whose version differs from the suite's is refused: its constants
    would be scored with other prompts or options than the run. A generative task of another
    version keeps its stored answers, but its responses are not read again with today's
    answer reading (``leaderboard.baselines.run_answers``). A free-text task gets its trivial
    answers when its version is comparable with the suite's (``Suite.is_stale``)."""
    suite = load_suite(tasks_dir)
    versions = {name: task.version for name, task in suite.tasks.items()}
    reread = {}
    for task in sub.tasks:
        here = versions.get(task.task)
        if registry.sibling_leaf(task.task) == task.task and here != task.version:
            raise BackfillError(
                f"{sub.submission_id}: task {task.task} version {task.version} is not the suite's "
                f"({here or 'absent'}); its constant answers would be scored with other prompts "
                "or options than the run's"
            )
        reread[task.task] = here == task.version
        if registry.sibling_leaf(task.task) is None:
            # free text: its trivial answers are scored by today's task, which must score the
            # run's documents as the run was (HoC 1.0 and 1.1: the same f1, comparable_versions)
            reread[task.task] = not suite.is_stale(task.task, task.version)
    return reread, versions


def _check_data(sub: Submission, reread: dict[str, bool]) -> None:
    """The canonical test split here is the one the submission was scored on."""
    from leaderboard.validate import SubmissionError, data_check

    for task in sub.tasks:
        if registry.sibling_leaf(task.task) is None and not (
            reread[task.task] and trivial.has_answers(task.task)
        ):
            continue  # no baselines computed from the data
        try:
            check = data_check(task.task)
        except SubmissionError as exc:
            raise BackfillError(str(exc).splitlines()[0]) from exc
        if check.full_sha256 != task.data.full_sha256:
            raise BackfillError(
                f"{sub.submission_id}: task {task.task} was scored on {task.data.source} data with "
                f"SHA-256 {task.data.full_sha256[:12]}…, the data here ({check.source}) has "
                f"{check.full_sha256[:12]}…; set BIOBENCH_DATA_DIR / BIOBENCH_SOURCE to that data"
            )


def backfill(
    store: Store,
    refs: list[str] | None = None,
    *,
    check: bool = False,
    tasks_dir: Path = registry.TASKS_DIR,
) -> list[Outcome]:
    """Compute the baselines of the named submissions (default: all) and, unless ``check``,
    store them in each submission.json. Returns what was computed per submission."""
    try:
        ids = [store.resolve(r) for r in refs] if refs else store.ids()
    except KeyError as exc:
        raise BackfillError(str(exc.args[0])) from exc
    loaded: list[tuple[str, Path, bytes, dict[str, Any], Submission, list, dict]] = []
    for sid in ids:
        path = store.path_of(sid) / SUBMISSION_FILE
        data = path.read_bytes()
        try:
            raw = json.loads(data)
            sub = Submission.model_validate(raw)
            _file_hashes(path.parent, sub)
            items = read_items(store.root, sub)
        except (ValueError, ItemsError) as exc:
            raise BackfillError(f"{path}: {str(exc).splitlines()[0]}") from exc
        reread, versions = _versions(sub, tasks_dir)
        _check_data(sub, reread)
        loaded.append((sid, path, data, raw, sub, items, reread))
    needed: set[str] = set()
    for *_, sub, _, reread in loaded:
        for task in sub.tasks:
            sibling = registry.sibling_leaf(task.task)
            if sibling is not None:
                needed.add(sibling)
                if reread[task.task]:
                    needed.add(task.task)  # generative relation answers are read again
            elif reread[task.task] and trivial.has_answers(task.task):
                needed.add(task.task)  # free text: its trivial answers, scored by the task
    tasks = build_tasks(sorted(needed), tasks_dir) if needed else {}
    outcomes = []
    for sid, path, data, raw, sub, items, reread in loaded:
        try:
            computed = baselinelib.for_submission(
                [t.task for t in sub.tasks], items, tasks, reread=reread, versions=versions
            )
        except baselinelib.BaselineError as exc:
            raise BackfillError(f"{sid}: {exc}") from exc
        new = json.loads(data)
        for task in new["tasks"]:
            task["baselines"] = computed[task["task"]].model_dump(mode="json")
        Submission.model_validate(new)
        changed = new != raw
        if changed and not check:
            with store.lock():
                if path.read_bytes() != data:
                    raise BackfillError(f"{path}: changed while its baselines were computed; rerun")
                hashes = _file_hashes(path.parent, sub)
                atomic.write_json(path, new)
                if _file_hashes(path.parent, sub) != hashes:  # pragma: no cover - defensive
                    raise BackfillError(f"{path.parent}: stored files changed during the write")
        scores = {t.task: t.score for t in sub.tasks}
        outcomes.append(Outcome(sid, path, changed, computed, scores))
    return outcomes


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:5.1f}"


def summary(outcome: Outcome) -> list[str]:
    lines = [
        f"{outcome.submission_id}:",
        f"  {'task':<24} {'score':>5} {'major':>5} {'first':>5} {'rand':>5}  top answer (share)"
        "         p vs top  flag",
    ]
    for leaf, b in outcome.baselines.items():
        score = _pct(outcome.scores[leaf])
        if not b.applicable:
            lines.append(f"  {leaf:<24} {score}  n/a: {b.note}")
            continue
        top = f"{b.top_answer or '(free text)'} ({100 * b.top_share:.1f}%)"
        p = "—" if b.p_value is None else f"{b.p_value:.3g}"
        flag = "AT BASELINE" if b.at_baseline else ""
        extra = f"  vs {b.tested_answer}" if b.trivial else ""
        if trivial.words_text(b):
            extra += f"; words run / reference / baseline {trivial.words_text(b)}"
        lines.append(
            f"  {leaf:<24} {score} {_pct(b.majority)} {_pct(b.first_option)} {_pct(b.random)}  "
            f"{top:<26} {p:>8}  {flag}{extra}"
        )
    return lines


MARKDOWN_HEADER = (
    "| task | metric | score | 95% CI (bootstrap) | majority (answer) | first option | random "
    "| top answer (share) | p vs top answer | at baseline | words: run / reference / baseline "
    "| items scored / test set (subset) | version |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def markdown_rows(sub: Submission) -> list[str]:
    """README table rows of a submission's stored scores and baselines (nothing recomputed);
    a task run under a version the suite has moved past is left out, as on the board."""
    suite = load_suite()
    rows = []
    for t in sub.tasks:
        if t.is_detail or suite.is_stale(t.task, t.version):
            continue
        b = t.baselines
        cells = [f"`{t.task}`", t.primary.split(",")[0], f"{t.score:.3f}",
                 f"[{t.ci.low:.3f}, {t.ci.high:.3f}]"]  # fmt: skip
        if b is None:
            cells += ["not computed"] + [""] * 6
        elif not b.applicable:
            cells += ["— (free text)", "—", "—", "—", "—", "—", "—"]
        else:
            flag = "—" if b.at_baseline is None else ("**yes**" if b.at_baseline else "no")
            if b.at_baseline is False and b.tested_score is not None and t.score < b.tested_score:
                flag = "no (below it)"
            cells += [
                f"{b.majority:.3f} ({b.majority_answer})",
                "—" if b.first_option is None else f"{b.first_option:.3f}",
                "—" if b.random is None else f"{b.random:.3f}",
                f"{b.top_answer or '(free text)'} ({b.top_share:.1%})",
                "—" if b.p_value is None else f"{b.p_value:.3f}",
                flag,
                trivial.words_text(b) or "—",
            ]
        cells.append(f"{t.data.n_logged} / {t.data.n_total} ({t.item_subset})")
        cells.append(t.version)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", nargs="*", help="submission ids or folders (default: all)")
    parser.add_argument("--store", type=Path, help="submissions root (default: submissions/)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a stored baselines record is missing or differs",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="compute nothing: print the stored scores and baselines as the table in docs/smollm2-results.md",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        store = Store(args.store)
        try:
            ids = [store.resolve(r) for r in args.submissions] if args.submissions else store.ids()
            subs = [store.read(sid) for sid in ids]
        except (KeyError, ValueError, OSError) as exc:
            print(f"biobench baselines: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 2
        print(MARKDOWN_HEADER)
        for sub in subs:
            print("\n".join(markdown_rows(sub)))
        return 0
    try:
        outcomes = backfill(Store(args.store), args.submissions or None, check=args.check)
    except (BackfillError, ValueError) as exc:
        print(f"biobench baselines: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    for outcome in outcomes:
        print("\n".join(summary(outcome)))
        if args.check:
            state = "stale or missing" if outcome.changed else "up to date"
        else:
            state = "updated" if outcome.changed else "unchanged"
        print(f"  -> {outcome.path}: {state}")
    if not outcomes:
        print("biobench baselines: no submissions in the store")
    return 1 if args.check and any(o.changed for o in outcomes) else 0
