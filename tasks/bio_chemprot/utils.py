"""ChemProt relation extraction, BLURB form: chemical–protein pairs in PubMed sentences.

Local file ``chemprot/blurb/test.tsv`` (the BLUE/BLURB release, redistributed with BioELECTRA):
a header ``sentence<TAB>label``, then one candidate pair per line. The pair's chemical is masked
as ``BC6ENTC``, its gene/protein as ``BC6ENTG``, other chemicals and genes of the sentence as
``BC6OTHER``. Labels: ``CPR:3`` (up-regulator / activator), ``CPR:4`` (down-regulator /
inhibitor), ``CPR:5`` (agonist), ``CPR:6`` (antagonist), ``CPR:9`` (substrate / product of) and
``False`` (none of these). ``id`` = the line's position among the data lines (0-based).

No hub source: ``bigbio/chemprot`` holds the original abstracts with entity offsets, not these
sentence-level instances (which come out of BLUE's own sentence splitting and masking), and no
plain-file copy of the BLURB TSV at a pinned revision is known.

Example record::

    {"id": "1", "text": "Once formed, the molecule can be converted to BC6ENTC by BC6ENTG
     ( BC6OTHER ).", "entity1": "BC6ENTC", "entity2": "BC6ENTG",
     "labels": ["CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "False"], "label": "CPR:9",
     "negative": "False"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.common.ie_records import RelationRecord, relation_record_from_dict, to_dataset_dict
from tasks.common.ie_tasks import RelationPrompt, regulation_words
from tasks.common.sources import load, local_source

LOCAL_FILE = "chemprot/blurb/test.tsv"
LABELS = ["CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "False"]
NEGATIVE = "False"
CHEMICAL, GENE = "BC6ENTC", "BC6ENTG"

PROMPT = RelationPrompt(
    instruction=(
        f"Classify the relation the sentence states between the chemical masked as {CHEMICAL} "
        f"and the gene or protein masked as {GENE} (other chemicals and genes are masked as "
        "BC6OTHER). Reply with one word: activator (the chemical activates or up-regulates it), "
        "inhibitor (inhibits or down-regulates it), agonist, antagonist, substrate (it is a "
        "substrate or product of the protein), or none."
    ),
    verbalise={
        "CPR:3": "activator",
        "CPR:4": "inhibitor",
        "CPR:5": "agonist",
        "CPR:6": "antagonist",
        "CPR:9": "substrate",
        "False": "none",
    },
    # the instruction's definitions as verbs and nouns (extraction rule v3): "activates or
    # up-regulates" -> activator, "inhibits or down-regulates" -> inhibitor, ...
    aliases={
        "CPR:3": [
            "CPR:3",
            "activators",
            "activate",
            "activates",
            "activated",
            "activating",
            "activation",
            *regulation_words("up"),
        ],
        "CPR:4": [
            "CPR:4",
            "inhibitors",
            "inhibit",
            "inhibits",
            "inhibited",
            "inhibiting",
            "inhibition",
            "inhibitory",
            *regulation_words("down"),
        ],
        "CPR:5": ["CPR:5", "agonists", "agonism", "agonistic"],
        "CPR:6": [
            "CPR:6",
            "antagonists",
            "antagonism",
            "antagonistic",
            "antagonize",
            "antagonizes",
            "antagonise",
            "antagonises",
        ],
        "CPR:9": ["CPR:9", "substrates", "product", "products"],
        "False": ["no relation", "no relationship", "no interaction", "no", "false"],
    },  # fmt: skip
)


def parse_tsv(text: str, where: str) -> list[RelationRecord]:
    """Rows of the BLURB ChemProt TSV (tabs only, no quoting: sentences contain quotes)."""
    lines = text.splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise ValueError(f"{where}: expected the header 'sentence<TAB>label'")
    records = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or parts[1] not in LABELS:
            raise ValueError(
                f"{where}:{lineno}: expected '<sentence><TAB><one of {LABELS}>', got {line[:120]!r}"
            )
        records.append(
            RelationRecord(
                id=str(len(records)),
                text=parts[0].strip(),
                entity1=CHEMICAL,
                entity2=GENE,
                labels=list(LABELS),
                label=parts[1],
                negative=NEGATIVE,
            )
        )
    return records


def parse_local(root: Path) -> list[RelationRecord]:
    path = root / LOCAL_FILE
    return parse_tsv(path.read_text(encoding="utf-8"), str(path))


SOURCE = local_source(
    "ChemProt, BLURB form (test)", __file__, LOCAL_FILE, parse_local, relation_record_from_dict
)


def load_test(**_: Any):
    return to_dataset_dict(load(SOURCE))


doc_to_text = PROMPT.doc_to_text
doc_to_choice = PROMPT.doc_to_choice
doc_to_target = PROMPT.doc_to_target
process_results_gen = PROMPT.process_results_gen
