"""Main leaderboard page: a search box above the tables and filters in the sidebar (all kept in
the URL), the ranked tables (one per comparable pool of reproduced rows), published numbers in
their own section, downloads of the current view, and the category and size charts of one
pool."""

import pandas as pd
import streamlit as st

from leaderboard import collapse, standings, views
from leaderboard.screens import shared

root, stamp = shared.current()
tables = shared.load_tables(root, stamp)

st.title(":material/genetics: BioInstruct Bench leaderboard")
st.caption(
    "Biomedical QA, information extraction and generation tasks run with lm-eval. Ranked rows "
    "were **reproduced** with this suite and are compared only on the items two runs share; "
    "the **Tasks** page ranks the runs of one task. **Published** numbers from papers and "
    "model cards are listed apart, unranked. Click a model to open its page, a header to sort."
)
shared.show_problems(tables.problems)

DEFAULTS = {
    "variant": str(views.Variant.LOGLIK),
    "complete_only": False,
    "search": "",
    "types": [],
    "families": [],
    "precisions": [],
    "licenses": [],
    "shots": [],
    "pools": [],
    "size": None,
    "unknown_size": True,
    "per_task": False,
    "show_ci": True,
    "show_baselines": True,
    "details": False,
    "rows": views.ROWS_DEFAULT,
}

with st.sidebar:
    st.header("Filters")
    choices = [str(v) for v in views.variants_with_choice()]
    variant = views.Variant.LOGLIK
    if len(choices) > 1:
        shared.seed_from_url("variant", "str", DEFAULTS["variant"], choices)
        variant = views.Variant(
            st.radio(
                "Multiple-choice scoring",
                choices,
                format_func=lambda v: views.VARIANT_LABEL[views.Variant(v)],
                key="variant",
                help="Datasets with both forms: log-likelihood of the options, or the answer "
                "extracted from free generation.",
            )
        )
    shared.seed_from_url("complete_only", "bool", False)
    complete_only = st.checkbox(
        "Averages only over complete categories",
        key="complete_only",
        help="Off: a category average is over the tasks a row has (see Coverage). On: only "
        "rows with every task of a category get that category's average, and only rows with "
        "every task get an overall Average and a rank.",
    )

board = shared.load_board(root, stamp, str(variant), complete_only)
ranking = shared.load_ranking(root, stamp, str(variant))
lay = views.layout(variant)
options = views.filter_options(board)

with st.sidebar:
    picks = {}
    for key, label, values in (
        ("types", "Model type", options.model_types),
        ("families", "Base family", options.families),
        ("precisions", "Precision", options.precisions),
        ("licenses", "Licence", options.licenses),
        ("shots", "Shots", options.shots),
        ("pools", "Coverage (ranked set)", options.pools),
    ):
        shared.seed_from_url(key, "list", [], values)
        picks[key] = st.multiselect(label, values, key=key)
    size_range = None
    unknown_size = True
    if options.size_max > options.size_min:
        top = float(round(options.size_max + 0.05, 1))
        shared.seed_from_url("size", "float_range", (0.0, top), (0.0, top))
        size_range = st.slider(
            "Size (billions of parameters)", min_value=0.0, max_value=top, step=0.1, key="size"
        )
        shared.seed_from_url("unknown_size", "bool", True)
        unknown_size = st.checkbox("Include rows of unknown size", key="unknown_size")
        if tuple(size_range) == (0.0, top):
            DEFAULTS["size"] = size_range
    st.header("Columns")
    for key, default in (("per_task", False), ("show_ci", True), ("show_baselines", True),
                         ("details", False)):  # fmt: skip
        shared.seed_from_url(key, "bool", default)
    per_task = st.toggle("Per-task scores", key="per_task")
    show_ci = st.checkbox("95% CIs (± half-width)", key="show_ci", disabled=not per_task)
    show_baselines = st.checkbox(
        "Constant-answer baselines",
        key="show_baselines",
        help=f"Per task the majority-class score on the row's own items; {views.FLAG}: the "
        "score cannot be told apart from answering the run's most frequent option on every item "
        "(paired test, p ≥ 0.05). Free-text tasks (NER, HoC, generation) have none.",
    )
    details = st.toggle("Base model, shots, precision, licence, date", key="details")
    shared.seed_from_url("rows", "str", views.ROWS_DEFAULT, views.ROWS_CHOICES)
    rows_shown = st.selectbox(
        "Rows shown",
        views.ROWS_CHOICES,
        key="rows",
        help="The best rows of each ranked set; search and filters look at every row, and "
        "the downloads hold the whole view.",
    )


@st.fragment
def ranked_view() -> None:
    """The search box and everything the view decides: counts, ranked tables, published rows,
    downloads and charts. A fragment: typing a search (or picking a chart) reruns this part
    only, not the sidebar and the page around it (measured in a real browser at 1,000
    submissions: a quarter to a third off a search, benchmarks/bench_leaderboard_browser.py)."""
    shared.seed_from_url("search", "str", "")
    search = st.text_input(
        "Search model", key="search", placeholder="name or base model", icon=":material/search:"
    )
    shared.sync_url(
        {"variant": str(variant), "complete_only": complete_only, "search": search, **picks,
         "size": size_range, "unknown_size": unknown_size, "per_task": per_task, "show_ci": show_ci,
         "show_baselines": show_baselines, "details": details, "rows": rows_shown},
        DEFAULTS,
    )  # fmt: skip

    filters = views.Filters(
        search=search,
        model_types=tuple(picks["types"]),
        families=tuple(picks["families"]),
        precisions=tuple(picks["precisions"]),
        licenses=tuple(picks["licenses"]),
        shots=tuple(picks["shots"]),
        pools=tuple(picks["pools"]),
        size_range=tuple(size_range) if size_range else None,
        unknown_size=unknown_size,
    )
    view = views.filter_board(board, filters)
    ranked = view[view["status_key"] == views.REPRODUCED]
    published = views.reported_table(view, lay)

    unscored = int((board["n_scored"] == 0).sum())
    hidden_note = ""
    if unscored:
        other = next(v for k, v in views.VARIANT_LABEL.items() if k != variant)
        hidden_note = (
            f" · {unscored} without {views.VARIANT_LABEL[variant]} scores not shown "
            f"(try {other} scoring)"
        )
    pool_list = views.pools(ranked)
    st.markdown(
        f"**{len(ranked)}** reproduced rows in one ranking · {len(published)} published · "
        f"suite {views.registry.SUITE_VERSION}{hidden_note}"
    )

    if view.empty:
        what = f"'{search.strip()}'" if search.strip() else "these filters"
        st.info(f"No model matches {views.escape_markdown(what)}.", icon=":material/search_off:")

    columns = views.display_columns(
        lay, show_ci=show_ci, show_baselines=show_baselines, per_task=per_task, details=details
    )
    config = {
        "Rank": st.column_config.NumberColumn(
            "Rank",
            format="%d",
            width="small",
            help="Rank band among every reproduced run: runs that cannot be told apart share it",
            pinned=True,
        ),
        standings.WIN: st.column_config.NumberColumn(
            standings.WIN,
            format="%.1f",
            help="Mean over tasks of the share of runs beaten on "
            "shared items (ties count half), in %",
        ),
        standings.WIN_CI: st.column_config.TextColumn(
            standings.WIN_CI, help="95% bootstrap interval of the win rate, in %"
        ),
        standings.INTERVAL: st.column_config.TextColumn(
            standings.INTERVAL, help="95% bootstrap interval of the rank"
        ),
        standings.MISSING: st.column_config.TextColumn(
            standings.MISSING, help="Tasks of this view the run was not compared on"
        ),
        "Model": st.column_config.LinkColumn(
            "Model",
            display_text=views.LINK_DISPLAY,
            help="Opens the model's page (· run id where a model has several runs)",
            pinned=True,
        ),
        "Run": st.column_config.TextColumn("Run", help="Run id of the stored submission"),
        "Size (B)": st.column_config.NumberColumn("Size (B)", format="%.3g"),
        "Coverage": st.column_config.TextColumn(
            "Coverage", help=f"Tasks with a score, of the {len(lay.tasks)} averaged columns"
        ),
        "Source": st.column_config.TextColumn("Source", help="Paper or model card"),
        "Setup": st.column_config.TextColumn("Setup"),
        "Fine-tuned": st.column_config.TextColumn("Fine-tuned", help="Fine-tuned on each task"),
    }
    for name in (*lay.average_columns, *lay.score_columns):
        config[name] = st.column_config.NumberColumn(name, format="%.1f")
    for name in lay.average_columns:
        config[standings.ci_of(name)] = st.column_config.NumberColumn(
            standings.ci_of(name),
            format="%.1f",
            help=f"Half-width of the 95% CI of {name}, points (from the "
            "tasks' CIs, tasks independent)",
        )
    for spec in lay.tasks:
        config[views.ci_column(spec)] = st.column_config.TextColumn(
            f"{spec.display} ±", help="Half the width of the 95% bootstrap CI, in points"
        )
        config[views.baseline_column(spec)] = st.column_config.TextColumn(
            views.baseline_column(spec),
            help="Majority-class (best constant answer) score on this row's items, in %; "
            f"{views.FLAG}: the score is at a constant-answer baseline",
        )
    config[views.AT_BASELINE] = st.column_config.NumberColumn(
        views.AT_BASELINE,
        format="%d",
        help=f"Tasks of this row ({views.FLAG} in their majority column) whose score cannot be told "
        "apart from answering one option throughout (paired test, p ≥ 0.05). Empty: no baselines "
        "stored.",
    )
    config[views.COLLAPSED] = st.column_config.TextColumn(
        views.COLLAPSED, help=f"{views.COLLAPSE_MARK} tasks: " + collapse.legend()
    )

    for name in dict.fromkeys([*columns, *published.columns]):
        if name not in config:
            config[name] = st.column_config.Column(name)
        # a width for every column: a grid left to size its columns reads every row's text first
        config[name] = {
            **config[name],
            "width": views.column_width(name, config[name].get("label")),
        }

    main = shared.load_main(root, stamp, str(variant), complete_only, tuple(columns))
    shown_main = standings.pick(main, ranked.index)
    st.subheader("Ranking", anchor="ranking")
    st.caption(
        f"Every reproduced run, ranked once on the whole store by its **mean win rate**: per "
        "task, each pair of runs is scored on the items both ran (same documents, same prompts) "
        "and the better one wins; a run's win rate is the mean over its tasks. Win rates do not "
        "depend on metric scales (accuracy, F1, ROUGE-L) or on item subsets. **Rank range**: "
        f"95% interval of the rank over {ranking.n_resamples:,} bootstrap resamples of the "
        "items; a run whose range overlaps the range of the first run of a band shares that "
        "band's **Rank**. Searches and filters show rows with the rank they have among all runs. Category "
        f"averages are shown for reference only (they mix metrics). {views.FLAG} **At "
        "baseline**: tasks whose score cannot be told apart from a constant answer."
    )
    flagged = int(
        pd.to_numeric(shown_main[views.AT_BASELINE], errors="coerce").fillna(0).gt(0).sum()
    )
    if flagged:
        st.warning(
            f"{views.FLAG} {flagged} of the {len(shown_main)} rows shown have tasks at a "
            "constant-answer baseline (column **At baseline**; per task on the Tasks page): "
            "their scores there measure the answer distribution, not the model.",
            icon=":material/flag:",
        )
    if complete_only:
        st.caption(
            "'Averages only over complete categories' blanks the averages of rows missing a "
            "task of a category; the ranking is by win rate and does not change."
        )
    shown = views.top_rows(shown_main, rows_shown)
    if len(shown) < len(shown_main):
        st.caption(
            f"The best {len(shown)} of {len(shown_main)} rows; the search and filters reach all "
            "of them, and 'Rows shown' shows more."
        )
    if ranked.empty and not published.empty:
        st.info(
            f"No reproduced run matches; {len(published)} published row"
            f"{'s' if len(published) != 1 else ''} match — see 'Published numbers' below.",
            icon=":material/info:",
        )
    elif not shown.empty:
        st.dataframe(
            shown[standings.main_columns(lay, extra=columns)],
            column_config=config,
            hide_index=True,
            width="stretch",
            height=shared.fit_height(len(shown), 640),
            placeholder="–",
            key="board-main",
        )

    if not published.empty:
        with st.expander(
            f"Published numbers ({len(published)} rows, other setups, not ranked)",
            expanded=ranked.empty,
        ):
            st.caption(
                "Numbers read in papers, model cards and the Open Medical-LLM Leaderboard's results "
                "files, under each source's own setup (shots, fine-tuning, prompts). Fine-tuned "
                "numbers and zero-shot numbers are not comparable with each other or with the ranked "
                "rows; none of them enters a rank, an average or a test."
            )
            st.dataframe(
                published,
                column_config=config,
                hide_index=True,
                width="stretch",
                height=shared.fit_height(len(published), 640),
                placeholder="–",
                key="reported",
            )

    # the files are built when a button is clicked (on the server, from this run's view), not on
    # every rerun: a filter change does not pay for two exports nobody asked for
    exports = (
        ("CSV", views.export_csv, "text/csv"),
        ("JSON", views.export_json, "application/json"),
    )
    for column, (kind, export, mime) in zip(st.columns([1, 1, 4]), exports, strict=False):
        column.download_button(
            f"Download {kind}",
            lambda export=export: export(standings.export_frame(view, main, lay)),
            file_name=f"bioinstruct-leaderboard.{kind.lower()}",
            mime=mime,
            on_click="ignore",
            icon=":material/download:",
            key=f"download_{kind.lower()}",
        )

    if pool_list:
        chart_pool = pool_list[0][0]
        if len(pool_list) > 1:
            labels = dict(pool_list)
            chart_pool = st.selectbox(
                "Charts show the ranked set",
                list(labels),
                format_func=lambda o: labels[o],
                key="chart_pool",
            )
        # one chart drawn at a time: a hidden tab's chart would be redrawn on every filter change
        chart = st.segmented_control(
            "Chart",
            views.CHARTS,
            key="chart",
            default=views.CHARTS[0],
            label_visibility="collapsed",
        )
        if chart == views.CHARTS[0]:
            bars = views.category_chart_data(view, lay, pool=chart_pool)
            if bars.empty:
                st.info("No rows with scores to chart.")
            else:
                shown = bars["model"].nunique()
                st.caption(f"Category averages of the top {shown} rows of this ranked set.")
                cats = [views.CATEGORY_LABEL[c] for c in lay.categories]
                order = list(dict.fromkeys(bars["model"]))  # best first, as ranked
                st.vega_lite_chart(bars, views.category_chart_spec(cats, order), width="stretch")
        elif chart == views.CHARTS[1]:
            points = views.scatter_data(view, pool=chart_pool, rows=rows_shown)
            if points.empty:
                st.info("No rows of this ranked set with a known size and an average.")
            else:
                st.caption(
                    f"Size and average of the {len(points)} rows of this ranked set with a known "
                    "size, of those the table shows."
                )
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


ranked_view()
