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

import json
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
import pandas as pd

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
)
SCORE_COLUMNS = ("row_id", "column", "score", "ci_low", "ci_high", "n_items")
BASELINE_SCORE_COLUMNS = ("majority", "first_option", "random", "top_share", "at_baseline")
FLAG = "⚑"  # a score not distinguishable from answering one option throughout
AT_BASELINE = "At baseline"

CATEGORY_LABEL = {Category.QA: "QA", Category.IE: "IE", Category.GEN: "GEN"}
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
    """``"38.1-44.0"`` cells (empty where no interval), vectorised over the frame."""
    lo = low.round(1).astype(str)
    hi = high.round(1).astype(str)
    out = lo + "–" + hi
    return out.where(low.notna() & high.notna(), "")


def build_board(
    rows: pd.DataFrame,
    scores: pd.DataFrame,
    lay: Layout | None = None,
    *,
    complete_only: bool = False,
) -> pd.DataFrame:
    """The main table, one line per row, unranked and unfiltered (see :func:`filter_board`).

    Columns: identity (``Model``, ``Type``, ``Size (B)``, ...), ``Average`` (the unweighted mean
    of the category averages present), one ``<category> avg`` per registry category with tasks,
    then per task its score and ``95% CI`` text. By default a category average is over the
    category's tasks a row has, and ``Tasks`` says how many of the layout's tasks that is; with
    ``complete_only`` a category average exists only when the row has every task of the category
    (and ``Average`` only when it has every task). Lower-is-better tasks are shown but never
    averaged.
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
    board["Model"] = [model_link(r, m) for r, m in zip(rows.index, rows["model"], strict=True)]
    board["model_name"] = rows["model"].astype(str)
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
    board["Precision"] = rows["precision"].fillna("").astype(str)

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
    board["n_scored"] = score.notna().sum(axis=1).astype(int)  # any task of the layout
    ci = _format_ci(low, high)
    majority, flags = _baseline_blocks(wanted, rows.index, names)
    known = flags.notna().any(axis=1)
    count = (flags == True).sum(axis=1).astype("Int64")  # noqa: E712 - object column of bools
    board[AT_BASELINE] = count.where(known, pd.NA)
    for spec in lay.tasks:
        board[spec.display] = score[spec.name]
        board[ci_column(spec)] = ci[spec.name]
        board[baseline_column(spec)] = [
            baseline_cell(m, f) for m, f in zip(majority[spec.name], flags[spec.name], strict=True)
        ]
    board["status_key"] = rows["status"].astype(str)
    board["Date"] = rows["date"].fillna("").astype(str)
    board["Source"] = rows["source"].fillna("").astype(str)
    return board


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
    """Sorted by ``Average`` (best first) with a ``Rank`` column.

    Only reproduced rows are ranked (ties share a rank); reported rows are placed by their
    average but get no rank: their numbers come from other setups and are not comparable.
    """
    ordered = board.sort_values(
        ["Average", "model_name"], ascending=[False, True], na_position="last", kind="stable"
    )
    reproduced = ordered["status_key"] == REPRODUCED
    ranks = ordered["Average"].where(reproduced).rank(method="min", ascending=False)
    return ordered.assign(Rank=ranks.astype("Int64")).loc[:, ["Rank", *board.columns]]


# --- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the sidebar selects; an empty selection means no restriction."""

    search: str = ""
    model_types: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # REPRODUCED / REPORTED
    shots: tuple[str, ...] = ()
    size_range: tuple[float, float] | None = None  # billions, inclusive
    unknown_size: bool = True  # keep rows whose size is unknown when a size range is set
    hide_unscored: bool = True  # drop rows with no score in this layout (e.g. generative-only runs)


@dataclass(frozen=True)
class FilterOptions:
    model_types: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    shots: list[str] = field(default_factory=list)
    size_min: float = 0.0
    size_max: float = 0.0


def filter_options(board: pd.DataFrame) -> FilterOptions:
    sizes = board["Size (B)"].dropna()
    return FilterOptions(
        model_types=sorted(board["Type"].unique()),
        families=sorted(board["Family"].unique()),
        statuses=[s for s in (REPRODUCED, REPORTED) if (board["status_key"] == s).any()],
        shots=sorted(board["Shots"].unique()),
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


def display_columns(lay: Layout, show_ci: bool = True, show_baselines: bool = True) -> list[str]:
    """Columns the main table shows, in order (helper columns like ``status_key`` left out).

    With ``show_baselines``: ``At baseline`` (how many of the row's tasks are not
    distinguishable from a constant answer) and, after each task's score, its majority-class
    baseline on the row's items, flagged ``⚑`` when the score is at a constant baseline."""
    head = ["Rank", "Model", "Status", *lay.average_columns, "Tasks"]
    if show_baselines:
        head.append(AT_BASELINE)
    about = ["Type", "Size (B)", "Base model", "Shots", "Source"]
    tasks = []
    for spec in lay.tasks:
        tasks.append(spec.display)
        if show_ci:
            tasks.append(ci_column(spec))
        if show_baselines:
            tasks.append(baseline_column(spec))
    return head + about + tasks


# --- charts -------------------------------------------------------------------------------------


def category_chart_data(board: pd.DataFrame, lay: Layout, top: int = 15) -> pd.DataFrame:
    """Category averages of the ``top`` best rows, long format for small multiples:
    ``model, category, value, average, status`` (``model`` labels are unique), best row first."""
    cols = [category_column(c) for c in lay.categories]
    best = rank(board).head(top)
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


def category_chart_spec(categories: Sequence[str], models: Sequence[str]) -> dict:
    """Vega-Lite small multiples: one bar chart per category, models in the given order."""
    return {
        "facet": {
            "column": {"field": "category", "type": "nominal", "title": None,
                       "sort": list(categories), "header": {"labelFontSize": 13}},
        },
        "spec": {
            "width": 210,
            "height": {"step": 21},
            "mark": {"type": "bar", "cornerRadiusEnd": 2},
            "encoding": {
                "y": {"field": "model", "type": "nominal", "title": None,
                      "sort": list(models), "axis": {"labelLimit": 240, "labelOverlap": False}},
                "x": {"field": "value", "type": "quantitative", "title": "average (%)",
                      "scale": {"domain": [0, 100]}},
                "color": STATUS_COLOR,
                "tooltip": [{"field": "model"}, {"field": "category"},
                            {"field": "value", "title": "average (%)", "format": ".1f"}],
            },
        },
    }  # fmt: skip


def _labels(board: pd.DataFrame) -> pd.Index:
    """Unique display labels: the model name, with the status when names repeat."""
    names = board["model_name"].astype(str)
    tagged = names + " (" + board["status_key"].astype(str) + ")"
    dup = names.duplicated(keep=False)
    labels = names.where(~dup, tagged)
    dup2 = labels.duplicated(keep=False)
    labels = labels.where(~dup2, labels + " #" + board.index.astype(str))
    return pd.Index(labels, name="model")


def scatter_data(board: pd.DataFrame) -> pd.DataFrame:
    """Rows with a known size and an average: ``model, size_b, average, status``."""
    ok = board["Size (B)"].notna() & board["Average"].notna()
    part = board[ok]
    return pd.DataFrame(
        {
            "model": part["model_name"].to_numpy(),
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


def _shots_of_reference(shots, fine_tuned) -> str:
    if fine_tuned is True:
        return "fine-tuned"
    if shots is None or (isinstance(shots, float) and math.isnan(shots)):
        return UNKNOWN
    return str(int(shots))


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
        "at_baseline": pd.Series(flags, dtype=object).to_numpy() if flags is not None else None,
    }


def frames_from_loader(
    submissions: pd.DataFrame, scores: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rows`` and ``scores`` (see the module docstring) from the shared loader's tables
    (:func:`leaderboard.loader.load_tables`: ``submissions`` and tidy ``scores``).

    Only primary metrics of registry columns count; per-subset breakdowns (``is_detail``) are
    not columns. Values and intervals become percent.
    """
    primary = scores[scores["primary"].astype(bool) & ~scores["is_detail"].astype(bool)]
    out_scores = pd.DataFrame(
        {
            "row_id": primary["submission_id"].astype(str),
            "column": primary["column"].astype(str),
            "score": 100 * pd.to_numeric(primary["value"], errors="coerce"),
            "ci_low": 100 * pd.to_numeric(primary["ci_low"], errors="coerce"),
            "ci_high": 100 * pd.to_numeric(primary["ci_high"], errors="coerce"),
            "n_items": pd.to_numeric(primary["n_items"], errors="coerce"),
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
            "model_type": UNKNOWN,
            "n_parameters": np.nan,
            "base_model": "",
            "precision": "",
            "shots": [
                _shots_of_reference(s, f)
                for s, f in zip(ref["shots"], ref["fine_tuned_per_task"], strict=True)
            ],
            "date": "",
            "source": ref["source"].astype(str),
            "setup": ref["setup"].astype(str),
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


def _kv(pairs: Sequence[tuple[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"field": [k for k, _ in pairs], "value": ["" if v is None else str(v) for _, v in pairs]}
    )


def reproduce_command(sub) -> str:
    """Shell commands that rerun a submission's tasks (every value shell-quoted)."""
    try:
        args = json.loads(sub.run.model_args) if sub.run.model_args else {}
    except ValueError:
        args = {}
    if not isinstance(args, dict):
        args = {}
    hidden = ("pretrained", "revision", "peft", "trust_remote_code")
    args = {k: v for k, v in args.items() if k not in hidden}
    remote_code = bool(getattr(sub.model, "trust_remote_code", False))
    pretrained = sub.model.base_model if sub.model.adapter else sub.model.id
    parts = [f"pretrained={pretrained}", f"revision={sub.model.revision}"]
    if sub.model.adapter:
        parts.append(f"peft={sub.model.adapter.id}")
    parts += [f"{k}={v}" for k, v in sorted(args.items())]
    if remote_code:  # only when the submitter declared it, and never without saying so
        parts.append("trust_remote_code=True")
    spec_names = {t.name for t in registry.TASKS}
    leaves = [t.task for t in sub.tasks if not t.is_detail and t.task in spec_names]
    shots = sorted({t.n_shot for t in sub.tasks})
    eval_cmd = [
        "biobench", "eval", "--model", "hf", "--model_args", ",".join(parts),
        "--tasks", ",".join(leaves), "--output_path", "runs/reproduce",
    ]  # fmt: skip
    if shots and shots != [0]:
        eval_cmd += ["--num_fewshot", str(shots[-1])]
    submit_cmd = [
        "biobench", "submit", "runs/reproduce", "--model-id", sub.model.id,
        "--revision", sub.model.revision, "--precision", str(sub.model.precision),
        "--license", sub.model.license, "--model-type", str(sub.model.model_type),
        "--store", "submissions-reproduced",
    ]  # fmt: skip
    if remote_code:
        submit_cmd.append("--declare-remote-code")
    lines = [" ".join(shlex.quote(p) for p in cmd) for cmd in (eval_cmd, submit_cmd)]
    if remote_code:
        lines.insert(
            0,
            "# this model runs code from its repository when it loads (trust_remote_code=True, "
            "declared by the submitter): review that code before running these commands",
        )
    return "\n".join(lines)


BASELINE_TABLE_COLUMNS = [
    "column", "task", "metric", "score", "majority", "majority answer", "first option",
    "random", "top answer", "top share", "tested against", "test", "p", "at baseline", "note",
]  # fmt: skip


def _pct(x: float | None) -> float:
    return float("nan") if x is None else 100 * x


def model_baselines(sub) -> pd.DataFrame:
    """Per task of a submission: its score, the majority-class, first-option and uniform-random
    baselines on the same items (percent), the run's most frequent answer and its share, the
    paired test against always giving that answer, and the at-baseline flag (``"⚑ yes"``)."""
    display = {t.name: t.display for t in registry.TASKS}
    rows = []
    for t in sub.tasks:
        b = t.baselines
        flag = ""
        if b is not None and b.at_baseline is not None:
            flag = f"{FLAG} yes" if b.at_baseline else "no"
            if not b.at_baseline and b.tested_score is not None and t.score < b.tested_score:
                flag = "no (below the constant)"
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
                "top answer": (b.top_answer or ("(free text)" if not b.applicable else ""))
                if b
                else "",
                "top share": _pct(b.top_share) if b else float("nan"),
                "tested against": (b.tested_answer or "") if b else "",
                "test": (b.test or "") if b else "",
                "p": b.p_value if b and b.p_value is not None else float("nan"),
                "at baseline": flag,
                "note": b.note if b else "no baselines stored (biobench baselines adds them)",
            }
        )
    return pd.DataFrame(rows, columns=BASELINE_TABLE_COLUMNS)


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
            ("model args", run.model_args),
            ("dtype", run.model_dtype),
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
    tasks = pd.DataFrame(
        {
            "column": [display.get(t.column, t.column) for t in sub.tasks],
            "task": [t.task for t in sub.tasks],
            "breakdown": [t.is_detail for t in sub.tasks],
            "version": [t.version for t in sub.tasks],
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
                ("shots", _shots_of_reference(first["shots"], fine_tuned)),
                ("fine-tuned per task", fine_tuned),
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


def display_name(column: str) -> str:
    for spec in registry.TASKS:
        if spec.name == column:
            return spec.display
    for group in registry.GROUPS:
        if group.name == column:
            return f"{group.display} (group)"
    return column


def comparison_frames(comparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tests, scores) tables of a :class:`~leaderboard.schemas.Comparison`, in percent points.

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
            "A − B": [100 * t.diff for t in ordered],
            "constant baseline": [_baseline_mark(t) for t in ordered],
            "CI low": [100 * t.ci_low for t in ordered],
            "CI high": [100 * t.ci_high for t in ordered],
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

METRIC_LABEL = {
    "acc": "accuracy (highest log-likelihood option)",
    "exact_match": "exact match of the extracted answer",
    "rougeL": "ROUGE-L F-measure (Porter stemming)",
    "f1": "micro F1 from summed tp / fp / fn",
}


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
                "metric": METRIC_LABEL.get(spec.metric, spec.metric),
                "result key": spec.result_key,
                "higher is better": spec.higher_is_better,
                "version": versions.get(spec.name, ""),
                "what it measures": measures,
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
