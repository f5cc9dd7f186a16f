"""PubMedQA PQA-L loader: the official 500-question test split, abstract as context.

Local files (original distribution, pubmedqa/pubmedqa on GitHub): ``pubmedqa/ori_pqal.json``
(1,000 expert-labelled items keyed by PMID) and ``pubmedqa/test_ground_truth.json`` (the 500
test PMIDs), pinned in the data manifest; records are ordered by PMID. No hub copy: no SHA-256
of a hub file could be pinned.

Example record::

    {"id": "12377809", "question": "Is anorectal endosonography valuable in ...?",
     "choices": ["yes", "no", "maybe"], "answer": 0, "context": "<abstract sections>", "subset": ""}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.common import multiple_choice as mc
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, load

CHOICES = ["yes", "no", "maybe"]
INSTRUCTION = (
    "Answer the biomedical research question using the abstract given as context. "
    "Reply with yes, no, or maybe."
)


def _record(pmid: str, question: str, contexts: list[str], decision: str) -> MultipleChoiceRecord:
    return MultipleChoiceRecord(
        id=str(pmid),
        question=question.strip(),
        choices=list(CHOICES),
        answer=CHOICES.index(decision.strip().lower()),
        context=" ".join(c.strip() for c in contexts),
    )


def parse_local(root: Path) -> list[MultipleChoiceRecord]:
    items = json.loads((root / "pubmedqa/ori_pqal.json").read_text(encoding="utf-8"))
    test = json.loads((root / "pubmedqa/test_ground_truth.json").read_text(encoding="utf-8"))
    records = []
    for pmid in sorted(test, key=int):
        item = items[pmid]
        if item["final_decision"] != test[pmid]:
            raise ValueError(f"PubMedQA {pmid}: label differs between ori_pqal and ground truth")
        records.append(_record(pmid, item["QUESTION"], item["CONTEXTS"], item["final_decision"]))
    return records


SOURCE = DatasetSource(
    name="PubMedQA PQA-L (test)",
    local_files=("pubmedqa/ori_pqal.json", "pubmedqa/test_ground_truth.json"),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=mc.record_from_dict,
)


def load_test(**_: Any):
    return mc.to_dataset_dict(load(SOURCE))


doc_to_text = mc.words_prompt(INSTRUCTION)
