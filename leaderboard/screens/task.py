"""Per-task board: pick a task, see every reproduced run that has it, ranked by its win rate on
that task (each pair scored on the items both ran), with its score and 95% CI, its items, its
majority-class baseline and the ⚑ flag of a score at a constant-answer baseline. The ranks come
from the ranking of the whole store (:mod:`leaderboard.ranking`); nothing here recomputes."""

import streamlit as st

from leaderboard import standings, views
from leaderboard.screens import shared

root, stamp = shared.current()
tables = shared.load_tables(root, stamp)
shared.show_problems(tables.problems)

st.title(":material/table_rows: Per-task boards")
variant = views.Variant.LOGLIK
shared.seed_from_url("task_variant", "str", str(variant), [str(v) for v in views.Variant])
variant = views.Variant(st.session_state["task_variant"])
lay = views.layout(variant)
board = shared.load_board(root, stamp, str(variant), False)
ranking = shared.load_ranking(root, stamp, str(variant))
specs = standings.task_choices(ranking, lay)
if not specs:
    st.info(
        "No task has two reproduced runs on shared items yet: a per-task board needs at least "
        "two runs of a task to rank.",
        icon=":material/info:",
    )
    st.stop()
names = [s.name for s in specs]
shared.seed_from_url("task", "str", names[0], names)
if st.session_state.get("task") not in names:
    st.session_state["task"] = names[0]
picked = st.selectbox(
    "Task", names, key="task", format_func=lambda n: next(s.display for s in specs if s.name == n)
)
shared.sync_url({"task": picked}, {"task": names[0]})
spec = next(s for s in specs if s.name == picked)
table = standings.task_table(board, tables.scores, ranking, spec)

st.caption(
    f"**{spec.display}** ({views.CATEGORY_LABEL[spec.category]}, metric {spec.metric}, "
    f"{'higher' if spec.higher_is_better else 'lower'} is better). Ranked by **win rate**: the "
    "share of the other runs of this task it beats on the items both ran (ties count half); "
    f"**Rank range**: 95% interval over {ranking.n_resamples:,} bootstrap resamples of the items, "
    "a run whose range overlaps that of the first run of a band shares its **Rank**. "
    "**Score** and its **95% CI** are on the "
    "run's own items (see **Items**, **Subset**)."
)
note = standings.flag_note(table)
if note:
    st.warning(note, icon=":material/flag:")
if spec.caveat:
    st.caption(views.escape_markdown(spec.caveat))
st.dataframe(
    table[standings.TASK_HEAD],
    column_config={
        "Rank": st.column_config.NumberColumn("Rank", format="%d", width="small", pinned=True),
        "Model": st.column_config.LinkColumn("Model", display_text=views.LINK_DISPLAY, pinned=True),
        "Score": st.column_config.NumberColumn("Score", format="%.1f", help="In %"),
        "Majority": st.column_config.NumberColumn(
            "Majority", format="%.1f", help="Best constant answer's score on the run's items, %"
        ),
        views.FLAG: st.column_config.TextColumn(
            views.FLAG, help="At a constant-answer baseline (paired test, p ≥ 0.05)"
        ),
        standings.WIN: st.column_config.NumberColumn(standings.WIN, format="%.1f"),
    },
    hide_index=True,
    width="stretch",
    height=shared.fit_height(len(table), 640),
    key="task-board",
)
