"""BC5CDR-chemical NER loader: chemical mentions of the BioCreative V CDR corpus.

Local file ``ner/BC5CDR-chem-IOB/test.tsv`` (BLURB release, IOB) (data manifest). One record per sentence, ``id`` = position in
the test file; see :mod:`tasks.common.ie_data`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.common.ie_data import ner_source
from tasks.common.ie_records import to_dataset_dict
from tasks.common.sources import load

ENTITY_TYPE = "chemical"

SOURCE = ner_source(
    name="BC5CDR-chemical",
    folder="BC5CDR-chem-IOB",
    entity_type=ENTITY_TYPE,
    collapse=False,
    sample_file=Path(__file__).with_name("sample.jsonl"),
)


def load_test(**_: Any):
    return to_dataset_dict(load(SOURCE))
