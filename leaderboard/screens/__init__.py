"""Pages of the Streamlit leaderboard (registered by ``leaderboard/app.py`` with ``st.navigation``)."""
