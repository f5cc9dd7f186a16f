"""IE tasks on the real data in ../shared/data: exact counts, and the metric against seqeval on
each full NER test set (skipped when the folder is absent)."""

from __future__ import annotations

import importlib
import random
from collections import Counter
from functools import cache

import pytest
from seqeval.metrics import f1_score as seq_f1
from seqeval.metrics import precision_score as seq_precision
from seqeval.metrics import recall_score as seq_recall
from seqeval.metrics.sequence_labeling import get_entities

from tasks.common import ie_data, ie_metrics
from tasks.common.sources import load
from tests.test_ie_metrics import seqeval_case

pytestmark = pytest.mark.realdata

# folder: (IOB folder, sentences, tokens, mentions, sentences without a mention, SHA-256 prefix)
NER = {
    "bio_ner_bc5cdr_chem": ("BC5CDR-chem-IOB", 4797, 124750, 5385, 1706, "2e35502a1add"),
    "bio_ner_bc5cdr_disease": ("BC5CDR-disease-IOB", 4797, 124750, 4424, 1955, "271c264ea215"),
    "bio_ner_ncbi_disease": ("NCBI-disease-IOB", 940, 24497, 960, 401, "c4578698e7bf"),
    "bio_ner_bc2gm": ("BC2GM-IOB", 5038, 143465, 6325, 2468, "909b611cce8d"),
    "bio_ner_jnlpba": ("JNLPBA", 3856, 101039, 8662, 654, "861a92a3970a"),
}
# folder: (pairs per label, SHA-256 prefix)
RELATIONS = {
    "bio_chemprot": (
        {"CPR:3": 664, "CPR:4": 1658, "CPR:5": 183, "CPR:6": 292, "CPR:9": 644, "False": 10955},
        "cda7991eefad",
    ),
    "bio_ddi": (
        {"advise": 221, "effect": 360, "mechanism": 302, "int": 96, "false": 4737},
        "0220002f1639",
    ),
    "bio_gad": ({"1": 281, "0": 253}, "989b4208140b"),
}
HOC_LABELS = {
    "activating invasion and metastasis": 64,
    "avoiding immune destruction": 22,
    "cellular energetics": 22,
    "enabling replicative immortality": 24,
    "evading growth suppressors": 43,
    "genomic instability and mutation": 62,
    "inducing angiogenesis": 34,
    "resisting cell death": 89,
    "sustaining proliferative signaling": 103,
    "tumor promoting inflammation": 48,
}


def _source(folder: str):
    return importlib.import_module(f"tasks.{folder}.utils").SOURCE


@cache
def _split(folder: str):
    """The local test split, read once per test session (call only under ``shared_data``)."""
    return load(_source(folder))


@pytest.mark.parametrize("folder", sorted(NER))
def test_ner_counts(shared_data, folder):
    _, sentences, tokens, mentions, empty, sha = NER[folder]
    split = _split(folder)
    records = split.records
    assert split.source == "local"
    assert len(records) == sentences
    assert sum(len(r.tokens) for r in records) == tokens
    assert sum(len(r.spans) for r in records) == mentions
    assert sum(not r.spans for r in records) == empty
    assert split.sha256.startswith(sha)


@pytest.mark.parametrize("folder", sorted(NER))
def test_ner_gold_spans_equal_seqeval_entities(shared_data, folder):
    iob_folder = NER[folder][0]
    sentences = ie_data.read_iob(shared_data / "ner" / iob_folder / "test.tsv")
    records = _split(folder).records
    for (_, tags, _), record in zip(sentences, records, strict=True):
        if folder == "bio_ner_jnlpba":  # BLURB's single collapsed type
            tags = [t if t == "O" else f"{t[0]}-E" for t in tags]
        assert record.spans == [[s, e + 1] for _, s, e in get_entities(list(tags))]


@pytest.mark.slow  # seqeval over every full NER test set (~7 s together)
@pytest.mark.parametrize("folder", sorted(NER))
def test_ner_metric_agrees_with_seqeval_on_the_full_test_set(shared_data, folder):
    """Simulated answers (60% of the gold mentions, random spans, invented strings) scored by
    our metric and by seqeval on IOB conversions: corpus-level P/R/F1 agree to 1e-9."""
    rng = random.Random(folder)
    gold_tags, pred_tags, counts = [], [], []
    for record in _split(folder).records:
        predictions = [m for m in record.mentions if rng.random() < 0.6]
        if rng.random() < 0.3:
            s = rng.randrange(len(record.tokens))
            predictions.append(" ".join(record.tokens[s : s + rng.randint(1, 3)]))
        if rng.random() < 0.1:
            predictions.append("no such mention anywhere")
        case = seqeval_case(record.tokens, record.spans, predictions)
        while case is None:  # overlapping claims cannot be written as IOB: drop the last one
            predictions.pop()
            case = seqeval_case(record.tokens, record.spans, predictions)
        gold_tags.append(case[0])
        pred_tags.append(case[1])
        counts.append(ie_metrics.ner_counts(record.tokens, record.spans, predictions))
    ours = ie_metrics.prf(ie_metrics.total(counts))
    assert ours.precision == pytest.approx(seq_precision(gold_tags, pred_tags), abs=1e-9)
    assert ours.recall == pytest.approx(seq_recall(gold_tags, pred_tags), abs=1e-9)
    assert ours.f1 == pytest.approx(seq_f1(gold_tags, pred_tags), abs=1e-9)
    assert 0.2 < ours.f1 < 0.95  # the simulation is neither trivial nor empty


# an answer listing exactly the gold mention strings: the ceiling of string answers. The few
# errors are unannotated occurrences of a gold string (false positives) and gold mentions inside
# a longer occurrence of another gold string (false negatives).
ORACLE = {
    "bio_ner_bc5cdr_chem": ie_metrics.Counts(tp=5385, fp=6, fn=0),
    "bio_ner_bc5cdr_disease": ie_metrics.Counts(tp=4424, fp=1, fn=0),
    "bio_ner_ncbi_disease": ie_metrics.Counts(tp=960, fp=9, fn=0),
    "bio_ner_bc2gm": ie_metrics.Counts(tp=6324, fp=4, fn=1),
    "bio_ner_jnlpba": ie_metrics.Counts(tp=8659, fp=57, fn=3),
}


@pytest.mark.parametrize("folder", sorted(NER))
def test_ner_oracle_answer_scores_near_one(shared_data, folder):
    records = _split(folder).records
    counts = ie_metrics.total(ie_metrics.ner_counts(r.tokens, r.spans, r.mentions) for r in records)
    assert counts == ORACLE[folder]
    assert ie_metrics.prf(counts).f1 > 0.995


@pytest.mark.parametrize("folder", sorted(RELATIONS))
def test_relation_pairs_per_label(shared_data, folder):
    per_label, sha = RELATIONS[folder]
    split = _split(folder)
    assert Counter(r.label for r in split.records) == per_label
    assert len({r.id for r in split.records}) == len(split.records)
    assert split.sha256.startswith(sha)


def test_ddi_documents_and_markers(shared_data):
    records = _split("bio_ddi").records
    documents = {r.id.rsplit(".s", 1)[0] for r in records}
    assert len(documents) == 191  # every test document has at least one candidate pair
    assert sum(r.id.startswith("DDI-DrugBank") for r in records) == 5265
    assert sum(r.id.startswith("DDI-MedLine") for r in records) == 451
    assert all(r.text.count("<<") >= 1 and r.text.count("[[") >= 1 for r in records)
    assert all("\r" not in r.text and "  " not in r.text for r in records)


def test_gad_prefix_mixes_both_labels(shared_data):
    """The release is sorted by label; the fixed hash order makes --limit prefixes mixed."""
    records = _split("bio_gad").records
    assert Counter(r.label for r in records[:200]) == {"1": 100, "0": 100}
    assert sorted(int(r.id) for r in records) == list(range(534))


def test_chemprot_masks(shared_data):
    records = _split("bio_chemprot").records
    assert sum("BC6ENTC" in r.text and "BC6ENTG" in r.text for r in records) == 14381
    assert sum("BC6ENTC" not in r.text for r in records) == 14  # as released
    assert sum("BC6ENTG" not in r.text for r in records) == 1


def test_hoc_split_and_labels(shared_data):
    from tasks.bio_hoc import utils as hoc

    split = load(hoc.SOURCE)
    records = split.records
    assert len(records) == 371
    assert [r.id for r in records] == sorted((r.id for r in records), key=int)
    assert sum(bool(r.labels) for r in records) == 320
    assert Counter(label for r in records for label in r.labels) == HOC_LABELS
    assert records[0].id == "1281386"
    assert split.sha256.startswith("f77d2af677e6")
    # the whole corpus: 1,852 abstracts, 17,464 sentences, 1,580 abstracts with a hallmark
    all_pmids = sorted(p.stem for p in (shared_data / hoc.TEXT_DIR).glob("*.txt"))
    assert len(all_pmids) == 1852
    text_dir, label_dir = shared_data / hoc.TEXT_DIR, shared_data / hoc.LABEL_DIR
    abstracts = [
        hoc.read_abstract(text_dir / f"{p}.txt", label_dir / f"{p}.txt") for p in all_pmids
    ]
    assert sum(bool(a.labels) for a in abstracts) == 1580
    sentences = sum(
        len((text_dir / f"{p}.txt").read_text().strip("\n").split("\n")) for p in all_pmids
    )
    assert sentences == 17464
