"""ROUGE-L de-duplication: same decisions as rouge_score's RougeScorer, on real-looking text."""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer
from rouge_score.rouge_scorer import _lcs_table

from benchmarks.bench_dedup import synthetic_instructions
from bioinstruct_data.dedup import (
    dedup,
    lcs_length,
    match_masks,
    reference_dedup,
    rouge_f,
    rouge_tokenize,
)
from bioinstruct_data.seeds import load_seeds


@pytest.mark.parametrize(
    ("a", "b", "lcs"),
    [
        ("a b c d", "a b c e", 3),
        ("a b c d", "d c b a", 1),
        ("the patient has fever", "the patient denies fever", 3),
        ("x y", "p q", 0),
        ("a a a b", "a b a b", 3),
    ],
)
def test_lcs_hand_worked(a, b, lcs):
    ta, tb = a.split(), b.split()
    ids = {t: i for i, t in enumerate(sorted(set(ta + tb)))}
    ia, ib = [ids[t] for t in ta], [ids[t] for t in tb]
    assert lcs_length(match_masks(ia), len(ia), ib) == lcs
    assert lcs_length(match_masks(ib), len(ib), ia) == lcs


def test_rouge_f_equals_rouge_score_bit_for_bit():
    # "a b c d" vs "a b c e": LCS 3, P = R = 3/4, F = 0.75
    assert rouge_f(3, 4, 4) == 0.75
    assert rouge_f(0, 3, 5) == 0.0 and rouge_f(2, 0, 5) == 0.0
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(3)
    for _ in range(300):
        a = " ".join(rng.choice("abcdef") for _ in range(rng.randint(1, 30)))
        b = " ".join(rng.choice("abcdef") for _ in range(rng.randint(1, 30)))
        ta, tb = a.split(), b.split()
        lcs = _lcs_table(ta, tb)[-1][-1]
        assert rouge_f(lcs, len(ta), len(tb)) == scorer.score(a, b)["rougeL"].fmeasure


def test_bit_parallel_lcs_matches_the_dp_table_beyond_64_tokens():
    rng = random.Random(0)
    for _ in range(200):
        n, m = rng.randint(1, 200), rng.randint(1, 200)
        a = [rng.randrange(8) for _ in range(n)]
        b = [rng.randrange(8) for _ in range(m)]
        assert lcs_length(match_masks(a), n, b) == _lcs_table(a, b)[-1][-1]


def _keeps(decisions):
    return [d.keep for d in decisions]


def _seed_variants(rng: random.Random) -> list[str]:
    """Each seed instruction followed by near-duplicates made by small edits."""
    words = "please the a clinical note patient briefly carefully report".split()
    out = []
    for seed in load_seeds():
        out.append(seed.instruction)
        for _ in range(4):
            tokens = seed.instruction.split()
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(tokens))
                op = rng.random()
                if op < 0.4 and len(tokens) > 3:
                    del tokens[i]
                elif op < 0.7:
                    tokens.insert(i, rng.choice(words))
                else:
                    tokens[i] = rng.choice(words)
            out.append(" ".join(tokens))
    rng.shuffle(out)
    return out


def test_same_decisions_as_rouge_score_on_hundreds_of_near_duplicates():
    candidates = _seed_variants(random.Random(1))  # 80 originals + 320 near-duplicates
    fast = dedup([], candidates, 0.7)
    ref = reference_dedup([], candidates, 0.7)
    assert _keeps(fast) == _keeps(ref)
    kept = sum(_keeps(fast))
    assert 80 <= kept < 200  # most edits are dropped, a few heavy edits survive
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for cand, decision in zip(candidates, fast, strict=True):
        if not decision.keep:  # the reported match really is a near-duplicate
            f = scorer.score(candidates[decision.match], cand)["rougeL"].fmeasure
            assert f == decision.score and f > 0.7


@pytest.mark.slow  # ~4 s of ROUGE-L comparisons
def test_same_decisions_against_a_seed_pool_on_synthetic_instructions():
    pool = [s.instruction for s in load_seeds()]
    candidates = synthetic_instructions(200, random.Random(5))
    for threshold in (0.5, 0.7):
        fast = dedup(pool, candidates, threshold)
        assert _keeps(fast) == _keeps(reference_dedup(pool, candidates, threshold)), threshold
    assert 0 < sum(_keeps(dedup(pool, candidates, 0.7))) < len(candidates)


def test_exact_threshold_ties_follow_rouge_score_float_rounding():
    # LCS 7 of 10 + 10 tokens: F is 0.7 in exact arithmetic; rouge_score's float decides
    base = "a b c d e f g h i j"
    tie = "a b c d e f g x y z"
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    f = scorer.score(base, tie)["rougeL"].fmeasure
    for threshold in (0.7, f, 0.69, 0.71):
        expected = f > threshold
        assert dedup([base], [tie], threshold)[0].keep is (not expected)


@pytest.mark.slow  # ~3.5 s stress run
def test_stress_small_vocabulary_many_thresholds_and_stemming():
    rng = random.Random(11)
    vocab = "fever cough patient drugs drug treat treated treating note the of a".split()
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 18))) for _ in range(140)]
    for threshold, stem in ((0.3, False), (0.7, False), (0.7, True), (0.95, True), (1.0, False)):
        fast = dedup(texts[:20], texts[20:], threshold, use_stemmer=stem)
        ref = reference_dedup(texts[:20], texts[20:], threshold, use_stemmer=stem)
        assert _keeps(fast) == _keeps(ref), (threshold, stem)


def test_tokenisation_is_rouge_scores_and_empty_texts_are_kept():
    assert rouge_tokenize()("Patient's BP: 120/80, HR 72!") == [
        "patient",
        "s",
        "bp",
        "120",
        "80",
        "hr",
        "72",
    ]
    decisions = dedup(["List the drugs."], ["", "!!!", "List the drugs"], 0.7)
    assert _keeps(decisions) == [True, True, False]
    with pytest.raises(ValueError, match="threshold"):
        dedup([], ["x"], 0.0)
