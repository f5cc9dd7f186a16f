"""Model page: submission metadata, environment, task versions and data hashes, per-task metrics
with CIs, declared training data and contamination notes (or a reported row's source)."""

from pathlib import Path

import streamlit as st

from leaderboard import loader, standings, views
from leaderboard.screens import shared


def scores_first(frame, first: list[str]) -> list[str]:
    """Column order: ``first``, then the frame's other columns (a narrow window shows the
    scores without scrolling sideways)."""
    return [*first, *(c for c in frame.columns if c not in first)]


root, stamp = shared.current()
tables = shared.load_tables(root, stamp)
shared.show_problems(tables.problems)

ids = list(tables.rows.index)
wanted = st.query_params.get("id")
row_id = st.selectbox(
    "Model",
    ids,
    index=ids.index(wanted) if wanted in ids else None,
    format_func=lambda i: shared.row_label(tables.rows, i),
    placeholder="Choose a model",
    key="model_pick",
)
if wanted and wanted not in ids:
    st.warning(f"No leaderboard row {views.escape_markdown(wanted)} in this store.")
if row_id is None:
    st.info("Pick a model above, or follow a link in the leaderboard's Model column.")
    st.stop()
if row_id != wanted:
    st.query_params["id"] = row_id

if views.is_reported(row_id):
    page = views.reference_page(tables.reported, row_id)
    st.header(views.escape_markdown(page.title))
    st.caption(
        ":material/description: Reported row: numbers published elsewhere, under the setup they state."
    )
    st.subheader("Scores as published")
    st.dataframe(
        page.scores,
        height=shared.fit_height(len(page.scores)),
        hide_index=True,
        placeholder="–",
        width="stretch",
        column_config={"value (%)": st.column_config.NumberColumn(format="%.2f")},
    )
    st.subheader("Source")
    st.dataframe(page.source, hide_index=True, placeholder="–", width="stretch",
                 height=shared.fit_height(len(page.source)))  # fmt: skip
    st.stop()

try:
    sub = shared.load_submission(root, row_id, stamp)
except (OSError, ValueError, KeyError) as exc:
    st.warning(
        f"Cannot read submission {views.escape_markdown(row_id)}: "
        f"{views.escape_markdown(shared.first_line(exc))}"
    )
    st.stop()
page = views.model_page(sub)
st.html(views.title_html(page.title))  # breaks after "org/" in a narrow window, not mid-word
st.caption(
    ":material/verified: Reproduced with this suite: every score recomputed from per-item records."
)
lay = views.layout()
ranking = shared.load_ranking(root, stamp, str(views.Variant.LOGLIK))
st.markdown(
    f":material/leaderboard: {views.escape_markdown(standings.summary(ranking, row_id, lay))}"
)
if row_id in tables.rows.index and not (tables.scores["row_id"] == row_id).any():
    st.warning(
        "Every task of this run ran under an older version of its task than the suite's: its "
        "scores are not on the board (see the task versions below).",
        icon=":material/history:",
    )
links = views.model_links(sub)
st.markdown(
    " · ".join(f"{label}: [{views.escape_markdown(text)}]({url})" for label, text, url in links)
)


st.subheader("Per-task results")
st.dataframe(
    page.tasks,
    height=shared.fit_height(len(page.tasks)),
    hide_index=True,
    placeholder="–",
    width="stretch",
    column_order=scores_first(page.tasks, ["column", "score", "ci_low", "ci_high"]),
    column_config={
        "column": st.column_config.TextColumn("column", pinned=True),
        "score": st.column_config.NumberColumn("score (%)", format="%.1f"),
        "ci_low": st.column_config.NumberColumn("95% CI low", format="%.1f"),
        "ci_high": st.column_config.NumberColumn("95% CI high", format="%.1f"),
        "stderr": st.column_config.NumberColumn("s.e.", format="%.2f"),
    },
)
st.subheader("Answers item by item")
st.caption(
    "What this run answered on each item of a task and how it scored (the stored per-item "
    "records; the item texts and gold answers stay in the datasets)."
)
tasks_here = [t for t in views.registry.TASKS if (tables.scores["row_id"] == row_id).any()
              and t.name in set(tables.scores.loc[tables.scores["row_id"] == row_id, "column"])]  # fmt: skip
if tasks_here:
    pick = st.selectbox("Task", tasks_here, format_func=lambda t: t.display, key="answers_task")
    found = standings.answers(loader.load_items([row_id], Path(root)), pick)
    st.dataframe(found, hide_index=True, width="stretch", key="answers",
                 height=shared.fit_height(len(found), 420))  # fmt: skip
st.subheader("Constant-answer baselines")
st.caption(
    "On the items this run evaluated: majority class (best constant answer), always the first "
    "option, and a uniform random answer, scored by the suite's own task code; the run's most "
    f"frequent answer and its share; {views.FLAG} yes: the run cannot be told apart from giving "
    "that answer on every item (paired test, p ≥ 0.05). Free-text tasks have no such baseline."
)
st.dataframe(
    page.baselines,
    height=shared.fit_height(len(page.baselines)),
    hide_index=True,
    placeholder="–",
    width="stretch",
    column_order=scores_first(page.baselines, ["column", "score", "majority", "at baseline"]),
    column_config={
        "column": st.column_config.TextColumn("column", pinned=True),
        **{
            name: st.column_config.NumberColumn(f"{name} (%)", format="%.1f")
            for name in ("score", "majority", "first option", "random", "top share")
        },
        "p": st.column_config.NumberColumn("p", format="%.3g"),
    },
)
if not page.groups.empty:
    st.subheader("Group aggregates (as lm-eval reports them)")
    st.dataframe(page.groups, hide_index=True, placeholder="–",
                 height=shared.fit_height(len(page.groups)), column_config={
        "value": st.column_config.NumberColumn("value (%)", format="%.1f")})  # fmt: skip

# Static tables wrap long values (ids, hashes, model arguments, file names) over lines; their
# cells render Markdown, so every value is escaped (submission text stays text).
left, right = st.columns(2)
for column, title, frame in ((left, "Submission", page.metadata),
                             (right, "Environment", page.environment)):  # fmt: skip
    with column:
        st.subheader(title)
        st.table(frame.assign(value=frame["value"].map(views.escape_markdown)), hide_index=True)

st.subheader("Declared training data")
if page.training_data:
    st.dataframe({"training data": page.training_data}, hide_index=True)
else:
    st.text("none declared")
st.subheader("Contamination notes")
st.text(page.contamination_notes or "none declared")
if page.notes:
    st.subheader("Submitter notes")
    st.text(page.notes)
st.subheader("Reproduce this row")
st.code(page.reproduce, language="bash")

st.subheader("Submission files")
folder = shared.relative_store_path(root, row_id)
st.caption(f"In the store folder {views.escape_markdown(folder)}/")
files = views.submission_files(sub)
st.dataframe(
    files, hide_index=True, width="stretch", placeholder="–", height=shared.fit_height(len(files))
)
sub_path = shared.submission_path(root, row_id)
st.download_button(
    "Download submission.json",
    sub_path.read_bytes(),
    file_name="submission.json",
    mime="application/json",
    on_click="ignore",
    icon=":material/download:",
    key="download_submission",
)
