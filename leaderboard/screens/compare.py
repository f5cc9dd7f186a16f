"""Compare view: pick two or more reproduced submissions -> the statistics of ``biobench compare``
(paired differences with CIs, McNemar / permutation p, Holm and BH, significance marks), the
forest plot, and the HTML report to download."""

from pathlib import Path

import streamlit as st

from leaderboard import compare, loader, report, verdict, views
from leaderboard.schemas import N_RESAMPLES, StatsSettings
from leaderboard.screens import shared
from leaderboard.store import Store
from tasks import registry

root, stamp = shared.current()
tables = shared.load_tables(root, stamp)
shared.show_problems(tables.problems)

st.title(":material/balance: Compare models")
st.caption(
    "Paired on the items both submissions evaluated (same doc and prompt hashes), exactly as "
    "`biobench compare`. Reported rows have no per-item records and cannot be tested."
)


@st.cache_data(show_spinner="Computing paired statistics…", max_entries=16)
def run_compare(root: str, stamp: tuple, ids: tuple, tasks: tuple, match: str, resamples: int,
                seed: int):  # fmt: skip
    settings = StatsSettings(n_resamples=resamples, n_permutations=resamples, seed=seed)
    return compare.compare(
        list(ids),
        store=Store(Path(root)),
        tasks=list(tasks) or None,
        match=match,
        settings=settings,
    )


@st.cache_data(show_spinner="Writing the report…", max_entries=16)
def html_report(comparison) -> str:
    return report.render_html(comparison)


@st.cache_data(show_spinner="Drawing the forest plot…", max_entries=16)
def forest_png(comparison, dark: bool) -> bytes:
    return report.forest_png(comparison, percent=True, dark=dark)


@st.cache_data(show_spinner="Reading the items of both runs…", max_entries=8)
def load_pair_items(root: str, stamp: tuple, ids: tuple):
    return loader.load_items(list(ids), Path(root))


choices = views.compare_choices(tables.rows)
task_names = [g.name for g in registry.GROUPS] + [t.name for t in registry.TASKS]
RESAMPLES = sorted({1_000, 2_000, 5_000, N_RESAMPLES})
MAX_RUNS = 5  # 10 pairs: at 11 runs (55 pairs, 448 tests) a compare took 55 s
first_visit = "compare_pick" not in st.session_state
from_url = [i for i in st.query_params.get_all("id") if i in choices]
shared.seed_from_url("compare_pick", "list", [], choices)
if from_url and not st.session_state["compare_pick"]:
    st.session_state["compare_pick"] = from_url
shared.seed_from_url("compare_tasks", "list", [], task_names)
shared.seed_from_url("compare_match", "str", "task", ["task", "dataset"])
shared.seed_from_url("compare_resamples", "int", N_RESAMPLES, RESAMPLES)
picked = st.multiselect(
    "Submissions (two or more)",
    choices,
    format_func=lambda i: shared.row_label(tables.rows, i),
    key="compare_pick",
)
left, mid, right = st.columns([3, 1, 1])
with left:
    tasks = st.multiselect(
        "Tasks or groups (empty: all shared)",
        task_names,
        format_func=views.display_name,
        key="compare_tasks",
    )
with mid:
    match = st.radio("Match tasks by", ["task", "dataset"], horizontal=True, key="compare_match",
                     help="dataset: compare e.g. the log-likelihood and generative variants")  # fmt: skip
with right:
    resamples = st.select_slider("Resamples", RESAMPLES, key="compare_resamples")

shared.sync_url(
    {"compare_pick": picked, "compare_tasks": tasks, "compare_match": match,
     "compare_resamples": int(resamples)},
    {"compare_pick": [], "compare_tasks": [], "compare_match": "task",
     "compare_resamples": N_RESAMPLES, "id": None},
)  # fmt: skip

request = (tuple(picked), tuple(tasks), match, int(resamples))
clicked = st.button("Compare", type="primary", disabled=len(picked) < 2, key="compare_go")
if clicked or (first_visit and len(picked) >= 2):
    st.session_state["compare_request"] = request  # a shared link computes at once
if len(picked) < 2:
    st.info("Pick at least two reproduced submissions.")
    st.stop()
if len(picked) > MAX_RUNS:
    st.warning(
        f"{len(picked)} runs picked: that is {len(picked) * (len(picked) - 1) // 2} pairs of "
        f"paired tests. Compare up to {MAX_RUNS} runs at a time here (`biobench compare` takes "
        "any number); the main ranking on the Leaderboard page already orders every run.",
        icon=":material/warning:",
    )
    st.stop()
if st.session_state.get("compare_request") != request:
    st.caption("Press Compare to compute (results are kept for each selection).")
    st.stop()

used = match
with st.spinner(
    f"Paired tests on {len(tasks) or 'all shared'} task(s), {int(resamples):,} resamples…",
    show_time=True,
):
    try:
        try:
            result = run_compare(root, stamp, request[0], request[1], match, int(resamples), 0)
        except compare.CompareError as exc:
            if match != "task" or "share no task" not in str(exc):
                raise
            used = "dataset"
            result = run_compare(root, stamp, request[0], request[1], used, int(resamples), 0)
    except (compare.CompareError, ValueError, OSError, KeyError) as exc:
        st.error(
            f"Cannot compare: {views.escape_markdown(shared.first_line(exc))}. "
            "Try the other setting of 'Match tasks by' above, or other tasks."
        )
        st.stop()
if used != match:
    st.info(
        "These submissions share no task, so they are matched by **dataset** (the "
        "log-likelihood and generative variants of a dataset, on the items both evaluated). "
        "Set 'Match tasks by' above to choose.",
        icon=":material/info:",
    )

tests, scores = views.comparison_frames(result)
n_sig = int((tests["sig."] != "").sum())
st.subheader("Verdict")
for line in verdict.sentences(result):
    st.markdown(views.escape_markdown(line))
st.subheader("Paired differences")
st.caption(
    f"{len(tests)} tests · {n_sig} significant after Holm (α = {result.settings.alpha}) · "
    "sig.: * p_Holm < α, ** < α/5, *** < α/50 · **B − A**: the gain of B over A (positive: B "
    "better) · scores and differences in percentage points, here and in the report"
)
pct = st.column_config.NumberColumn(format="%.1f")
pval = st.column_config.NumberColumn(format="%.4f")
st.dataframe(
    tests,
    hide_index=True,
    placeholder="–",
    width="stretch",
    height=shared.fit_height(len(tests), 720),
    column_config={
        **{c: pct for c in ("score A", "score B", views.GAIN, "CI low", "CI high", "MDE (80%)")},
        **{c: pval for c in ("p", "p Holm", "p BH", "p bootstrap")},
        "task / group": st.column_config.TextColumn("task / group", pinned=True),
    },
    key="compare_tests",
)
st.image(
    forest_png(result, shared.dark_theme()),
    caption="Forest plot: B − A (gain of B over A) in percentage points with 95% CI (filled: "
    "significant)",
)
st.download_button(
    "Download the HTML report",
    html_report(result),
    file_name="biobench-comparison.html",
    mime="text/html",
    on_click="ignore",
    key="compare_download",
)
st.subheader("Scores")
st.caption(
    "Constant-answer baselines on each run's own items: majority class, first option, uniform "
    f"random, the run's most frequent answer and its share; {views.FLAG} yes: not "
    "distinguishable from giving that answer throughout (p ≥ 0.05). A task difference between "
    "two runs that are both at baseline is marked 'both at baseline' above."
)
st.dataframe(scores, hide_index=True, placeholder="–", width="stretch",
             height=shared.fit_height(len(scores), 720),
             column_config={c: pct for c in ("score", "CI low", "CI high", "majority",
                                             "first option", "random", "top share")})  # fmt: skip
if result.notes:
    st.subheader("Notes")
    st.text("\n".join(result.notes))

binary = sorted(  # the task with the most disagreements first
    (t for t in result.tests if t.kind == "task" and t.discordant is not None),
    key=lambda t: -sum(t.discordant),
)
if binary:
    st.subheader("Items where the two runs disagree")
    st.caption(
        "The items behind McNemar's test of an accuracy task: one run right, the other wrong "
        "(b: A right, B wrong; c: the reverse). Answers as stored (an option's number for a "
        "multiple-choice task); the item texts stay in the datasets."
    )
    options = {f"{views.display_name(t.column)} · {result.labels[t.b]} vs {result.labels[t.a]}": t
               for t in binary}  # fmt: skip
    label = st.selectbox("Task and pair", list(options), key="compare_discordant")
    t = options[label]
    spec = registry.spec_of_leaf(t.column)
    found = verdict.discordant_items(
        load_pair_items(root, stamp, (t.a, t.b)), t.a, t.b, spec.name, spec.metric, spec.filter
    )
    a_label, b_label = result.labels[t.a], result.labels[t.b]
    st.markdown(
        f"**{int((found['right'] == 'A').sum())}** items only A "
        f"({views.escape_markdown(a_label)}) got right, **{int((found['right'] == 'B').sum())}** "
        f"only B ({views.escape_markdown(b_label)}); McNemar exact p {t.p_value:.4f}."
    )
    if found.empty:
        st.info("The two runs are right and wrong on the same items of this task.")
    else:
        st.dataframe(found, hide_index=True, width="stretch", key="compare_discordant_items",
                     height=shared.fit_height(len(found), 420))  # fmt: skip
