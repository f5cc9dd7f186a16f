"""Real instruction data available offline: instructions built from the TRAINING splits of the
QA / IE / GEN datasets in the shared data folder (``../shared/data``; see its README).

The BioInstruct dataset itself (25,005 GPT-4 generated instructions) cannot be downloaded on this
machine; the paper found that instructions from closely related tasks help most, so this module
turns the training splits of the evaluation datasets' own corpora into Alpaca-style records.
Every record uses the instruction, input layout and answer form of the matching ``bio_*`` task
(imported from the task folders, never restated here), so a tuned model is trained on the format
it is evaluated on:

* qa: PubMedQA (the 500 PQA-L items outside the test split), BioASQ yes/no train, HEAD-QA train;
* ie: NER train splits of BC5CDR-chem/-disease, NCBI-disease, BC2GM; ChemProt, GAD and DDI train;
* gen: MTS-Dialog training set, ACI-Bench train, and GenMedGPT-5k (ChatDoctor's instruction set);
* plus the project's 80 human-written seed tasks (``seed_tasks.jsonl``, as BioInstruct started
  from 80 seeds): the 72 of categories qa / ie / gen; the 8 ``other`` seeds belong to no
  evaluated category and are left out.

Not used: MedQA, MedMCQA and MMLU (no training split here), HoC (no official split file),
JNLPBA (no training file), MeQSum and MEDIQA (evaluation-only here).

Rules kept here:

* only training (or non-test) splits are read to build records — never a test split;
* test splits are read for one purpose: decontamination. A training record whose normalised
  question / sentence / dialogue equals a test item of the same dataset is dropped;
* sampling per source is capped and seeded (``random.Random(seed)``), so the output is a pure
  function of (data folder, seed, cap); its SHA-256 is recorded in a manifest next to it;
* the output goes under ``runs/`` (gitignored) and is never committed.

Example record::

    {"instruction": "Answer the biomedical question using the context. Reply with yes or no.",
     "input": "Context: ...\\nQuestion: Are ultraconserved enhancers important for ...?",
     "output": "yes", "category": "qa", "source": "bioasq_yesno", "id": "bioasq_yesno-0"}

Build from the command line::

    python -m bioinstruct_data.offline_instructions --data-dir ../shared/data \\
        --out runs/instructions/offline.jsonl
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks import registry
from tasks.bio_aci_bench import utils as aci_task
from tasks.bio_bioasq_yesno import utils as bioasq_task
from tasks.bio_chemprot import utils as chemprot_task
from tasks.bio_ddi import utils as ddi_task
from tasks.bio_gad import utils as gad_task
from tasks.bio_headqa_en import utils as headqa_task
from tasks.bio_mts_dialog import utils as mts_task
from tasks.bio_ner_bc2gm import utils as ner_bc2gm_task
from tasks.bio_ner_bc5cdr_chem import utils as ner_bc5cdr_chem_task
from tasks.bio_ner_bc5cdr_disease import utils as ner_bc5cdr_disease_task
from tasks.bio_ner_ncbi_disease import utils as ner_ncbi_disease_task
from tasks.bio_pubmedqa import utils as pubmedqa_task
from tasks.common import generation, ie_data, ie_tasks
from tasks.common import multiple_choice as mc
from tasks.common.generation import GenerationRecord
from tasks.common.ie_records import RelationRecord
from tasks.common.records import MultipleChoiceRecord
from tasks.ground import atomic

log = logging.getLogger(__name__)

CATEGORIES = registry.CATEGORIES  # the suite's categories: training records are never "other"
DEFAULT_MAX_PER_SOURCE = 1500
DEFAULT_SEED = 0


@dataclass(frozen=True)
class TrainingRecord:
    """One Alpaca-style training record built from a dataset's training split (the recipe's
    generated instructions are ``bioinstruct_data.schemas.InstructionRecord``)."""

    instruction: str
    input: str
    output: str
    category: str  # qa | ie | gen
    source: str  # which builder made it (dataset + task)
    id: str  # unique within the output, "<source>-<id in the original data>"

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"record {self.id!r}: category {self.category!r} not in {CATEGORIES}")
        if not self.instruction.strip() or not self.output.strip():
            raise ValueError(f"record {self.id!r}: empty instruction or output")


def normalise(text: str) -> str:
    """Key used for decontamination: lower case, whitespace collapsed."""
    return re.sub(r"\s+", " ", text).strip().lower()


# --------------------------------------------------------------------------- QA


def _mc_record(doc: MultipleChoiceRecord, instruction: str, source: str, letters: bool):
    row = asdict(doc)
    text_input = mc.letter_input(row) if letters else mc.words_input(row)
    output = mc.answer_letter(row) if letters else mc.answer_word(row)
    return TrainingRecord(instruction, text_input, output, "qa", source, f"{source}-{doc.id}")


def pubmedqa_train(root: Path) -> Iterator[TrainingRecord]:
    """PubMedQA PQA-L: the 500 expert-labelled items outside the official test split."""
    items = json.loads((root / "pubmedqa/ori_pqal.json").read_text(encoding="utf-8"))
    test = json.loads((root / "pubmedqa/test_ground_truth.json").read_text(encoding="utf-8"))
    for pmid in sorted(set(items) - set(test), key=int):
        item = items[pmid]
        doc = MultipleChoiceRecord(
            id=pmid,
            question=item["QUESTION"].strip(),
            choices=list(pubmedqa_task.CHOICES),
            answer=pubmedqa_task.CHOICES.index(item["final_decision"].strip().lower()),
            context=" ".join(c.strip() for c in item["CONTEXTS"]),
        )
        yield _mc_record(doc, pubmedqa_task.INSTRUCTION, "pubmedqa", letters=False)


def pubmedqa_test_keys(root: Path) -> set[str]:
    items = json.loads((root / "pubmedqa/ori_pqal.json").read_text(encoding="utf-8"))
    test = json.loads((root / "pubmedqa/test_ground_truth.json").read_text(encoding="utf-8"))
    return {normalise(items[pmid]["QUESTION"]) for pmid in test}


def _bioasq_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def bioasq_train(root: Path) -> Iterator[TrainingRecord]:
    """BioASQ yes/no train split (BioELECTRA release); context = the ideal answer, as in the task"""
    for i, row in enumerate(_bioasq_rows(root / "bioasq/yesno/train.tsv")):
        doc = MultipleChoiceRecord(
            id=str(i),
            question=row["question"].strip(),
            choices=list(bioasq_task.CHOICES),
            answer=0 if row["yesno_label"].strip() == "1" else 1,
            context=row["ideal_answer"].strip(),
        )
        yield _mc_record(doc, bioasq_task.INSTRUCTION, "bioasq_yesno", letters=False)


def bioasq_test_keys(root: Path) -> set[str]:
    return {normalise(r["question"]) for r in _bioasq_rows(root / "bioasq/yesno/test.tsv")}


def _headqa_docs(path: Path) -> Iterator[tuple[MultipleChoiceRecord, bool]]:
    """(question, refers to an image) pairs of one HEAD-QA file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for exam in data["exams"].values():
        for q in exam["data"]:
            answers = sorted(q["answers"], key=lambda a: int(a["aid"]))
            aids = [int(a["aid"]) for a in answers]
            doc = MultipleChoiceRecord(
                id=f"{exam['name']}-{q['qid']}",
                question=q["qtext"].strip(),
                choices=[a["atext"].strip() for a in answers],
                answer=aids.index(int(q["ra"])),
                subset=exam["category"],
            )
            yield doc, bool(q.get("image"))


def headqa_train(root: Path) -> Iterator[TrainingRecord]:
    """HEAD-QA English train split; questions about an image (unseen by the model) are skipped."""
    for doc, has_image in _headqa_docs(root / "headqa/train_HEAD_EN.json"):
        if not has_image:
            yield _mc_record(doc, headqa_task.INSTRUCTION, "headqa_en", letters=True)


def headqa_test_keys(root: Path) -> set[str]:
    return {normalise(d.question) for d, _ in _headqa_docs(root / "headqa/test_HEAD_EN.json")}


# --------------------------------------------------------------------------- IE
# Instruction, shown input and answer of each record come from the bio_ie task of the same
# corpus (tasks/common/ie_tasks.py and the task folders' PROMPT objects).

NER_CORPORA = {  # folder under ner/ -> (source name, the bio_ie task's entity type)
    "BC5CDR-chem-IOB": ("ner_bc5cdr_chem", ner_bc5cdr_chem_task.ENTITY_TYPE),
    "BC5CDR-disease-IOB": ("ner_bc5cdr_disease", ner_bc5cdr_disease_task.ENTITY_TYPE),
    "NCBI-disease-IOB": ("ner_ncbi_disease", ner_ncbi_disease_task.ENTITY_TYPE),
    "BC2GM-IOB": ("ner_bc2gm", ner_bc2gm_task.ENTITY_TYPE),
}  # JNLPBA has no training split in the shared data


def ner_train(root: Path) -> Iterator[TrainingRecord]:
    for folder, (source, entity_type) in NER_CORPORA.items():
        sentences = ie_data.read_iob(root / "ner" / folder / "train.tsv")
        for doc in ie_data.records_from_iob(sentences, entity_type, collapse=False):
            row = asdict(doc)
            yield TrainingRecord(
                instruction=ie_tasks.ner_instruction(entity_type),
                input=ie_tasks.detokenize(doc.tokens),
                output=ie_tasks.ner_doc_to_target(row),
                category="ie",
                source=source,
                id=f"{source}-{doc.id}",
            )


def ner_test_keys(root: Path) -> set[str]:
    return {
        normalise(ie_tasks.detokenize(tokens))
        for folder in NER_CORPORA
        for tokens, _, _ in ie_data.read_iob(root / "ner" / folder / "test.tsv")
    }


def _relation_record(prompt, doc, source: str) -> TrainingRecord:
    return TrainingRecord(
        prompt.instruction,
        doc.text,
        prompt.verbalise[doc.label],
        "ie",
        source,
        f"{source}-{doc.id}",
    )


def chemprot_train(root: Path) -> Iterator[TrainingRecord]:
    path = root / "chemprot/blurb/train.tsv"
    for doc in chemprot_task.parse_tsv(path.read_text(encoding="utf-8"), str(path)):
        yield _relation_record(chemprot_task.PROMPT, doc, "chemprot")


def chemprot_test_keys(root: Path) -> set[str]:
    return {normalise(d.text) for d in chemprot_task.parse_local(root)}


def gad_train(root: Path) -> Iterator[TrainingRecord]:
    """GAD fold-1 train file: ``sentence<TAB>label`` lines without a header or index column."""
    path = root / "gad/train.tsv"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        sentence, label = line.rsplit("\t", 1)
        if label not in gad_task.LABELS:
            raise ValueError(f"{path}:{i + 1}: label {label!r} not in {gad_task.LABELS}")
        doc = RelationRecord(
            id=str(i),
            text=sentence.strip(),
            entity1=gad_task.GENE,
            entity2=gad_task.DISEASE,
            labels=list(gad_task.LABELS),
            label=label,
            negative=gad_task.NEGATIVE,
        )
        yield _relation_record(gad_task.PROMPT, doc, "gad")


def gad_test_keys(root: Path) -> set[str]:
    return {normalise(d.text) for d in gad_task.parse_local(root)}


DDI_TRAIN_DIR = "DDICorpus/Train/"


def ddi_train(root: Path) -> Iterator[TrainingRecord]:
    """DDI 2013 training documents (DrugBank + MedLine), read from the zip without unpacking."""
    path = root / ddi_task.LOCAL_FILE
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith(DDI_TRAIN_DIR) and n.endswith(".xml")
        )
        for name in names:
            try:
                docs = ddi_task.records_from_document(archive.read(name), f"{path}:{name}")
            except ValueError as exc:  # one training document has a typed pair without a type
                log.warning("DDI: skipping a training document: %s", exc)
                continue
            for doc in docs:
                yield _relation_record(ddi_task.PROMPT, doc, "ddi")


def ddi_test_keys(root: Path) -> set[str]:
    return {normalise(d.text) for d in ddi_task.parse_local(root)}


# --------------------------------------------------------------------------- GEN
# Instructions and input truncation as in the bio_gen task of the same corpus.

MTS_TRAIN = "mts_dialog/MTS-Dialog-TrainingSet.csv"
MTS_TESTS = (
    "mts_dialog/MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv",
    "mts_dialog/MTS-Dialog-TestSet-2-MEDIQA-Sum-2023.csv",
)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def mts_train(root: Path) -> Iterator[TrainingRecord]:
    for row in _csv_rows(root / MTS_TRAIN):
        doc = GenerationRecord(
            id=row["ID"].strip(),
            input=row["dialogue"].strip(),
            references=[row["section_text"].strip()],
            subset=row["section_header"].strip().upper(),
        )
        yield TrainingRecord(
            mts_task.instruction(doc),
            doc.input,
            doc.references[0],
            "gen",
            "mts_dialog",
            f"mts_dialog-{doc.id}",
        )


def mts_test_keys(root: Path) -> set[str]:
    return {normalise(r["dialogue"]) for f in MTS_TESTS for r in _csv_rows(root / f)}


def _aci_shown(src: str) -> str:
    """The visit as the bio_aci_bench task shows it (middle cut to MAX_INPUT_CHARS), normalised."""
    return normalise(generation.truncate_middle(src.strip(), aci_task.MAX_INPUT_CHARS).text)


ACI_TESTS = (
    "aci_bench/clinicalnlp_taskB_test1.json",
    "aci_bench/clinicalnlp_taskC_test2.json",
    "aci_bench/clef_taskC_test3.json",
)


def aci_train(root: Path) -> Iterator[TrainingRecord]:
    data = json.loads((root / "aci_bench/train.json").read_text(encoding="utf-8"))["data"]
    for item in data:
        shown = generation.truncate_middle(item["src"].strip(), aci_task.MAX_INPUT_CHARS).text
        yield TrainingRecord(
            aci_task.INSTRUCTION,
            shown,
            item["tgt"].strip(),
            "gen",
            "aci_bench",
            f"aci_bench-{item['file']}",
        )


def aci_test_keys(root: Path) -> set[str]:
    keys = set()
    for name in ACI_TESTS:
        data = json.loads((root / name).read_text(encoding="utf-8"))["data"]
        keys |= {_aci_shown(item["src"]) for item in data}
    return keys


def chatdoctor(root: Path) -> Iterator[TrainingRecord]:
    """GenMedGPT-5k: already instruction / input / output (an instruction set, not a test set)."""
    items = json.loads((root / "chatdoctor/chatdoctor5k.json").read_text(encoding="utf-8"))
    for i, item in enumerate(items):
        if not item["output"].strip():
            continue
        yield TrainingRecord(
            item["instruction"].strip(),
            item["input"].strip(),
            item["output"].strip(),
            "gen",
            "chatdoctor5k",
            f"chatdoctor5k-{i}",
        )


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class Builder:
    name: str
    category: str
    train_files: tuple[str, ...]
    build: Callable[[Path], Iterator[TrainingRecord]]
    test_keys: Callable[[Path], set[str]] | None  # normalised test items of the same dataset
    key: Callable[[TrainingRecord], str]  # the field compared with test_keys


def _question_key(record: TrainingRecord) -> str:
    match = re.search(r"^Question: (.*?)(?:\nOptions:|\Z)", record.input, re.S | re.M)
    return normalise(match.group(1) if match else record.input)


def _input_key(record: TrainingRecord) -> str:
    return normalise(record.input)


BUILDERS: tuple[Builder, ...] = (
    Builder(
        "pubmedqa",
        "qa",
        ("pubmedqa/ori_pqal.json",),
        pubmedqa_train,
        pubmedqa_test_keys,
        _question_key,
    ),
    Builder(
        "bioasq_yesno",
        "qa",
        ("bioasq/yesno/train.tsv",),
        bioasq_train,
        bioasq_test_keys,
        _question_key,
    ),
    Builder(
        "headqa_en",
        "qa",
        ("headqa/train_HEAD_EN.json",),
        headqa_train,
        headqa_test_keys,
        _question_key,
    ),
    Builder(
        "ner",
        "ie",
        tuple(f"ner/{f}/train.tsv" for f in NER_CORPORA),
        ner_train,
        ner_test_keys,
        _input_key,
    ),
    Builder(
        "chemprot",
        "ie",
        ("chemprot/blurb/train.tsv",),
        chemprot_train,
        chemprot_test_keys,
        _input_key,
    ),
    Builder("gad", "ie", ("gad/train.tsv",), gad_train, gad_test_keys, _input_key),
    Builder("ddi", "ie", (ddi_task.LOCAL_FILE,), ddi_train, ddi_test_keys, _input_key),
    Builder("mts_dialog", "gen", (MTS_TRAIN,), mts_train, mts_test_keys, _input_key),
    Builder("aci_bench", "gen", ("aci_bench/train.json",), aci_train, aci_test_keys, _input_key),
    Builder("chatdoctor5k", "gen", ("chatdoctor/chatdoctor5k.json",), chatdoctor, None, _input_key),
)


def seed_records() -> list[TrainingRecord]:
    """The shipped seed tasks of the evaluated categories as training records."""
    from bioinstruct_data.seeds import load_seeds

    return [
        TrainingRecord(s.instruction, s.input, s.output, s.category, "seed_tasks", s.id)
        for s in load_seeds()
        if s.category in CATEGORIES
    ]


def build(
    data_dir: Path,
    max_per_source: int = DEFAULT_MAX_PER_SOURCE,
    seed: int = DEFAULT_SEED,
    builders: tuple[Builder, ...] = BUILDERS,
    seeds: bool = False,
) -> tuple[list[TrainingRecord], dict[str, dict[str, int]]]:
    """All records (at most ``max_per_source`` per record source) and per-source statistics;
    with ``seeds``, the seed tasks of :func:`seed_records` come last.

    Builders whose training files are missing are skipped with a warning; none found is an error.
    """
    if max_per_source < 1:
        raise ValueError(f"max_per_source must be >= 1, got {max_per_source}")
    rng = random.Random(seed)
    records: list[TrainingRecord] = []
    stats: dict[str, dict[str, int]] = {}
    for builder in builders:
        missing = [f for f in builder.train_files if not (data_dir / f).exists()]
        if missing:
            log.warning("skipping %s: missing %s under %s", builder.name, missing, data_dir)
            continue
        test_keys = builder.test_keys(data_dir) if builder.test_keys else set()
        by_source: dict[str, list[TrainingRecord]] = {}
        dropped: Counter[str] = Counter()
        n_available: Counter[str] = Counter()
        for record in builder.build(data_dir):
            n_available[record.source] += 1
            if builder.key(record) in test_keys:
                dropped[record.source] += 1
                continue
            by_source.setdefault(record.source, []).append(record)
        for source, items in by_source.items():
            if len(items) > max_per_source:  # a seeded sample, kept in the original order
                items = [items[i] for i in sorted(rng.sample(range(len(items)), max_per_source))]
            kept = items
            records += kept
            stats[source] = {
                "available": n_available[source],
                "dropped_as_test_overlap": dropped[source],
                "kept": len(kept),
            }
    if not records:
        raise FileNotFoundError(
            f"No training files of any known dataset under {data_dir}. Point --data-dir at the "
            "shared data folder (layout in its README.md, e.g. ../shared/data)."
        )
    if seeds:
        extra = seed_records()
        records += extra
        stats["seed_tasks"] = {"available": len(extra), "dropped_as_test_overlap": 0}
        stats["seed_tasks"]["kept"] = len(extra)
    ids = Counter(r.id for r in records)
    duplicated = [i for i, n in ids.items() if n > 1]
    if duplicated:
        raise ValueError(f"duplicate record ids: {duplicated[:5]}")
    return records, stats


def records_jsonl(records: list[TrainingRecord]) -> str:
    return "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records)


def write(records: list[TrainingRecord], stats: dict, out: Path, **provenance) -> dict:
    """Write the JSONL and ``<out>.manifest.json`` atomically; return the manifest."""
    text = records_jsonl(records)
    manifest = {
        "file": out.name,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "n_records": len(records),
        "by_category": dict(Counter(r.category for r in records)),
        "by_source": stats,
        **provenance,
    }
    atomic.write_text(out, text)
    atomic.write_text(manifest_path(out), json.dumps(manifest, indent=2))
    return manifest


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def ensure(
    data_dir: Path,
    out: Path,
    max_per_source: int = DEFAULT_MAX_PER_SOURCE,
    seed: int = DEFAULT_SEED,
    seeds: bool = True,
) -> Path:
    """Build ``out`` unless it exists with a manifest of the same settings; return ``out``."""
    from bioinstruct_data.seeds import SEED_FILE

    settings = {
        "data_dir": str(data_dir.resolve()),
        "max_per_source": max_per_source,
        "seed": seed,
        "seed_tasks_sha256": hashlib.sha256(SEED_FILE.read_bytes()).hexdigest() if seeds else None,
    }
    if out.is_file() and manifest_path(out).is_file():
        manifest = json.loads(manifest_path(out).read_text(encoding="utf-8"))
        if {k: manifest.get(k) for k in settings} == settings:
            return out
    records, stats = build(data_dir, max_per_source, seed, seeds=seeds)
    manifest = write(records, stats, out, **settings)
    log.info("wrote %d instruction records to %s (%s)", len(records), out, manifest["by_category"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bioinstruct_data.offline_instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL (under runs/)")
    parser.add_argument("--max-per-source", type=int, default=DEFAULT_MAX_PER_SOURCE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--no-seed-tasks", action="store_true", help="leave the 72 qa/ie/gen seed tasks out"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = ensure(
        args.data_dir, args.out, args.max_per_source, args.seed, seeds=not args.no_seed_tasks
    )
    print(manifest_path(out).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
