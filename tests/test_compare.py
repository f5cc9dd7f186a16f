"""``biobench compare``, the shared loader and the reports, on real submissions of tiny LLaMAs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from leaderboard import loader, stats
from leaderboard.compare import CompareError, compare, pair_items
from leaderboard.report import render_html, render_markdown
from leaderboard.schemas import Comparison, ItemRecord, StatsSettings
from leaderboard.store import Store
from runners import comparison as compare_cmd
from tests.support.submission_runs import store_with_b

pytestmark = pytest.mark.slow  # the module's fixture runs lm-eval twice (shared with test_submit)

REPO_REFERENCE = Path(__file__).resolve().parents[1] / "submissions" / "reference"
FAST = StatsSettings(n_resamples=2_000, n_permutations=2_000, seed=1)


@pytest.fixture(scope="module")
def store(tmp_path_factory, runs):
    root = store_with_b(runs, tmp_path_factory.mktemp("compare") / "store")
    shutil.copytree(REPO_REFERENCE, root / "reference")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))


def ids(root: Path) -> tuple[str, str]:
    a, b = sorted(Store(root).ids())
    return a, b


def test_compare_by_task_pairs_items_and_tests_each_metric_kind(store):
    a, b = ids(store)
    c = compare([a, b], store=Store(store), settings=FAST)
    tasks = {t.column: t for t in c.tests if t.kind == "task"}
    assert set(tasks) == {"bio_medqa_gen", "bio_meqsum", "bio_ner_bc2gm", "bio_chemprot"}
    assert tasks["bio_medqa_gen"].test == "mcnemar"
    assert tasks["bio_meqsum"].test == "permutation"
    assert tasks["bio_ner_bc2gm"].test == "permutation"  # F1 from counts
    items = loader.load_items([a, b], store)
    for test in tasks.values():
        assert test.n_paired == 2 and test.n_conflicting == 0
        assert test.n_only_b == 0 and test.n_only_a > 0
    # the reported difference is recomputed from the items of both submissions
    rouge = items[(items.task == "bio_meqsum") & (items.metric == "rougeL")]
    ra = rouge[rouge.submission_id == a].set_index("doc_id")["value"]
    rb = rouge[rouge.submission_id == b].set_index("doc_id")["value"]
    paired = rb.index.intersection(ra.index)
    assert tasks["bio_meqsum"].diff == pytest.approx(ra[paired].mean() - rb[paired].mean())
    # 2 paired items: the permutation test enumerates all 4 swap patterns
    p = stats.permutation_p(
        np.c_[ra[paired], rb[paired]], np.ones((2, 2)), [(0, 1)], FAST.n_permutations, None
    )
    assert tasks["bio_meqsum"].p_value == pytest.approx(p[0])
    family = [t for t in c.tests if t.kind == "task"]
    raw = [t.p_value for t in family]
    np.testing.assert_allclose([t.p_holm for t in family], multipletests(raw, method="holm")[1])
    np.testing.assert_allclose([t.p_bh for t in family], multipletests(raw, method="fdr_bh")[1])
    notes = " ".join(c.notes)
    assert "bio_pubmedqa: only tiny-a has it" in notes and "--limit" in notes and "SAMPLE" in notes
    assert {t.column for t in c.tests if t.kind == "group"} >= {"bio_gen"}


def test_compare_by_dataset_pairs_loglik_with_generative_variant(store):
    a, b = ids(store)
    c = compare([a, b], store=Store(store), match="dataset", tasks=["bio_pubmedqa"], settings=FAST)
    (test,) = [t for t in c.tests if t.kind == "task"]
    assert (test.column, test.column_b) == ("bio_pubmedqa", "bio_pubmedqa_gen")
    assert test.n_paired == 2 and test.test == "mcnemar"
    assert test.metric == "acc,none vs exact_match,extract"


def _item(doc_id: int, prompt: str = "a") -> ItemRecord:
    h = f"{doc_id:064x}"
    p = (prompt * 64)[:64]
    return ItemRecord(task="t", doc_id=doc_id, doc_hash=h, prompt_hash=p, target_hash=h)


def test_pairing_uses_doc_and_prompt_hashes():
    a = [_item(0), _item(1), _item(2), _item(3)]
    b = [_item(1), _item(2, prompt="e"), _item(3), _item(4)]
    pairing = pair_items(a, b)
    assert list(pairing.a_idx) == [1, 3] and list(pairing.b_idx) == [0, 2]
    assert (pairing.only_a, pairing.only_b, pairing.conflicting) == (1, 1, 1)
    # runs in different prompt forms (plain vs chat template) pair on the document alone
    across = pair_items(a, b, same_prompt=False)
    assert list(across.a_idx) == [1, 2, 3] and across.conflicting == 0
    other_doc = [_item(1).model_copy(update={"doc_hash": "f" * 64})]
    assert pair_items(a, other_doc, same_prompt=False).conflicting == 1


def test_reference_rows_are_never_tested(store):
    a, _ = ids(store)
    with pytest.raises(CompareError, match="never used in significance tests"):
        compare(["reference/biomistral_card", a], store=Store(store))


def test_unknown_submission_is_named(store):
    a, _ = ids(store)
    with pytest.raises(CompareError, match="no submission 'nobody/nothing'"):
        compare([a, "nobody/nothing"], store=Store(store))


def test_html_report_is_self_contained_and_escapes_names(store):
    a, b = ids(store)
    labels = ["<script>alert(1)</script>", "B & <b>co</b>"]
    c = compare([a, b], store=Store(store), labels=labels, settings=FAST)
    page = render_html(c)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>co</b>" not in page
    assert page.count("data:image/png;base64,") == 2
    assert "src='http" not in page and 'src="http' not in page and "<link" not in page
    text, images = render_markdown(c, "report")
    assert "\\<script" not in text and "&lt;script&gt;" in text
    assert set(images) == {"report_forest.png", "report_groups.png"}
    assert all(blob.startswith(b"\x89PNG") for blob in images.values())


def test_compare_cli_writes_html_markdown_and_json(store, tmp_path, capsys):
    a, b = ids(store)
    outs = [tmp_path / "r.html", tmp_path / "r.md", tmp_path / "r.json"]
    args = [a, b, "--store", str(store), "--resamples", "1000", "--permutations", "1000"]
    rc = compare_cmd.main([*args, *[x for o in outs for x in ("--out", str(o))]])
    assert rc == 0, capsys.readouterr().err
    assert all(o.is_file() for o in outs)
    assert (tmp_path / "r_forest.png").is_file() and (tmp_path / "r_groups.png").is_file()
    data = Comparison.model_validate(json.loads((tmp_path / "r.json").read_text()))
    assert data.settings.n_resamples == 1000 and data.submissions == [a, b]
    assert "bio_meqsum" in capsys.readouterr().out
    rc = compare_cmd.main([a, "--store", str(store), "--out", str(tmp_path / "x.html")])
    assert rc == 2 and "at least two" in capsys.readouterr().err


# --- the shared loader -------------------------------------------------------------------------


def test_loader_tables_hold_reproduced_and_reported_rows(store):
    tables = loader.load_tables(store)
    assert len(tables.submissions) == 2 and not tables.problems
    scores = tables.scores
    reproduced = scores[scores.status == "reproduced"]
    primary = reproduced[reproduced.primary]
    assert primary.ci_low.notna().all() and (primary.ci_low <= primary.value).all()
    reported = scores[scores.status == "reported"]
    biomistral = reported[
        (reported.model == "BioMistral/BioMistral-7B")
        & reported.submission_id.str.startswith("reference/biomistral_card/")
    ]
    assert biomistral.set_index("column")["value"]["bio_pubmedqa"] == pytest.approx(0.775)
    assert reported.ci_low.isna().all() and (reported.source != "").all()
    groups = loader.group_scores(scores)
    assert set(groups.submission_id) == set(tables.submissions.submission_id)


def test_loader_cache_is_keyed_by_file_hashes(store, tmp_path, monkeypatch):
    root = tmp_path / "store"
    shutil.copytree(store, root)
    first = loader.load_tables(root)
    monkeypatch.setattr(loader, "_build", lambda *a: pytest.fail("cache not used"))
    again = loader.load_tables(root)
    assert again.scores.equals(first.scores)
    monkeypatch.undo()
    a, _ = ids(root)
    path = Store(root).path_of(a) / "submission.json"
    data = json.loads(path.read_text())
    data["notes"] = "changed"
    path.write_text(json.dumps(data))
    changed = loader.load_tables(root)
    assert "changed" in set(changed.submissions.notes)


def test_corrupt_submission_is_reported_and_the_rest_loads(store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(store, root)
    a, b = ids(root)
    (Store(root).path_of(a) / "submission.json").write_text("{not json")
    tables = loader.load_tables(root, cache=False)
    assert list(tables.submissions.submission_id) == [b]
    ((file, message),) = tables.problems
    assert file.endswith("submission.json") and "cannot read submission.json" in message


def test_items_file_must_match_its_hash(store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(store, root)
    a, _ = ids(root)
    items = loader.load_items([a], root, cache=False)
    assert {"bio_pubmedqa", "bio_chemprot"} <= set(items.task)
    assert items[items.metric == "f1"][["tp", "fp", "fn"]].notna().all().all()
    sub = Store(root).read(a)
    ref = next(f for f in sub.files if f.role == "items")
    target = Store(root).path_of(a) / ref.name
    target.write_bytes(target.read_bytes()[:-3] + b"xyz")
    with pytest.raises(loader.ItemsError, match="SHA-256 differs"):
        loader.load_items([a], root, cache=False)


def test_tests_on_too_few_items_are_never_significant(store):
    """The tiny runs pair 2 items per task: every test is marked unsupported, the report shows
    why instead of a bootstrap p, and nothing is significant even when Holm's p would say so."""
    a, b = ids(store)
    c = compare([a, b], store=Store(store), settings=FAST)
    assert c.tests and all(not t.supported and not t.significant for t in c.tests)
    assert all("too few items (n=" in t.unsupported_reason for t in c.tests if t.kind == "task")
    html, (md, _) = render_html(c), render_markdown(c, "report")
    assert "not reported: too few items (n=2 &lt; 10)" in html or "too few items (n=2" in html
    assert "too few items (n=2" in md
    assert "BCa" in md


def test_bca_interval_matches_scipy_and_degenerate_rule():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(1)
    a, b = rng.random(30), rng.random(30)
    num, den = np.c_[a, b], np.ones((30, 2))
    low, high = stats.bca_diff_interval(num, den, 0.95, n_resamples=2_000, seed=3)
    ref = bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), paired=True,
                    n_resamples=2_000, method="BCa", rng=np.random.default_rng(3))  # fmt: skip
    assert (low, high) == pytest.approx(tuple(ref.confidence_interval), abs=1e-12)
    assert stats.degenerate(np.array([0.0, 1 / 3, 2 / 3, 1.0] * 100))
    assert not stats.degenerate(rng.random(1000))
