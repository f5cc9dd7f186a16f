"""Trivial baselines of the free-text tasks (leaderboard/trivial.py, leaderboard/baselines.py).

Each number is checked against an independent reference: ROUGE-L against ``rouge_score``
called directly on hand-made text (and a hand-worked LCS), HoC's all-labels F1 against
scikit-learn's micro F1 on the indicator matrix, NER's empty answer against seqeval; and, where
the real data is present, the figures the issue quotes (HoC all labels 0.240 on the lite-200
items, lead-20 ROUGE-L 0.168 on MeQSum and 0.096 on MTS-Dialog on the reproduction's items)
and the constants fixed on training data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rouge_score import rouge_scorer
from seqeval.metrics import f1_score as seqeval_f1
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from leaderboard import baselines as bl
from leaderboard import trivial
from leaderboard.rescore import doc_hash
from leaderboard.schemas import Counts, ItemRecord
from runners import baselines as baselines_cmd
from tasks.bio_hoc import utils as hoc
from tasks.common import generation, ie_tasks

H = "0" * 64
ROOT = Path(__file__).resolve().parents[1]


class FreeTextTask:
    """The lm-eval Task interface baselines use, around a suite task's own process_results."""

    OUTPUT_TYPE = "generate_until"

    def __init__(self, docs, process_results, target):
        self.eval_docs, self._process, self._target = docs, process_results, target

    def process_results(self, doc, results):
        return self._process(doc, results)

    def doc_to_target(self, doc):
        return self._target(doc)


def _items(leaf, task, responses, metric, values):
    out = []
    for i, (doc, response) in enumerate(zip(task.eval_docs, responses, strict=True)):
        value = values[i]
        kind = (
            {"counts": {metric: Counts(**{k: value[k] for k in ("tp", "fp", "fn")})}}
            if isinstance(value, dict)
            else {"metrics": {metric: float(value)}}
        )
        out.append(
            ItemRecord(task=leaf, doc_id=i, doc_hash=doc_hash(doc), prompt_hash=H,
                       target_hash=H, response=response, raw_response=response, **kind)
        )  # fmt: skip
    return out


# --- generation: lead-k copy --------------------------------------------------------------

INPUTS = [
    "my mother takes metformin twice a day and her sugar is still high what else can she take",
    "is it safe to take ibuprofen with lisinopril for back pain i am 60 years old",
    "what causes ringing in the ears after a cold and how long does it last",
    "can vitamin d deficiency cause tiredness and muscle pain in winter months",
] * 3
REFERENCES = [
    "What other drugs can be added to metformin?",
    "Can ibuprofen be taken with lisinopril?",
    "What causes tinnitus after a cold?",
    "Can vitamin D deficiency cause fatigue?",
] * 3


def _gen_task():
    docs = [
        {"id": str(i), "input": text, "references": [ref]}
        for i, (text, ref) in enumerate(zip(INPUTS, REFERENCES, strict=True))
    ]
    return FreeTextTask(docs, generation.process_results, generation.doc_to_target)


def test_lead_is_the_first_k_words():
    assert trivial.lead("a  b\nc d e", 3) == "a b c"
    assert trivial.lead("only two", 20) == "only two"


def test_rouge_of_a_lead_copy_matches_a_hand_worked_lcs():
    # "is it safe to take ibuprofen" vs "Can ibuprofen be taken with lisinopril?": stems are
    # [is it safe to take ibuprofen] and [can ibuprofen be taken with lisinopril]; the LCS is
    # [ibuprofen] (1 token; "take" and "taken" share the stem "take": LCS 1 either way)
    score = generation.rouge(trivial.lead(INPUTS[1], 6), [REFERENCES[1]])["rougeL"]
    p, r = 1 / 6, 1 / 6
    assert score == pytest.approx(2 * p * r / (p + r))


def test_lead_k_baseline_is_the_mean_rouge_l_of_rouge_score_and_lengths_are_reported(monkeypatch):
    monkeypatch.setitem(trivial.LEAD_K, "bio_meqsum", 8)
    task = _gen_task()
    responses = ["What drugs treat diabetes?"] * 6 + ["I think you should see a doctor soon."] * 6
    values = [
        generation.rouge(r, d["references"])["rougeL"]
        for r, d in zip(responses, task.eval_docs, strict=True)
    ]
    items = _items("bio_meqsum", task, responses, "rougeL", values)
    b = bl.compute("bio_meqsum", items, {"bio_meqsum": task}, scorer_version="1.0")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = np.mean(
        [scorer.score(ref, " ".join(text.split()[:8]))["rougeL"].fmeasure
         for text, ref in zip(INPUTS, REFERENCES, strict=True)]
    )  # fmt: skip
    assert b.applicable and b.trivial and b.test == "permutation"
    assert b.majority == pytest.approx(expected) and b.majority_answer == "lead-8 copy of the input"
    assert b.tested_score == b.majority and b.first_option is None and b.random is None
    assert b.baseline_words == 8 and b.reference_words == pytest.approx(
        np.mean([len(r.split()) for r in REFERENCES])
    )
    assert b.response_words == pytest.approx(np.mean([len(r.split()) for r in responses]))
    assert b.n_response_words == 12 and b.scorer_version == "1.0"
    assert trivial.words_text(b) == f"6 / {b.reference_words:.0f} / 8"
    # the run (ROUGE-L well below the copy on every item) is not at the baseline: it is below it
    assert np.mean(values) < b.majority and b.at_baseline is False and b.p_value < 0.05


def test_withheld_responses_are_left_out_of_the_length_and_said_so():
    task = _gen_task()
    responses = ["[response withheld: it repeats 8+ consecutive words of the test item]"] * 4 + [
        "short answer"
    ] * 8
    items = _items("bio_meqsum", task, responses, "rougeL", [0.0] * 12)
    b = bl.compute("bio_meqsum", items, {"bio_meqsum": task})
    assert b.n_response_words == 8 and b.response_words == 2
    assert "8 of 12 responses" in b.note


def test_without_the_task_object_the_record_says_there_is_none():
    task = _gen_task()
    items = _items("bio_meqsum", task, ["x"] * 12, "rougeL", [0.0] * 12)
    b = bl.compute("bio_meqsum", items, {})
    assert not b.applicable and not b.trivial and b.majority is None
    stale = bl.compute("bio_meqsum", items, {"bio_meqsum": task}, reread=False)
    assert not stale.applicable  # another task version: its documents may differ


# --- HoC: all labels and the majority-label set -------------------------------------------

HALLMARK_GOLDS = [
    ["sustaining proliferative signaling"],
    ["resisting cell death", "genomic instability and mutation"],
    [],
    ["activating invasion and metastasis"],
    ["sustaining proliferative signaling", "inducing angiogenesis"],
    [],
    ["genomic instability and mutation"],
    ["tumor promoting inflammation"],
    ["sustaining proliferative signaling"],
    ["enabling replicative immortality"],
    [],
    ["cellular energetics"],
]


def _hoc_task(golds):
    docs = [
        {"id": str(i), "text": "x", "label_set": list(hoc.HALLMARKS), "labels": sorted(g)}
        for i, g in enumerate(golds)
    ]
    return FreeTextTask(docs, hoc.process_results, hoc.doc_to_target)


def _sk_micro_f1(golds, pred):
    binar = MultiLabelBinarizer(classes=list(hoc.HALLMARKS))
    y_true = binar.fit_transform(golds)
    y_pred = binar.transform([pred] * len(golds))
    return f1_score(y_true, y_pred, average="micro", zero_division=0)


def test_hoc_all_labels_and_majority_set_match_scikit_learn():
    golds = HALLMARK_GOLDS * 4
    task = _hoc_task(golds)
    responses = ["none"] * len(golds)
    values = [
        hoc.process_results(d, [r])["f1"] for d, r in zip(task.eval_docs, responses, strict=True)
    ]
    items = _items("bio_hoc", task, responses, "f1", values)
    b = bl.compute("bio_hoc", items, {"bio_hoc": task})
    every = _sk_micro_f1(golds, list(hoc.HALLMARKS))
    majority = _sk_micro_f1(golds, list(trivial.HOC_MAJORITY_SET))
    names = list(b.constants)
    assert names[0] == "all labels" and names[1].startswith("majority-label set")
    assert b.constants["all labels"] == pytest.approx(every)
    assert b.constants[names[1]] == pytest.approx(majority)
    assert b.majority == pytest.approx(max(every, majority)) and b.trivial
    assert b.reference_words is None and b.response_words is None  # lengths: generation only
    # hand-worked: 4 x 11 gold (abstract, hallmark) pairs; all labels: tp 44, fp 480 - 44 = 436
    assert every == pytest.approx(2 * 44 / (2 * 44 + 436 + 0))
    # the run answers "none" throughout (F1 0): far below, not at the baseline
    assert b.at_baseline is False


# --- NER: the empty answer ----------------------------------------------------------------


def test_ner_empty_answer_scores_zero_like_seqeval():
    docs = [
        {"id": "0", "tokens": ["Aspirin", "inhibits", "COX", "."], "spans": [[0, 1]]},
        {"id": "1", "tokens": ["Metformin", "and", "insulin", "."], "spans": [[0, 1], [2, 3]]},
        {"id": "2", "tokens": ["No", "drug", "here", "."], "spans": []},
    ] * 4
    task = FreeTextTask(docs, ie_tasks.ner_process_results, ie_tasks.ner_doc_to_target)
    responses = ["Aspirin", "Metformin, insulin", "none"] * 4
    values = [
        ie_tasks.ner_process_results(d, [r])["f1"] for d, r in zip(docs, responses, strict=True)
    ]
    items = _items("bio_ner_bc5cdr_chem", task, responses, "f1", values)
    b = bl.compute("bio_ner_bc5cdr_chem", items, {"bio_ner_bc5cdr_chem": task})
    gold_tags = [["B-Chem", "O", "O", "O"], ["B-Chem", "O", "B-Chem", "O"], ["O"] * 4] * 4
    all_o = [["O"] * 4] * 12
    assert (
        b.constants
        == {"empty answer (none)": seqeval_f1(gold_tags, all_o)}
        == {"empty answer (none)": 0.0}
    )
    assert b.majority == 0.0 and "F1 0 on every corpus" in b.method
    assert b.at_baseline is False  # the run finds every mention: F1 1 against 0


# --- the stored tables show them ------------------------------------------------------------


def test_markdown_and_summary_show_trivial_rows(monkeypatch):
    monkeypatch.setitem(trivial.LEAD_K, "bio_meqsum", 8)
    task = _gen_task()
    items = _items("bio_meqsum", task, ["What is it?"] * 12, "rougeL", [0.1] * 12)
    b = bl.compute("bio_meqsum", items, {"bio_meqsum": task})
    outcome = baselines_cmd.Outcome("x/y", Path("x"), False, {"bio_meqsum": b}, {"bio_meqsum": 0.1})
    line = baselines_cmd.summary(outcome)[-1]
    assert "vs lead-8 copy of the input" in line and "words run / reference / baseline 3 /" in line
    assert baselines_cmd.MARKDOWN_HEADER.count("|---") == 13


# --- real data: the figures of issue 32 and the constants fixed on training data -------------


def _stored_items(submission: str, leaf: str):
    from leaderboard.loader import read_items
    from leaderboard.store import Store

    store = Store(ROOT / "submissions")
    sub = store.read(submission)
    return [it for it in read_items(store.root, sub) if it.task == leaf]


def _records(leaf):
    from tasks import registry
    from tasks.common.sources import load

    return load(registry.leaf_source(leaf)).records


def test_hoc_all_labels_scores_0_240_on_the_lite_200_items(shared_data):
    items = _stored_items("HuggingFaceTB__SmolLM2-135M-Instruct/20261202-ie-lite", "bio_hoc")
    records = _records("bio_hoc")
    golds = [records[it.doc_id].labels for it in items]
    assert len(golds) == 200
    assert round(_sk_micro_f1(golds, list(hoc.HALLMARKS)), 3) == 0.240


@pytest.mark.parametrize(("leaf", "figure"), [("bio_meqsum", 0.168), ("bio_mts_dialog", 0.096)])
def test_lead_20_figures_on_the_reproduction_items(shared_data, leaf, figure):
    items = _stored_items("bioinstruct-repro__SmolLM2-135M-Instruct-Q4_1/base", leaf)
    records = _records(leaf)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    value = np.mean(
        [
            scorer.score(
                records[it.doc_id].references[0], trivial.lead(records[it.doc_id].input, 20)
            )["rougeL"].fmeasure
            for it in items
        ]
    )
    assert len(items) == 20 and round(value, 3) == figure


def test_hoc_majority_set_is_the_training_data_choice(shared_data):
    records = trivial.TRAINING["bio_hoc"].read(shared_data)
    assert len(records) == 1481
    assert trivial.choose_majority_set(records) == trivial.HOC_MAJORITY_SET


@pytest.mark.slow  # ROUGE-L of 16 k on 500 questions, 1,201 conversations, 5,452 answers, 67 notes
@pytest.mark.parametrize("leaf", ["bio_meqsum", "bio_mts_dialog", "bio_mediqa_qa", "bio_aci_bench"])
def test_lead_k_is_the_training_data_choice(shared_data, leaf):
    scores = trivial.lead_k_scores(trivial.TRAINING[leaf].read(shared_data))
    assert trivial.choose_lead_k(scores) == trivial.LEAD_K[leaf]
