"""Constant-answer baselines (``leaderboard/baselines.py``, ``biobench baselines``): the numbers
against an independent count (collections.Counter, scikit-learn, statsmodels), the at-baseline
flag for constant runs and runs that differ, how the store, the leaderboard and the comparison
report show them, and the stored SmolLM2 submission on the real data."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, multilabel_confusion_matrix
from statsmodels.stats.contingency_tables import mcnemar

from leaderboard import baselines as bl
from leaderboard import loader, views
from leaderboard.compare import compare
from leaderboard.items import ECHO_WORDS, ITEMS_FILE, WITHHELD_RESPONSE, by_filter
from leaderboard.loader import read_items
from leaderboard.report import baseline_mark, render_html, render_markdown
from leaderboard.rescore import doc_hash
from leaderboard.schemas import (
    Comparison,
    ItemRecord,
    PairedTest,
    StatsSettings,
    Submission,
    TaskBaselines,
)
from leaderboard.store import SUBMISSION_FILE, Store
from runners import baselines as baselines_cmd
from tasks import registry
from tasks.common import ie_metrics
from tasks.common.ie_tasks import relation_loglik_results, relation_target_index
from tasks.common.sources import load
from tests.support.submission_runs import store_with_b

ROOT = Path(__file__).resolve().parents[1]
H = "0" * 64


# --- fake suite tasks: the lm-eval Task interface the module uses ---------------------------


class QATask:
    """Multiple choice scored like lm-eval's ConfigurableTask (acc, acc_norm)."""

    OUTPUT_TYPE = "multiple_choice"

    def __init__(self, golds, n_options=4):
        sizes = n_options if isinstance(n_options, list) else [n_options] * len(golds)
        letters = "ABCDE"
        self.eval_docs = [
            {"id": str(i), "choices": list(letters[:k]), "answer": g}
            for i, (g, k) in enumerate(zip(golds, sizes, strict=True))
        ]

    def doc_to_choice(self, doc):
        return doc["choices"]

    def doc_to_target(self, doc):
        return doc["answer"]

    def process_results(self, doc, results):
        lls = [ll for ll, _ in results]
        pred = int(np.argmax(lls))
        return {"acc": float(pred == doc["answer"]), "acc_norm": float(pred == doc["answer"])}


VERBALISE = {"CPR:3": "activator", "CPR:4": "inhibitor", "False": "none"}


class RETask:
    """Relation extraction by log-likelihood, scored by the suite's own relation scorer."""

    OUTPUT_TYPE = "multiple_choice"

    def __init__(self, golds, labels=("CPR:3", "CPR:4", "False"), negative="False"):
        self.eval_docs = [
            {"id": str(i), "labels": list(labels), "label": g, "negative": negative}
            for i, g in enumerate(golds)
        ]

    def doc_to_choice(self, doc):
        return [VERBALISE.get(label, label) for label in doc["labels"]]

    def doc_to_target(self, doc):
        return relation_target_index(doc)

    def process_results(self, doc, results):
        return relation_loglik_results(doc, results)


def qa_items(leaf, task, choices):
    return [
        ItemRecord(
            task=leaf, doc_id=i, doc_hash=doc_hash(doc), prompt_hash=H, target_hash=H, choice=c,
            metrics={"acc": float(c == doc["answer"]), "acc_norm": float(c == doc["answer"])},
        )
        for i, (doc, c) in enumerate(zip(task.eval_docs, choices, strict=True))
    ]  # fmt: skip


def gen_qa_items(leaf, task, answers):
    return [
        ItemRecord(
            task=leaf, doc_id=i, filter="extract", doc_hash=doc_hash(doc), prompt_hash=H,
            target_hash=H, response=a,
            metrics={"exact_match": float(a == "ABCDE"[doc["answer"]])},
        )
        for i, (doc, a) in enumerate(zip(task.eval_docs, answers, strict=True))
    ]  # fmt: skip


def re_items(leaf, task, preds, *, responses=None):
    out = []
    for i, (doc, pred) in enumerate(zip(task.eval_docs, preds, strict=True)):
        counts = ie_metrics.label_counts(doc["label"], pred, doc["negative"]).as_dict()
        kind = {} if responses is None else {"response": responses[i]}
        choice = None if responses is not None else doc["labels"].index(pred)
        out.append(
            ItemRecord(
                task=leaf, doc_id=i, doc_hash=doc_hash(doc), prompt_hash=H, target_hash=H,
                choice=choice, metrics={"acc": float(pred == doc["label"])},
                counts={m: counts for m in ("f1", "precision", "recall")}, **kind,
            )
        )  # fmt: skip
    return out


def sk_f1(golds, preds, positives):
    return f1_score(golds, preds, labels=positives, average="micro", zero_division=0)


def f1_of_counts(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0


GOLDS_QA = [0] * 30 + [1] * 20 + [2] * 10  # 60 items: A 50%, B 33%, C 17%
GOLDS_RE = ["CPR:3"] * 12 + ["CPR:4"] * 18 + ["False"] * 30


# --- the numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "choices", "at_baseline"),
    [
        ("constant first option", [0] * 60, True),
        ("constant second option", [1] * 60, True),
        ("always right", GOLDS_QA, False),
        ("mostly A, right on 12 B items", [0] * 30 + [1] * 12 + [0] * 18, False),
        ("mostly A, right on 2 B items", [0] * 30 + [1] * 2 + [0] * 28, True),
    ],
)
def test_accuracy_baselines_against_an_independent_count(name, choices, at_baseline):
    task = QATask(GOLDS_QA, n_options=3)
    b = bl.compute("bio_pubmedqa", qa_items("bio_pubmedqa", task, choices), {"bio_pubmedqa": task})
    golds = Counter(GOLDS_QA)
    assert b.applicable and b.metric == "acc" and b.n_items == 60
    assert b.majority == pytest.approx(golds.most_common(1)[0][1] / 60) and b.majority_answer == "A"
    assert b.first_option == pytest.approx(golds[0] / 60)
    assert b.random == pytest.approx(1 / 3)
    assert b.constants == pytest.approx({"A": 30 / 60, "B": 20 / 60, "C": 10 / 60})
    answers = Counter("ABC"[c] for c in choices)
    top, count = answers.most_common(1)[0]
    assert b.top_answer == top and b.top_share == pytest.approx(count / 60)
    assert b.answers == dict(answers)
    # McNemar exact (statsmodels) of the run against always giving its most frequent answer
    constant = "ABC".index(top)
    run_ok = np.array([c == g for c, g in zip(choices, GOLDS_QA, strict=True)])
    const_ok = np.array([constant == g for g in GOLDS_QA])
    table = [[np.sum(run_ok & const_ok), np.sum(run_ok & ~const_ok)],
             [np.sum(~run_ok & const_ok), np.sum(~run_ok & ~const_ok)]]  # fmt: skip
    expected = mcnemar(table, exact=True).pvalue
    assert b.test == "mcnemar" and b.p_value == pytest.approx(expected)
    assert b.tested_answer == top and b.at_baseline is bool(expected >= 0.05) is at_baseline


def test_random_is_the_mean_of_one_over_the_options():
    golds = [0, 1, 2, 3, 4, 0]
    sizes = [4, 4, 5, 5, 5, 4]
    task = QATask(golds, n_options=sizes)
    b = bl.compute(
        "bio_headqa_en", qa_items("bio_headqa_en", task, [0] * 6), {"bio_headqa_en": task}
    )
    assert b.random == pytest.approx(np.mean([1 / k for k in sizes]))
    assert b.constants["E"] == pytest.approx(1 / 6)  # items without option E: a wrong answer


@pytest.mark.parametrize(
    ("name", "preds", "at_baseline"),
    [
        ("always activator", ["CPR:3"] * 60, True),
        ("always none", ["False"] * 60, True),
        ("always right", GOLDS_RE, False),
    ],
)
def test_f1_baselines_against_scikit_learn(name, preds, at_baseline):
    task = RETask(GOLDS_RE)
    b = bl.compute("bio_chemprot", re_items("bio_chemprot", task, preds), {"bio_chemprot": task})
    positives = ["CPR:3", "CPR:4"]
    labels = ["CPR:3", "CPR:4", "False"]
    per_constant = {lab: sk_f1(GOLDS_RE, [lab] * 60, positives) for lab in labels}
    assert b.metric == "f1" and b.constants == pytest.approx(
        {VERBALISE[k]: v for k, v in per_constant.items()}
    )
    best = max(labels, key=per_constant.get)
    assert b.majority == pytest.approx(per_constant[best]) and b.majority_answer == VERBALISE[best]
    assert b.majority_answer == "inhibitor"  # the most frequent gold class is "no relation" (F1 0)
    assert b.first_option == pytest.approx(per_constant["CPR:3"])
    # uniform random: F1 of the expected summed counts = of the counts summed over constants
    total = sum(multilabel_confusion_matrix(GOLDS_RE, [lab] * 60, labels=positives).sum(axis=0)
                for lab in labels)  # fmt: skip
    (_, fp), (fn, tp) = total
    assert b.random == pytest.approx(f1_of_counts(tp, fp, fn))
    assert b.test == "permutation" and b.at_baseline is at_baseline
    assert (b.p_value >= 0.05) is at_baseline
    assert b.top_share == pytest.approx(Counter(preds).most_common(1)[0][1] / 60)


def test_generative_qa_uses_its_sibling_and_counts_invalid_answers():
    task = QATask(GOLDS_QA, n_options=3)
    answers = ["A"] * 50 + ["[invalid]"] * 6 + ["b"] * 4
    items = gen_qa_items("bio_medqa_gen", task, answers)
    b = bl.compute("bio_medqa_gen", items, {"bio_medqa": task})
    assert b.scored_with == "bio_medqa" and b.metric == "exact_match"
    assert b.majority == pytest.approx(0.5) and b.first_option == pytest.approx(0.5)
    assert b.answers == {"A": 50, "[invalid]": 6, "B": 4}
    assert b.top_answer == "A" and b.top_share == pytest.approx(50 / 60)
    assert b.tested_answer == "A" and b.test == "mcnemar"


def test_generative_relations_are_read_from_counts_when_the_reading_changed():
    golds = ["1"] * 8 + ["0"] * 4
    task = RETask(golds, labels=("1", "0"), negative="0")
    preds = ["1"] * 10 + ["0"] * 2
    responses = [WITHHELD_RESPONSE.format(n=ECHO_WORDS)] * 3
    responses += ["some prose"] * 9
    items = re_items("bio_gad_gen", task, preds, responses=responses)
    b = bl.compute("bio_gad_gen", items, {"bio_gad": task}, reread=False)
    assert b.answers == {"1": 10, "0": 2}  # binary: every stored count names one label
    assert b.first_option == pytest.approx(sk_f1(golds, ["1"] * 12, ["1"]))


def test_multiclass_wrong_positives_are_unresolved_without_rereading():
    task = RETask(["False"] * 6 + ["CPR:3"] * 6)
    preds = ["CPR:4"] * 6 + ["CPR:3"] * 6
    items = re_items("bio_chemprot_gen", task, preds, responses=["x"] * 12)
    b = bl.compute("bio_chemprot_gen", items, {"bio_chemprot": task}, reread=False)
    assert b.answers == {"activator": 6, "[unresolved]": 6}  # fp=1 fits activator and inhibitor
    assert b.tested_answer == "activator" and "not recoverable" in b.note


def test_free_text_tasks_without_their_task_record_that_they_have_no_baseline():
    items = [
        ItemRecord(task="bio_ner_bc2gm", doc_id=i, doc_hash=H, prompt_hash=H, target_hash=H,
                   response="none" if i < 3 else f"gene {i}")
        for i in range(5)
    ]  # fmt: skip
    b = bl.compute("bio_ner_bc2gm", items, {})
    assert not b.applicable and b.majority is None and b.at_baseline is None
    assert "F1 0" in b.note and b.top_answer is None
    assert b.top_share == pytest.approx(3 / 5) and b.n_distinct == 3
    assert "ROUGE" in bl.compute("bio_meqsum", [it.model_copy(update={"task": "bio_meqsum"})
                                               for it in items], {}).note.upper()  # fmt: skip


def test_items_of_other_data_are_refused():
    task = QATask(GOLDS_QA, n_options=3)
    items = qa_items("bio_pubmedqa", task, [0] * 60)
    items[3] = items[3].model_copy(update={"doc_hash": "f" * 64})
    with pytest.raises(bl.BaselineError, match="doc_hash"):
        bl.compute("bio_pubmedqa", items, {"bio_pubmedqa": task})


def test_siblings():
    assert registry.sibling_leaf("bio_medqa_gen") == "bio_medqa"
    assert registry.sibling_leaf("bio_gad_gen") == "bio_gad"
    assert registry.sibling_leaf("bio_mmlu_medical_anatomy_gen") == "bio_mmlu_medical_anatomy"
    assert registry.sibling_leaf("bio_pubmedqa") == "bio_pubmedqa"
    for leaf in ("bio_ner_bc2gm", "bio_hoc", "bio_meqsum"):
        assert registry.sibling_leaf(leaf) is None
    assert bl.leaves_needed(["bio_medqa_gen", "bio_meqsum"]) == [
        "bio_medqa_gen", "bio_meqsum", "bio_medqa"
    ]  # fmt: skip


# --- the report marks differences between two runs at baseline ------------------------------


def _test(column, a_flag, b_flag) -> PairedTest:
    return PairedTest(
        kind="task", column=column, column_b=column, category="qa", metric="acc,none", a="x/a",
        b="x/b", n_paired=60, n_only_a=0, n_only_b=0, n_conflicting=0, score_a=0.5, score_b=0.4, diff=0.1,
        ci_low=0.0, ci_high=0.2, p_bootstrap=0.04, test="mcnemar", p_value=0.03, p_holm=0.03,
        significant=True, se_iid=0.05, mde=0.1, at_baseline_a=a_flag, at_baseline_b=b_flag,
        both_at_baseline=bool(a_flag and b_flag),
    )  # fmt: skip


def test_report_marks_differences_between_runs_both_at_baseline(tmp_path):
    from datetime import UTC, datetime

    tests = [_test("bio_pubmedqa", True, True), _test("bio_medqa", True, False),
             _test("bio_gad", False, False)]  # fmt: skip
    c = Comparison(
        created_at=datetime(2026, 1, 1, tzinfo=UTC), submissions=["x/a", "x/b"],
        labels={"x/a": "A", "x/b": "B"}, match="task", settings=StatsSettings(), scores=[],
        tests=tests,
    )  # fmt: skip
    assert [baseline_mark(t) for t in tests] == ["both at baseline", "A at baseline", ""]
    text, _ = render_markdown(c, "r")
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if " − " in line}
    assert (
        "both at baseline" in rows["PubMedQA"] and "A at baseline" in rows["MedQA (USMLE, 4 opt)"]
    )
    assert "at baseline" not in rows["GAD"]
    page = render_html(c)
    assert page.count('<tr class="sig base">') == 1 and page.count('<tr class="sig">') == 2
    frame, _ = views.comparison_frames(c)
    assert frame["constant baseline"].tolist() == ["both at baseline", "A at baseline", ""]


# --- the tiny-model runs: submit, store, backfill, leaderboard, compare ---------------------


def _records(leaf):
    return load(registry.leaf_source(leaf)).records


@pytest.mark.slow
@pytest.mark.parametrize(
    ("leaf", "data_leaf"),
    [("bio_pubmedqa", "bio_pubmedqa"), ("bio_medqa_gen", "bio_medqa"),
     ("bio_chemprot", "bio_chemprot"), ("bio_ner_bc2gm", None), ("bio_meqsum", None)],
)  # fmt: skip
def test_submitted_run_stores_baselines_that_match_an_independent_count(
    runs, sample_data, leaf, data_leaf
):
    sub = Store(runs.store).read(runs.a_id)
    b = sub.task(leaf).baselines
    assert b is not None and b.n_items == sub.task(leaf).n_items
    items = [it for it in read_items(runs.store, sub) if it.task == leaf]
    spec = registry.spec_of_leaf(leaf)
    chosen = by_filter(items)[spec.filter]
    if data_leaf is None:  # free text: trivial answers (tests/test_trivial_baselines.py)
        assert b.applicable and b.trivial and b.scored_with == leaf and b.test == "permutation"
        assert b.majority == max(b.constants.values()) and b.tested_answer == b.majority_answer
        counts = Counter(it.response for it in chosen)
        assert b.top_share == pytest.approx(max(counts.values()) / len(chosen))
        return
    assert b.applicable and b.scored_with == data_leaf
    records = [_records(data_leaf)[it.doc_id] for it in chosen]
    n = len(records)
    if hasattr(records[0], "answer"):  # multiple-choice QA: accuracy of a constant letter
        golds = Counter(r.answer for r in records)
        assert b.majority == pytest.approx(golds.most_common(1)[0][1] / n)
        assert b.first_option == pytest.approx(golds[0] / n)
        assert b.random == pytest.approx(np.mean([1 / len(r.choices) for r in records]))
        answers = Counter(
            it.choice if it.choice is not None else it.response for it in chosen
        ).most_common(1)[0][1]
    else:  # relation extraction: micro F1 over the positive labels
        golds = [r.label for r in records]
        positives = [lab for lab in records[0].labels if lab != records[0].negative]
        scores = [sk_f1(golds, [lab] * n, positives) for lab in records[0].labels]
        assert b.majority == pytest.approx(max(scores))
        assert b.first_option == pytest.approx(scores[0])
        answers = Counter(it.choice for it in chosen).most_common(1)[0][1]
    assert b.top_share == pytest.approx(answers / n)
    if b.tested_answer is None:  # the tiny random model answered no option at all
        assert b.at_baseline is None and b.top_answer == "[invalid]" and "no option" in b.note
    else:  # a handful of items: never distinguishable from a constant
        assert b.at_baseline is True and "only" in b.note


@pytest.fixture(scope="module")
def store(runs, tmp_path_factory):
    """Run A's store plus run B (generative PubMedQA, --limit 2), submitted here."""
    return store_with_b(runs, tmp_path_factory.mktemp("baselines") / "store")


def _ids(root):
    return sorted(Store(root).ids())


@pytest.mark.slow
def test_generative_submission_is_scored_with_its_loglik_sibling(store):
    sub_b = Store(store).read(_ids(store)[1])
    b = sub_b.task("bio_pubmedqa_gen").baselines
    assert b.applicable and b.scored_with == "bio_pubmedqa" and b.n_items == 2
    assert b.scorer_version == "1.0"


@pytest.mark.slow
def test_backfill_restores_stripped_baselines_and_leaves_the_files_alone(
    store, sample_data, tmp_path, capsys
):
    root = tmp_path / "store"
    shutil.copytree(store, root)
    before = {}
    for sid in _ids(root):
        path = Store(root).path_of(sid)
        before[sid] = json.loads((path / SUBMISSION_FILE).read_text())
        stripped = json.loads((path / SUBMISSION_FILE).read_text())
        for task in stripped["tasks"]:
            task.pop("baselines")
        (path / SUBMISSION_FILE).write_text(json.dumps(stripped, indent=2))
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
              if p.is_file() and p.name != SUBMISSION_FILE and not p.name.startswith(".")}  # fmt: skip
    assert baselines_cmd.main(["--store", str(root), "--check"]) == 1
    assert baselines_cmd.main(["--store", str(root)]) == 0
    out = capsys.readouterr().out
    assert "AT BASELINE" in out and "updated" in out
    for sid in _ids(root):
        path = Store(root).path_of(sid)
        after = json.loads((path / SUBMISSION_FILE).read_text())
        assert after == before[sid]  # the same records submit computed
        Submission.model_validate(after)
    assert hashes == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in hashes}
    assert baselines_cmd.main(["--store", str(root), "--check"]) == 0


@pytest.mark.slow
def test_backfill_refuses_items_that_do_not_match_their_hash(store, sample_data, tmp_path, capsys):
    root = tmp_path / "store"
    shutil.copytree(store, root)
    items = Store(root).path_of(_ids(root)[0]) / ITEMS_FILE
    items.write_bytes(items.read_bytes() + b"\0")
    assert baselines_cmd.main(["--store", str(root)]) == 2
    assert "SHA-256" in capsys.readouterr().err


@pytest.mark.slow
def test_leaderboard_tables_show_the_flag_and_the_majority(store, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    tables = loader.load_tables(store)
    primary = tables.scores[tables.scores["primary"] & (tables.scores["task"] == "bio_pubmedqa")]
    sub = Store(store).read(_ids(store)[0])
    b = sub.task("bio_pubmedqa").baselines
    assert primary["baseline_majority"].iloc[0] == pytest.approx(b.majority)
    assert bool(primary["at_baseline"].iloc[0]) is True
    assert primary["top_share"].iloc[0] == pytest.approx(b.top_share)
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    board = views.build_board(rows, scores, views.layout())
    spec = registry.task("bio_pubmedqa")
    cell = board.loc[sub.submission_id, views.baseline_column(spec)]
    assert cell == f"{views.FLAG} {100 * b.majority:.1f}"
    flagged = sum(
        1 for t in sub.tasks
        if t.baselines and t.baselines.at_baseline and registry.task(t.column) in views.layout().tasks
    )  # fmt: skip
    assert board.loc[sub.submission_id, views.AT_BASELINE] == flagged
    assert set(views.display_columns(views.layout())) <= set(board.columns) | {"Rank"}
    page = views.model_page(sub).baselines
    line = page[page["task"] == "bio_pubmedqa"].iloc[0]
    assert line["majority"] == pytest.approx(100 * b.majority)
    assert line["at baseline"] == f"{views.FLAG} yes"
    assert (page[page["task"] == "bio_meqsum"]["top answer"] == "(free text)").all()


@pytest.mark.slow
def test_compare_marks_a_difference_between_two_runs_at_baseline(store, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    c = compare(_ids(store), store=Store(store), settings=StatsSettings(n_resamples=200,
                n_permutations=200, seed=1))  # fmt: skip
    test = next(t for t in c.tests if t.column == "bio_chemprot")
    assert test.at_baseline_a and test.at_baseline_b and test.both_at_baseline
    medqa = next(t for t in c.tests if t.column == "bio_medqa_gen")  # no option answered: unknown
    assert medqa.at_baseline_a is None and not medqa.both_at_baseline
    scored = [s for s in c.scores if s.kind == "task"]
    assert all(isinstance(s.baselines, TaskBaselines) for s in scored)
    assert any("both at a constant-answer baseline" in n for n in c.notes)
    text, _ = render_markdown(c, "r")
    row = next(line for line in text.splitlines() if line.startswith("| ChemProt |"))
    assert "both at baseline" in row


# --- the stored SmolLM2 submissions on the real data ----------------------------------------

SMOL = ROOT / "submissions" / "HuggingFaceTB__SmolLM2-135M-Instruct"


@pytest.mark.realdata
def test_stored_smollm2_pubmedqa_is_the_always_yes_baseline(shared_data):
    sub = Submission.model_validate_json((SMOL / "20261121-default" / SUBMISSION_FILE).read_bytes())
    b = sub.task("bio_pubmedqa").baselines
    assert b is not None, "run `biobench baselines` on the stored submissions"
    assert b.majority == pytest.approx(0.552) and b.majority_answer == "yes"
    assert b.top_answer == "yes" and b.top_share == 1.0 and b.at_baseline is True
    assert sub.task("bio_pubmedqa").score == pytest.approx(b.majority)
    items = [it for it in read_items(ROOT / "submissions", sub) if it.task == "bio_pubmedqa"]
    records = _records("bio_pubmedqa")
    golds = Counter(records[it.doc_id].choices[records[it.doc_id].answer] for it in items)
    assert golds["yes"] / len(items) == pytest.approx(b.majority)  # 276 of 500
    assert Counter(it.choice for it in items) == {0: 500}
    medqa = sub.task("bio_medqa").baselines
    assert medqa.top_answer == "A" and medqa.top_share == 1.0 and medqa.at_baseline


@pytest.mark.realdata
@pytest.mark.slow
def test_stored_smollm2_baselines_are_current(shared_data, tmp_path, capsys):
    root = tmp_path / "submissions"
    shutil.copytree(SMOL, root / SMOL.name)
    assert baselines_cmd.main(["--store", str(root), "--check"]) == 0, capsys.readouterr().out


def test_docs_baselines_table_is_the_stored_numbers():
    subs = [Submission.model_validate_json((SMOL / run / SUBMISSION_FILE).read_bytes())
            for run in ("20261121-default", "20261202-ie-lite", "20261202-generative-lite")]  # fmt: skip
    readme = (ROOT / "docs" / "smollm2-results.md").read_text()
    assert baselines_cmd.MARKDOWN_HEADER in readme
    table = [
        baselines_cmd.MARKDOWN_HEADER,
        *(r for sub in subs for r in baselines_cmd.markdown_rows(sub)),
    ]
    assert "\n".join(table) in readme
    # header; stale task versions left out (NER and the generative QA/RE rows: extraction rule
    # v3; all of 20261121-generative)
    assert len(table) == 1 + 19
