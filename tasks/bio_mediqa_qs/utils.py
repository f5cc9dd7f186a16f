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
from tasks.common.sources import DatasetSource, load

LOCAL_FILE = "mediqa2021/MEDIQA2021-Task1-TestSet-ReferenceSummaries.xlsx"
# Same task as MeQSum (MEDIQA 2021 used MeQSum as its training data), hence the same wording.
INSTRUCTION = (
    "Summarize the consumer health question below into one short question that keeps "
    "everything needed to find a correct and complete answer."
)


def parse_local(root: Path) -> list[GenerationRecord]:
    rows = gen.read_xlsx(root / LOCAL_FILE, ["q_id", "NLM Question", "Summary"])
    records = [
        GenerationRecord(
            id=str(row["q_id"]).strip(),
            input=str(row["NLM Question"]).strip(),
            references=[str(row["Summary"]).strip()],
        )
        for row in rows
    ]
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{root / LOCAL_FILE}: q_id values are not unique")
    return records


SOURCE = DatasetSource(
    name="MEDIQA 2021 question summarization (test)",
    local_files=(LOCAL_FILE,),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=gen.record_from_dict,
)


def load_test(**_: Any):
    return gen.to_dataset_dict(load(SOURCE), INSTRUCTION)
