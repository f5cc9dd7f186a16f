"""MEDIQA 2021 Task 1 loader: consumer health question summarization, official test set.

Local file (original distribution, abachaa/MEDIQA2021 on GitHub, commit 8d7fe207):
``mediqa2021/MEDIQA2021-Task1-TestSet-ReferenceSummaries.xlsx``, columns q_id, NLM Question,
Summary; 100 questions, kept in file order. No hub copy with plain files at a revision that could
be pinned here is known, so there is no hub source.

Example record::

    {"id": "96", "input": "23 surgeries and counting......lower lip birthmark, ...",
     "references": ["How can i get rid of a lower lip birthmark permanently?"], "subset": ""}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.common import generation as gen
from tasks.common.generation import GenerationRecord
from tasks.common.sources import load, local_source

LOCAL_FILE = "mediqa2021/MEDIQA2021-Task1-TestSet-ReferenceSummaries.xlsx"
# Same task as MeQSum (MEDIQA 2021 used MeQSum as its training data), hence the same wording.
INSTRUCTION = (
    "Summarize the consumer health question below into one short question that keeps "
    "everything needed to find a correct and complete answer."
)


def parse_local(root: Path) -> list[GenerationRecord]:
    return gen.read_summaries(root / LOCAL_FILE, "q_id", "NLM Question", "Summary")


SOURCE = local_source(
    "MEDIQA 2021 question summarization (test)",
    __file__,
    LOCAL_FILE,
    parse_local,
    gen.record_from_dict,
)


def load_test(**_: Any):
    return gen.to_dataset_dict(load(SOURCE), INSTRUCTION)
