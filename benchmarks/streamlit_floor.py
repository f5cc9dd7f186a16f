"""The least a Streamlit page can do for the leaderboard benchmark's steps: the floor that
:mod:`benchmarks.bench_leaderboard_browser` measures beside the real board, in the same run.

One search box above the grid (as on the board), the board's "**N** reproduced rows in" line (N of
``$BIOBENCH_FLOOR_ROWS`` rows match) and one data grid of the first ``$BIOBENCH_FLOOR_SHOWN``
matching rows (as the board's ranked table shows its best rows), whose model cells are links
(``model?id=...&name=...``, as the board's); one family in four is named like the synthetic
store's ``SmolLM2``. No store, no
scoring, no charts: what is left is Streamlit's own round trip and the grid's drawing, which no
change to the board can remove.
"""

import os

import pandas as pd
import streamlit as st

FAMILIES = ("Llama", "Qwen2", "SmolLM2", "Phi3")  # SmolLM2 at i % 4 == 2, as in the synthetic store


@st.cache_resource
def rows(n: int) -> pd.DataFrame:
    names = [f"org/{FAMILIES[i % len(FAMILIES)]}-{i:04d}" for i in range(n)]
    return pd.DataFrame(
        {
            "Rank": range(1, n + 1),
            "Model": [f"model?id={name}&name={name}" for name in names],
            "Average": [round(80 - 60 * i / max(n, 1), 1) for i in range(n)],
        }
    )


search = st.text_input("Search model", key="search")  # above the grid, as on the board
table = rows(int(os.environ.get("BIOBENCH_FLOOR_ROWS", "1000")))
if search.strip():
    table = table[table["Model"].str.contains(search.strip(), case=False, regex=False)]
st.markdown(f"**{len(table)}** reproduced rows in 1 ranked set")
st.dataframe(
    table.head(int(os.environ.get("BIOBENCH_FLOOR_SHOWN", "100"))),
    column_config={"Model": st.column_config.LinkColumn("Model", display_text=r"name=([^&]*)$")},
    hide_index=True,
    height=640,
)
