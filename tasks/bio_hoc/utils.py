"""Hallmarks of Cancer (HoC): which of the ten hallmarks a PubMed abstract gives evidence for.

Local files (sb895/Hallmarks-of-Cancer, the corpus as distributed): ``hoc/text/<PMID>.txt``, one
tokenised sentence per line, and ``hoc/labels/<PMID>.txt``, one ``<``-prefixed field per
sentence holding ``AND``-joined annotations such as ``Sustaining proliferative
signaling--Receptors`` (the 37-class taxonomy path; ``NULL`` or empty = none).

Unit: the abstract. BLURB scores HoC per abstract — its evaluation pools the sentence labels of
an abstract (a union) before computing micro F1 over (abstract, hallmark) decisions — so the
model reads the whole abstract (sentences joined by one space) and its gold label set is the
union of the top-level hallmarks (the part before the first ``--``, lower-cased) of its
sentences. One generation per abstract instead of one per sentence also keeps the task ~10x
cheaper, and no abstract is split across train and test.

Split: BLURB's official split lists PMIDs in a file shipped with its data-generation scripts,
which is not available offline here. This task uses its own fixed split of the 1,852 abstracts:
the test set is the 371 PMIDs (BLURB's test size) with the smallest
``sha256("bio_hoc/test/v1:<PMID>")``, ordered by PMID. Scores are therefore not directly
comparable with BLURB's HoC numbers; adopting BLURB's list later is a new task version.

No hub source: ``bigbio/hallmarks_of_cancer`` is sentence-level and split by BLURB's list (a
different test set from this one), and its parquet conversion has not been verified.

Example record::

    {"id": "11724768", "text": "Ghrelin was identified in the stomach as an endogenous ligand
     ...", "label_set": [<the ten hallmarks>], "labels": ["sustaining proliferative signaling"]}
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tasks.common.ie_records import MultiLabelRecord, multilabel_record_from_dict, to_dataset_dict
from tasks.common.ie_tasks import NONE_ANSWER, detokenize, multilabel_gen_results
from tasks.common.prompting import render_prompt
from tasks.common.sources import DatasetSource, load

TEXT_DIR, LABEL_DIR = "hoc/text", "hoc/labels"
SPLIT_KEY = "bio_hoc/test/v1:"
TEST_SIZE = 371

# The ten top-level hallmarks (Hanahan & Weinberg 2011), as the corpus spells them, sorted.
HALLMARKS = [
    "activating invasion and metastasis",
    "avoiding immune destruction",
    "cellular energetics",
    "enabling replicative immortality",
    "evading growth suppressors",
    "genomic instability and mutation",
    "inducing angiogenesis",
    "resisting cell death",
    "sustaining proliferative signaling",
    "tumor promoting inflammation",
]
# Phrases read as a hallmark in a generated answer (the full name always counts).
ALIASES = {
    "activating invasion and metastasis": ["invasion and metastasis", "invasion", "metastasis"],
    "avoiding immune destruction": ["immune destruction", "immune evasion"],
    "cellular energetics": ["deregulating cellular energetics", "energetics"],
    "enabling replicative immortality": ["replicative immortality"],
    "evading growth suppressors": ["growth suppressors", "growth suppression"],
    "genomic instability and mutation": ["genomic instability", "genome instability"],
    "inducing angiogenesis": ["angiogenesis"],
    "resisting cell death": ["cell death"],
    "sustaining proliferative signaling": [
        "sustaining proliferative signalling",
        "proliferative signaling",
        "proliferative signalling",
    ],
    "tumor promoting inflammation": [
        "tumour promoting inflammation",
        "tumor-promoting inflammation",
        "tumour-promoting inflammation",
        "inflammation",
    ],
}
NONE_ALIASES = ["none", "no hallmark", "no hallmarks", "no"]

INSTRUCTION = (
    "Which hallmarks of cancer does the abstract provide evidence for? Choose among: "
    + "; ".join(HALLMARKS)
    + f". Reply with the hallmarks that apply, separated by semicolons, or {NONE_ANSWER}."
)


def sentence_labels(field: str, where: str) -> set[str]:
    """Top-level hallmarks of one sentence's label field."""
    labels = set()
    for part in field.split("AND"):
        part = part.strip()
        if not part or part == "NULL":
            continue
        top = part.split("--")[0].strip().lower()
        if top not in HALLMARKS:
            raise ValueError(f"{where}: unknown hallmark {top!r} in {part!r}")
        labels.add(top)
    return labels


def read_abstract(text_file: Path, label_file: Path) -> MultiLabelRecord:
    sentences = [s.strip() for s in text_file.read_text(encoding="utf-8").strip("\n").split("\n")]
    fields = label_file.read_text(encoding="utf-8").strip("\n").split("<")[1:]
    if len(fields) != len(sentences):
        raise ValueError(
            f"{label_file}: {len(fields)} label fields for {len(sentences)} sentences in "
            f"{text_file}; the two folders must come from the same HoC release"
        )
    labels = set()
    for i, field in enumerate(fields):
        labels |= sentence_labels(field, f"{label_file} sentence {i}")
    return MultiLabelRecord(
        id=text_file.stem,
        text=" ".join(sentences),
        label_set=list(HALLMARKS),
        labels=sorted(labels),
    )


def split_rank(pmid: str) -> str:
    return hashlib.sha256(f"{SPLIT_KEY}{pmid}".encode()).hexdigest()


def split_test_pmids(pmids: list[str]) -> list[str]:
    """The fixed test split: the TEST_SIZE PMIDs of smallest hash, ordered by PMID."""
    if len(pmids) < TEST_SIZE:
        raise ValueError(f"HoC: {len(pmids)} abstracts, fewer than the test size {TEST_SIZE}")
    return sorted(sorted(pmids, key=split_rank)[:TEST_SIZE], key=int)


def _pmids(root: Path) -> list[str]:
    text_dir, label_dir = root / TEXT_DIR, root / LABEL_DIR
    pmids = sorted(p.stem for p in text_dir.glob("*.txt"))
    missing = [p for p in pmids if not (label_dir / f"{p}.txt").is_file()]
    if missing:
        raise ValueError(
            f"{label_dir}: no label file for {len(missing)} abstracts, e.g. {missing[0]}"
        )
    return pmids


def _read(root: Path, pmids: list[str]) -> list[MultiLabelRecord]:
    return [
        read_abstract(root / TEXT_DIR / f"{p}.txt", root / LABEL_DIR / f"{p}.txt") for p in pmids
    ]


def parse_local(root: Path) -> list[MultiLabelRecord]:
    return _read(root, split_test_pmids(_pmids(root)))


def parse_train(root: Path) -> list[MultiLabelRecord]:
    """The 1,481 abstracts outside the test split, ordered by PMID (training data; the trivial
    baselines' majority label set is fixed on them, ``leaderboard/trivial.py``)."""
    pmids = _pmids(root)
    test = set(split_test_pmids(pmids))
    return _read(root, sorted((p for p in pmids if p not in test), key=int))


SOURCE = DatasetSource(
    name="Hallmarks of Cancer (abstract level, bio_hoc test split v1)",
    local_files=(TEXT_DIR, LABEL_DIR),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=multilabel_record_from_dict,
)


def load_test(**_: Any):
    return to_dataset_dict(load(SOURCE))


def doc_to_text(doc: dict[str, Any]) -> str:
    return render_prompt(INSTRUCTION, detokenize(doc["text"].split(" ")))


def doc_to_target(doc: dict[str, Any]) -> str:
    return "; ".join(doc["labels"]) or NONE_ANSWER


process_results = multilabel_gen_results(
    {label: [label, *ALIASES[label]] for label in HALLMARKS}, NONE_ALIASES
)
