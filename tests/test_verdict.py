"""Verdict sentences of a comparison (leaderboard.verdict): one sign convention (gain of B over
A), one unit (percentage points); the discordant items behind McNemar's test, checked against
the stored (b, c) and statsmodels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from statsmodels.stats.contingency_tables import mcnemar

from leaderboard import loader, verdict
from leaderboard.compare import compare, subset_words
from leaderboard.schemas import Comparison, PairedTest, StatsSettings
from leaderboard.store import Store
from tasks import registry
from tests.support.synthetic_store import make_submission, write_store


def _test(column, diff, low, high, p_holm, significant, kind="group", **extra) -> PairedTest:
    fields = dict(
        kind=kind, column=column, column_b=column, category="qa", metric="acc", a="run-a",
        b="run-b", n_paired=100, n_only_a=0, n_only_b=0, n_conflicting=0, score_a=0.5,
        score_b=0.5 - diff, diff=diff, ci_low=low, ci_high=high, p_bootstrap=0.01,
        test="bootstrap", p_value=0.01, p_holm=p_holm, significant=significant, se_iid=0.01,
        mde=0.02,
    )  # fmt: skip
    return PairedTest(**{**fields, **extra})


def _comparison(tests) -> Comparison:
    return Comparison(
        created_at=datetime(2026, 1, 1, tzinfo=UTC), submissions=["run-a", "run-b"],
        labels={"run-a": "Base", "run-b": "Base+LoRA"}, match="task", settings=StatsSettings(),
        scores=[], tests=tests,
    )  # fmt: skip


def test_sentence_reads_the_gain_of_b_over_a_in_points():
    # A − B = -0.07 on IE: B gains +7.0 points, CI [-0.10, -0.03] -> [+3.0, +10.0]
    ie = _test("bio_ie", -0.07, -0.10, -0.03, 0.002, True)
    qa = _test("bio_qa", 0.004, -0.02, 0.03, 0.41, False)
    gen = _test("bio_gen", 0.021, 0.01, 0.035, 0.03, True)
    (text,) = verdict.sentences(_comparison([qa, ie, gen]))
    assert text == (
        "Base+LoRA vs Base: Base+LoRA is better on IE by +7.0 points [+3.0, +10.0], Holm p "
        "0.002; Base is better on Generation by +2.1 points [+1.0, +3.5], Holm p 0.030; no "
        "difference on QA (Holm p 0.410)."
    )
    g = verdict.gain(ie)
    assert (g.value, g.low, g.high) == pytest.approx((7.0, 3.0, 10.0))


def test_tasks_speak_when_there_is_no_group_and_untested_ones_say_why():
    t = _test("bio_medqa", 0.0, 0.0, 0.0, None, None, kind="task", supported=False,
              unsupported_reason="3 paired items")  # fmt: skip
    (text,) = verdict.sentences(_comparison([t]))
    assert text.endswith("MedQA (USMLE, 4 opt) not tested (3 paired items).")


@pytest.mark.parametrize(
    ("subset", "words"),
    [("lite-200-v1", "--lite (lite-200-v1)"), ("first-50", "--limit 50 (the first 50 items)"),
     ("custom", "item subset custom")],
)  # fmt: skip
def test_subset_words(subset, words):
    assert subset_words(subset) == words


def test_discordant_items_are_mcnemars_b_and_c(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    spec = registry.spec_of_leaf("bio_medqa")
    subs = [make_submission(m, seed=s, skill=k, tasks=[spec], n_items=60)
            for m, s, k in (("org/a", 1, 0.35), ("org/b", 2, 0.65))]  # fmt: skip
    store = write_store(tmp_path / "store", subs)
    a, b = sorted(Store(store.root).ids())
    c = compare([a, b], store=store, settings=StatsSettings(n_resamples=500, n_permutations=500))
    (t,) = [t for t in c.tests if t.kind == "task"]
    items = loader.load_items([a, b], store.root)
    found = verdict.discordant_items(items, a, b, spec.name, spec.metric, spec.filter)
    n_a, n_b = int((found["right"] == "A").sum()), int((found["right"] == "B").sum())
    assert (n_a, n_b) == tuple(t.discordant) and n_a + n_b > 0
    both = t.n_paired - n_a - n_b  # concordant cells: only their sum matters to the exact test
    reference = mcnemar([[both, n_a], [n_b, 0]], exact=True).pvalue
    assert t.p_value == pytest.approx(reference)
    assert set(found.columns) == set(verdict.DISCORDANT_COLUMNS)


def _group(sid, column, value, low, high):
    from leaderboard.schemas import ScoreEstimate

    return ScoreEstimate(submission_id=sid, label=sid, column=column, kind="group", metric="mean",
                         value=value, ci_low=low, ci_high=high, n_items=10)  # fmt: skip


def test_group_figure_hatches_only_variants_and_shows_zero_bars():
    import matplotlib.pyplot as plt

    from leaderboard import report

    scores = [_group("run-a", "bio_qa", 0.4, 0.3, 0.5), _group("run-a", "bio_gen", 0.0, 0.0, 0.0),
              _group("run-b", "bio_qa", 0.5, 0.4, 0.6), _group("run-b", "bio_gen", 0.2, 0.1, 0.3)]  # fmt: skip
    fig = report.group_bars_figure(_comparison([]).model_copy(update={"scores": scores}))
    try:
        ax = fig.axes[0]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "generative variant" not in legend  # GEN is a category, not a variant
        assert not any(p.get_hatch() for p in ax.patches)
        texts = [t.get_text() for t in ax.texts]
        assert "0.0" in texts and "40.0" in texts  # every bar labelled, in percent
        lines = [seg for coll in ax.collections for seg in coll.get_segments()]
        assert any(abs(seg[0][1] - 0.6) < 1e-9 and abs(seg[1][1] - 0.6) < 1e-9 for seg in lines)
    finally:
        plt.close(fig)
    both = scores + [_group("run-a", "bio_qa_gen", 0.3, 0.2, 0.4)]
    fig = report.group_bars_figure(_comparison([]).model_copy(update={"scores": both}))
    try:
        assert "generative variant" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    finally:
        plt.close(fig)
