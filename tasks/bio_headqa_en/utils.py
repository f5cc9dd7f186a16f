"""HEAD-QA (English) loader: the test split, 2,742 questions from Spanish healthcare exams (2016-2017).

Local file (original distribution): ``headqa/test_HEAD_EN.json`` — ``exams`` -> each exam has
``name``, ``category``, ``year`` and ``data`` [{``qid``, ``qtext``, ``ra``, ``answers``
[{``aid``, ``atext``}], ``image``}], from claudiaqw/head-qa-afi at a pinned commit (data manifest).
No hub copy: ``dvilares/head_qa``'s parquet files exist only on a branch (``refs/convert/parquet``),
which can move, and no SHA-256 of them could be pinned.
``id`` = ``<exam name>-<qid>``; ``subset`` = category. 67 questions refer to an image the model
cannot see; they are kept (as in lm-eval's ``headqa_en``).

Example record::

    {"id": "Cuaderno_2016_1_B-1", "question": "Form extracellular fibers with high tensile strength:",
     "choices": ["Fibronectin", "Collagen", "Integrins", "Proteoglycans"], "answer": 1,
     "context": "", "subset": "biology"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.common import multiple_choice as mc
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, load

INSTRUCTION = (
    "Answer the following question from a Spanish healthcare specialisation exam. "
    "Reply with the letter of the correct option."
)


def _record(exam: str, category: str, q: dict[str, Any]) -> MultipleChoiceRecord:
    answers = sorted(q["answers"], key=lambda a: int(a["aid"]))
    aids = [int(a["aid"]) for a in answers]
    return MultipleChoiceRecord(
        id=f"{exam}-{q['qid']}",
        question=q["qtext"].strip(),
        choices=[a["atext"].strip() for a in answers],
        answer=aids.index(int(q["ra"])),
        subset=category,
    )


def parse_local(root: Path) -> list[MultipleChoiceRecord]:
    data = json.loads((root / "headqa/test_HEAD_EN.json").read_text(encoding="utf-8"))
    return [
        _record(exam["name"], exam["category"], q)
        for exam in data["exams"].values()
        for q in exam["data"]
    ]


SOURCE = DatasetSource(
    name="HEAD-QA English (test)",
    local_files=("headqa/test_HEAD_EN.json",),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=mc.record_from_dict,
)


def load_test(**_: Any):
    return mc.to_dataset_dict(load(SOURCE))


doc_to_text = mc.letter_prompt(INSTRUCTION)
