"""The BioInstruct Bench leaderboard: ``streamlit run leaderboard/app.py`` or ``biobench leaderboard``.

The submissions folder is ``$BIOBENCH_SUBMISSIONS_DIR`` (default: the repository's
``submissions/``). This script only wires the pages; each page renders tables shaped by the pure
functions of :mod:`leaderboard.views` from data loaded (and cached) in
:mod:`leaderboard.screens.shared`.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on sys.path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

ICON = Path(__file__).with_name("favicon.png")  # served by this server: no CDN fetch
st.set_page_config(page_title="BioInstruct Bench leaderboard", page_icon=str(ICON), layout="wide")

BOARD = "screens/board.py"
PAGES = [
    st.Page(
        BOARD,
        title="Leaderboard",
        icon=":material/leaderboard:",
        url_path="leaderboard",
        default=True,
    ),
    st.Page("screens/task.py", title="Tasks", icon=":material/table_rows:", url_path="task"),
    st.Page("screens/model.py", title="Model", icon=":material/person_search:", url_path="model"),
    st.Page("screens/compare.py", title="Compare", icon=":material/balance:", url_path="compare"),
    st.Page("screens/submit.py", title="Submit", icon=":material/upload:", url_path="submit"),
    st.Page("screens/about.py", title="About", icon=":material/info:", url_path="about"),
]
# ``/board`` is the leaderboard too (links and bookmarks use it); the default page itself is
# served at ``/``, so the alias is a second page of the same script, kept out of the menu.
ALIAS = st.Page(BOARD, title="Leaderboard", icon=":material/leaderboard:", url_path="board")
page = st.navigation([*PAGES, ALIAS], position="hidden")
with st.sidebar:
    for item in PAGES:
        st.page_link(item, label=item.title, icon=item.icon)
    st.divider()
page.run()
