"""The submission store: ``<root>/<org>__<model>/<run-id>/`` folders, written atomically.

Layout of one submission: ``submission.json`` (schema :class:`~leaderboard.schemas.Submission`),
the lm-eval ``results_<time>.json`` file(s), and ``items.jsonl.gz`` (per-item records, no dataset
text). Reported reference rows live in ``<root>/reference/``, evaluation requests in
``<root>/requests/`` (neither name contains ``__``, so neither can clash with a model folder).

Writes (under an exclusive ``flock`` on ``<root>/.lock``, so concurrent submits serialise):

1. the new submission is written into ``<root>/.tmp-<uuid>/`` and fsynced;
2. a journal ``<root>/.txn-<uuid>.json`` names the folder, its target and any submissions
   being replaced (``--replace``);
3. replaced folders are renamed to ``.trash-<uuid>-<i>``;
4. the new folder is renamed into place (the commit point);
5. trash and journal are removed.

A process killed at any step leaves a journal; the next write (or :meth:`Store.recover`) rolls
it forward if step 4 happened and back otherwise. Readers ignore every name starting with ``.``,
and never need a writer to come by: every read (:meth:`Store.submission_dirs`, :meth:`Store.ids`,
:meth:`Store.path_of`) first repairs interrupted writes itself when no writer holds the lock
(:meth:`Store.repair`), and where it cannot (a writer is at work, or the store is read-only) it
shows a replaced submission from its ``.trash-*`` folder until the journal is resolved. So a
reader sees either the complete new submission or the old state, never a partial one, and a
replace killed between steps 3 and 4 never makes the old row vanish.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from contextlib import AbstractContextManager
from pathlib import Path

from leaderboard.schemas import Prepared, Submission, SubmissionError, check_run_id, model_folder
from tasks.ground import atomic, filelock

ROOT_ENV = "BIOBENCH_SUBMISSIONS_DIR"
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "submissions"
SUBMISSION_FILE = "submission.json"
FAULT_ENV = "BIOBENCH_STORE_FAULT"  # tests only: "<stage>" makes the writer kill itself there
_TRASH_NAME = re.compile(r"^\.trash-[0-9a-f]+-[0-9]+$")
_TMP_NAME = re.compile(r"^\.tmp-[0-9a-f]+$")

log = logging.getLogger(__name__)


def default_root() -> Path:
    value = os.environ.get(ROOT_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_ROOT


def _fault(stage: str) -> None:
    """Crash-test hook: SIGKILL this process at ``stage`` when BIOBENCH_STORE_FAULT names it."""
    if os.environ.get(FAULT_ENV) == stage:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def duplicate_key(sub: Submission) -> tuple[str, ...]:
    """What makes two runs the same setup: model, revision, precision (with the float32 matmul
    precision where one is recorded), suite version, adapter and prompt form (a chat-template
    run of a model is a run of its own, README "Prompt form")."""
    adapter = sub.model.adapter.id if sub.model.adapter else ""
    form = "chat template" if sub.run.chat_template else "plain"
    precision = str(sub.model.precision)
    if sub.run.matmul_precision == "bf16":  # "ieee" and "" (not recorded) are plain float32
        precision += "+bf16-matmul"
    model = (sub.model.id, sub.model.revision, precision)
    return (*model, sub.suite_version, adapter, form)


class Store:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    # --- locking and recovery -------------------------------------------------------------

    def lock(self) -> AbstractContextManager[None]:
        return filelock.locked(self.root / ".lock")

    def recover(self) -> list[str]:
        """Finish or roll back interrupted writes (call with the lock held); returns actions."""
        actions = []
        for journal in sorted(self.root.glob(".txn-*.json")):
            try:
                txn = json.loads(journal.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                journal.unlink(missing_ok=True)  # torn journal: nothing was moved yet
                actions.append(f"discarded unreadable journal {journal.name}")
                continue
            tmp, target = self.root / txn["tmp"], self.root / txn["target"]
            moved = [(self.root / old, self.root / trash) for old, trash in txn["trash"]]
            if target.exists() and not tmp.exists():  # committed: roll forward
                for _, trash in moved:
                    shutil.rmtree(trash, ignore_errors=True)
                actions.append(f"completed {txn['target']}")
            else:  # not committed: roll back
                for old, trash in moved:
                    if trash.exists() and not old.exists():
                        trash.rename(old)
                shutil.rmtree(tmp, ignore_errors=True)
                actions.append(f"rolled back {txn['target']}")
            journal.unlink(missing_ok=True)
        for stray in self.root.glob(".tmp-*"):  # written before any journal existed
            if stray.is_dir():
                shutil.rmtree(stray, ignore_errors=True)
                actions.append(f"removed {stray.name}")
        for stray in self.root.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        return actions

    def repair(self) -> list[str]:
        """Readers' recovery: when interrupted writes left journals and no writer holds the lock
        (a killed writer's lock is released with it), :meth:`recover` them now. Returns the
        actions, or ``[]`` when there was nothing to do or it could not be done here (a writer
        is at work, the store is read-only): :meth:`pending` then still shows the old state."""
        if not self.root.is_dir() or not any(self.root.glob(".txn-*.json")):
            return []
        # not held: a live writer, which finishes or leaves a journal, or a read-only store
        with filelock.try_locked(self.root / ".lock") as held:
            if not held:
                return []
            try:
                actions = self.recover()
            except OSError as exc:
                log.warning("cannot repair interrupted writes in %s: %s", self.root, exc)
                return []
        for action in actions:
            log.warning("repaired an interrupted write in %s: %s", self.root, action)
        return actions

    def pending(self) -> dict[str, Path]:
        """Submissions moved aside by a replace that has not committed yet (its journal names
        them; the new folder is not in place): ``{submission id: its .trash-* folder}``."""
        out: dict[str, Path] = {}
        if not self.root.is_dir():
            return out
        for journal in sorted(self.root.glob(".txn-*.json")):
            try:
                txn = json.loads(journal.read_text(encoding="utf-8"))
                tmp, target, trash = str(txn["tmp"]), str(txn["target"]), list(txn["trash"])
                pairs = [(str(old), str(moved)) for old, moved in trash]
            except (OSError, ValueError, TypeError, KeyError):
                continue  # torn (nothing was moved yet) or vanished: nothing to show
            committed = (self.root / target).exists() and not (
                _TMP_NAME.match(tmp) and (self.root / tmp).exists()
            )
            if committed:
                continue
            for old, moved in pairs:
                folder, _, run_id = old.partition("/")
                if "__" not in folder or "/" in run_id or not _TRASH_NAME.match(moved):
                    continue
                path = self.root / moved
                if not (self.root / old).exists() and (path / SUBMISSION_FILE).is_file():
                    out[old] = path
        return out

    # --- reading ------------------------------------------------------------------------------

    def _entries(self) -> list[tuple[str, Path]]:
        """(submission id, folder) of every stored submission, interrupted writes repaired or,
        where they cannot be yet, replaced submissions shown from their trash folder."""
        if not self.root.is_dir():
            return []
        self.repair()
        out = []
        for model_dir in sorted(self.root.iterdir()):
            if (
                model_dir.name.startswith(".")
                or "__" not in model_dir.name
                or not model_dir.is_dir()
            ):
                continue
            for run_dir in sorted(model_dir.iterdir()):
                if not run_dir.name.startswith(".") and (run_dir / SUBMISSION_FILE).is_file():
                    out.append((f"{model_dir.name}/{run_dir.name}", run_dir))
        out += self.pending().items()
        return sorted(out)

    def submission_dirs(self) -> list[Path]:
        """Every stored submission folder (``<org>__<model>/<run-id>`` with a submission.json;
        a ``.trash-*`` folder for a submission whose replace was interrupted, see :meth:`pending`)."""
        return [path for _, path in self._entries()]

    def ids(self) -> list[str]:
        return [sid for sid, _ in self._entries()]

    def path_of(self, submission_id: str) -> Path:
        folder, _, run_id = submission_id.partition("/")
        if "__" not in folder or not run_id:
            raise KeyError(f"{submission_id!r} is not a submission id (<org>__<model>/<run-id>)")
        check_run_id(run_id)
        path = self.root / folder / run_id
        if not path.exists() and any(self.root.glob(".txn-*.json")):
            self.repair()
            if not path.exists():
                return self.pending().get(f"{folder}/{run_id}", path)
        return path

    def read(self, submission_id: str) -> Submission:
        path = self.path_of(submission_id) / SUBMISSION_FILE
        return Submission.model_validate_json(path.read_bytes())

    def resolve(self, ref: str) -> str:
        """A submission id from an id, a folder path, ``org__model`` or ``org/model`` (if unique)."""
        path = Path(ref)
        if (path / SUBMISSION_FILE).is_file():
            return f"{path.resolve().parent.name}/{path.resolve().name}"
        ids = self.ids()
        if ref in ids:
            return ref
        folder = ref.replace("/", "__") if "/" in ref and "__" not in ref else ref
        matches = [i for i in ids if i.split("/")[0] == folder]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise KeyError(f"{ref!r} has {len(matches)} runs; name one of: {', '.join(matches)}")
        raise KeyError(f"no submission {ref!r} in {self.root}; known: {', '.join(ids) or 'none'}")

    def duplicates_of(self, sub: Submission) -> list[tuple[str, list[str]]]:
        """Stored submissions with the same model, revision, precision, suite version, adapter
        and prompt form that share a measurement with ``sub``: a task at the same version on the
        same items (``TaskResult.measurement``). Disjoint sets complement each other; a rerun
        under a newer task version or on another item subset is a new measurement."""
        mine = {t.measurement: t.task for t in sub.tasks}
        out = []
        for run_dir in self.submission_dirs():
            if run_dir.parent.name != sub.folder:
                continue
            try:
                other = Submission.model_validate_json((run_dir / SUBMISSION_FILE).read_bytes())
            except (OSError, ValueError):
                continue
            if duplicate_key(other) == duplicate_key(sub):
                shared = sorted(
                    {mine[m] for m in mine.keys() & {t.measurement for t in other.tasks}}
                )
                if shared:
                    out.append((other.submission_id, shared))
        return out

    # --- writing ------------------------------------------------------------------------------

    def _canonical_spelling(self, prepared: Prepared) -> Submission:
        """Hub ids are case-insensitive (``org/Name`` and ``ORG/name`` are one repository): a
        model already stored under another case keeps its stored spelling, so a second
        spelling never becomes a second row. ``prepared`` is updated in place."""
        sub = prepared.submission
        wanted = model_folder(sub.model.id)
        if (self.root / wanted).is_dir() or not self.root.is_dir():
            return sub
        stored = next(
            (
                d.name
                for d in sorted(self.root.iterdir())
                if "__" in d.name
                and not d.name.startswith(".")
                and d.name.casefold() == wanted.casefold()
                and d.is_dir()
            ),
            None,
        )
        if stored is None:
            return sub
        org, _, name = stored.partition("__")
        model = sub.model.model_copy(update={"id": f"{org}/{name}"})
        sub = sub.model_copy(update={"model": model, "submission_id": f"{stored}/{sub.run_id}"})
        prepared.submission = sub
        log.info("model id %s stored under its existing spelling %s/%s", wanted, org, name)
        return sub

    def add(self, prepared: Prepared, *, replace: bool = False) -> Path:
        """Store a checked submission atomically; duplicates are rejected unless ``replace``."""
        with self.lock():
            self.recover()
            sub = self._canonical_spelling(prepared)
            dups = self.duplicates_of(sub)
            target = self.root / model_folder(sub.model.id) / sub.run_id
            if dups and not replace:
                shown = "; ".join(f"{i} (tasks {', '.join(t[:5])})" for i, t in dups)
                raise SubmissionError(
                    f"duplicate: {sub.model.id} revision {sub.model.revision}, precision "
                    f"{sub.model.precision}, suite {sub.suite_version}, {duplicate_key(sub)[-1]} "
                    f"prompts is already stored for the same tasks: {shown}; pass --replace to "
                    "replace it"
                )
            old_ids = [i for i, _ in dups]
            if target.exists() and f"{target.parent.name}/{target.name}" not in old_ids:
                if not replace:
                    raise SubmissionError(
                        f"run id {sub.run_id} already exists for {sub.model.id}; pass --run-id "
                        "with another name, or --replace"
                    )
                old_ids.append(f"{target.parent.name}/{target.name}")
            token = uuid.uuid4().hex
            tmp = self.root / f".tmp-{token}"
            tmp.mkdir(parents=True)
            for name, blob in prepared.files.items():
                _write_file(tmp / name, blob)
            _write_file(tmp / SUBMISSION_FILE, prepared.submission_bytes())
            _fsync_dir(tmp)
            _fault("written")
            trash = [(i, f".trash-{token}-{n}") for n, i in enumerate(old_ids)]
            journal = self.root / f".txn-{token}.json"
            target_rel = f"{target.parent.name}/{target.name}"
            atomic.write_json(journal, {"tmp": tmp.name, "target": target_rel, "trash": trash})
            _fault("journal")
            for old, moved in trash:
                (self.root / old).rename(self.root / moved)
            _fault("trashed")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(target)
            _fsync_dir(target.parent)
            _fault("renamed")
            for _, moved in trash:
                shutil.rmtree(self.root / moved, ignore_errors=True)
            journal.unlink()
            _fsync_dir(self.root)
        return target
