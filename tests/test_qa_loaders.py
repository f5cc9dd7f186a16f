"""bio_qa loaders: local original-format files give the canonical records; missing data is one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tasks.bio_bioasq_yesno import utils as bioasq
from tasks.bio_headqa_en import utils as headqa
from tasks.bio_medmcqa import utils as medmcqa
from tasks.bio_medqa import utils as medqa
from tasks.bio_mmlu_medical import utils as mmlu
from tasks.bio_pubmedqa import utils as pubmedqa
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DataUnavailableError, load

# --- fixtures in the ORIGINAL distribution formats (content written for these tests) ---------


def write_pubmedqa(root: Path) -> None:
    items = {
        "111": {
            "QUESTION": "Does drug X lower blood pressure?",
            "CONTEXTS": ["Part one.", "Part two."],
            "LABELS": ["A", "B"],
            "MESHES": [],
            "final_decision": "yes",
            "LONG_ANSWER": "It does.",
        },
        "22": {
            "QUESTION": "Is marker Y useful?",
            "CONTEXTS": ["Only context."],
            "LABELS": ["A"],
            "MESHES": [],
            "final_decision": "maybe",
            "LONG_ANSWER": "Unclear.",
        },
        "5": {
            "QUESTION": "Not in test?",
            "CONTEXTS": ["x"],
            "LABELS": [],
            "MESHES": [],
            "final_decision": "no",
            "LONG_ANSWER": "",
        },
    }
    (root / "pubmedqa").mkdir(parents=True)
    (root / "pubmedqa/ori_pqal.json").write_text(json.dumps(items))
    (root / "pubmedqa/test_ground_truth.json").write_text(json.dumps({"111": "yes", "22": "maybe"}))


MCQ_ROWS = [
    {
        "question": "Which vitamin deficiency causes scurvy?",
        "options": {"A": "Vitamin A", "B": "Vitamin C", "C": "Vitamin D", "D": "Vitamin K"},
        "answer_idx": "B",
        "answer": "Vitamin C",
        "meta_info": "step1",
    },
    {
        "question": "Peaked T waves suggest?",
        "options": {"A": "Hypokalaemia", "B": "Hypercalcaemia", "C": "Hyperkalaemia", "D": "None"},
        "answer_idx": "C",
        "answer": "Hyperkalaemia",
        "meta_info": "step2&3",
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def use_local(monkeypatch, root: Path) -> None:
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")


def test_pubmedqa_local(tmp_path, monkeypatch):
    write_pubmedqa(tmp_path)
    use_local(monkeypatch, tmp_path)
    local = load(pubmedqa.SOURCE).records
    assert [r.id for r in local] == ["22", "111"]  # test PMIDs only, ordered by PMID
    assert local[1] == MultipleChoiceRecord(
        id="111",
        question="Does drug X lower blood pressure?",
        choices=["yes", "no", "maybe"],
        answer=0,
        context="Part one. Part two.",
    )
    assert local[0].answer == 2


def test_medqa_local(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "medqa/test.jsonl", MCQ_ROWS)
    use_local(monkeypatch, tmp_path)
    local = load(medqa.SOURCE).records
    assert [(r.id, r.answer, r.subset) for r in local] == [("0", 1, "step1"), ("1", 2, "step2&3")]
    assert local[0].choices == ["Vitamin A", "Vitamin C", "Vitamin D", "Vitamin K"]


def test_medmcqa_local(tmp_path, monkeypatch):
    local_rows = [
        {
            "question": "Scurvy is due to?",
            "realidx": "u-1",
            "answer_idx": "C",
            "options": {"A": "Vit A", "B": "Vit B12", "C": "Vit C", "D": "Vit D"},
            "answer": "Vit C",
        },
    ]
    write_jsonl(tmp_path / "medmcqa/dev_subset.jsonl", local_rows)
    use_local(monkeypatch, tmp_path)
    local = load(medmcqa.SOURCE).records
    assert local[0].answer == 2 and local[0].id == "u-1"
    assert local[0].choices == ["Vit A", "Vit B12", "Vit C", "Vit D"]


def test_mmlu_local(tmp_path, monkeypatch):
    local_rows = [
        {
            "realidx": "101",
            "question": "Q2",
            "subject": "anatomy",
            "answer_idx": "A",
            "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
            "answer": "a",
        },
        {
            "realidx": "100",
            "question": "Q1",
            "subject": "anatomy",
            "answer_idx": "D",
            "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
            "answer": "d",
        },
        {
            "realidx": "487",
            "question": "Other",
            "subject": "clinical_knowledge",
            "answer_idx": "B",
            "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
            "answer": "b",
        },
    ]
    write_jsonl(tmp_path / "mmlu_medical/test.jsonl", local_rows)
    use_local(monkeypatch, tmp_path)
    local = load(mmlu.source("anatomy")).records
    assert [r.id for r in local] == ["anatomy-0", "anatomy-1"]
    assert [(r.question, r.answer) for r in local] == [("Q1", 3), ("Q2", 0)]  # MMLU order
    both = load(mmlu.source()).records  # all six subjects, in SUBJECTS order
    assert [r.id for r in both] == ["anatomy-0", "anatomy-1", "clinical_knowledge-0"]
    with pytest.raises(ValueError, match="unknown MMLU medical subject"):
        mmlu.source("astronomy")


def test_headqa_local(tmp_path, monkeypatch):
    q = {
        "qid": "7",
        "qtext": "Collagen is a:",
        "ra": "3",
        "image": "",
        "answers": [
            {"aid": 2, "atext": "lipid"},
            {"aid": 1, "atext": "sugar"},
            {"aid": 3, "atext": "protein"},
            {"aid": 4, "atext": "ion"},
        ],
    }
    data = {
        "version": "1.0",
        "language": "en",
        "exams": {
            "Cuaderno_2016_1_B": {
                "name": "Cuaderno_2016_1_B",
                "category": "biology",
                "year": "2016",
                "data": [q],
            }
        },
    }
    (tmp_path / "headqa").mkdir()
    (tmp_path / "headqa/test_HEAD_EN.json").write_text(json.dumps(data))
    use_local(monkeypatch, tmp_path)
    local = load(headqa.SOURCE).records
    assert local[0].choices == ["sugar", "lipid", "protein", "ion"]  # ordered by answer id
    assert local[0].answer == 2 and local[0].id == "Cuaderno_2016_1_B-7"


def test_bioasq_local(tmp_path, monkeypatch):
    (tmp_path / "bioasq/yesno").mkdir(parents=True)
    with (tmp_path / "bioasq/yesno/test.tsv").open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["yesno_label", "question", "ideal_answer"])
        writer.writerow(["1", "Is insulin made by beta cells?", "Yes, by islet beta cells."])
        writer.writerow(["0", "Is CF caused by dystrophin?", "No, by CFTR mutations."])
    use_local(monkeypatch, tmp_path)
    records = load(bioasq.SOURCE).records
    assert [(r.answer, r.choices) for r in records] == [(0, ["yes", "no"]), (1, ["yes", "no"])]
    assert records[1].context == "No, by CFTR mutations."


def test_missing_data_offline_is_one_line_naming_dataset_file_and_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(tmp_path))  # HF_HUB_OFFLINE=1 (conftest)
    with pytest.raises(DataUnavailableError) as info:
        load(medqa.SOURCE)
    message = str(info.value)
    assert "\n" not in message
    for needle in (
        "dataset medqa",
        "medqa/test.jsonl",
        str(tmp_path),
        "HF_HUB_OFFLINE=1",
        "biobench data fetch medqa",
    ):
        assert needle in message


def test_local_mode_reads_no_network_and_names_the_fetch_command(tmp_path, monkeypatch):
    use_local(monkeypatch, tmp_path)
    with pytest.raises(DataUnavailableError) as info:
        load(bioasq.SOURCE)
    message = str(info.value)
    assert "\n" not in message and "bioasq/yesno/test.tsv" in message
    assert "biobench data fetch bioasq" in message and "BIOBENCH_DATA_DIR" in message


def test_bad_source_mode_is_rejected(monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "cloud")
    with pytest.raises(ValueError, match="BIOBENCH_SOURCE='cloud'"):
        load(medqa.SOURCE)


def test_invalid_record_is_rejected():
    with pytest.raises(ValueError, match="answer index 4 outside 0..3"):
        MultipleChoiceRecord(id="x", question="q", choices=["a", "b", "c", "d"], answer=4)
