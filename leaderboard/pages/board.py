"""Main leaderboard page: filters in the sidebar, the ranked table, category and size charts."""

import streamlit as st

from leaderboard import views
from leaderboard.pages import shared

root, stamp = shared.current()
tables = shared.load_tables(root, stamp)

st.title(":material/genetics: BioInstruct Bench leaderboard")
st.caption(
    "Biomedical QA, information extraction and generation tasks run with lm-eval. "
    "**Reproduced** rows were evaluated with this suite (scores with 95% bootstrap CIs); "
    "**reported** rows are numbers published in papers or model cards, under their own setups, "
    "shown for reference, unranked, and never used in significance tests. Click a column header "
    "to sort, a model to open its page."
)
shared.show_problems(tables.problems)

with st.sidebar:
    st.header("Filters")
    choices = views.variants_with_choice()
    variant = views.Variant.LOGLIK
    if len(choices) > 1:
        variant = st.radio(
            "Multiple-choice scoring",
            choices,
            format_func=lambda v: views.VARIANT_LABEL[v],
            key="variant",
            help="Datasets with both forms: log-likelihood of the options, or the answer "
            "extracted from free generation.",
        )

    complete_only = st.checkbox(
        "Averages only over complete categories",
        key="complete_only",
        help="Off: a category average is over the tasks a row has (see the Tasks column). "
        "On: only rows with every task of a category get that category's average, and only "
        "rows with every task get an overall Average and a rank.",
    )

board = shared.load_board(root, stamp, str(variant), complete_only)
lay = views.layout(variant)
options = views.filter_options(board)

with st.sidebar:
    search = st.text_input("Search model", key="search", placeholder="name or base model")
    statuses = st.multiselect(
        "Reproduced / reported",
        options.statuses,
        format_func=lambda s: views.STATUS_LABEL[s],
        key="status",
    )
    types = st.multiselect("Model type", options.model_types, key="types")
    families = st.multiselect("Base family", options.families, key="families")
    shots = st.multiselect("Shots", options.shots, key="shots")
    size_range = None
    unknown_size = True
    if options.size_max > options.size_min:
        size_range = st.slider(
            "Size (billions of parameters)",
            min_value=0.0,
            max_value=float(round(options.size_max + 0.05, 1)),
            value=(0.0, float(round(options.size_max + 0.05, 1))),
            step=0.1,
            key="size",
        )
        unknown_size = st.checkbox("Include rows of unknown size", value=True, key="unknown_size")
    show_ci = st.checkbox("Show 95% CIs", value=True, key="show_ci")
    show_baselines = st.checkbox(
        "Show constant-answer baselines",
        value=True,
        key="show_baselines",
        help=f"Per task the majority-class score on the row's own items; {views.FLAG}: the "
        "score cannot be told apart from answering the run's most frequent option on every item "
        "(paired test, p ≥ 0.05). Free-text tasks (NER, HoC, generation) have none.",
    )

filters = views.Filters(
    search=search,
    model_types=tuple(types),
    families=tuple(families),
    statuses=tuple(statuses),
    shots=tuple(shots),
    size_range=tuple(size_range) if size_range else None,
    unknown_size=unknown_size,
)
view = views.filter_board(board, filters)

n_rep = int((view["status_key"] == views.REPRODUCED).sum())
unscored = int((board["n_scored"] == 0).sum())
hidden_note = ""
if unscored:
    other = next(v for k, v in views.VARIANT_LABEL.items() if k != variant)
    hidden_note = (
        f" · {unscored} without {views.VARIANT_LABEL[variant]} scores not shown "
        f"(try {other} scoring)"
    )
st.markdown(
    f"**{len(view)}** of {len(board)} rows · {n_rep} reproduced · {len(view) - n_rep} reported · "
    f"suite {views.registry.SUITE_VERSION}{hidden_note}"
)

columns = views.display_columns(lay, show_ci=show_ci, show_baselines=show_baselines)
config = {
    "Rank": st.column_config.NumberColumn("Rank", format="%d", width="small", pinned=True),
    "Model": st.column_config.LinkColumn(
        "Model",
        display_text=views.LINK_DISPLAY,
        help="Opens the model's page",
        width="medium",
        pinned=True,
    ),
    "Status": st.column_config.TextColumn(
        "Status", help="reproduced: evaluated with this suite; reported: a published number"
    ),
    "Size (B)": st.column_config.NumberColumn("Size (B)", format="%.3g"),
    "Tasks": st.column_config.NumberColumn(
        "Tasks",
        help=f"Tasks with a score, of the {len(lay.tasks)} columns: averages are over these, "
        "so compare averages of rows with equal coverage",
    ),
    "Source": st.column_config.TextColumn(
        "Source", help="Run id of a reproduced row; paper or model card of a reported one"
    ),
}
for name in (*lay.average_columns, *lay.score_columns):
    config[name] = st.column_config.NumberColumn(name, format="%.1f")
config[views.AT_BASELINE] = st.column_config.NumberColumn(
    views.AT_BASELINE,
    format="%d",
    help=f"Tasks of this row ({views.FLAG} in their majority column) whose score cannot be told "
    "apart from answering one option throughout: paired test against the run's most frequent "
    "answer, p ≥ 0.05. Empty: no baselines stored.",
)
for spec in lay.tasks:
    config[views.baseline_column(spec)] = st.column_config.TextColumn(
        views.baseline_column(spec),
        help="Majority-class (best constant answer) score on this row's items, in %; "
        f"{views.FLAG}: the score is at a constant-answer baseline",
    )
st.dataframe(
    view[columns],
    column_config=config,
    hide_index=True,
    width="stretch",
    height=min(38 + 35 * len(view), 640),
    placeholder="–",
    key="board",
)

chart_tab, scatter_tab = st.tabs(["Category averages", "Size vs score"])
with chart_tab:
    bars = views.category_chart_data(view, lay)
    if bars.empty:
        st.info("No rows with scores to chart.")
    else:
        shown = bars["model"].nunique()
        st.caption(f"Category averages of the top {shown} rows of the current view.")
        labels = [views.CATEGORY_LABEL[c] for c in lay.categories]
        order = list(dict.fromkeys(bars["model"]))  # best first, as ranked
        st.vega_lite_chart(bars, views.category_chart_spec(labels, order), width="content")
with scatter_tab:
    points = views.scatter_data(view)
    if points.empty:
        st.info("No rows with both a known size and an average.")
    else:
        st.vega_lite_chart(
            points,
            {
                "mark": {"type": "point", "filled": True, "size": 70},
                "encoding": {
                    "x": {"field": "size_b", "type": "quantitative", "title": "parameters (B)",
                          "scale": {"type": "log"}},
                    "y": {"field": "average", "type": "quantitative", "title": "average (%)"},
                    "color": views.STATUS_COLOR,
                    "tooltip": [{"field": "model"}, {"field": "size_b", "title": "B"},
                                {"field": "average", "format": ".1f"}],
                },
            },
            width="stretch",
        )  # fmt: skip
