"""JNLPBA NER loader: bio-entity mentions of the JNLPBA 2004 shared task (GENIA), types collapsed.

Local file ``ner/JNLPBA/test.tsv`` (BLURB release, IOB) (data manifest). One record per sentence, ``id`` = position in
the test file; see :mod:`tasks.common.ie_data`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.common.ie_data import ner_source
from tasks.common.ie_records import to_dataset_dict
from tasks.common.sources import load

ENTITY_TYPE = "protein, DNA, RNA, cell line or cell type"

SOURCE = ner_source(
    name="JNLPBA",
    folder="JNLPBA",
    entity_type=ENTITY_TYPE,
    collapse=True,
    sample_file=Path(__file__).with_name("sample.jsonl"),
)


def load_test(**_: Any):
    return to_dataset_dict(load(SOURCE))
