"""GAD (Genetic Association Database) gene–disease association, BLURB form.

Local file ``gad/test.tsv``: BioBERT's fold-1 test file as BLURB uses it (redistributed with
BioELECTRA): a header ``index<TAB>sentence<TAB>label``, then one sentence per line with the gene
masked as ``@GENE$`` and the disease as ``@DISEASE$``; label ``1`` = the sentence states an
association, ``0`` = it does not. ``id`` = the file's ``index`` column.

Order: the release lists all 281 positive sentences before the 253 negative ones, so any prefix
of it (lm-eval's ``--limit``) holds one class only. Records are therefore put in a fixed
pseudo-random order — by ``sha256("bio_gad/order/v1:<index>")`` — so that a prefix mixes both.

No hub source: ``bigbio/gad`` serves the BioBERT folds through a dataset script; which of its
parquet-converted folds equals this file has not been verified, so none is pinned here.

Example record::

    {"id": "0", "text": "These results suggest that the C1772T polymorphism in @GENE$ is not
     involved in progression or metastasis of @DISEASE$.", "entity1": "@GENE$",
     "entity2": "@DISEASE$", "labels": ["1", "0"], "label": "1", "negative": "0"}
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tasks.common.ie_records import RelationRecord, relation_record_from_dict, to_dataset_dict
from tasks.common.ie_tasks import RelationPrompt
from tasks.common.sources import load, local_source

LOCAL_FILE = "gad/test.tsv"
LABELS = ["1", "0"]
NEGATIVE = "0"
GENE, DISEASE = "@GENE$", "@DISEASE$"
ORDER_KEY = "bio_gad/order/v1:"

PROMPT = RelationPrompt(
    instruction=(
        f"Does the sentence state an association between the gene masked as {GENE} and the "
        f"disease masked as {DISEASE}? Reply with yes or no."
    ),
    verbalise={"1": "yes", "0": "no"},
    # "an association" as verb, adjective or noun (extraction rule v3)
    aliases={
        "1": ["true", "associated", "association", "associations", "associates", "associate"],
        "0": [
            "false",
            "not associated",
            "no association",
            "no associations",
            "not an association",
            "unassociated",
        ],
    },  # fmt: skip
)


def parse_tsv(text: str, where: str) -> list[RelationRecord]:
    lines = text.splitlines()
    if not lines or lines[0].split("\t") != ["index", "sentence", "label"]:
        raise ValueError(f"{where}: expected the header 'index<TAB>sentence<TAB>label'")
    records = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[2] not in LABELS:
            raise ValueError(
                f"{where}:{lineno}: expected '<index><TAB><sentence><TAB><1|0>', got {line[:120]!r}"
            )
        records.append(
            RelationRecord(
                id=parts[0],
                text=parts[1].strip(),
                entity1=GENE,
                entity2=DISEASE,
                labels=list(LABELS),
                label=parts[2],
                negative=NEGATIVE,
            )
        )
    return records


def order_rank(record: RelationRecord) -> str:
    return hashlib.sha256(f"{ORDER_KEY}{record.id}".encode()).hexdigest()


def parse_local(root: Path) -> list[RelationRecord]:
    path = root / LOCAL_FILE
    return sorted(parse_tsv(path.read_text(encoding="utf-8"), str(path)), key=order_rank)


SOURCE = local_source(
    "GAD, BLURB form (test)", __file__, LOCAL_FILE, parse_local, relation_record_from_dict
)


def load_test(**_: Any):
    return to_dataset_dict(load(SOURCE))


doc_to_text = PROMPT.doc_to_text
doc_to_choice = PROMPT.doc_to_choice
doc_to_target = PROMPT.doc_to_target
process_results_gen = PROMPT.process_results_gen
