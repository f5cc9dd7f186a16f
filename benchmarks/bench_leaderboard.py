"""Leaderboard speed: 1,000 synthetic submissions, first render and a filter change (AppTest).

Goals (issue 6): first render <= 3 s, a filter change <= 0.3 s, timed in one run with
``streamlit.testing.v1.AppTest`` over a temporary store written through the submission store
(:class:`leaderboard.store.Store`). The synthetic submissions come from the test-support
module :mod:`tests.support.synthetic_store`, which the leaderboard tests build their stores from.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tasks import registry
from tests.support.synthetic_store import timed_store

APP = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
N_SUBMISSIONS = 1_000
GOAL_FIRST_S = 3.0
GOAL_FILTER_S = 0.3


def _timed_run(at) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"the app raised: {[e.value for e in at.exception]}")
    return elapsed


def run() -> dict:
    """Time the app on 1,000 submissions (AppTest, one process, the same store).

    * ``harness_s``: AppTest's own first run of a one-line app (it scans installed packages for
      Streamlit components once per AppTest): part of every first-render figure below;
    * ``first_render_s``: a new session on a store never seen (the loader's disk cache empty,
      Streamlit's caches cleared) — the goal's figure;
    * ``first_render_warm_disk_s``: a new session after a server restart (disk cache present);
    * ``filter_change_s`` / ``search_change_s`` / ``variant_change_s``: one widget change each.
    """
    import os

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from leaderboard.loader import CACHE_ENV
    from leaderboard.store import ROOT_ENV

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "submissions"
        _, generate_s, store_s = timed_store(root, N_SUBMISSIONS)
        saved = {k: os.environ.get(k) for k in (ROOT_ENV, CACHE_ENV)}
        os.environ[ROOT_ENV] = str(root)
        os.environ[CACHE_ENV] = str(Path(tmp) / "cache")
        try:
            harness_s = _timed_run(AppTest.from_string("import streamlit as st\nst.write('x')"))
            st.cache_data.clear()
            first_s = _timed_run(AppTest.from_file(str(APP), default_timeout=120))
            st.cache_data.clear()
            at = AppTest.from_file(str(APP), default_timeout=120)
            warm_s = _timed_run(at)
            rows_before = len(at.dataframe[0].value)
            at.multiselect(key="types").select("base")
            filter_s = _timed_run(at)
            rows_after = len(at.dataframe[0].value)
            at.text_input(key="search").input("SmolLM2")
            search_s = _timed_run(at)
            at.radio(key="variant").set_value(registry.Variant.GEN)
            variant_s = _timed_run(at)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return {
        "submissions": N_SUBMISSIONS,
        "generate_s": round(generate_s, 1),
        "store_write_s": round(store_s, 1),
        "harness_s": round(harness_s, 3),
        "first_render_s": round(first_s, 3),
        "first_render_warm_disk_s": round(warm_s, 3),
        "filter_change_s": round(filter_s, 3),
        "search_change_s": round(search_s, 3),
        "variant_change_s": round(variant_s, 3),
        "rows_before_filter": rows_before,
        "rows_after_filter": rows_after,
        "goal_first_render_s": GOAL_FIRST_S,
        "goal_filter_change_s": GOAL_FILTER_S,
        "first_render_ok": first_s <= GOAL_FIRST_S,
        "filter_change_ok": filter_s <= GOAL_FILTER_S,
    }
