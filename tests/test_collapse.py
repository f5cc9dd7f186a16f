"""Collapse detection (leaderboard/collapse.py): the one rule, table-driven, and where it shows."""

from __future__ import annotations

import pytest

from leaderboard import collapse
from leaderboard.collapse import Answers

FREE = dict(free_text=True)

CASES = [
    # (case, run answers, tuned, base answers, collapsed answer or False)
    ("tuned: one option throughout", Answers(8, 1.0, "none"), True, None, "none"),
    ("tuned: base answered otherwise", Answers(8, 1.0, "none"), True, Answers(8, 0.5, "a"), "none"),
    ("tuned: base gave another single answer", Answers(8, 1.0, "no"), True, Answers(8, 1.0, "yes"), False),
    ("tuned: same single answer as its base", Answers(20, 1.0, "yes"), True, Answers(20, 1.0, "yes"), False),
    ("tuned: base too few items to count", Answers(8, 1.0, "yes"), True, Answers(2, 1.0, "yes"), "yes"),
    ("tuned: two answers", Answers(8, 7 / 8, "none"), True, None, False),
    ("tuned: too few items", Answers(2, 1.0, "none"), True, None, False),
    ("tuned: exactly the minimum", Answers(3, 1.0, "A"), True, None, "A"),
    ("base model: one option throughout", Answers(20, 1.0, "A"), False, None, False),
    ("tuned: unreadable every time", Answers(8, 1.0, "[invalid]"), True, None, False),
    ("tuned: withheld every time", Answers(8, 1.0, "[withheld]"), True, None, False),
    ("tuned: unresolved every time", Answers(8, 1.0, "[unresolved]"), True, None, False),
    ("free text, tuned: same text", Answers(3, 1.0, None, **FREE), True, None, None),
    ("free text, base model: same text", Answers(5, 1.0, None, **FREE), False, None, None),
    ("free text: base also constant", Answers(5, 1.0, None, **FREE), True, Answers(5, 1.0, None, **FREE), None),
    ("free text: varied", Answers(15, 2 / 3, None, **FREE), True, None, False),
    ("free text: two items", Answers(2, 1.0, None, **FREE), True, None, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "run", "tuned", "base", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_collapse_rule(case, run, tuned, base, expected):
    found = collapse.collapsed("bio_x", run, tuned=tuned, base=base)
    if expected is False:
        assert found is None
    else:
        assert found is not None and found.answer == expected and found.n_items == run.n_items
        said = f"'{expected}'" if expected is not None else "the same text"
        assert found.describe() == f"bio_x: {said} on all {run.n_items} items"


def test_answers_from_stored_baselines_and_withheld_responses_are_distinct():
    """A free-text task's stored summary counts each withheld (echoing) response apart, so a
    model that copies its inputs is not called collapsed; one repeated text is."""
    from leaderboard.baselines import compute
    from leaderboard.items import WITHHELD_RESPONSE as WITHHELD
    from leaderboard.schemas import ItemRecord

    def item(i: int, response: str) -> ItemRecord:
        h = f"{i:064x}"
        return ItemRecord(
            task="bio_meqsum", doc_id=i, doc_hash=h, prompt_hash=h, target_hash=h,
            response=response, metrics={"rougeL": 0.0},
        )  # fmt: skip

    echoed = [item(i, WITHHELD.format(n=8)) for i in range(4)]
    stored = compute("bio_meqsum", echoed, {})
    assert stored.n_distinct == 4 and stored.top_share == 0.25
    assert collapse.collapsed("bio_meqsum", Answers.of(stored), tuned=True) is None
    same = compute("bio_meqsum", [item(i, "yes") for i in range(4)], {})
    found = collapse.collapsed("bio_meqsum", Answers.of(same), tuned=True)
    assert found is not None and found.answer is None
    assert Answers.of(None) is None


REPO_STORE = collapse.__file__.rsplit("/", 2)[0] + "/submissions"
BASE = "bioinstruct-repro__SmolLM2-135M-Instruct-Q4_1/base"
ALL = "bioinstruct-repro__SmolLM2-135M-Instruct-Q4_1-lora-all/all"


@pytest.fixture(scope="module")
def repro_comparison():
    """The stored reproduction's base model against its balanced `all` adapter (real runs)."""
    import warnings
    from pathlib import Path

    from leaderboard.compare import compare
    from leaderboard.schemas import StatsSettings
    from leaderboard.store import Store

    settings = StatsSettings(n_resamples=1_000, n_permutations=1_000, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = compare([BASE, ALL], store=Store(Path(REPO_STORE)), settings=settings)
    return c, caught


@pytest.mark.slow  # bootstrap and figures of a 20-task comparison: ~8 s on a busy machine
def test_compare_flags_the_adapters_collapse_but_not_what_its_base_already_did(repro_comparison):
    c, caught = repro_comparison
    assert [str(w.message) for w in caught] == []  # no scipy/numpy warnings on degenerate tasks
    flagged = {(s.submission_id, s.column): s.collapsed for s in c.scores if s.collapsed}
    # the `all` adapter answers "none" to all 50 ChemProt and DDI items; its base did not
    assert flagged == {
        (ALL, "bio_chemprot"): "bio_chemprot: 'none' on all 50 items",
        (ALL, "bio_ddi"): "bio_ddi: 'none' on all 50 items",
    }
    # BioASQ: both answer "yes" to all 128 items: at baseline, not a collapse from tuning
    bioasq = {s.submission_id: s.baselines for s in c.scores if s.column == "bio_bioasq_yesno"}
    assert bioasq[ALL].top_share == 1.0 and bioasq[BASE].top_share == 1.0
    assert any("COLLAPSED on 2 task(s)" in n for n in c.notes)
    from leaderboard import views  # the app's compare page shows the same flags

    _, scores = views.comparison_frames(c)
    shown = scores[scores["collapsed"] != ""]
    assert shown["task / group"].tolist() == ["ChemProt", "DDI 2013"]
    assert (
        shown["collapsed"].iloc[0] == f"{views.COLLAPSE_MARK} bio_chemprot: 'none' on all 50 items"
    )


@pytest.mark.slow
def test_reports_open_with_three_sentences_from_their_own_tables(repro_comparison):
    from leaderboard.report import opening, render_html, render_markdown

    c, _ = repro_comparison
    first, second, third = opening(c)
    groups = sorted(
        (t for t in c.tests if t.kind == "group"), key=lambda t: (t.p_holm, -abs(t.diff))
    )
    top = groups[0]
    # the clearest group: the adapter above its base, with the table's CI and Holm p
    assert f"{-top.diff:.3f}" in first and f"[{-top.ci_high:+.3f}, {-top.ci_low:+.3f}]" in first
    assert first.startswith("The clearest difference is on IE")
    assert ("significant after Holm" in first) == top.significant
    for t in groups[1:]:
        assert f"{abs(t.diff):.3f}" in second
    significant = sum(t.significant for t in c.tests if t.kind == "task")
    assert third.startswith(f"{significant} of 20 task differences are significant")
    assert "bio_chemprot: 'none' on all 50 items" in third
    md, _ = render_markdown(c, "r")
    assert md.splitlines()[2].startswith("The clearest difference is on IE")
    assert md.count("| COLLAPSED |") == 2
    page = render_html(c)
    assert page.index("The clearest difference") < page.index("<h2>Submissions</h2>")
    assert "COLLAPSED" in page and collapse.legend() in page


def test_board_marks_the_collapsed_row_only(tmp_path, monkeypatch):
    """The board's Collapsed column, from the stored submissions' answer summaries."""
    from pathlib import Path

    from leaderboard import loader, views

    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path))
    tables = loader.load_tables(Path(REPO_STORE))
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    board = views.build_board(rows, scores)
    marked = board.loc[board[views.COLLAPSED] != "", views.COLLAPSED].to_dict()
    assert marked == {ALL: f"{views.COLLAPSE_MARK} ChemProt, DDI 2013"}
    assert views.COLLAPSED in views.display_columns(views.layout())
    assert views.COLLAPSED not in views.display_columns(views.layout(), show_baselines=False)


def test_in_submission_lists_the_collapses_of_a_stored_run():
    """The reproduction's report notes (biobench ablation) use the same rule on stored runs."""
    from pathlib import Path

    from leaderboard.store import Store

    store = Store(Path(REPO_STORE))
    base, tuned = store.read(BASE), store.read(ALL)
    found = [c.describe() for c in collapse.in_submission(tuned, base)]
    assert found == ["bio_chemprot: 'none' on all 50 items", "bio_ddi: 'none' on all 50 items"]
    assert collapse.in_submission(base) == []  # a base model's single options are baselines
