"""MTS-Dialog loader: doctor-patient conversation + section header -> that clinical note section.

Local file (original distribution, abachaa/MTS-Dialog on GitHub, commit 3ff08019):
``mts_dialog/MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv``, columns ID, section_header,
section_text, dialogue; 200 conversations, kept in file order. The section header (one of 20
codes) is the record's ``subset`` and is spelled out in the instruction. No hub copy with plain
files at a revision that could be pinned here is known, so there is no hub source.

Example record::

    {"id": "0", "input": "Doctor: Good afternoon, sir. Did you just have a birthday? ...",
     "references": ["The patient is a 55-year-old African-American male that was last ..."],
     "subset": "GENHX"}
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tasks.common import generation as gen
from tasks.common.generation import GenerationRecord
from tasks.common.sources import DatasetSource, load

LOCAL_FILE = "mts_dialog/MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv"

# The 20 section codes of MTS-Dialog (Ben Abacha et al., 2023) and their names in a note.
SECTIONS = {
    "FAM/SOCHX": "family history and social history",
    "GENHX": "history of present illness",
    "PASTMEDICALHX": "past medical history",
    "CC": "chief complaint",
    "PASTSURGICAL": "past surgical history",
    "ALLERGY": "allergies",
    "ROS": "review of systems",
    "MEDICATIONS": "medications",
    "ASSESSMENT": "assessment",
    "EXAM": "physical examination",
    "DIAGNOSIS": "diagnosis",
    "DISPOSITION": "disposition",
    "PLAN": "plan",
    "EDCOURSE": "emergency department course",
    "IMMUNIZATIONS": "immunizations",
    "IMAGING": "imaging results",
    "GYNHX": "gynecologic history",
    "PROCEDURES": "procedures",
    "OTHER_HISTORY": "other history",
    "LABS": "laboratory results",
}


def section_name(code: str) -> str:
    try:
        return SECTIONS[code.strip().upper()]
    except KeyError:
        raise ValueError(
            f"MTS-Dialog: unknown section header {code!r}; known: {', '.join(SECTIONS)}"
        ) from None


def instruction(record: GenerationRecord) -> str:
    return (
        f"Write the {section_name(record.subset).upper()} section of the clinical note for the "
        "doctor-patient conversation below, in the style of a clinical note."
    )


TRAIN_FILE = "mts_dialog/MTS-Dialog-TrainingSet.csv"  # 1,201 conversations, same columns


def parse_local(root: Path) -> list[GenerationRecord]:
    return read_csv(root / LOCAL_FILE)


def parse_train(root: Path) -> list[GenerationRecord]:
    """The official training set (training data; not part of the test split)."""
    return read_csv(root / TRAIN_FILE)


def read_csv(path: Path) -> list[GenerationRecord]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        wanted = {"ID", "section_header", "section_text", "dialogue"}
        if not wanted <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: needs columns {sorted(wanted)}, has {reader.fieldnames}")
        records = []
        for row in reader:
            header = row["section_header"].strip().upper()
            section_name(header)  # unknown headers fail here, naming the file's value
            records.append(
                GenerationRecord(
                    id=row["ID"].strip(),
                    input=row["dialogue"].strip(),
                    references=[row["section_text"].strip()],
                    subset=header,
                )
            )
    return records


SOURCE = DatasetSource(
    name="MTS-Dialog (test set 1, MEDIQA-Chat 2023)",
    local_files=(LOCAL_FILE,),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=gen.record_from_dict,
)


def load_test(**_: Any):
    return gen.to_dataset_dict(load(SOURCE), instruction)
