"""Tables of the main ranking and the per-task boards, shaped for the app (pure functions).

The numbers come from :mod:`leaderboard.ranking` (computed once on the whole store); the board
frame from :func:`leaderboard.views.build_board`. A search or filter only picks rows of these
tables (:func:`pick`): a row always shows the rank it has among every reproduced run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from leaderboard import views
from leaderboard.ranking import Ranking
from tasks.registry import TaskSpec

RANK = "Rank"
INTERVAL = "Rank range"
WIN = "Win rate"
WIN_CI = "Win rate 95% CI"
MISSING = "Missing tasks"
POSITION = "_position"  # hidden: order of the full ranking
MAIN_HEAD = [
    RANK, "Model", WIN, WIN_CI, INTERVAL, "Coverage", views.AT_BASELINE, views.COLLAPSED, MISSING,
]  # fmt: skip
TAIL = ["Run", "Type", "Size (B)"]


def interval_text(low: int, high: int) -> str:
    """``"1–3"``, or ``"2"`` when the interval is one rank."""
    return f"{low}" if low == high else f"{low}–{high}"


def ci_text(low: float, high: float, digits: int = 1) -> str:
    """``"[55.0, 70.1]"`` (percent)."""
    return f"[{100 * low:.{digits}f}, {100 * high:.{digits}f}]"


def missing_tasks(tasks: str, lay: views.Layout) -> str:
    """Display names of the layout's tasks a run was not compared on (``"none"``)."""
    have = set(tasks.split(";")) if tasks else set()
    gone = [t.display for t in lay.tasks if t.higher_is_better and t.name not in have]
    return ", ".join(gone) if gone else "none"


NAME_CHARS = 30  # a model label longer than this is elided in its middle
_BREAK = re.compile(r"[/\- ·]")


def distinct_labels(names: Sequence[str], limit: int = NAME_CHARS) -> list[str]:
    """Labels of at most ``limit`` characters that tell ``names`` apart at any column width:
    a name that fits is kept; a longer one keeps its start and its shortest ending (from a
    ``/``, ``-``, space or ``·``) that no other name ends with, the middle elided:
    ``bioinstruct-repro/SmolLM2-135M-Instruct-Q4_1-lora-qa`` -> ``bioinstruct-repro/Smo…-lora-qa``
    beside its ``-lora-ie`` sibling."""
    # how many names end with each string: a name's ending is unique when only it ends so
    endings = Counter(name[i:] for name in set(names) for i in range(len(name)))
    out = []
    for name in names:
        if len(name) <= limit:
            out.append(name)
            continue
        cuts = [m.start() for m in _BREAK.finditer(name)][::-1]
        tail = next((name[c:] for c in cuts if endings[name[c:]] == 1), name)
        if len(tail) > limit - 8:
            tail = name[-(limit - 9) :]
        out.append(name[: limit - len(tail) - 1] + "…" + tail)
    return out


def _relabel(links: Sequence[str]) -> list[str]:
    """Model links whose shown name (the ``name=`` part) is :func:`distinct_labels`'s."""
    names = [unquote(link.rsplit("name=", 1)[-1]) for link in links]
    labels = distinct_labels(names)
    return [
        link.rsplit("name=", 1)[0] + "name=" + quote(label, safe="")
        for link, label in zip(links, labels, strict=True)
    ]


def _ranked(frame: pd.DataFrame, board: pd.DataFrame) -> pd.DataFrame:
    ids = frame["row_id"].tolist()
    out = pd.DataFrame(index=pd.Index(ids, name="row_id"))
    out[RANK] = frame["rank"].to_numpy()
    out[INTERVAL] = [
        interval_text(lo, hi) for lo, hi in zip(frame["rank_low"], frame["rank_high"], strict=True)
    ]
    out[WIN] = (100 * frame["win_rate"]).round(1).to_numpy()
    out[WIN_CI] = [
        ci_text(lo, hi) for lo, hi in zip(frame["win_low"], frame["win_high"], strict=True)
    ]
    out[POSITION] = frame["position"].to_numpy()
    known = board.reindex(ids)
    out["Model"] = known["Model"].to_numpy()
    return out


def main_table(
    board: pd.DataFrame, ranking: Ranking, lay: views.Layout, extra: Sequence[str] = ()
) -> pd.DataFrame:
    """Every reproduced row of ``board`` in ranking order, best first, with its band ``Rank``,
    rank range, win rate and interval, ``Coverage`` (tasks it was compared on, of the layout's
    averaged tasks), the missing tasks and the board's category averages and identity columns.
    Rows compared with no other run on any task come last without a rank. ``extra`` names
    further board columns to carry (per-task scores, details)."""
    averaged = [t for t in lay.tasks if t.higher_is_better]
    reproduced = board[board["status_key"] == views.REPRODUCED]
    table = _ranked(ranking.table[ranking.table["row_id"].isin(reproduced.index)], reproduced)
    ranked_tasks = ranking.table.set_index("row_id")["tasks"]
    table["Coverage"] = [f"{len(ranked_tasks[r].split(';'))}/{len(averaged)}" for r in table.index]
    table[MISSING] = [missing_tasks(ranked_tasks[r], lay) for r in table.index]
    rest = reproduced.index.difference(table.index)
    rest = [r for r in reproduced.index if r in set(rest) and reproduced.loc[r, "n_scored"] > 0]
    if rest:
        extra = pd.DataFrame(index=pd.Index(rest, name="row_id"))
        extra["Model"] = reproduced.loc[rest, "Model"].to_numpy()
        extra["Coverage"] = "0/" + str(len(averaged))
        extra[MISSING] = "no task shares items with another run"
        extra[POSITION] = np.arange(len(table) + 1, len(table) + len(rest) + 1)
        table = pd.concat([table, extra])
    carried = [views.AT_BASELINE, views.COLLAPSED, *lay.average_columns, *TAIL, *extra]
    for column in [c for c in dict.fromkeys(carried) if c not in table.columns]:
        table[column] = reproduced.loc[table.index, column].to_numpy()
    widths = average_half_widths(reproduced.loc[table.index], lay)
    for column in widths.columns:
        table[column] = widths[column].to_numpy()
    table[RANK] = table[RANK].astype("Int64")
    table["Model"] = _relabel(table["Model"].fillna("").astype(str).tolist())
    return table


def main_columns(lay: views.Layout, extra: Sequence[str] = ()) -> list[str]:
    """Shown columns of the main table, in order (``extra``: board columns asked for, after
    the fixed ones)."""
    averages = [name for column in lay.average_columns for name in (column, ci_of(column))]
    head = [*MAIN_HEAD, *averages, *TAIL]
    return head + [c for c in extra if c not in head]


def pick(table: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    """The rows of ``table`` whose ids are in ``ids`` (a search or filter's view), in ranking
    order; ranks are left as they are."""
    keep = table.index.isin(list(ids))
    return table[keep].sort_values(POSITION, kind="stable")


# --- per-task boards ---------------------------------------------------------------------------

TASK_HEAD = [RANK, "Model", "Score", "95% CI", "Majority", views.FLAG, "Items", "Subset", WIN,
             INTERVAL]  # fmt: skip


def task_choices(ranking: Ranking, lay: views.Layout) -> list[TaskSpec]:
    """Tasks of the layout with at least two runs compared on shared items."""
    return [t for t in lay.tasks if t.name in ranking.tasks]


def task_table(
    board: pd.DataFrame, scores: pd.DataFrame, ranking: Ranking, spec: TaskSpec
) -> pd.DataFrame:
    """Every reproduced run with task ``spec``, ranked by its win rate on this task (pairs on
    shared items), with its score and 95% CI (percent, on its own items), its majority-class
    baseline and the ⚑ flag (score not distinguishable from a constant answer), its number of
    items and item subset."""
    frame = ranking.tasks.get(spec.name)
    if frame is None:
        return pd.DataFrame(columns=[*TASK_HEAD, POSITION])
    table = _ranked(frame, board)
    mine = scores[scores["column"] == spec.name].drop_duplicates("row_id").set_index("row_id")
    mine = mine.reindex(table.index)
    table["Score"] = mine["score"].round(1).to_numpy()
    table["95% CI"] = [
        "" if pd.isna(lo) else f"[{lo:.1f}, {hi:.1f}]"
        for lo, hi in zip(mine["ci_low"], mine["ci_high"], strict=True)
    ]
    majority = mine["majority"] if "majority" in mine.columns else pd.Series(np.nan, mine.index)
    table["Majority"] = majority.round(1).to_numpy()
    flags = mine["at_baseline"] if "at_baseline" in mine.columns else pd.Series(None, mine.index)
    table[views.FLAG] = [views.FLAG if f is True else "" for f in flags]
    table["Items"] = mine["n_items"].astype("Int64").to_numpy()
    table["Subset"] = [s or "full" for s in mine["subset"].fillna("").astype(str)]
    table[RANK] = table[RANK].astype("Int64")
    table["Model"] = _relabel(table["Model"].fillna("").astype(str).tolist())
    return table.loc[:, [*TASK_HEAD, POSITION]]


def flag_note(table: pd.DataFrame) -> str:
    """The ⚑ caveat of a per-task board, in words ("" when no run is flagged)."""
    n = int((table[views.FLAG] == views.FLAG).sum()) if views.FLAG in table.columns else 0
    if not n:
        return ""
    of = len(table)
    every = "Every run" if n == of else f"{n} of {of} runs"
    return (
        f"{views.FLAG} {every} on this task cannot be told apart from answering the most "
        "frequent option on every item (paired test, p ≥ 0.05): such a score measures the "
        "answer distribution, not the model."
    )


# --- downloads ---------------------------------------------------------------------------------


def export_frame(view: pd.DataFrame, main: pd.DataFrame, lay: views.Layout) -> pd.DataFrame:
    """The downloads' rows (:func:`leaderboard.views.export_frame`) with the ranks of the whole
    store: ``rank`` (band), ``rank_low`` / ``rank_high``, ``win_rate`` and its CI (percent),
    ``compared_tasks``; per task ``<task>_at_baseline`` (the ⚑ flag: true, false or empty);
    reproduced rows in ranking order, published ones after them without averages (they never
    enter one)."""
    out = views.export_frame(view, lay).set_axis(view.index)
    mine = main.reindex(view.index)
    low_high = mine[INTERVAL].fillna("").astype(str).str.split("–", n=1)
    out["rank"] = mine[RANK].astype("Int64")
    out["rank_low"] = pd.to_numeric(low_high.str[0], errors="coerce").astype("Int64")
    out["rank_high"] = pd.to_numeric(low_high.str[-1], errors="coerce").astype("Int64")
    out["win_rate"] = mine[WIN]
    ci = mine[WIN_CI].fillna("").astype(str).str.strip("[]").str.split(", ", n=1)
    out["win_rate_ci_low"] = pd.to_numeric(ci.str[0], errors="coerce")
    out["win_rate_ci_high"] = pd.to_numeric(ci.str[-1], errors="coerce")
    out["compared_tasks"] = mine["Coverage"]
    out = out.drop(columns=["ranked_in"], errors="ignore")
    for spec in lay.tasks:
        cell = view[views.baseline_column(spec)].fillna("").astype(str)
        flag = cell.str.startswith(views.FLAG)
        known = cell != ""
        out[f"{spec.name}_at_baseline"] = flag.astype(object).where(known, None)
    published = view["status_key"] != views.REPRODUCED
    averages = ["average", *[f"{views.CATEGORY_LABEL[c].lower()}_avg" for c in lay.categories]]
    out.loc[published, averages] = np.nan
    order = mine[POSITION].where(~published)
    out = out.assign(_order=order.to_numpy()).sort_values("_order", na_position="last")
    head = ["rank", "rank_low", "rank_high", "win_rate", "win_rate_ci_low", "win_rate_ci_high",
            "compared_tasks"]  # fmt: skip
    rest = [c for c in out.columns if c not in head and c != "_order"]
    return out.loc[:, head + rest].reset_index(drop=True)


# --- the model page ----------------------------------------------------------------------------


def summary(ranking: Ranking, row_id: str, lay: views.Layout) -> str:
    """One line for the top of a run's page: its rank, range and win rate among every
    reproduced run, and over how many tasks (or why it has no rank)."""
    table = ranking.table.set_index("row_id")
    if row_id not in table.index:
        return "Not ranked: no task of this run shares items with another run's."
    row = table.loc[row_id]
    averaged = sum(t.higher_is_better for t in lay.tasks)
    rank, position = int(row["rank"]), int(row["position"])
    band = (
        f" (in the band of rank {rank}: not told apart from its first run; place {position})"
        if position != rank
        else ""
    )
    return (
        f"Rank {rank} of {len(table)}{band} · 95% rank range "
        f"{interval_text(row['rank_low'], row['rank_high'])} · win rate "
        f"{100 * row['win_rate']:.1f}% {ci_text(row['win_low'], row['win_high'])} over "
        f"{int(row['n_tasks'])} of {averaged} tasks"
    )


ANSWER_COLUMNS = ["doc_id", "answer", "score", "right"]


def answers(items: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
    """A run's answers to one task item by item: doc_id, the stored answer (a free-text response
    or the option a multiple-choice task picked), the item's primary metric (per-item F1 from
    its counts) and, for 0/1 metrics, whether it was right."""
    part = items[
        (items["task"] == spec.name) & (items["metric"] == spec.metric)
        & (items["filter"] == spec.filter)
    ].sort_values("doc_id")  # fmt: skip
    answer = part["response"].where(
        part["response"].notna(), "option " + part["choice"].astype("Int64").astype("string")
    )
    if part["value"].notna().all():
        score = part["value"].astype(float)
    else:
        tp, fp, fn = (pd.to_numeric(part[k], errors="coerce").fillna(0) for k in ("tp", "fp", "fn"))
        den = 2 * tp + fp + fn
        score = (2 * tp / den.where(den > 0)).fillna(0.0)
    binary = bool(score.isin([0.0, 1.0]).all()) and spec.metric in ("acc", "exact_match")
    return pd.DataFrame(
        {
            "doc_id": part["doc_id"].astype(int).to_numpy(),
            "answer": answer.fillna("").astype(str).to_numpy(),
            "score": score.round(3).to_numpy(),
            "right": ["yes" if s == 1 else "no" for s in score] if binary else [""] * len(part),
        },
        columns=ANSWER_COLUMNS,
    )


# --- uncertainty of the averages -------------------------------------------------------------


def ci_of(column: str) -> str:
    """The name of an average's ± column: ``"QA avg ±"``."""
    return f"{column} ±"


def average_half_widths(board: pd.DataFrame, lay: views.Layout) -> pd.DataFrame:
    """Half-width of the 95% CI of each average of the board (``Average``, ``QA avg`` ...), in
    points: each task's stored CI read as normal (half-width / 1.96 = its standard error), tasks
    independent (they have different items), so a mean over k tasks has variance
    ``sum(se_i^2) / k^2`` and the overall average over C categories ``sum(var_c) / C^2``.
    NaN where the board shows no average."""
    var_c = {}
    for category in lay.categories:
        members = [t for t in lay.of(category) if t.higher_is_better]
        se2 = pd.DataFrame(
            {
                t.name: (
                    (
                        board[views.ci_bound_column(t, "high")]
                        - board[views.ci_bound_column(t, "low")]
                    )
                    / (2 * 1.96)
                )
                ** 2
                for t in members
            }  # fmt: skip
        )
        k = se2.notna().sum(axis=1)
        var_c[views.category_column(category)] = se2.sum(axis=1) / k.where(k > 0) ** 2
    cats = pd.DataFrame(var_c, index=board.index)
    c = cats.notna().sum(axis=1)
    out = pd.DataFrame(index=board.index)
    overall = 1.96 * np.sqrt(cats.sum(axis=1) / c.where(c > 0) ** 2)
    out[ci_of("Average")] = overall.where(board["Average"].notna()).round(1)
    for column in cats.columns:
        out[ci_of(column)] = (1.96 * np.sqrt(cats[column])).where(board[column].notna()).round(1)
    return out
