"""Data access and widgets shared by the leaderboard pages.

Tables come from the shared loader (:func:`leaderboard.loader.load_tables`, itself cached on disk
by file hashes) wrapped in ``st.cache_data``, keyed by the submissions folder and a cheap
fingerprint of its files (count, bytes, newest modification time): a new submission shows up on
the next rerun, an unchanged store is never re-read. Unreadable files come back from the loader
as problems (file + reason) and are shown as warnings; the app goes on without them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from leaderboard import loader, ranking, standings, views
from leaderboard.schemas import EvalRequest, Submission
from leaderboard.store import SUBMISSION_FILE, Store, default_root


@dataclass
class Tables:
    rows: pd.DataFrame  # views' rows frame
    scores: pd.DataFrame  # views' scores frame
    reported: pd.DataFrame  # the loader's tidy score lines of reported rows (their pages)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def submissions_root() -> Path:
    return default_root().resolve()


def fingerprint(root: Path) -> tuple[int, int, int]:
    """(files, total bytes, newest mtime) of the store's submission.json and reference files."""
    count = size = newest = 0
    if not root.is_dir():
        return (0, 0, 0)
    for model_dir in os.scandir(root):
        if model_dir.name.startswith(".") or not model_dir.is_dir():
            continue
        for entry in os.scandir(model_dir.path):
            if entry.name.startswith("."):
                continue
            path = os.path.join(entry.path, SUBMISSION_FILE) if entry.is_dir() else entry.path
            try:
                info = os.stat(path)
            except OSError:
                continue
            count += 1
            size += info.st_size
            newest = max(newest, info.st_mtime_ns)
    return (count, size, newest)


def current() -> tuple[str, tuple]:
    """(submissions folder, fingerprint) of this rerun: the cache key of everything below."""
    root = submissions_root()
    return str(root), fingerprint(root)


# The computations themselves are memoised per process as well (functools), under the same key:
# the server computes the current store's tables and default board before it accepts a request
# (:func:`prepare`, called by ``biobench leaderboard``), so the first visitor's Streamlit cache
# miss finds them done (about 0.4 s of the first render at 1,000 submissions, measured in a
# real browser). Callers get Streamlit's copies; the memoised objects are never handed out.


@functools.lru_cache(maxsize=4)
def _tables(root: str, stamp: tuple) -> Tables:
    tables = loader.load_tables(Path(root))
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    problems = [(views.relative_name(f, root), m) for f, m in tables.problems]
    reported = tables.scores[tables.scores["status"] == views.REPORTED]
    return Tables(rows, scores, reported.reset_index(drop=True), problems)


@functools.lru_cache(maxsize=8)
def _board(root: str, stamp: tuple, variant: str, complete_only: bool) -> pd.DataFrame:
    tables = _tables(root, stamp)
    lay = views.layout(views.Variant(variant))
    return views.build_board(tables.rows, tables.scores, lay, complete_only=complete_only)


@functools.lru_cache(maxsize=4)
def _ranking(root: str, stamp: tuple, variant: str) -> ranking.Ranking:
    """The main and per-task rankings of every reproduced run (whole store, never a view)."""
    tables = _tables(root, stamp)
    reproduced = tables.rows.index[tables.rows["status"] == views.REPRODUCED].tolist()
    problems: list[tuple[str, str]] = []
    items = loader.load_items(reproduced, Path(root), problems=problems)
    lay = views.layout(views.Variant(variant))
    return ranking.rank_runs(ranking.task_matrices(items, lay.tasks, tables.scores))


@st.cache_data(show_spinner="Ranking every run on shared items…", max_entries=4)
def load_ranking(root: str, stamp: tuple, variant: str) -> ranking.Ranking:
    return _ranking(root, stamp, variant)


@functools.lru_cache(maxsize=8)
def _main(root: str, stamp: tuple, variant: str, complete_only: bool, extra: tuple) -> pd.DataFrame:
    """The board's ranking table (:func:`leaderboard.standings.main_table`): built once per view
    of the columns, never per search (a search only picks its rows)."""
    lay = views.layout(views.Variant(variant))
    board = _board(root, stamp, variant, complete_only)
    return standings.main_table(board, _ranking(root, stamp, variant), lay, extra=list(extra))


@st.cache_data(max_entries=16)
def load_main(root: str, stamp: tuple, variant: str, complete_only: bool, extra: tuple):
    return _main(root, stamp, variant, complete_only, extra)


def default_columns(variant: str) -> tuple:
    """The board's columns before any toggle is touched."""
    lay = views.layout(views.Variant(variant))
    return tuple(views.display_columns(lay, show_ci=True, show_baselines=True, per_task=False))


@st.cache_data(show_spinner="Loading submissions…", max_entries=4)
def load_tables(root: str, stamp: tuple) -> Tables:
    return _tables(root, stamp)


@st.cache_data(max_entries=8)
def load_board(root: str, stamp: tuple, variant: str, complete_only: bool) -> pd.DataFrame:
    return _board(root, stamp, variant, complete_only)


def prepare() -> int:
    """Compute the current store's tables and the board's default view in this process (before
    the server accepts a request); the number of submissions read."""
    root, stamp = current()
    _board(root, stamp, str(views.Variant.LOGLIK), False)
    _ranking(root, stamp, str(views.Variant.LOGLIK))
    loglik = str(views.Variant.LOGLIK)
    _main(root, stamp, loglik, False, default_columns(loglik))
    return int(_tables(root, stamp).rows["status"].eq(views.REPRODUCED).sum())


@st.cache_data(max_entries=64)
def load_submission(root: str, submission_id: str, stamp: tuple) -> Submission:
    return Store(Path(root)).read(submission_id)


# --- state in the URL ---------------------------------------------------------------------------


def seed_from_url(key: str, kind: str, default, valid=None) -> None:
    """Give widget ``key`` its value from the URL's query parameter of the same name (once per
    session; a value the widget cannot take is ignored), else ``default``. ``kind``: ``list``
    (repeated parameter), ``bool`` (``1``/``0``), ``str``, ``float_range`` (``low~high``) or
    ``int``. Widgets are then created without a ``value``/``default`` argument."""
    if key in st.session_state:
        return
    value = default
    try:
        if kind == "list":
            given = st.query_params.get_all(key)
            if given:
                value = [v for v in given if valid is None or v in valid]
        elif key in st.query_params:
            raw = st.query_params[key]
            if kind == "bool" and raw in ("0", "1"):
                value = raw == "1"
            elif kind == "str" and (valid is None or raw in valid):
                value = raw
            elif kind == "int" and raw.isdigit() and (valid is None or int(raw) in valid):
                value = int(raw)
            elif kind == "float_range":
                low, high = (float(x) for x in raw.split("~", 1))
                lo, hi = valid if valid is not None else (low, high)
                if lo <= low <= high <= hi:
                    value = (low, high)
    except (ValueError, TypeError):
        value = default
    st.session_state[key] = value


def url_value(value) -> str | list[str] | None:
    """A widget value as query-parameter text (None: leave it out of the URL)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, float) for v in value)
    ):
        return f"{value[0]:g}~{value[1]:g}"
    if isinstance(value, list | tuple):
        return [str(v) for v in value] or None
    text = str(value)
    return text or None


def sync_url(values: dict, defaults: dict) -> None:
    """Write every non-default widget value to the URL (shareable; survives a reload), and
    remove the others; parameters not named in ``defaults`` are kept."""
    wanted = {}
    for key, value in values.items():
        if value == defaults.get(key):
            continue
        text = url_value(value)
        if text is not None:
            wanted[key] = text
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    keep = {k: v for k, v in current.items() if k not in defaults}
    merged = {**keep, **wanted}
    if {k: (v if isinstance(v, list) else [v]) for k, v in merged.items()} != current:
        st.query_params.from_dict(merged)


def dark_theme() -> bool:
    """Whether the page shows Streamlit's dark theme. ``st.context.theme`` is inferred in the
    browser and reads "light" on a session's first run whatever the theme (streamlit#11920):
    on that run a theme the server was started with (``biobench leaderboard --theme``) decides."""
    first_run = "_theme_seen" not in st.session_state
    st.session_state["_theme_seen"] = True
    configured = st.get_option("theme.base")
    if first_run and configured in ("light", "dark"):
        return configured == "dark"
    return getattr(getattr(st.context, "theme", None), "type", None) == "dark"


# Rows taller than 4rem (64 px) let a data grid wrap long text over several lines.
WRAP_ROW_HEIGHT = 66  # three lines


def fit_height(n_rows: int, cap: int | None = None, row_height: int = 35) -> int:
    """Pixel height that shows ``n_rows`` rows of ``row_height`` px without an inner scroll bar
    (up to ``cap``)."""
    height = 38 + row_height * max(n_rows, 1) + 12  # + room for a horizontal scroll bar
    return min(height, cap) if cap else height


def show_problems(problems: list[tuple[str, str]]) -> None:
    """One warning per unreadable file, naming it (escaped: file names and reasons are untrusted)."""
    for file, reason in problems:
        st.warning(
            f"Skipped an unreadable submission file, {views.escape_markdown(file)}: "
            f"{views.escape_markdown(reason)}",
            icon=":material/warning:",
        )


def row_label(rows: pd.DataFrame, row_id: str) -> str:
    """``model · run`` for a submission, ``model · source`` for a reported row (plain text)."""
    row = rows.loc[row_id]
    tag = "" if row["status"] == views.REPRODUCED else " [reported]"
    return f"{row['model']} · {row['source']}{tag}"


def submission_path(root: str, submission_id: str) -> Path:
    """The stored ``submission.json`` of a submission id (resolved by the store)."""
    return Store(Path(root)).path_of(submission_id) / SUBMISSION_FILE


def relative_store_path(root: str, submission_id: str) -> str:
    """The submission's folder as ``<store folder name>/<org>__<model>/<run>``."""
    path = Store(Path(root)).path_of(submission_id)
    return f"{Path(root).name}/{path.relative_to(Path(root))}"


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return " ".join(lines[:2])[:300] if lines else type(exc).__name__


def read_requests(root: Path) -> tuple[list, list[tuple[str, str]]]:
    """Evaluation requests of the queue (:class:`leaderboard.request_queue.RequestQueue`) and, as
    (file, reason) problems, the request files it could not read (only regular files are read,
    bounded: a link, FIFO or device is listed as a problem, never opened)."""
    from leaderboard.request_queue import RequestQueue

    valid, invalid = RequestQueue(root).scan()
    problems = [(str(path.relative_to(root)), why.splitlines()[0][:300]) for path, why in invalid]
    return [req for _, req in valid], problems


WEB_REQUESTS_PER_HOUR = 5  # per visitor
WEB_MAX_PENDING = 50  # the form refuses new requests while this many wait
# what a web visitor is told, by the field a refusal names (never a server path or a CLI flag)
WEB_MESSAGES = {
    "model": "Give a Hugging Face hub id such as org/name (the form takes hub ids only).",
    "license": "The model card declares no licence: fill in the Licence field.",
    "remote_code": "The model needs its own code to load (auto_map); such models are not "
    "evaluated from web requests.",
    "hub": "The model could not be looked up on the Hugging Face hub (this server may have no "
    "hub access, or the id or revision does not exist). Check the id and revision.",
    "revision": "The revision must be a branch, tag or commit (letters, digits, '.', '_', '-', "
    "'/').",
    "tasks": "Tasks must be suite tasks or groups, e.g. bio_qa or bio_qa,bio_ie.",
    "queue": "The queue is full; please try again once some requests have been evaluated.",
}


@dataclass
class RequestOutcome:
    ok: bool
    message: str  # plain text for the visitor, never rendered as markup
    request: EvalRequest | None = None


@st.cache_resource
def web_rate_limit():
    """The per-visitor rate limit of the request form, shared by this server's sessions."""
    from leaderboard.request_queue import RateLimit

    return RateLimit(WEB_REQUESTS_PER_HOUR, 3600.0)


def visitor() -> str:
    """Who is asking: the client address Streamlit sees (one shared key where it sees none)."""
    return str(getattr(st.context, "ip_address", None) or "unknown")


def file_request(
    root: str,
    fields: dict[str, str | None],
    who: str,
    limit=None,
    max_pending: int = WEB_MAX_PENDING,
) -> RequestOutcome:
    """Queue a web visitor's request through the queue's own API (the checks of ``biobench
    request``): hub ids only (no file of this server is looked at, so no answer tells which
    paths exist), at most :data:`WEB_REQUESTS_PER_HOUR` per visitor (``limit``), none while the
    queue holds ``max_pending`` pending requests; refusals worded for the visitor
    (:data:`WEB_MESSAGES`)."""
    from leaderboard.request_queue import RequestError, RequestQueue, new_request

    value = {k: (v or "").strip() for k, v in fields.items()}
    limit = limit if limit is not None else web_rate_limit()
    if not limit.allow(who):
        return RequestOutcome(
            False, f"You have sent {limit.count} requests within the hour; please wait."
        )
    try:
        request = new_request(
            value.get("model", ""),
            revision=value.get("revision") or "main",
            precision=value.get("precision") or None,
            license=value.get("license") or None,
            model_type=value.get("model_type") or "base",
            tasks=value.get("tasks") or "bio_qa",
            submitter="web form",
            hub_only=True,
        )
        RequestQueue(Path(root)).add(request, max_pending=max_pending)
    except RequestError as exc:
        if "already requested" in str(exc):
            return RequestOutcome(False, "This model (revision, precision) is already requested.")
        return RequestOutcome(False, WEB_MESSAGES.get(exc.field, "The request was refused."))
    message = f"Queued {request.model_id} as request {request.request_id}."
    return RequestOutcome(True, message, request)


@st.cache_data(ttl=5, max_entries=4)
def load_requests(root: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The request queue table; re-read every few seconds (a worker changes statuses)."""
    found, problems = read_requests(Path(root))
    return views.request_queue(found), problems
