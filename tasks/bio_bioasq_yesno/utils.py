"""BioASQ yes/no loader (the BioELECTRA release of the BioASQ 7b yes/no questions), test split.

Local file: ``bioasq/yesno/test.tsv`` (columns ``yesno_label`` 1/0, ``question``,
``ideal_answer``), 128 questions. As in that release, the context is the BioASQ *ideal answer*
(the expert's paragraph answer), so this is reading comprehension, easier than closed-book QA.
No plain-file hub copy with a verified schema and revision was found, so the hub source is
not offered for this dataset; the error message says so.

Example record::

    {"id": "0", "question": "Is statin use associated with improved outcomes after ...?",
     "choices": ["yes", "no"], "answer": 0, "context": "Statin use after ...", "subset": ""}
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tasks.common import multiple_choice as mc
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, load

CHOICES = ["yes", "no"]
INSTRUCTION = "Answer the biomedical question using the context. Reply with yes or no."


def parse_local(root: Path) -> list[MultipleChoiceRecord]:
    with (root / "bioasq/yesno/test.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        MultipleChoiceRecord(
            id=str(i),
            question=row["question"].strip(),
            choices=list(CHOICES),
            answer=0 if row["yesno_label"].strip() == "1" else 1,
            context=row["ideal_answer"].strip(),
        )
        for i, row in enumerate(rows)
    ]


SOURCE = DatasetSource(
    name="BioASQ yes/no (test)",
    local_files=("bioasq/yesno/test.tsv",),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=mc.record_from_dict,
)


def load_test(**_: Any):
    return mc.to_dataset_dict(load(SOURCE))


doc_to_text = mc.words_prompt(INSTRUCTION)
