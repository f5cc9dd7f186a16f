"""DDI 2013 drug–drug interaction extraction: every annotated drug pair of the test set.

Local file ``ddi/DDICorpus-2013.zip`` (the corpus as distributed, read without unpacking): the
XML documents under ``DDICorpus/Test/Test for DDI Extraction task/`` (DrugBank and MedLine, 191
documents). Each ``<pair e1=.. e2=.. ddi="true|false" type="advise|effect|mechanism|int">`` is one
instance, in the order: document file name (sorted), sentence, pair; ``id`` = the pair's id.

How an instance is built from its sentence:

* the sentence's ``text`` attribute is the text; ``charOffset`` values are inclusive character
  ranges into it (``"54-68"``), a discontinuous mention has several (``"0-9;32-45"``);
* every fragment of the first drug is wrapped in ``<<`` ``>>`` and every fragment of the second in
  ``[[`` ``]]``, inserted from the original offsets (when the two mentions share text the markers
  nest: at one position a closing marker comes before an opening one, the longer fragment opens
  first and closes last);
* whitespace runs (the corpus has ``\\r\\n`` inside some sentences) become one space, ends stripped.
* ``entity1`` / ``entity2`` are the drugs' ``text`` attributes; other drugs stay unmarked.

Labels: ``advise``, ``effect``, ``mechanism``, ``int`` for ``ddi="true"`` pairs, ``false`` for
the others. No hub source: ``bigbio/ddi_corpus`` is document-level (offsets into the whole
document, only positive relations), so the sentence-level pair set cannot be read back from it
exactly, and no plain-file copy at a pinned revision is known.

Example record::

    {"id": "DDI-DrugBank.d481.s0.p0", "text": "Concomitant use of <<aspirin>> with [[warfarin]]
     increases the risk of bleeding.", "entity1": "aspirin", "entity2": "warfarin",
     "labels": ["advise", "effect", "mechanism", "int", "false"], "label": "effect",
     "negative": "false"}
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tasks.common.ie_records import RelationRecord, relation_record_from_dict, to_dataset_dict
from tasks.common.ie_tasks import RelationPrompt
from tasks.common.sources import load, local_source

LOCAL_FILE = "ddi/DDICorpus-2013.zip"
TEST_DIR = "DDICorpus/Test/Test for DDI Extraction task/"
LABELS = ["advise", "effect", "mechanism", "int", "false"]
NEGATIVE = "false"
MARKERS = (("<<", ">>"), ("[[", "]]"))

PROMPT = RelationPrompt(
    instruction=(
        "Classify the interaction the sentence states between the two drugs marked << >> and "
        "[[ ]]. Reply with one word: mechanism (one drug changes the other's absorption, "
        "metabolism or levels), effect (the interaction's effect or outcome is described), "
        "advice (a recommendation or warning about taking them together), interaction (an "
        "interaction is stated without more detail), or none."
    ),
    verbalise={
        "advise": "advice",
        "effect": "effect",
        "mechanism": "mechanism",
        "int": "interaction",
        "false": "none",
    },
    # the instruction's definitions as verbs and nouns (extraction rule v3)
    aliases={
        "advise": [
            "advise",
            "advises",
            "advised",
            "recommendation",
            "recommend",
            "recommends",
            "recommended",
            "warning",
            "warns",
        ],
        "effect": ["effects", "pharmacodynamic", "pharmacodynamics"],
        "mechanism": ["mechanisms", "mechanistic", "pharmacokinetic", "pharmacokinetics"],
        "int": ["int", "interactions", "interact", "interacts", "interacting"],
        "false": [
            "no interaction",
            "no interactions",
            "no relation",
            "no",
            "false",
            "do not interact",
            "does not interact",
            "don't interact",
            "doesn't interact",
        ],
    },  # fmt: skip
    weak=("int",),
)


def parse_offsets(value: str) -> list[tuple[int, int]]:
    """Inclusive ``charOffset`` ranges -> end-exclusive spans.

    ``"54-68"`` -> ``[(54, 69)]``; ``"0-9;32-45"`` -> ``[(0, 10), (32, 46)]``.
    """
    spans = []
    for part in value.split(";"):
        start, _, end = part.partition("-")
        if not start.strip().isdigit() or not end.strip().isdigit():
            raise ValueError(f"bad DDI charOffset {value!r}")
        spans.append((int(start), int(end) + 1))
    return spans


def mark_pair(
    text: str, first: Sequence[tuple[int, int]], second: Sequence[tuple[int, int]]
) -> str:
    """The text with the fragments of the two mentions wrapped in their markers (see above)."""
    events = []  # (position, closes-first, nesting order, entity, marker)
    for entity, spans in enumerate((first, second)):
        opener, closer = MARKERS[entity]
        for start, end in spans:
            if not 0 <= start < end <= len(text):
                raise ValueError(f"fragment {start}-{end} outside a text of {len(text)} characters")
            events.append((end, 0, -start, -entity, closer))
            events.append((start, 1, -end, entity, opener))
    events.sort()
    pieces, cursor = [], 0
    for position, *_, marker in events:
        pieces.append(text[cursor:position])
        pieces.append(marker)
        cursor = position
    pieces.append(text[cursor:])
    return " ".join("".join(pieces).split())


def records_from_document(xml: bytes, where: str) -> list[RelationRecord]:
    records = []
    for sentence in ET.fromstring(xml).iter("sentence"):
        text = sentence.get("text", "")
        mentions = {
            e.get("id"): (e.get("text", ""), parse_offsets(e.get("charOffset", "")))
            for e in sentence.findall("entity")
        }
        for pair in sentence.findall("pair"):
            try:
                (name1, spans1), (name2, spans2) = (
                    mentions[pair.get("e1")],
                    mentions[pair.get("e2")],
                )
            except KeyError as exc:
                raise ValueError(
                    f"{where}: pair {pair.get('id')} names unknown entity {exc}"
                ) from exc
            label = pair.get("type") if pair.get("ddi") == "true" else NEGATIVE
            if label not in LABELS:
                raise ValueError(f"{where}: pair {pair.get('id')} has unknown type {label!r}")
            records.append(
                RelationRecord(
                    id=pair.get("id", ""),
                    text=mark_pair(text, spans1, spans2),
                    entity1=name1,
                    entity2=name2,
                    labels=list(LABELS),
                    label=label,
                    negative=NEGATIVE,
                )
            )
    return records


def parse_local(root: Path) -> list[RelationRecord]:
    path = root / LOCAL_FILE
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith(TEST_DIR) and n.endswith(".xml")
        )
        if not names:
            raise ValueError(
                f"{path}: no XML documents under {TEST_DIR!r}; is this DDICorpus-2013?"
            )
        return [r for n in names for r in records_from_document(archive.read(n), f"{path}:{n}")]


SOURCE = local_source(
    "DDI 2013 (test, DDI extraction task)",
    __file__,
    LOCAL_FILE,
    parse_local,
    relation_record_from_dict,
)


def load_test(**_: Any):
    return to_dataset_dict(load(SOURCE))


doc_to_text = PROMPT.doc_to_text
doc_to_choice = PROMPT.doc_to_choice
doc_to_target = PROMPT.doc_to_target
process_results_gen = PROMPT.process_results_gen
