"""ACI-Bench loader: full doctor-patient visit conversation -> full clinical note (test set 1).

Local file (original distribution, wyim/aci-bench on GitHub, commit b909b2bb):
``aci_bench/clinicalnlp_taskB_test1.json`` (``{"data": [{"src", "tgt", "file"}]}``), 40 visits,
kept in file order. ``file`` (e.g. ``D2N088-virtassist``) is the id; its suffix (``aci``,
``virtassist``, ``virtscribe``: how the conversation was recorded) is the subset. No hub copy with
plain files at a revision that could be pinned here is known, so there is no hub source.

Context length: conversations run to 11,477 characters (about 2,850 SmolLM2 tokens) and notes to
about 1,230 tokens. So that prompt plus note fit a 4,096-token window, the conversation shown to
the model is cut to ``MAX_INPUT_CHARS`` characters: its beginning and end are kept (whole lines)
and the middle is replaced by ``[... N characters omitted ...]``. Each document records
``input_truncated`` and ``omitted_chars`` (7 of the 40 test conversations are cut); the canonical
record, and so the data hash, keeps the full conversation.

Example record::

    {"id": "D2N088-virtassist", "input": "[doctor] hi , andrew . how are you ?\\n[patient] ...",
     "references": ["CHIEF COMPLAINT\\n\\nUpper respiratory infection.\\n\\nHISTORY OF ..."],
     "subset": "virtassist"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.common import generation as gen
from tasks.common.generation import GenerationRecord
from tasks.common.sources import DatasetSource, load

LOCAL_FILE = "aci_bench/clinicalnlp_taskB_test1.json"
MAX_INPUT_CHARS = 8000
INSTRUCTION = (
    "Write the complete clinical note for the doctor-patient visit below, with the usual "
    "sections (for example CHIEF COMPLAINT, HISTORY OF PRESENT ILLNESS, REVIEW OF SYSTEMS, "
    "PHYSICAL EXAMINATION, RESULTS, ASSESSMENT AND PLAN)."
)


TRAIN_FILE = "aci_bench/train.json"  # 67 visits, same format


def parse_local(root: Path) -> list[GenerationRecord]:
    return read_json(root / LOCAL_FILE)


def parse_train(root: Path) -> list[GenerationRecord]:
    """The official training set (training data; not part of the test split)."""
    return read_json(root / TRAIN_FILE)


def read_json(path: Path) -> list[GenerationRecord]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise ValueError(f'{path}: expected {{"data": [{{"src", "tgt", "file"}}, ...]}}')
    records = []
    for i, item in enumerate(raw["data"]):
        missing = {"src", "tgt", "file"} - set(item)
        if missing:
            raise ValueError(f"{path}: data[{i}] lacks {sorted(missing)}")
        name = str(item["file"]).strip()
        records.append(
            GenerationRecord(
                id=name,
                input=item["src"].strip(),
                references=[item["tgt"].strip()],
                subset=name.split("-", 1)[1] if "-" in name else "",
            )
        )
    return records


SOURCE = DatasetSource(
    name="ACI-Bench (test set 1, ClinicalNLP task B)",
    local_files=(LOCAL_FILE,),
    parse_local=parse_local,
    sample_file=Path(__file__).with_name("sample.jsonl"),
    from_record=gen.record_from_dict,
)


def load_test(**_: Any):
    return gen.to_dataset_dict(load(SOURCE), INSTRUCTION, max_input_chars=MAX_INPUT_CHARS)
