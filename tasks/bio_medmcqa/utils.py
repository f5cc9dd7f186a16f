"""MedMCQA loader: the official dev (validation) split, used as the test set (test labels are hidden).

File (data manifest): ``medmcqa/dev_subset.jsonl`` (MedAgents-benchmark format: ``realidx`` = MedMCQA id,
``options`` {A..D}, ``answer_idx``) — a 2,816-question SUBSET of dev; scores on it are not
comparable with scores on the full 4,183 (the data hash differs, and results record the count).
No hub copy (the full dev split is on the hub, but no SHA-256 of its file could be pinned).

Example record::

    {"id": "b64a9cd7-...", "question": "A 29 yrs old woman ...", "choices": [4 options],
     "answer": 2, "context": "", "subset": ""}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.common import multiple_choice as mc
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, load

INSTRUCTION = (
    "Answer the following medical entrance exam question. "
    "Reply with the letter of the correct option."
)


def parse_local(root: Path) -> list[MultipleChoiceRecord]:
    records = []
    for line in (root / "medmcqa/dev_subset.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        keys = sorted(row["options"])
        records.append(
            MultipleChoiceRecord(
                id=str(row["realidx"]),
                question=row["question"].strip(),
                choices=[str(row["options"][k]).strip() for k in keys],
                answer=keys.index(row["answer_idx"]),
            )
        )
    return records


SOURCE = DatasetSource(
    name="MedMCQA (dev)",
    local_files=("medmcqa/dev_subset.jsonl",),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=mc.record_from_dict,
)


def load_test(**_: Any):
    return mc.to_dataset_dict(load(SOURCE))


doc_to_text = mc.letter_prompt(INSTRUCTION)
