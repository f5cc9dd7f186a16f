"""MEDIQA 2019 Task 3 loader: consumer health question -> answer; reference = best-ranked answer.

Local file (original distribution, abachaa/MEDIQA2019 on GitHub, commit ae5d3826):
``mediqa2019/MEDIQA2019-Task3-QA-TestSet-wLabels.xml``: 150 questions, each with the answers a
retrieval system returned (1,107 in all), judged by experts with a ``ReferenceRank`` (1 = best)
and a ``ReferenceScore`` (1-4). The reference is the text of the answer ranked 1 (ties are
broken by the higher ``ReferenceScore``, then the lower answer id; none occur in this file).
Questions kept in file order. No hub copy with plain files at a revision that could be pinned
here is known, so there is no hub source.

Example record::

    {"id": "1", "input": "abetalipoproteimemia hi, I would like to know if there is any ...",
     "references": ["abetalipoproteinemia: Abetalipoproteinemia is an inherited disorder ..."],
     "subset": ""}
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tasks.common import generation as gen
from tasks.common.generation import GenerationRecord
from tasks.common.sources import load, local_source

LOCAL_FILE = "mediqa2019/MEDIQA2019-Task3-QA-TestSet-wLabels.xml"
INSTRUCTION = (
    "Answer the consumer health question below accurately and completely, as a trusted "
    "medical information resource would."
)


def _best_answer(question: ET.Element, where: str) -> str:
    answers = question.findall("./AnswerList/Answer")
    if not answers:
        raise ValueError(f"{where}: question has no answers")

    def rank(answer: ET.Element) -> tuple[int, int, str]:
        try:
            return (
                int(answer.get("ReferenceRank", "")),
                -int(answer.get("ReferenceScore", "0")),
                answer.get("AID", ""),
            )
        except ValueError:
            raise ValueError(
                f"{where}: answer {answer.get('AID')!r} has a non-integer ReferenceRank/Score"
            ) from None

    text = min(answers, key=rank).findtext("AnswerText") or ""
    return text.strip()


def parse_local(root: Path) -> list[GenerationRecord]:
    path = root / LOCAL_FILE
    tree = ET.parse(path)
    records = []
    for question in tree.getroot().findall("Question"):
        qid = question.get("QID", "").strip()
        where = f"{path} question {qid!r}"
        records.append(
            GenerationRecord(
                id=qid,
                input=(question.findtext("QuestionText") or "").strip(),
                references=[_best_answer(question, where)],
            )
        )
    return records


SOURCE = local_source(
    "MEDIQA 2019 consumer health QA (test)", __file__, LOCAL_FILE, parse_local, gen.record_from_dict
)


def load_test(**_: Any):
    return gen.to_dataset_dict(load(SOURCE), INSTRUCTION)


TRAIN_FILE = "chatdoctor/chatdoctor5k.json"


def parse_train(root: Path) -> list[GenerationRecord]:
    """Stand-in training data: MEDIQA 2019's own QA training set is not part of the suite's data,
    so the patient question -> doctor answer pairs of ChatDoctor's GenMedGPT-5k (the recipe's
    generation data, ``chatdoctor/chatdoctor5k.json``: ``[{"input", "output"}, ...]``) are used
    where training data is needed (the lead-k baseline's k, ``leaderboard/trivial.py``)."""
    path = root / TRAIN_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f'{path}: expected a list of {{"input", "output"}} objects')
    records = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not {"input", "output"} <= set(item):
            raise ValueError(f"{path}: item {i} lacks 'input' / 'output'")
        if str(item["input"]).strip() and str(item["output"]).strip():
            records.append(
                GenerationRecord(
                    id=f"chatdoctor5k-{i}",
                    input=str(item["input"]).strip(),
                    references=[str(item["output"]).strip()],
                )
            )
    return records
