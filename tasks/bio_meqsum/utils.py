"""MeQSum loader: consumer health question -> short question (Ben Abacha & Demner-Fushman, 2019).

Local file (original distribution, abachaa/MeQSum on GitHub, commit 51e36cf6):
``meqsum/MeQSum.xlsx`` (upstream name ``MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx``, SHA-256
``abedd939...``), columns File, CHQ, Summary, 1,000 rows.

Split: the release has no split file and the paper's held-out items are not identified, so
this suite fixes its own: the test split is the 500 records whose SHA-256 of
``"bio_meqsum/split-v1:" + File`` sorts lowest, kept in file order. The other 500 are free for
training or few-shot use. No hub copy is used: ``lighteval/me_q_sum`` (HELM's train/validation/
test files) holds a different, preprocessed split and no revision of it could be pinned here.

Example record::

    {"id": "14348.txt", "input": "who makes bromocriptine\\ni am wondering what company makes ...",
     "references": ["Who manufactures bromocriptine?"], "subset": ""}
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tasks.common import generation as gen
from tasks.common.generation import GenerationRecord
from tasks.common.sources import load, local_source

LOCAL_FILE = "meqsum/MeQSum.xlsx"
SPLIT_SALT = "bio_meqsum/split-v1:"
TEST_SIZE = 500
INSTRUCTION = (
    "Summarize the consumer health question below into one short question that keeps "
    "everything needed to find a correct and complete answer."
)


def split_key(file_name: str) -> str:
    return hashlib.sha256((SPLIT_SALT + file_name).encode("utf-8")).hexdigest()


def test_split(records: list[GenerationRecord]) -> list[GenerationRecord]:
    """The fixed test half: the ``TEST_SIZE`` records with the lowest split key, in file order."""
    if len(records) < TEST_SIZE:
        raise ValueError(f"MeQSum: expected at least {TEST_SIZE} records, got {len(records)}")
    chosen = set(sorted((r.id for r in records), key=split_key)[:TEST_SIZE])
    return [r for r in records if r.id in chosen]


def _all(root: Path) -> list[GenerationRecord]:
    return gen.read_summaries(root / LOCAL_FILE, "File", "CHQ", "Summary")


def parse_local(root: Path) -> list[GenerationRecord]:
    return test_split(_all(root))


def parse_train(root: Path) -> list[GenerationRecord]:
    """The 500 records outside the test split, in file order (training data)."""
    test = {r.id for r in parse_local(root)}
    return [r for r in _all(root) if r.id not in test]


SOURCE = local_source(
    "MeQSum (fixed test split v1)", __file__, LOCAL_FILE, parse_local, gen.record_from_dict
)


def load_test(**_: Any):
    return gen.to_dataset_dict(load(SOURCE), INSTRUCTION)
