"""MedQA-USMLE (4 options) loader: the official English test split, 1,273 questions.

Local file (original MedQA jsonl format): ``medqa/test.jsonl`` with ``question``,
``options`` {A..D}, ``answer_idx``, from xk-huang/medagents-benchmark at a pinned commit (data
manifest). No hub copy: the earlier pin of ``GBaker/MedQA-USMLE-4-options`` named a path that
does not exist at its revision, and no SHA-256 of its parquet file could be pinned. ``id`` is the
0-based line number of the test file.

Example record::

    {"id": "0", "question": "A junior orthopaedic surgery resident ...", "choices": [4 options],
     "answer": 1, "context": "", "subset": "step1"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.common import multiple_choice as mc
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, load

INSTRUCTION = (
    "Answer the following US medical licensing exam (USMLE) question. "
    "Reply with the letter of the correct option."
)


def _record(i: int, row: dict[str, Any]) -> MultipleChoiceRecord:
    options = row["options"]
    keys = sorted(options)
    return MultipleChoiceRecord(
        id=str(i),
        question=row["question"].strip(),
        choices=[str(options[k]).strip() for k in keys],
        answer=keys.index(row["answer_idx"]),
        subset=str(row.get("meta_info") or ""),
    )


def parse_local(root: Path) -> list[MultipleChoiceRecord]:
    lines = (root / "medqa/test.jsonl").read_text(encoding="utf-8").splitlines()
    return [_record(i, json.loads(line)) for i, line in enumerate(lines) if line.strip()]


SOURCE = DatasetSource(
    name="MedQA-USMLE 4 options (test)",
    local_files=("medqa/test.jsonl",),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=mc.record_from_dict,
)


def load_test(**_: Any):
    return mc.to_dataset_dict(load(SOURCE))


doc_to_text = mc.letter_prompt(INSTRUCTION)
