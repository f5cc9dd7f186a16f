"""The Streamlit leaderboard under ``streamlit.testing.v1.AppTest``, over a temporary store
written through the submission store (:class:`leaderboard.store.Store`): filters change the
rows, the compare view computes the statistics of ``biobench compare``, a corrupt file warns and
the app goes on, and untrusted text (names, notes, metadata) renders as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from leaderboard import loader, standings, views
from leaderboard.request_queue import RequestQueue
from leaderboard.schemas import (
    EvalRequest,
    ReferenceFile,
    ReferenceRow,
    ReferenceScore,
    ReferenceSetup,
    ReferenceSource,
)
from leaderboard.store import Store
from tasks import registry
from tests.support.synthetic_store import make_submission, write_store

pytestmark = pytest.mark.slow  # AppTest / accelerate / worker processes: make test, not test-fast

APP = str(Path(__file__).resolve().parents[1] / "leaderboard" / "app.py")
TIMEOUT = 60

INJECT_HTML = "<img src=x onerror=alert(1)><script>alert(2)</script>"
INJECT_MD = "**bold** [click](javascript:alert(3)) :red[red] $x$"
INJECT = f"{INJECT_HTML} {INJECT_MD}"

# (model id, model type, parameters, base model, shots, skill)
MODELS = [
    ("org-a/alpha-7b", "base", 7_000_000_000, "meta-llama/Llama-2-7b-hf", 0, 0.70),
    ("org-a/alpha-7b-instruct", "instruction-tuned", 7_000_000_000, "meta-llama/Llama-2-7b-hf", 5, 0.45),
    ("org-b/beta-135m", "base", 135_000_000, "HuggingFaceTB/SmolLM2-135M", 0, 0.30),
    ("org-b/beta-360m-bio", "domain-adapted", 360_000_000, "HuggingFaceTB/SmolLM2-360M", 0, 0.40),
    ("org-c/gamma-13b", "instruction-tuned", 13_000_000_000, "mistralai/Mistral-13B", 5, 0.60),
]  # fmt: skip
INJECTED_ID = "org-x/injection"
REFERENCE_NAME = f"{INJECT_HTML} Paper-LLM 70B"
QA_LOGLIK = views.layout(registry.Variant.LOGLIK).of(registry.Category.QA)


def _reference() -> ReferenceFile:
    """A reported table written for these tests (invented numbers, not a real source)."""
    return ReferenceFile(
        source=ReferenceSource(
            title="Test paper", url="https://example.org/paper", table="Table 1",
            verified="invented for the leaderboard tests",
        ),
        setup=ReferenceSetup(shots=3, description="test setup, 3-shot"),
        rows=[
            ReferenceRow(
                model=REFERENCE_NAME,
                scores=[
                    ReferenceScore(benchmark="PubMedQA", column="bio_pubmedqa", value=71.5),
                    ReferenceScore(benchmark="MedQA", column="bio_medqa", value=44.0),
                ],
            ),
            ReferenceRow(
                model="Other-LLM 7B",
                scores=[ReferenceScore(benchmark="PubMedQA", column="bio_pubmedqa", value=60.0)],
            ),
        ],
    )  # fmt: skip


def _request(i: int, status: str, **extra) -> EvalRequest:
    return EvalRequest(
        request_id=f"req-{i}",
        model=f"org-q/queued-{i}",
        model_id=f"org-q/queued-{i}",
        precision="bfloat16",
        license="apache-2.0",
        model_type="base",
        status=status,
        submitted_at=datetime(2026, 2, i, tzinfo=UTC),
        **extra,
    )


def build_store(root: Path) -> Path:
    subs = []
    for i, (model_id, kind, n_params, base, shots, skill) in enumerate(MODELS):
        subs.append(
            make_submission(
                model_id, seed=i, skill=skill, n_items=40, shots=shots, model_type=kind,
                n_parameters=n_params, base_model=base, training_data=["BioInstruct 25k"],
            )
        )  # fmt: skip
    subs.append(
        make_submission(
            INJECTED_ID, seed=99, tasks=QA_LOGLIK, n_items=20, base_model=INJECT,
            submitter=INJECT_MD, training_data=[INJECT_HTML, INJECT_MD],
            contamination_notes=INJECT, notes=INJECT,
        )
    )  # fmt: skip
    write_store(root, subs)
    (root / "reference").mkdir()
    (root / "reference" / "test_paper.json").write_text(_reference().model_dump_json(indent=2))
    broken = root / "broken__model" / "run-1"
    broken.mkdir(parents=True)
    (broken / "submission.json").write_text('{"schema_version": "1.0", "model": ')
    queue = RequestQueue(root)
    for i, (status, extra) in enumerate(
        [("PENDING", {}), ("RUNNING", {}), ("FINISHED", {"submission_id": "org-a__alpha-7b/run-1"}),
         ("FAILED", {"error": "Traceback ...\nOSError: weights not found"})],
        start=1,
    ):  # fmt: skip
        queue.add(_request(i, status, **extra))
    (queue.dir / "org-q__queued-1" / "req-bad.json").write_text("not json")
    return root


@pytest.fixture(scope="module")
def store_root(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("lb") / "submissions")


@pytest.fixture
def app(store_root, monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(store_root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ranked_tables(at: AppTest) -> list[pd.DataFrame]:
    """The board page's ranked tables (one per pool), in page order."""
    return [df.value for df in at.dataframe if {"Rank", "Coverage"} <= set(df.value.columns)]


def table(at: AppTest) -> pd.DataFrame:
    """Every ranked row of the board page (its ranked tables, in page order)."""
    frames = ranked_tables(at)
    return pd.concat(frames) if frames else pd.DataFrame(columns=["Model", "Rank"])


def reported(at: AppTest) -> pd.DataFrame:
    found = [df.value for df in at.dataframe if {"Setup", "Fine-tuned"} <= set(df.value.columns)]
    return found[0] if found else pd.DataFrame(columns=["Model"])


def names(frame: pd.DataFrame) -> list[str]:
    from urllib.parse import parse_qs, urlsplit

    return [parse_qs(urlsplit(link).query)["name"][0] for link in frame["Model"]]


def open_page(at: AppTest, page: str, **params) -> AppTest:
    at.switch_page(f"screens/{page}.py")
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- main table ---------------------------------------------------------------------------------


def test_main_table_lists_every_readable_row_ranked(app):
    """One ranking of every reproduced row (the QA-only injected run among the complete ones,
    ranked on the items it shares), best win rate first; published rows apart, unranked."""
    (frame,) = ranked_tables(app)
    assert set(names(frame)) == {m[0] for m in MODELS} | {INJECTED_ID}
    lay = views.layout(registry.Variant.LOGLIK)
    compact = views.display_columns(lay, per_task=False, show_baselines=True)
    assert list(frame.columns) == standings.main_columns(lay, extra=compact)
    assert frame["Rank"].is_monotonic_increasing and frame["Rank"].iloc[0] == 1
    assert (np.diff(frame[standings.WIN].to_numpy()) <= 1e-12).all()
    coverage = dict(zip(names(frame), frame["Coverage"], strict=True))
    assert coverage[INJECTED_ID] == "6/20" and coverage["org-a/alpha-7b"] == "20/20"
    missing = dict(zip(names(frame), frame[standings.MISSING], strict=True))
    assert missing["org-a/alpha-7b"] == "none" and "ChemProt" in missing[INJECTED_ID]
    assert frame["Average ±"].notna().all() and (frame["Average ±"] > 0).all()  # CI on averages
    assert frame.loc[[n == INJECTED_ID for n in names(frame)], "IE avg ±"].isna().all()
    headers = [h.value for h in app.subheader]
    assert headers[0] == "Ranking"
    # published rows are in their own, unranked table, never among the ranked ones
    published = reported(app)
    assert set(names(published)) == {REFERENCE_NAME, "Other-LLM 7B"}
    assert "Rank" not in published.columns and "Average" not in published.columns
    assert set(published["Shots"]) == {"3"} and set(published["Fine-tuned"]) == {"not stated"}


def test_search_and_filters_keep_the_ranks(app):
    """A row shows the rank it has among every run, whatever the search or filter."""
    full = table(app)
    ranks = dict(zip(names(full), full["Rank"], strict=True))
    app.text_input(key="search").input("beta").run()
    part = table(app)
    assert set(names(part)) == {"org-b/beta-135m", "org-b/beta-360m-bio"}
    assert dict(zip(names(part), part["Rank"], strict=True)) == {n: ranks[n] for n in names(part)}
    assert min(part["Rank"]) > 1  # the best beta run is not the best run


def test_published_only_match_says_so(app):
    app.text_input(key="search").input("other-llm").run()
    assert not ranked_tables(app)
    assert any("published row" in i.value and "match" in i.value for i in app.info)
    assert names(reported(app)) == ["Other-LLM 7B"]


def test_scores_match_the_submissions(app, store_root):
    app.toggle(key="per_task").set_value(True).run()
    frame = table(app).set_index(pd.Index(names(table(app))))
    sub = Store(store_root).read("org-a__alpha-7b/run-1")
    for result in sub.tasks:
        spec = registry.task(result.column)
        if spec in views.layout(registry.Variant.LOGLIK).tasks:
            assert frame.loc["org-a/alpha-7b", spec.display] == pytest.approx(100 * result.score)
            half = float(frame.loc["org-a/alpha-7b", views.ci_column(spec)].removeprefix("± "))
            assert half == pytest.approx(50 * (result.ci.high - result.ci.low), abs=0.051)
    qa = [100 * sub.task(t.name).score for t in QA_LOGLIK]
    assert frame.loc["org-a/alpha-7b", "QA avg"] == pytest.approx(np.mean(qa))
    ref = reported(app).set_index(pd.Index(names(reported(app))))
    assert ref.loc[REFERENCE_NAME, "PubMedQA"] == 71.5


def test_filters_change_rows(app):
    everything = len(table(app))
    full_ranks = dict(zip(names(table(app)), table(app)["Rank"], strict=True))
    app.multiselect(key="types").select("base").run()
    frame = table(app)
    assert set(frame["Type"]) == {"base"}
    assert set(names(frame)) == {"org-a/alpha-7b", "org-b/beta-135m"}
    kept = dict(zip(names(frame), frame["Rank"], strict=True))
    assert kept == {n: full_ranks[n] for n in kept}  # ranks of the whole store, kept

    app.multiselect(key="types").unselect("base").run()
    app.text_input(key="search").input("BETA").run()
    assert set(names(table(app))) == {"org-b/beta-135m", "org-b/beta-360m-bio"}

    app.text_input(key="search").input("").run()
    app.multiselect(key="families").select("smollm").run()
    assert set(names(table(app))) == {"org-b/beta-135m", "org-b/beta-360m-bio"}
    app.multiselect(key="families").unselect("smollm").run()

    app.multiselect(key="shots").select("5").run()
    assert set(names(table(app))) == {"org-a/alpha-7b-instruct", "org-c/gamma-13b"}
    app.multiselect(key="shots").unselect("5").run()

    app.multiselect(key="precisions").select("bfloat16").run()
    assert len(table(app)) == everything and set(reported(app)["Model"]) == set()
    app.multiselect(key="precisions").unselect("bfloat16").run()
    app.multiselect(key="licenses").select("apache-2.0").run()
    assert len(table(app)) == everything
    app.multiselect(key="licenses").unselect("apache-2.0").run()

    pools = app.multiselect(key="pools").options
    app.multiselect(key="pools").select(pools[1]).run()
    assert names(table(app)) == [INJECTED_ID]
    app.multiselect(key="pools").unselect(pools[1]).run()

    app.checkbox(key="unknown_size").uncheck().run()
    app.slider(key="size").set_value((1.0, 10.0)).run()
    assert set(names(table(app))) == {"org-a/alpha-7b", "org-a/alpha-7b-instruct"}
    assert set(names(reported(app))) == {"Other-LLM 7B"}
    app.slider(key="size").set_value((0.0, 70.1)).run()
    app.checkbox(key="unknown_size").check().run()
    assert len(table(app)) == everything


def test_empty_result_says_so(app):
    app.text_input(key="search").input("zzzz").run()
    assert not ranked_tables(app)
    assert any("No model matches 'zzzz'" in i.value.replace("\\", "") for i in app.info)


def test_variant_switch_and_ci_toggle_change_columns(app):
    app.toggle(key="per_task").set_value(True).run()
    app.radio(key="variant").set_value(registry.Variant.GEN).run()
    frame = table(app)
    assert "PubMedQA (gen)" in frame.columns and "PubMedQA" not in frame.columns
    # the synthetic submissions hold log-likelihood QA only: no QA average in this view
    assert frame["QA avg"].isna().all()
    app.checkbox(key="show_ci").uncheck().run()
    assert not set(views.layout(registry.Variant.GEN).ci_columns) & set(table(app).columns)


def test_complete_only_drops_partial_averages(app):
    app.checkbox(key="complete_only").check().run()
    frame = table(app).set_index(pd.Index(names(table(app))))
    # the synthetic submissions cover every column; the injected one does not
    assert not np.isnan(frame.loc["org-a/alpha-7b", "Average"])
    assert np.isnan(frame.loc[INJECTED_ID, "Average"])
    assert not pd.isna(frame.loc[INJECTED_ID, "Rank"])  # the ranking is by win rate: kept
    assert not np.isnan(frame.loc[INJECTED_ID, "QA avg"])  # it has every QA column


def test_charts_render(app):
    """One chart at a time (category bars by default, the size scatter on request); with two
    ranked sets a picker chooses the set the charts show."""
    (bars,) = app.get("vega_lite_chart")
    assert '"yOffset"' in bars.proto.spec  # the grouped category bars
    picker = app.selectbox(key="chart_pool")  # two ranked sets: the charts show one
    assert len(picker.options) == 2
    app.session_state["chart"] = views.CHARTS[1]
    app.run()
    (points,) = app.get("vega_lite_chart")
    assert '"size_b"' in points.proto.spec and '"yOffset"' not in points.proto.spec


# --- URL state and exports -------------------------------------------------------------------------


def test_filters_and_toggles_live_in_the_url(store_root, monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(store_root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["types"] = ["base"]
    at.query_params["search"] = "alpha"
    at.query_params["per_task"] = "1"
    at.query_params["variant"] = "not-a-variant"  # ignored, not an error
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert names(table(at)) == ["org-a/alpha-7b"]
    assert "PubMedQA" in table(at).columns
    at.multiselect(key="families").select("llama").run()
    at.checkbox(key="complete_only").check().run()
    params = {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}
    assert params["types"] == ["base"] and params["families"] == ["llama"]
    assert params["search"] == ["alpha"] and params["complete_only"] == ["1"]
    assert "variant" not in params and "show_ci" not in params  # defaults stay out
    at.text_input(key="search").input("").run()
    assert "search" not in at.query_params


def test_downloads_hold_the_current_view(app, monkeypatch):
    import io
    import json

    from streamlit.runtime.media_file_manager import MediaFileManager

    seen, deferred = {}, []
    real_csv, real_json = views.export_csv, views.export_json
    monkeypatch.setattr(views, "export_csv", lambda f: seen.setdefault("csv", real_csv(f)))
    monkeypatch.setattr(views, "export_json", lambda f: seen.setdefault("json", real_json(f)))
    real_add = MediaFileManager.add_deferred

    def add_deferred(self, callable_, *args, **kwargs):  # what the server runs on a click
        deferred.append(callable_)
        return real_add(self, callable_, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    app.multiselect(key="types").select("base").run()
    buttons = app.get("download_button")
    assert [b.label for b in buttons] == ["Download CSV", "Download JSON"]
    assert all(b.proto.deferred_file_id for b in buttons)
    assert not seen  # the files are built on a click, not on every rerun
    for build in deferred[-2:]:  # this run's two buttons
        build()
    csv = pd.read_csv(io.StringIO(seen["csv"]))
    assert set(csv["model"]) == {"org-a/alpha-7b", "org-b/beta-135m"}  # plain ids
    shown = dict(zip(names(table(app)), table(app)["Rank"], strict=True))
    assert dict(zip(csv["model"], csv["rank"], strict=True)) == shown  # the store's ranks
    assert csv["rank"].tolist() == sorted(csv["rank"]) and csv["rank"].iloc[-1] > 2
    assert csv["bio_pubmedqa_ci_low"].dtype.kind == "f"
    assert (csv["bio_pubmedqa_ci_low"] <= csv["bio_pubmedqa"]).all()
    assert all(len(f"{v:.10g}".split(".")[-1]) <= 2 for v in csv["average"])
    records = json.loads(seen["json"])
    assert [r["model"] for r in records] == csv["model"].tolist()


# --- robustness and safety ------------------------------------------------------------------------


def test_corrupt_file_warns_and_the_app_goes_on(app):
    warnings = [w.value for w in app.warning]
    shown = views.escape_markdown("broken__model/run-1/submission.json")
    assert any(shown in w for w in warnings), warnings
    assert len(table(app)) + len(reported(app)) == len(MODELS) + 3  # everything else is there


def test_corrupt_request_file_warns_on_the_submit_page(app):
    open_page(app, "submit")
    bad = views.escape_markdown("requests/org-q__queued-1/req-bad.json")
    assert any(bad in w.value for w in app.warning), [w.value for w in app.warning]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"PENDING": "1", "RUNNING": "1", "FINISHED": "1", "FAILED": "1"}
    queue = app.dataframe[0].value
    assert len(queue) == 4
    assert queue.set_index("status").loc["FAILED", "error"] == "OSError: weights not found"


def _element_types(node) -> set[str]:
    out = {getattr(node, "type", "")}
    for child in getattr(node, "children", {}).values():
        out |= _element_types(child)
    return out


def _markdown_texts(at: AppTest) -> list[str]:
    kinds = ("markdown", "header", "subheader", "title", "caption", "warning", "info", "error")
    return [el.value for kind in kinds for el in at.get(kind)]


def assert_no_markup(texts: list[str]) -> None:
    """No unescaped HTML or Markdown markup from a submission in Markdown-rendered text."""
    for text in texts:
        for pattern in (r"(?<!\\)<", r"(?<!\\)\*\*", r"(?<!\\)\[click", r"(?<!\\):red"):
            assert not re.search(pattern, text), f"unescaped {pattern!r} in {text!r}"


def _unescape(text: str) -> str:
    """What Markdown shows for text escaped by :func:`views.escape_markdown`."""
    return re.sub(r"\\(.)", r"\1", text)


def _cells(at: AppTest) -> set[str]:
    """Every cell of the page's data grids, and of its static tables as they read (their
    cells are Markdown: escaped, see :func:`assert_no_markup`)."""
    cells = {str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()}
    return cells | {_unescape(str(v)) for t in at.table for v in t.value.to_numpy().ravel()}


def test_injection_renders_as_text_on_the_model_page(app):
    open_page(app, "model", id="org-x__injection/run-1")
    texts = [t.value for t in app.text]
    assert INJECT in texts  # contamination notes and notes, verbatim, as plain text
    cells = _cells(app)
    assert INJECT in cells and INJECT_HTML in cells and INJECT_MD in cells
    assert_no_markup(_markdown_texts(app))
    # static tables render their cells as Markdown: the submission's text is escaped there
    assert app.table, "the Submission and Environment tables"
    assert_no_markup([str(v) for t in app.table for v in t.value.to_numpy().ravel()])


def test_injection_in_a_reported_name_renders_as_text(app):
    frame = reported(app)
    ref_id = frame.index[[name == REFERENCE_NAME for name in names(frame)]][0]
    assert str(ref_id).startswith("reference/")
    open_page(app, "model", id=ref_id)
    headers = [h.value for h in app.header]
    assert headers == [views.escape_markdown(REFERENCE_NAME)]
    assert_no_markup(_markdown_texts(app))
    scores = app.dataframe[0].value
    assert scores["value (%)"].tolist() == [71.5, 44.0]


def test_model_page_shows_metadata_hashes_and_reproduction(app, store_root):
    open_page(app, "model", id="org-a__alpha-7b/run-1")
    sub = Store(store_root).read("org-a__alpha-7b/run-1")
    tasks = app.dataframe[0].value
    assert set(tasks["task"]) == {t.task for t in sub.tasks}
    assert set(tasks["data sha256"]) == {t.data.full_sha256 for t in sub.tasks}
    assert set(tasks["version"]) == {t.version for t in sub.tasks}
    cells = _cells(app)
    assert {"meta-llama/Llama-2-7b-hf", "BioInstruct 25k", "0.4.13", "apache-2.0"} <= cells
    fields = {str(v) for t in app.table for v in t.value["value"]}  # Submission, Environment
    assert views.EMPTY in fields and "" not in fields  # an empty field reads "–", not a blank
    command = app.code[0].value
    assert "biobench eval" in command and '"pretrained": "org-a/alpha-7b"' in command
    assert "biobench submit" in command


def test_unknown_model_id_warns(app):
    open_page(app, "model", id="nobody__nothing/run-9")
    assert any("nobody" in w.value for w in app.warning)


# --- compare view ---------------------------------------------------------------------------------


def _items(root: Path, sid: str, task: str) -> dict[int, float]:
    """Per-item accuracy of one task, read with the store's own reader (hash-checked)."""
    records = loader.read_items(root, Store(root).read(sid))
    return {r.doc_id: r.metrics["acc"] for r in records if r.task == task}


def test_compare_view_computes_paired_statistics(app, store_root):
    from statsmodels.stats.contingency_tables import mcnemar

    open_page(app, "compare")
    a, b = "org-a__alpha-7b/run-1", "org-b__beta-135m/run-1"
    app.multiselect(key="compare_pick").select(a).select(b).run()
    app.multiselect(key="compare_tasks").select("bio_pubmedqa").run()
    app.select_slider(key="compare_resamples").set_value(1_000).run()
    assert not app.dataframe  # nothing computed before the button
    app.button(key="compare_go").click().run()
    assert not app.exception, [e.value for e in app.exception]
    tests = app.dataframe[0].value
    row = tests[tests["task / group"] == "PubMedQA"].iloc[0]

    # independent computation from the stored per-item records
    xa, xb = _items(store_root, a, "bio_pubmedqa"), _items(store_root, b, "bio_pubmedqa")
    ids = sorted(xa)
    va, vb = np.array([xa[i] for i in ids]), np.array([xb[i] for i in ids])
    assert row["n paired"] == len(ids)
    assert row["score A"] == pytest.approx(100 * va.mean())
    assert row[views.GAIN] == pytest.approx(100 * (vb.mean() - va.mean()))
    both = [[np.sum((va == 1) & (vb == 1)), np.sum((va == 1) & (vb == 0))],
            [np.sum((va == 0) & (vb == 1)), np.sum((va == 0) & (vb == 0))]]  # fmt: skip
    assert row["test"] == "mcnemar"
    assert row["p"] == pytest.approx(mcnemar(both, exact=True).pvalue)
    assert row["CI low"] <= row[views.GAIN] <= row["CI high"]
    marks = tests["sig."].tolist()
    for mark, p_holm in zip(marks, tests["p Holm"], strict=True):
        assert mark == views.significance_mark(p_holm)
    kinds = _element_types(app._tree)
    assert "image" in kinds, kinds  # the forest plot
    assert "download_button" in kinds, kinds


@pytest.mark.parametrize("dark", [False, True])
def test_forest_plot_fits_its_text_and_stays_narrow(store_root, dark):
    """Every text of the compare page's forest plot (title, labels, numbers, axis caption, key)
    lies inside the figure, nothing clipped; the axis says percentage points; the figure is
    narrow and tall (one band per test) so that a phone-width page shrinks it little."""
    import matplotlib.pyplot as plt

    from leaderboard import compare, report
    from leaderboard.schemas import StatsSettings

    ids = ["org-a__alpha-7b/run-1", "org-b__beta-135m/run-1", "org-c__gamma-13b/run-1"]
    settings = StatsSettings(n_resamples=200, n_permutations=200, seed=0)
    for pair in (ids[:2], ids):  # one pair (named in the title) and several (in each band)
        result = compare.compare(pair, store=Store(store_root), settings=settings)
        fig = report.forest_figure(result, percent=True, dark=dark)
        try:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            texts = [t for t in fig.findobj(plt.Text) if t.get_visible() and t.get_text()]
            words = " ".join(t.get_text() for t in texts)
            assert "percentage points" in words and "Gain of B over A" in words
            assert "significant after Holm" in words and "PubMedQA" in words
            width, height = fig.get_size_inches()
            drawn = fig.get_tightbbox(renderer)  # inches: everything drawn, text included
            assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, drawn
            assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, drawn
            for text in fig.texts:  # title, axis caption, key: each line inside the figure
                extent = text.get_window_extent(renderer)
                assert 0 <= extent.x0 and extent.x1 <= fig.bbox.x1, text.get_text()
            assert width * 110 <= 560 and height > width  # ~530 px wide, taller than wide
            ax = fig.axes[0]
            boxes = [(t.get_window_extent(renderer), t.get_ha()) for t in ax.texts]
            lefts = [b for b, ha in boxes if ha == "left"]
            for right in (b for b, ha in boxes if ha == "right"):  # a value and its label
                for left in lefts:
                    if left.y0 < right.y1 and right.y0 < left.y1:  # on one line
                        assert left.x1 < right.x0, "a label runs into its value"
        finally:
            plt.close(fig)
    assert report.forest_png(result, percent=True).startswith(b"\x89PNG")


REPO_RUNS = (
    Path(__file__).resolve().parents[1] / "submissions" / "HuggingFaceTB__SmolLM2-135M-Instruct"
)


def test_compare_of_the_stored_runs_falls_back_to_dataset_matching(tmp_path, monkeypatch):
    """The repository's two stored runs share no task (default vs generative variants): the
    page matches them by dataset and says which control chooses, instead of an error."""
    import shutil

    root = tmp_path / "submissions"
    for run in ("20261121-default", "20261121-generative"):
        shutil.copytree(REPO_RUNS / run, root / REPO_RUNS.name / run)
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    a, b = (f"{REPO_RUNS.name}/{run}" for run in ("20261121-default", "20261121-generative"))
    at.switch_page("screens/compare.py")
    at.query_params["compare_pick"] = [a, b]  # a shared link: computed at once
    at.query_params["compare_tasks"] = ["bio_pubmedqa", "bio_pubmedqa_gen"]
    at.query_params["compare_resamples"] = "1000"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("matched by **dataset**" in i.value for i in at.info), [i.value for i in at.info]
    tests = at.dataframe[0].value
    assert list(tests.columns[:7]) == ["task / group", views.GAIN, "CI low", "CI high", "p Holm",
                                       "sig.", "p"]  # fmt: skip
    row = tests.iloc[0]
    assert row["task / group"] == "PubMedQA vs PubMedQA (gen)" and row["n paired"] > 0
    assert row["CI low"] <= row[views.GAIN] <= row["CI high"]
    assert abs(row[views.GAIN]) > 1  # percentage points, not fractions
    assert at.multiselect(key="compare_pick").value == [a, b]


def test_compare_needs_two_models_and_hides_reported_rows(app):
    open_page(app, "compare")
    picker = app.multiselect(key="compare_pick")
    assert all(
        not str(o).startswith("reference/") and "[reported]" not in str(o) for o in picker.options
    )
    assert any("two" in i.value for i in app.info)


# --- other pages and caching ----------------------------------------------------------------------


def test_about_page_lists_every_registry_task(app):
    from leaderboard.suite import load_suite

    open_page(app, "about")
    tasks = app.dataframe[0].value
    groups = app.table[0].value.map(_unescape)  # a static table: Markdown cells, escaped
    assert sorted(tasks["lm-eval task"]) == sorted(t.name for t in registry.TASKS)
    suite = load_suite()
    for _, row in groups.iterrows():  # members as the group YAMLs list them
        assert row["tasks"].split(", ") == list(suite.groups[row["group"]].children)
    assert (tasks["what it measures"] != "").sum() >= len(
        [t for t in registry.TASKS if (registry.TASKS_DIR / t.dataset / "README.md").is_file()]
    )
    # what each score is, exactly: stated on the page, not only in the task READMEs
    text = " ".join(m.value for m in app.markdown)
    for needle in (
        "ideal answer",
        "2,816 of the 4,183",
        "not masked",
        "67 of the 2,742",
        "own hash split",
        "Q4_1 GGUF",
    ):
        assert needle in text, needle
    read_as = dict(zip(tasks["lm-eval task"], tasks["read it as"], strict=True))
    assert "not masked" in read_as["bio_ddi_gen"] and read_as["bio_pubmedqa"] == ""


def test_new_submission_shows_up_on_rerun(tmp_path, monkeypatch):
    root = tmp_path / "submissions"
    write_store(root, [make_submission("org-n/first", tasks=QA_LOGLIK, n_items=10)])
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert names(table(at)) == ["org-n/first"]
    write_store(root, [make_submission("org-n/second", seed=1, tasks=QA_LOGLIK, n_items=10)])
    at.run()
    assert sorted(names(table(at))) == ["org-n/first", "org-n/second"]


def test_empty_store_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(table(at)) == 0
    assert any("No model matches" in i.value for i in at.info)


def test_frames_from_loader_matches_the_loader(store_root, monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    tables = loader.load_tables(store_root)
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    assert set(rows.index) == set(tables.submissions["submission_id"]) | {
        s for s in tables.scores["submission_id"] if s.startswith("reference/")
    }
    assert rows.loc["org-a__alpha-7b/run-1", "shots"] == "0"
    assert rows.loc["org-a__alpha-7b-instruct/run-1", "shots"] == "5"
    ref_rows = rows[rows["status"] == views.REPORTED]
    assert set(ref_rows["shots"]) == {"3"}
    primary = tables.scores[tables.scores["primary"] & ~tables.scores["is_detail"]]
    assert len(scores) == len(primary)
    assert scores["score"].max() <= 100.0


# --- submit form ----------------------------------------------------------------------------------


def _submit_form(at: AppTest, **fields) -> AppTest:
    for key, value in fields.items():
        if key == "req_type":
            at.selectbox(key=key).set_value(value)
        else:
            at.text_input(key=key).input(value)
    next(b for b in at.button if b.label == "Queue the request").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_submit_form_takes_hub_ids_only_and_speaks_to_the_visitor(model, tmp_path, monkeypatch):
    """The form queues through the queue's API with hub ids only: a server path (existing or
    not) gets the same answer and nothing is queued; a hub id that cannot be looked up here
    (the tests run offline) is refused in words for a web visitor; typed markup stays text."""
    from leaderboard.request_queue import RequestQueue

    root = tmp_path / "submissions"
    root.mkdir()
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    open_page(at, "submit")
    answers = []
    for path in (str(model), str(tmp_path / "missing"), "/etc"):
        _submit_form(at, req_model=path, req_type="base")
        assert at.error and not at.success
        answers.append(at.code[-1].value)
    assert answers[0] == answers[1] == answers[2] and "hub id" in answers[0]
    assert str(tmp_path) not in answers[0] and "--" not in answers[0]
    _submit_form(at, req_model="org-t/tiny", req_type="base")
    message = at.code[-1].value
    assert at.error and "Hugging Face hub" in message
    assert "usage:" not in message and "HF_HUB_OFFLINE" not in message and "/" not in message[:1]
    _submit_form(at, req_model=f"--list {INJECT_HTML}", req_type="base")
    assert at.error and not any(INJECT_HTML in text for text in _markdown_texts(at))
    assert RequestQueue(root).entries() == []
    assert {m.label: m.value for m in at.metric}["PENDING"] == "0"


def test_ranked_tables_show_their_best_rows_and_search_reaches_the_rest(tmp_path, monkeypatch):
    """At 120 rows the ranked table shows the best 100 and says so; the search finds a row
    ranked below them; 'Rows per ranked table' = all shows every row and lives in the URL; the
    size chart holds the rows the table shows."""
    from tests.support.synthetic_store import synthetic_population

    root = tmp_path / "submissions"
    write_store(root, synthetic_population(120, n_items=4))
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    every = sum(len(frame) for frame in ranked_tables(at))
    shown = [frame for frame in ranked_tables(at) if len(frame) == 100]
    assert shown, [len(frame) for frame in ranked_tables(at)]
    assert any("The best 100 of" in c.value for c in at.caption), [c.value for c in at.caption]
    assert "rows" not in at.query_params  # the default stays out of the URL

    hidden = names(shown[0])[-1]  # a name shown at rank 100 ...
    at.selectbox(key="rows").select("all").run()
    assert at.query_params["rows"] == "all"
    full = [frame for frame in ranked_tables(at) if len(frame) > 100]
    assert full and sum(len(frame) for frame in ranked_tables(at)) > every
    below = names(full[0])[100]  # ... and one ranked below the first 100
    assert below not in names(shown[0]) and hidden in names(full[0])

    at.selectbox(key="rows").select("100").run()
    at.text_input(key="search").input(below).run()
    assert below in names(table(at)), "the search looks at every row, not the shown ones"


def test_top_rows_and_the_size_chart_follow_the_rows_shown():
    board = pd.DataFrame({"model_name": [f"m{i}" for i in range(7)]})
    assert list(views.top_rows(board, "3")["model_name"]) == ["m0", "m1", "m2"]
    assert len(views.top_rows(board, "all")) == 7 and len(views.top_rows(board, "100")) == 7


def test_task_page_ranks_the_runs_of_one_task(app, store_root):
    at = open_page(app, "task", task="bio_medqa")
    (frame,) = [df.value for df in at.dataframe if "Score" in df.value.columns]
    assert set(names(frame)) == {m[0] for m in MODELS} | {INJECTED_ID}
    assert frame["Rank"].is_monotonic_increasing and frame["Rank"].iloc[0] == 1
    assert (np.diff(frame[standings.WIN].to_numpy()) <= 1e-12).all()
    sub = Store(store_root).read("org-a__alpha-7b/run-1")
    row = frame[[n == "org-a/alpha-7b" for n in names(frame)]].iloc[0]
    assert row["Score"] == pytest.approx(round(100 * sub.task("bio_medqa").score, 1))
    assert row["Items"] == sub.task("bio_medqa").n_items
    assert at.query_params["task"] == "bio_medqa"


def test_compare_page_states_a_verdict_and_the_discordant_items(app):
    """Verdict sentences in the page's sign and unit (gain of B over A, points), and the items
    behind McNemar's test: as many as its (b, c)."""
    a, b = "org-b__beta-135m/run-1", "org-a__alpha-7b/run-1"  # B is the stronger run
    at = open_page(app, "compare", compare_pick=[a, b], compare_resamples="1000")
    assert not at.error, [e.value for e in at.error]
    heads = [h.value for h in at.subheader]
    assert "Verdict" in heads and "Items where the two runs disagree" in heads
    said = " ".join(m.value.replace("\\", "") for m in at.markdown)
    assert "alpha-7b vs beta-135m:" in said and "points [+" in said
    assert "alpha-7b is better on" in said  # the gain is B's, positive
    (items,) = [d.value for d in at.dataframe if "right" in d.value.columns]
    assert len(items) > 0 and set(items["right"]) <= {"A", "B"}
    assert any(f"**{int((items['right'] == 'A').sum())}** items only A" in m.value
               for m in at.markdown)  # fmt: skip


def test_compare_caps_the_number_of_runs(app):
    at = open_page(app, "compare")
    options = list(at.multiselect(key="compare_pick").options)
    assert len(options) == 6
    at.multiselect(key="compare_pick").set_value(options).run()
    assert any("Compare up to 5 runs" in w.value for w in at.warning)
    assert not any(d.value.columns.tolist()[:1] == ["task / group"] for d in at.dataframe)


def test_export_carries_the_store_ranks_flags_and_no_published_averages(
    store_root, monkeypatch, tmp_path
):
    from leaderboard import ranking

    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    tables = loader.load_tables(store_root)
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    lay = views.layout()
    board = views.build_board(rows, scores, lay)
    reproduced = rows.index[rows["status"] == views.REPRODUCED].tolist()
    found = ranking.rank_runs(
        ranking.task_matrices(loader.load_items(reproduced, store_root), lay.tasks, scores),
        n_resamples=200,
    )
    main = standings.main_table(board, found, lay)
    spec = lay.tasks[0]
    board.loc["org-b__beta-135m/run-1", views.baseline_column(spec)] = f"{views.FLAG} 50.0"
    view = views.filter_board(board, views.Filters(search="b"))  # beta runs and published rows
    out = standings.export_frame(view, main, lay).set_index("model")
    assert out.loc["org-b/beta-135m", "rank"] == main.loc["org-b__beta-135m/run-1", "Rank"]
    assert out.loc["org-b/beta-135m", f"{spec.name}_at_baseline"] is True
    assert pd.isna(out.loc["org-b/beta-360m-bio", f"{spec.name}_at_baseline"])  # none stored
    published = out[out["status"] == views.REPORTED]
    assert len(published) and published["average"].isna().all() and published["rank"].isna().all()
    assert list(out["status"]).index(views.REPORTED) > list(out["status"]).index(views.REPRODUCED)
    assert "ranked_in" not in out.columns and out.columns[0] == "rank"


def test_model_page_opens_with_its_rank_and_shows_answers_item_by_item(app, store_root):
    at = open_page(app, "model", id="org-a__alpha-7b/run-1")
    said = " ".join(m.value.replace("\\", "") for m in at.markdown)
    assert "Rank 1 of 6 · 95% rank range" in said and "over 20 of 20 tasks" in said
    (answers,) = [d.value for d in at.dataframe if "answer" in d.value.columns]
    sub = Store(store_root).read("org-a__alpha-7b/run-1")
    first = views.layout().tasks[0]
    assert len(answers) == sub.task(first.name).n_items
    right = (answers["right"] == "yes").mean()
    assert right == pytest.approx(sub.task(first.name).score)  # accuracy from the item answers


def test_coverage_filter_offers_no_blank_option(store_root, monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    tables = loader.load_tables(store_root)
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    board = views.build_board(rows, scores, views.layout(registry.Variant.GEN))
    assert (board.loc[board["status_key"] == views.REPRODUCED, "Pool"] == "").any()  # QA-only run
    options = views.filter_options(board).pools
    assert options and "" not in options
