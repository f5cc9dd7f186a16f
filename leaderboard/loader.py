"""All submissions as tidy pandas tables, cached on disk by file hashes.

``load_tables()`` -> :class:`StoreTables`:

* ``submissions`` — one row per stored submission (model metadata, run settings);
* ``scores`` — tidy, one row per submission x task x metric: reproduced rows (from
  ``submission.json``, with the primary metric's 95% CI and, where stored, its constant-answer
  baselines: :data:`BASELINE_COLUMNS`) and reported reference rows (from
  ``submissions/reference/*.json``, ``status == "reported"``, value as a fraction, no CI);
* ``problems`` — (file, message) for every file that could not be read; the rest still loads.

Each file is isolated: it is parsed, its rows are built and converted to the tables' fixed
Arrow schemas (:data:`SUBMISSION_SCHEMA`, :data:`SCORE_SCHEMA`) on their own, and any failure
(unreadable, not UTF-8, invalid JSON, schema errors, integers beyond 64 bits, text Arrow cannot
encode, ...) makes that one file a ``problems`` entry, logged once, instead of an error for the
whole board. The tables written to the cache are the concatenation of those checked pieces, so
writing them cannot fail on data either; a cache that cannot be written (disk full, read-only)
is only logged.

``load_items(ids)`` -> one row per item x metric of the named submissions (for comparisons).

Both are cached under ``$BIOBENCH_CACHE_DIR/leaderboard`` (default
``~/.cache/bioinstruct-bench/leaderboard``) as parquet files keyed by the SHA-256 of the files
they were built from, so an unchanged store loads without parsing, and a changed file is
re-read. The report (``biobench compare``) and the Streamlit leaderboard share this loader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from leaderboard import items as itemlib
from leaderboard.schemas import ReferenceFile, Submission, TaskResult
from leaderboard.store import SUBMISSION_FILE, Store
from tasks import registry
from tasks.ground import atomic

log = logging.getLogger(__name__)

LOADER_VERSION = "6"  # bump when the tables' shape changes (invalidates caches)
REFERENCE_DIR = "reference"
CACHE_ENV = "BIOBENCH_CACHE_DIR"

SUBMISSION_COLUMNS = [
    "submission_id", "model", "revision", "sha", "precision", "model_type", "n_parameters",
    "base_model", "adapter", "license", "training_data", "contamination_notes", "submitter",
    "submitted_at", "evaluated_at", "suite_version", "lm_eval_version", "data_source", "limit",
    "n_tasks", "notes", "path",
]  # fmt: skip
SCORE_COLUMNS = [
    "submission_id", "model", "status", "task", "column", "display", "category", "variant",
    "is_detail", "metric", "primary", "value", "ci_low", "ci_high", "stderr", "n_items",
    "n_total", "complete", "data_source", "version", "n_shot", "higher_is_better",
    "benchmark", "source", "source_url", "setup", "shots", "fine_tuned_per_task",
    "baseline_majority", "baseline_majority_answer", "baseline_first", "baseline_random",
    "top_answer", "top_share", "baseline_p", "at_baseline", "baseline_note",
    "subset", "ref_model_type", "ref_base_model", "ref_n_parameters",
]  # fmt: skip
ITEM_COLUMNS = [
    "submission_id", "task", "column", "filter", "doc_id", "doc_hash", "prompt_hash",
    "target_hash", "cluster", "response", "choice", "metric", "value", "tp", "fp", "fn",
]  # fmt: skip
PROBLEM_COLUMNS = ["file", "message"]

_INT = {"n_parameters", "ref_n_parameters", "n_tasks", "n_items", "n_total", "n_shot", "shots", "doc_id", "choice",
        "tp", "fp", "fn"}  # fmt: skip
_FLOAT = {"limit", "value", "ci_low", "ci_high", "stderr", "baseline_majority", "baseline_first",
          "baseline_random", "top_share", "baseline_p"}  # fmt: skip
_BOOL = {"is_detail", "primary", "complete", "higher_is_better", "fine_tuned_per_task",
         "at_baseline"}  # fmt: skip
# Baseline columns of a score line (primary metric of a reproduced task; None elsewhere).
BASELINE_COLUMNS = ("baseline_majority", "baseline_majority_answer", "baseline_first",
                    "baseline_random", "top_answer", "top_share", "baseline_p", "at_baseline",
                    "baseline_note")  # fmt: skip


def _schema(columns: list[str]) -> pa.Schema:
    def kind(name: str) -> pa.DataType:
        if name in _INT:
            return pa.int64()
        if name in _FLOAT:
            return pa.float64()
        return pa.bool_() if name in _BOOL else pa.string()

    return pa.schema([(name, kind(name)) for name in columns])


# The tables' fixed Arrow schemas: every file's rows are converted to them on their own (a row
# that does not fit is that file's problem), and the cache is written with them.
SUBMISSION_SCHEMA = _schema(SUBMISSION_COLUMNS)
SCORE_SCHEMA = _schema(SCORE_COLUMNS)
ITEM_SCHEMA = _schema(ITEM_COLUMNS)
PROBLEM_SCHEMA = _schema(PROBLEM_COLUMNS)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class StoreTables:
    submissions: pd.DataFrame
    scores: pd.DataFrame
    problems: list[tuple[str, str]] = field(default_factory=list)


def cache_root() -> Path:
    value = os.environ.get(CACHE_ENV, "").strip()
    base = Path(value).expanduser() if value else Path.home() / ".cache" / "bioinstruct-bench"
    return base / "leaderboard"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_parquet(table: pa.Table, path: Path) -> None:
    with atomic.atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _write_cache(tables: dict[str, pa.Table], base: Path) -> None:
    """Write the cache files; a cache that cannot be written is logged, never an error."""
    try:
        for name, table in tables.items():
            _write_parquet(table, base / f"{name}.parquet")
    except Exception as exc:  # noqa: BLE001 - the tables are already built; the cache is optional
        log.warning("cannot write the leaderboard cache under %s: %s", base, _first_line(exc))


def _read_parquet(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged cache file, of any kind, is rebuilt
        log.warning("ignoring unreadable cache file %s: %s", path, _first_line(exc))
        return None


def _frame(table: pa.Table) -> pd.DataFrame:
    """The pandas frame of a checked table (the same frame a cache hit reads back)."""
    return table.to_pandas()


def _arrow(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows as a table of ``schema``; raises (OverflowError, ArrowInvalid, UnicodeEncodeError,
    ...) when a value does not fit its column."""
    return pa.Table.from_pylist(rows, schema=schema)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "$"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{exc.title}: {where}: {first.get('msg', '')}{more}"
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _plain(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates, e.g. undecodable file-name bytes, escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _file_name(path: Path) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


# --- checking a file before its rows are built ------------------------------------------------

_LONG_DIGITS = re.compile(rb"\d{19,}")  # no 64-bit integer has more than 19 digits


def _out_of_range_int(obj: object) -> str | None:
    """JSON path of the first integer outside the 64-bit range in ``obj``, else None."""
    stack: list[tuple[object, str]] = [(obj, "$")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            stack += [(v, f"{where}.{k}") for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif isinstance(value, int) and not isinstance(value, bool):
            if not INT64_MIN <= value <= INT64_MAX:
                return where
    return None


def check_integers(data: bytes) -> None:
    """Refuse a JSON document holding an integer beyond 64 bits (no table, chart or cache can
    hold one): ValueError naming the field."""
    if not _LONG_DIGITS.search(data):
        return
    where = _out_of_range_int(json.loads(data))
    if where is not None:
        raise ValueError(f"{where} is an integer beyond the 64-bit range")


# --- building rows -----------------------------------------------------------------------------


def _spec_fields(column: str | None) -> dict:
    try:
        spec = registry.task(column) if column else None
    except KeyError:
        spec = None
    if spec is None:
        return {"display": column or "", "category": "", "variant": "", "higher_is_better": True}
    return {
        "display": spec.display,
        "category": str(spec.category),
        "variant": str(spec.variant),
        "higher_is_better": spec.higher_is_better,
    }


def baseline_fields(task: TaskResult | None) -> dict:
    """The score line's baseline columns from a task's stored ``baselines`` (None: absent)."""
    b = task.baselines if task is not None else None
    if b is None:
        return dict.fromkeys(BASELINE_COLUMNS)
    return {
        "baseline_majority": b.majority,
        "baseline_majority_answer": b.majority_answer,
        "baseline_first": b.first_option,
        "baseline_random": b.random,
        "top_answer": b.top_answer,
        "top_share": b.top_share,
        "baseline_p": b.p_value,
        "at_baseline": b.at_baseline,
        "baseline_note": b.note,
    }


def submission_rows(sub: Submission, path: Path) -> tuple[dict, list[dict]]:
    sources = sorted({t.data.source for t in sub.tasks})
    meta = {
        "submission_id": sub.submission_id,
        "model": sub.model.id,
        "revision": sub.model.revision,
        "sha": sub.model.sha,
        "precision": str(sub.model.precision),
        "model_type": str(sub.model.model_type),
        "n_parameters": sub.model.n_parameters,
        "base_model": sub.model.base_model,
        "adapter": sub.model.adapter.id if sub.model.adapter else "",
        "license": sub.model.license,
        "training_data": "; ".join(sub.model.training_data),
        "contamination_notes": sub.model.contamination_notes,
        "submitter": sub.submitter,
        "submitted_at": sub.submitted_at.isoformat(),
        "evaluated_at": sub.run.evaluated_at.isoformat() if sub.run.evaluated_at else "",
        "suite_version": sub.suite_version,
        "lm_eval_version": sub.run.lm_eval_version,
        "data_source": "+".join(sources),
        "limit": sub.run.limit,
        "n_tasks": sum(not t.is_detail for t in sub.tasks),
        "notes": sub.notes,
        "path": str(path),
    }
    rows = []
    for task in sub.tasks:
        for key, value in task.metrics.items():
            primary = key == task.primary
            rows.append(
                {
                    "submission_id": sub.submission_id,
                    "model": sub.model.id,
                    "status": "reproduced",
                    "task": task.task,
                    "column": task.column,
                    **_spec_fields(task.column),
                    "is_detail": task.is_detail,
                    "metric": key,
                    "primary": primary,
                    "value": value,
                    "ci_low": task.ci.low if primary else None,
                    "ci_high": task.ci.high if primary else None,
                    "stderr": task.stderr if primary else None,
                    "n_items": task.n_items,
                    "n_total": task.data.n_total,
                    "complete": task.data.complete,
                    "data_source": task.data.source,
                    "version": task.version,
                    "n_shot": task.n_shot,
                    "benchmark": "",
                    "source": "",
                    "source_url": "",
                    "setup": "",
                    "shots": task.n_shot,
                    "fine_tuned_per_task": None,
                    **baseline_fields(task if primary else None),
                    "subset": task.item_subset,
                    "ref_model_type": "",
                    "ref_base_model": "",
                    "ref_n_parameters": None,
                }
            )
    return meta, rows


def reference_rows(ref: ReferenceFile, stem: str) -> list[dict]:
    rows = []
    for row in ref.rows:
        for score in row.scores:
            spec = _spec_fields(score.column)
            rows.append(
                {
                    "submission_id": f"{REFERENCE_DIR}/{stem}/{row.model}",
                    "model": row.model_id or row.model,
                    "status": "reported",
                    "task": score.column or "",
                    "column": score.column or "",
                    **spec,
                    "is_detail": False,
                    "metric": "acc (reported)",
                    "primary": True,
                    "value": score.value / 100.0,
                    "ci_low": None,
                    "ci_high": None,
                    "stderr": None,
                    "n_items": None,
                    "n_total": None,
                    "complete": None,
                    "data_source": "reported",
                    "version": "",
                    "n_shot": ref.setup.shots,
                    "benchmark": score.benchmark,
                    "source": f"{ref.source.title}, {ref.source.table}",
                    "source_url": ref.source.url,
                    "setup": ref.setup.description + (f" {score.note}" if score.note else ""),
                    "shots": ref.setup.shots,
                    "fine_tuned_per_task": ref.setup.fine_tuned_per_task,
                    **baseline_fields(None),
                    "subset": "",
                    "ref_model_type": str(row.model_type) if row.model_type else "",
                    "ref_base_model": row.base_model,
                    "ref_n_parameters": row.n_parameters,
                }
            )
    return rows


# --- tables ------------------------------------------------------------------------------------


def _inputs(root: Path) -> list[Path]:
    store = Store(root)
    files = [d / SUBMISSION_FILE for d in store.submission_dirs()]
    ref_dir = root / REFERENCE_DIR
    if ref_dir.is_dir():
        files += sorted(p for p in ref_dir.glob("*.json") if not p.name.startswith("."))
    return files


def _file_rows(path: Path, root: Path) -> tuple[dict | None, list[dict]]:
    """One file's checked rows: (its submission row or None for a reference file, its scores)."""
    data = path.read_bytes()
    check_integers(data)
    if path.parent.name == REFERENCE_DIR and path.parent.parent == root:
        ref = ReferenceFile.model_validate_json(data)
        return None, reference_rows(ref, path.stem)
    meta, task_rows = submission_rows(Submission.model_validate_json(data), path.parent)
    return meta, task_rows


def _build_arrow(files: list[Path], root: Path) -> dict[str, pa.Table]:
    """Every file's rows, each file on its own: one that fails in any way is one problem.

    Rows become tables in one conversion for all files (a per-file conversion costs about half
    a millisecond each, most of a cold load at 1,000 submissions); only when that conversion
    fails is each file converted on its own, so that the file at fault is the one left out.
    """
    read: list[tuple[str, dict | None, list[dict]]] = []
    problems: list[dict] = []

    def problem(name: str, path: Path, exc: BaseException) -> None:
        message = _plain(_first_line(exc))[:500]
        problems.append({"file": name, "message": f"cannot read {path.name}: {message}"})
        log.warning("skipping %s: %s", name, message)

    paths: dict[str, Path] = {}  # file name -> path, first occurrence only
    for path in files:
        name = _file_name(path)
        if name in paths:
            continue
        paths[name] = path
        try:
            meta, rows = _file_rows(path, root)
        except Exception as exc:  # noqa: BLE001 - one bad file never takes the board down
            problem(name, path, exc)
            continue
        read.append((name, meta, rows))
    try:
        metas = [_arrow([m for _, m, _ in read if m is not None], SUBMISSION_SCHEMA)]
        scores = [_arrow([r for _, _, rows in read for r in rows], SCORE_SCHEMA)]
    except Exception:  # noqa: BLE001 - some file's value does not fit: find it, file by file
        metas, scores = [], []
        for name, meta, rows in read:
            try:
                tables = (
                    None if meta is None else _arrow([meta], SUBMISSION_SCHEMA),
                    _arrow(rows, SCORE_SCHEMA),
                )
            except Exception as exc:  # noqa: BLE001 - as above: this file is one problem
                problem(name, paths[name], exc)
                continue
            if tables[0] is not None:
                metas.append(tables[0])
            scores.append(tables[1])
        order = {name: i for i, name in enumerate(paths)}
        problems.sort(key=lambda p: order[p["file"]])
    return {
        "submissions": pa.concat_tables([SUBMISSION_SCHEMA.empty_table(), *metas]),
        "scores": pa.concat_tables([SCORE_SCHEMA.empty_table(), *scores]),
        "problems": _arrow(problems, PROBLEM_SCHEMA),
    }


def _tables(parts: dict[str, pd.DataFrame]) -> StoreTables:
    problems = [(str(f), str(m)) for f, m in parts["problems"].itertuples(index=False, name=None)]
    return StoreTables(parts["submissions"], parts["scores"], problems)


def _build(files: list[Path], root: Path) -> StoreTables:
    return _tables({k: _frame(t) for k, t in _build_arrow(files, root).items()})


def load_tables(root: Path | None = None, *, cache: bool = True) -> StoreTables:
    """Every submission and reference row under ``root`` (default: the store) as tables."""
    root = Path(root) if root is not None else Store().root
    files = _inputs(root)
    digest = hashlib.sha256(LOADER_VERSION.encode())
    for path in files:  # file names as bytes: a name need not be UTF-8
        try:
            digest.update(os.fsencode(path.relative_to(root)) + f"\0{_sha(path)}\n".encode())
        except OSError:
            digest.update(os.fsencode(path) + b"\0unreadable\n")
    key = digest.hexdigest()
    base = cache_root() / "tables" / key
    names = ("submissions", "scores", "problems")
    if cache:
        parts = {n: _read_parquet(base / f"{n}.parquet") for n in names}
        if all(p is not None for p in parts.values()):
            return _tables(parts)
    built = _build_arrow(files, root)
    if cache:
        _write_cache(built, base)
    return _tables({k: _frame(t) for k, t in built.items()})


def _item_rows(sub: Submission, records: list) -> list[dict]:
    rows = []
    columns = {t.task: t.column for t in sub.tasks}
    for it in records:
        base = {
            "submission_id": sub.submission_id,
            "task": it.task,
            "column": columns.get(it.task, it.task),
            "filter": it.filter,
            "doc_id": it.doc_id,
            "doc_hash": it.doc_hash,
            "prompt_hash": it.prompt_hash,
            "target_hash": it.target_hash,
            "cluster": it.cluster,
            "response": it.response,
            "choice": it.choice,
        }
        for name, value in it.metrics.items():
            rows.append(
                {**base, "metric": name, "value": value, "tp": None, "fp": None, "fn": None}
            )
        for name, c in it.counts.items():
            rows.append({**base, "metric": name, "value": None, "tp": c.tp, "fp": c.fp, "fn": c.fn})
    return rows


def item_rows(sub: Submission, records: list) -> pd.DataFrame:
    """Per-item rows (one per item x metric) of one submission, checked against
    :data:`ITEM_SCHEMA` (raises when a value does not fit, e.g. an integer beyond 64 bits)."""
    return _frame(_arrow(_item_rows(sub, records), ITEM_SCHEMA))


class ItemsError(ValueError):
    """A stored items file is missing or does not match the hash in its submission.json."""


def read_items(root: Path, sub: Submission) -> list:
    """Item records of one stored submission, checked against submission.json's file hash."""
    path = Store(root).path_of(sub.submission_id)
    ref = next((f for f in sub.files if f.role == "items"), None)
    if ref is None:
        raise ItemsError(f"{path / SUBMISSION_FILE}: lists no items file")
    data = (path / ref.name).read_bytes()
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise ItemsError(
            f"{path / ref.name}: SHA-256 differs from submission.json; the file changed"
        )
    return itemlib.parse_items(data, ref.name)


def _load_item_table(store: Store, sid: str) -> tuple[Submission, pa.Table]:
    data = (store.path_of(sid) / SUBMISSION_FILE).read_bytes()
    check_integers(data)
    sub = Submission.model_validate_json(data)
    return sub, _arrow(_item_rows(sub, read_items(store.root, sub)), ITEM_SCHEMA)


def load_items(
    submission_ids: list[str],
    root: Path | None = None,
    *,
    cache: bool = True,
    problems: list[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Per-item rows (one per item x metric) of the named submissions.

    A submission whose files cannot be read, or whose rows do not fit :data:`ITEM_SCHEMA`,
    raises :class:`ItemsError` naming it; or, when a ``problems`` list is given, is skipped and
    appended to it as (file, message), logged once. A cache that cannot be written is logged.
    """
    root = Path(root) if root is not None else Store().root
    store = Store(root)
    frames = []
    for sid in submission_ids:
        sub_path = store.path_of(sid) / SUBMISSION_FILE
        df, cached = None, None
        if cache:
            try:
                sub = Submission.model_validate_json(sub_path.read_bytes())
                ref = next((f for f in sub.files if f.role == "items"), None)
                key = f"{LOADER_VERSION}-{ref.sha256 if ref else 'none'}"
            except Exception:  # noqa: BLE001 - reported by the uncached read below
                key = None
            cached = cache_root() / "items" / f"{key}.parquet" if key else None
            df = _read_parquet(cached) if cached else None
            if df is not None and len(df) and df["submission_id"].iloc[0] != sid:
                df = None
        if df is None:
            try:
                _, table = _load_item_table(store, sid)
            except Exception as exc:  # noqa: BLE001 - isolate each submission
                name = _file_name(sub_path)
                message = _plain(_first_line(exc))[:500]
                if problems is None:
                    if isinstance(exc, ItemsError):
                        raise
                    raise ItemsError(f"{name}: cannot load its items: {message}") from exc
                problems.append((name, f"cannot load items of {sid}: {message}"))
                log.warning("skipping the items of %s: %s", sid, message)
                continue
            if cached is not None:
                _write_cache({cached.stem: table}, cached.parent)
            df = _frame(table)
        frames.append(df)
    if not frames:
        return _frame(ITEM_SCHEMA.empty_table())
    return pd.concat(frames, ignore_index=True)


def group_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Per reproduced submission and registry group: the unweighted mean of its columns' primary
    scores (each dataset counts once, as the groups' YAMLs say), and whether all were present."""
    primary = scores[(scores["status"] == "reproduced") & scores["primary"] & ~scores["is_detail"]]
    rows = []
    for group in registry.GROUPS:
        members = [s.name for s in registry.tasks_of(group.name)]
        part = primary[primary["column"].isin(members)]
        for sid, frame in part.groupby("submission_id"):
            rows.append(
                {
                    "submission_id": sid,
                    "model": frame["model"].iloc[0],
                    "group": group.name,
                    "display": group.display,
                    "category": str(group.category),
                    "variant": str(group.variant),
                    "value": float(frame["value"].mean()),
                    "n_tasks": len(frame),
                    "complete": len(frame) == len(members),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["submission_id", "model", "group", "display", "category", "variant", "value",
                 "n_tasks", "complete"],
    )  # fmt: skip
