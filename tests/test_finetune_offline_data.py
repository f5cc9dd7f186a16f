"""Offline instruction data for the LoRA recipe: built from training splits only, decontaminated
against the test splits, in the evaluation tasks' own prompt format, seeded and hashed."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from bioinstruct_data import offline_instructions as oi
from tasks.bio_bioasq_yesno import utils as bioasq_task
from tasks.bio_headqa_en import utils as headqa_task
from tasks.bio_pubmedqa import utils as pubmedqa_task
from tasks.common import ie_tasks
from tasks.common.prompting import render_prompt
from tasks.common.sources import load


def write_mini_data(root: Path) -> Path:
    """PubMedQA + BioASQ files in their original formats (content written for this test)."""
    items = {
        str(pmid): {
            "QUESTION": f"Does treatment {pmid} work?",
            "CONTEXTS": [f"Trial {pmid}.", "Results."],
            "final_decision": ["yes", "no", "maybe"][pmid % 3],
        }
        for pmid in range(1, 9)
    }
    (root / "pubmedqa").mkdir(parents=True)
    (root / "pubmedqa/ori_pqal.json").write_text(json.dumps(items))
    test = {"2": "no", "5": "maybe"}
    (root / "pubmedqa/test_ground_truth.json").write_text(json.dumps(test))
    (root / "bioasq/yesno").mkdir(parents=True)
    header = ["yesno_label", "question", "ideal_answer"]
    train = [
        ["1", "Is A a gene?", "A is a gene."],
        ["0", "Is B a virus?", "B is a bacterium."],
        ["1", "Is C an enzyme?", "C is an enzyme."],
    ]
    tests = [["0", "is b a  virus?", "No."]]  # the same question as a training one
    for name, rows in (("train", train), ("test", tests)):
        with (root / f"bioasq/yesno/{name}.tsv").open("w", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t")
            writer.writerows([header, *rows])
    return root


def test_builds_from_training_items_only_and_drops_test_overlap(tmp_path):
    root = write_mini_data(tmp_path / "data")
    records, stats = oi.build(root, max_per_source=100, seed=0)
    pubmed = [r for r in records if r.source == "pubmedqa"]
    assert sorted(r.id for r in pubmed) == [f"pubmedqa-{i}" for i in (1, 3, 4, 6, 7, 8)]
    assert stats["bioasq_yesno"] == {"available": 3, "dropped_as_test_overlap": 1, "kept": 2}
    assert not any("Is B a virus?" in r.input for r in records)
    assert {r.category for r in records} == {"qa"}
    first = next(r for r in pubmed if r.id == "pubmedqa-1")
    assert first.output == "no" and first.instruction == pubmedqa_task.INSTRUCTION
    doc = {
        "question": "Does treatment 1 work?",
        "context": "Trial 1. Results.",
        "choices": pubmedqa_task.CHOICES,
        "answer": 1,
    }
    assert render_prompt(first.instruction, first.input) == pubmedqa_task.doc_to_text(doc)


def test_cap_is_a_seeded_sample_and_output_is_hashed(tmp_path):
    root = write_mini_data(tmp_path / "data")
    a, _ = oi.build(root, max_per_source=3, seed=1)
    b, _ = oi.build(root, max_per_source=3, seed=1)
    c, _ = oi.build(root, max_per_source=3, seed=2)
    assert a == b and a != c
    assert sum(r.source == "pubmedqa" for r in a) == 3
    out = tmp_path / "runs" / "offline.jsonl"
    assert oi.ensure(root, out, max_per_source=3, seed=1) == out
    manifest = json.loads(oi.manifest_path(out).read_text())
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    with_seeds, stats = oi.build(root, max_per_source=3, seed=1, seeds=True)
    assert with_seeds[: len(a)] == a and stats["seed_tasks"]["kept"] == 72  # qa/ie/gen seeds
    assert {r.source for r in with_seeds[len(a) :]} == {"seed_tasks"}
    lines = out.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [asdict(r) for r in with_seeds]
    stamp = out.stat().st_mtime_ns
    oi.ensure(root, out, max_per_source=3, seed=1)  # same settings: reused, not rebuilt
    assert out.stat().st_mtime_ns == stamp


def test_no_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No training files of any known dataset"):
        oi.build(tmp_path)
    with pytest.raises(ValueError, match="category 'mcq'"):
        oi.TrainingRecord("i", "", "o", "mcq", "s", "x")


@pytest.mark.realdata
@pytest.mark.slow  # reads every training source of the real data (~4 s)
def test_real_data_all_sources_no_test_items(shared_data):
    records, stats = oi.build(shared_data, max_per_source=40, seed=0)
    sources = {b.name for b in oi.BUILDERS}
    assert {r.category for r in records} == {"qa", "ie", "gen"}
    assert len(stats) >= len(sources)  # NER contributes one source per corpus
    assert all(
        v["kept"] == min(40, v["available"] - v["dropped_as_test_overlap"]) for v in stats.values()
    )
    test_pmids = set(json.loads((shared_data / "pubmedqa/test_ground_truth.json").read_text()))
    assert not {r.id.split("-", 1)[1] for r in records if r.source == "pubmedqa"} & test_pmids
    for source, task in (
        ("pubmedqa", pubmedqa_task),
        ("bioasq_yesno", bioasq_task),
        ("headqa_en", headqa_task),
    ):
        test_questions = {oi.normalise(d.question) for d in load(task.SOURCE).records}
        keys = {oi._question_key(r) for r in records if r.source == source}
        assert keys and not keys & test_questions, source
    ner = [r for r in records if r.source.startswith("ner_")]
    for r in ner:
        assert r.instruction.startswith("List every") and r.output
        if r.output != ie_tasks.NONE_ANSWER:
            squashed = r.input.replace(" ", "")
            assert all(m.replace(" ", "") in squashed for m in r.output.splitlines()), r.id
