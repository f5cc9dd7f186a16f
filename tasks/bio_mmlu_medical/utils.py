"""MMLU medical subjects loader: the full test split of six subjects (1,089 questions).

File (data manifest): ``mmlu_medical/test.jsonl`` (MedAgents-benchmark format:
``realidx`` = index in MMLU's ``all`` test split, ``options`` {A..D}, ``answer_idx``,
``subject``). ``id`` = ``<subject>-<position within the subject's test file>``. No hub copy: no
SHA-256 of ``cais/mmlu``'s files could be pinned.

Example record::

    {"id": "anatomy-0", "question": "A lesion causing compression of the facial nerve at the
     stylomastoid foramen will cause ipsilateral", "choices": [4 options], "answer": 0,
     "context": "", "subset": "anatomy"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.common import multiple_choice as mc
from tasks.common.prompting import render_prompt
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, load

SUBJECTS = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)


def _subject_records(subject: str, rows: list[dict[str, Any]]) -> list[MultipleChoiceRecord]:
    """Local rows of one subject, in MMLU order, as canonical records."""
    rows = sorted((r for r in rows if r["subject"] == subject), key=lambda r: int(r["realidx"]))
    records = []
    for i, row in enumerate(rows):
        keys = sorted(row["options"])
        records.append(
            MultipleChoiceRecord(
                id=f"{subject}-{i}",
                question=row["question"].strip(),
                choices=[str(row["options"][k]).strip() for k in keys],
                answer=keys.index(row["answer_idx"]),
                subset=subject,
            )
        )
    return records


def source(subject: str = "") -> DatasetSource:
    """The test split of one subject, or of all six (``subject=""``) in the order of SUBJECTS."""
    if subject and subject not in SUBJECTS:
        raise ValueError(f"unknown MMLU medical subject {subject!r}; expected one of {SUBJECTS}")
    subjects = (subject,) if subject else SUBJECTS

    def parse_local(root: Path) -> list[MultipleChoiceRecord]:
        text = (root / "mmlu_medical/test.jsonl").read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [r for s in subjects for r in _subject_records(s, rows)]

    return DatasetSource(
        name=f"MMLU {subject or 'medical subjects'} (test)",
        local_files=("mmlu_medical/test.jsonl",),
        parse_local=parse_local,
        sample_file=Path(__file__).with_name("sample.jsonl"),
        from_record=mc.record_from_dict,
        sample_keep=lambda record: record.subset in subjects,
    )


def load_test(subject: str = "", **_: Any):
    return mc.to_dataset_dict(load(source(subject)))


def doc_to_text(doc: dict[str, Any]) -> str:
    subject = doc["subset"].replace("_", " ")
    instruction = (
        f"Answer the following multiple-choice question about {subject}. "
        "Reply with the letter of the correct option."
    )
    return render_prompt(instruction, mc.letter_input(doc))
