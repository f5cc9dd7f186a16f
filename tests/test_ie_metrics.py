"""IE metrics: hand-worked tables, and agreement with seqeval / scikit-learn to 1e-9."""

from __future__ import annotations

import random

import pytest
from seqeval.metrics import f1_score as seq_f1
from seqeval.metrics import precision_score as seq_precision
from seqeval.metrics import recall_score as seq_recall
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.preprocessing import MultiLabelBinarizer

from tasks.common import ie_metrics as m
from tasks.common.ie_metrics import Counts

TOL = 1e-9

# --- pooled counts -> P/R/F1 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "p", "r", "f1"),
    [
        (Counts(3, 1, 2), 0.75, 0.6, 6 / 9),
        (Counts(5, 0, 0), 1.0, 1.0, 1.0),
        (Counts(0, 2, 0), 0.0, 0.0, 0.0),
        (Counts(0, 0, 4), 0.0, 0.0, 0.0),
        (Counts(0, 0, 0), 0.0, 0.0, 0.0),  # nothing to find, nothing found: 0 (zero_division=0)
        (Counts(1, 1, 1), 0.5, 0.5, 0.5),
    ],
)
def test_prf_hand_worked(counts, p, r, f1):
    got = m.prf(counts)
    assert got.precision == pytest.approx(p, abs=TOL)
    assert got.recall == pytest.approx(r, abs=TOL)
    assert got.f1 == pytest.approx(f1, abs=TOL)


def test_aggregates_pool_counts_not_item_scores():
    # item 1: perfect on 1 mention; item 2: 0 of 3 found. Mean of item F1s would be 0.5;
    # the corpus-level micro F1 is 2*1 / (2*1 + 0 + 3) = 0.4.
    items = [{"tp": 1, "fp": 0, "fn": 0, "pred": ["a"]}, {"tp": 0, "fp": 0, "fn": 3, "pred": []}]
    assert m.f1_aggregate(items) == pytest.approx(0.4, abs=TOL)
    assert m.precision_aggregate(items) == pytest.approx(1.0, abs=TOL)
    assert m.recall_aggregate(items) == pytest.approx(0.25, abs=TOL)
    assert m.total(items) == Counts(1, 0, 3)
    assert m.total([Counts(1, 2, 3), Counts(4, 5, 6)]) == Counts(5, 7, 9)


# --- NER matching rule ------------------------------------------------------------------------

TOKENS = "Aspirin and IL - 2 reduce aspirin resistance .".split()
GOLD = [[0, 1], [2, 5], [6, 7]]  # Aspirin, IL - 2, aspirin


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        (["aspirin"], Counts(2, 0, 1)),  # one string covers both occurrences
        (["IL-2"], Counts(1, 0, 2)),  # whitespace ignored: matches "IL - 2"
        (["il - 2"], Counts(1, 0, 2)),  # case ignored
        (["aspirin resistance"], Counts(0, 1, 3)),  # a real span, not gold
        # longest match: the "aspirin" inside "aspirin resistance" is not claimed
        (["aspirin", "aspirin resistance"], Counts(1, 1, 2)),
        (["IL-2", "IL"], Counts(1, 0, 2)),  # "IL" only occurs inside "IL - 2"
        (["IL - 2 reduce", "2 reduce aspirin"], Counts(0, 2, 3)),  # crossing claims both count
        (["ibuprofen"], Counts(0, 1, 3)),  # nowhere in the sentence: one false positive
        (["ASPIRIN", "aspirin", " aspirin "], Counts(2, 0, 1)),  # listed twice counts once
        ([], Counts(0, 0, 3)),
        (["", "   "], Counts(0, 0, 3)),  # empty strings are ignored
        (["Aspirin", "IL-2"], Counts(3, 0, 0)),
        (["IL"], Counts(0, 1, 3)),  # a partial mention is a wrong span
        (["Aspirin and IL-2"], Counts(0, 1, 3)),
        (["spirin"], Counts(0, 1, 3)),  # only whole tokens: not found -> false positive
    ],
)
def test_ner_counts_hand_worked(predicted, expected):
    assert m.ner_counts(TOKENS, GOLD, predicted) == expected


def test_find_occurrences_and_normalisation():
    assert m.find_occurrences(TOKENS, "aspirin") == [(0, 1), (6, 7)]
    assert m.find_occurrences(TOKENS, "IL-2") == [(2, 5)]
    assert m.find_occurrences(TOKENS, "") == []
    assert m.find_occurrences(["a", "a", "a"], "aa") == [(0, 2), (1, 3)]
    assert m.normalise_mention(" Na\u00a0+ \u200b") == "na+"
    assert m.normalise_mention("ＩＬ－２") == "il-2"  # full-width forms (NFKC)


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ("A", "A", Counts(1, 0, 0)),
        ("A", "B", Counts(0, 1, 1)),  # wrong positive class: fp for B and fn for A
        ("A", "none", Counts(0, 0, 1)),
        ("none", "A", Counts(0, 1, 0)),
        ("none", "none", Counts(0, 0, 0)),  # the negative class is never counted
    ],
)
def test_label_counts_hand_worked(gold, pred, expected):
    assert m.label_counts(gold, pred, "none") == expected


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ({"a", "b"}, {"b", "c"}, Counts(1, 1, 1)),
        (set(), set(), Counts(0, 0, 0)),
        ({"a"}, set(), Counts(0, 0, 1)),
        (set(), {"a", "b"}, Counts(0, 2, 0)),
    ],
)
def test_multilabel_counts_hand_worked(gold, pred, expected):
    assert m.multilabel_counts(gold, pred) == expected


def test_relation_corpus_hand_worked():
    pairs = [("A", "A"), ("A", "B"), ("none", "A"), ("B", "none"), ("none", "none")]
    counts = m.total(m.label_counts(g, p, "none") for g, p in pairs)
    assert counts == Counts(tp=1, fp=2, fn=2)
    assert m.prf(counts).f1 == pytest.approx(1 / 3, abs=TOL)


# --- independent references -------------------------------------------------------------------


def _brute_occurrences(tokens: list[str], mention: str) -> list[tuple[int, int]]:
    """Reference locator: every token span whose joined text equals the mention (ASCII only)."""
    target = "".join(mention.split()).lower()
    return [
        (i, j)
        for i in range(len(tokens))
        for j in range(i + 1, len(tokens) + 1)
        if "".join(tokens[i:j]).lower() == target
    ]


def _iob(length: int, spans) -> list[str]:
    tags = ["O"] * length
    for s, e in spans:
        tags[s] = "B-E"
        for k in range(s + 1, e):
            tags[k] = "I-E"
    return tags


def seqeval_case(tokens, gold_spans, predictions):
    """Gold and predicted IOB sequences for seqeval, or None when predicted spans cross.

    A prediction found nowhere in the sentence gets an extra token tagged B-E in the prediction
    and O in the gold, so that seqeval counts it as one false positive, as the metric does.
    """
    spans, unmatched, seen = set(), 0, set()
    for mention in predictions:
        key = "".join(mention.split()).lower()
        if not key or key in seen:
            continue
        seen.add(key)
        found = _brute_occurrences(tokens, mention)
        spans.update(found)
        unmatched += not found
    # longest match: drop spans nested in another predicted span
    spans = {a for a in spans if not any(b != a and b[0] <= a[0] and a[1] <= b[1] for b in spans)}
    ordered = sorted(spans)
    if any(a[1] > b[0] for a, b in zip(ordered, ordered[1:], strict=False)):
        return None
    length = len(tokens) + unmatched
    pred = _iob(length, ordered)
    for k in range(len(tokens), length):
        pred[k] = "B-E"
    return _iob(length, gold_spans), pred


def random_sentence(rng: random.Random):
    vocab = [
        "aspirin",
        "IL",
        "-",
        "2",
        "p53",
        "gene",
        "cancer",
        "of",
        "the",
        "and",
        "(",
        ")",
        "Na+",
    ]
    tokens = [rng.choice(vocab) for _ in range(rng.randint(1, 14))]
    gold, i = [], 0
    while i < len(tokens):
        if rng.random() < 0.25:
            end = min(len(tokens), i + rng.randint(1, 3))
            gold.append([i, end])
            i = end + rng.randint(0, 1)
        else:
            i += 1
    mentions = [" ".join(tokens[s:e]) for s, e in gold]
    predictions = [x for x in mentions if rng.random() < 0.6]
    for _ in range(rng.randint(0, 2)):  # random token spans
        s = rng.randrange(len(tokens))
        predictions.append(" ".join(tokens[s : s + rng.randint(1, 2)]))
    if rng.random() < 0.3:
        predictions.append(rng.choice(["ibuprofen", "tumour suppressor", "xyz"]))
    if rng.random() < 0.2:
        predictions.append(rng.choice(predictions or ["x"]).upper())
    return tokens, gold, predictions


def test_ner_metric_agrees_with_seqeval_on_random_sentences():
    rng = random.Random(20240611)
    gold_tags, pred_tags, counts, used = [], [], [], 0
    while used < 400:
        tokens, gold, predictions = random_sentence(rng)
        case = seqeval_case(tokens, gold, predictions)
        if case is None:
            continue
        used += 1
        gold_tags.append(case[0])
        pred_tags.append(case[1])
        counts.append(m.ner_counts(tokens, gold, predictions))
    ours = m.prf(m.total(counts))
    assert m.total(counts).tp > 50 and m.total(counts).fp > 50  # the table is not degenerate
    assert ours.precision == pytest.approx(seq_precision(gold_tags, pred_tags), abs=TOL)
    assert ours.recall == pytest.approx(seq_recall(gold_tags, pred_tags), abs=TOL)
    assert ours.f1 == pytest.approx(seq_f1(gold_tags, pred_tags), abs=TOL)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_relation_micro_f1_agrees_with_sklearn(seed):
    rng = random.Random(seed)
    labels = ["CPR:3", "CPR:4", "CPR:5", "False"]
    gold = [rng.choice(labels) for _ in range(500)]
    pred = [g if rng.random() < 0.4 else rng.choice(labels) for g in gold]
    ours = m.prf(m.total(m.label_counts(g, p, "False") for g, p in zip(gold, pred, strict=True)))
    positives = labels[:-1]
    kw = {"labels": positives, "average": "micro", "zero_division": 0}
    assert ours.f1 == pytest.approx(f1_score(gold, pred, **kw), abs=TOL)
    assert ours.precision == pytest.approx(precision_score(gold, pred, **kw), abs=TOL)
    assert ours.recall == pytest.approx(recall_score(gold, pred, **kw), abs=TOL)


def test_binary_f1_agrees_with_sklearn_positive_class():
    rng = random.Random(7)
    gold = [rng.choice("10") for _ in range(300)]
    pred = [g if rng.random() < 0.6 else rng.choice("10") for g in gold]
    ours = m.prf(m.total(m.label_counts(g, p, "0") for g, p in zip(gold, pred, strict=True)))
    assert ours.f1 == pytest.approx(f1_score(gold, pred, pos_label="1"), abs=TOL)
    assert ours.precision == pytest.approx(precision_score(gold, pred, pos_label="1"), abs=TOL)
    assert ours.recall == pytest.approx(recall_score(gold, pred, pos_label="1"), abs=TOL)


def test_multilabel_micro_f1_agrees_with_sklearn():
    rng = random.Random(11)
    classes = [f"hallmark {i}" for i in range(10)]
    gold = [{c for c in classes if rng.random() < 0.15} for _ in range(300)]
    pred = [{c for c in classes if (c in g) == (rng.random() < 0.7)} for g in gold]
    ours = m.prf(m.total(m.multilabel_counts(g, p) for g, p in zip(gold, pred, strict=True)))
    binarizer = MultiLabelBinarizer(classes=classes)
    y_true, y_pred = binarizer.fit_transform(gold), binarizer.transform(pred)
    kw = {"average": "micro", "zero_division": 0}
    assert ours.f1 == pytest.approx(f1_score(y_true, y_pred, **kw), abs=TOL)
    assert ours.precision == pytest.approx(precision_score(y_true, y_pred, **kw), abs=TOL)
    assert ours.recall == pytest.approx(recall_score(y_true, y_pred, **kw), abs=TOL)


# --- BLUE's HoC F1 (means of per-abstract precision and recall) -------------------------------


def test_f1_blue_hand_worked_and_items_without_gold_left_out():
    items = [
        {"tp": 1, "fp": 1, "fn": 0},  # P 0.5, R 1
        {"tp": 0, "fp": 0, "fn": 2},  # predicts nothing: P 0, R 0
        {"tp": 0, "fp": 3, "fn": 0},  # no gold label: BLUE would divide by zero; left out
    ]
    p, r = 0.25, 0.5
    assert m.f1_blue_aggregate(items) == pytest.approx(2 * p * r / (p + r), abs=TOL)
    assert m.f1_blue_aggregate([{"tp": 0, "fp": 1, "fn": 0}]) == 0.0
    # not the micro F1 of the same items (2*1 / (2*1 + 4 + 2) = 0.25)
    assert m.f1_aggregate(items) == pytest.approx(0.25, abs=TOL)


def test_f1_blue_matches_scikit_learn_sample_averages():
    rng = random.Random(7)
    labels = list(range(10))
    gold, pred = [], []
    for _ in range(300):
        gold.append(sorted(rng.sample(labels, rng.choice([0, 1, 1, 2, 3]))))
        pred.append(sorted(rng.sample(labels, rng.choice([0, 1, 2, 4]))))
    items = [
        {
            "tp": len(set(g) & set(p)),
            "fp": len(set(p) - set(g)),
            "fn": len(set(g) - set(p)),
        }
        for g, p in zip(gold, pred, strict=True)
    ]
    kept = [i for i, g in enumerate(gold) if g]  # BLUE's eval_hoc needs gold labels
    binarizer = MultiLabelBinarizer(classes=labels)
    y_true = binarizer.fit_transform([gold[i] for i in kept])
    y_pred = binarizer.transform([pred[i] for i in kept])
    p = precision_score(y_true, y_pred, average="samples", zero_division=0)
    r = recall_score(y_true, y_pred, average="samples", zero_division=0)
    assert m.f1_blue_aggregate(items) == pytest.approx(2 * p * r / (p + r), abs=TOL)
