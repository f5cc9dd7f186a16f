"""``benchmarks.bench_leaderboard_browser`` end to end at 20 submissions in headless Chromium:
the report's structure and that the search really filtered the table (no timing goals here)."""

from __future__ import annotations

import pytest

from benchmarks import bench_leaderboard_browser as bench
from benchmarks import browser as web

pytestmark = pytest.mark.slow

N = 20


def test_missing_browser_is_a_skip_not_an_error(monkeypatch):
    monkeypatch.setattr(web, "CHROMIUM", None)
    report = bench.run(5)
    assert report["skipped"] is True and "chromium" in report["reason"]


def test_n_from_the_environment(monkeypatch):
    monkeypatch.setenv(bench.N_ENV, "7")
    assert bench._n(1000) == 7
    monkeypatch.delenv(bench.N_ENV)
    assert bench._n(1000) == 1000


def test_benchmark_runs_in_chromium(monkeypatch):
    reason = web.missing()
    if reason:
        pytest.skip(reason)
    monkeypatch.delenv(bench.N_ENV, raising=False)
    report = bench.run(N)
    assert not report.get("skipped"), report.get("reason")
    assert report["submissions"] == N and report["chromium"].startswith("Chromium")
    assert len(report["load_average_at_start"]) == 3
    for key in ("first_render_fresh_s", "first_render_warm_s", "first_render_restart_s",
                "filter_change_s", "filter_clear_s"):  # fmt: skip
        assert report[key] > 0, key
    assert report["server_rss_mb"] > 50 and report["server_hwm_mb"] >= report["server_main_rss_mb"]

    # the search filtered the table: fewer rows, every shown model of the searched family
    family = sum(i % 4 == 2 for i in range(N))  # synthetic_population cycles four families
    assert report["rows_before_filter"] == N == report["rows_after_clear"]
    assert report["rows_after_filter"] == family < N
    assert report["models_shown_after"]
    assert all(bench.SEARCH in m for m in report["models_shown_after"])
    assert any(bench.SEARCH not in m for m in report["models_shown_before"])

    # the floor page ran the same steps in the same run
    floor = report["floor"]
    assert floor["page"] == "benchmarks/streamlit_floor.py"
    for key in ("first_render_fresh_s", "filter_change_s", "filter_clear_s"):
        assert floor[key] > 0, key

    rows = report["summary"]
    assert [r["goal"] for r in rows] == ["<= 3 s", "<= 0.5 s"]
    for row in rows:
        assert "(floor " in row["anchor"], row
        assert set(row) == {"figure", "goal", "anchor", "ratio", "met"}
        assert isinstance(row["met"], bool) and row["ratio"] > 0
