"""bio_gen loaders: shipped samples, real original files, truncation, and clear errors."""

from __future__ import annotations

import hashlib
import importlib
import json

import pytest

from tasks import registry
from tasks.common import generation as gen
from tasks.common.generation import GenerationRecord
from tasks.common.prompting import load_template
from tasks.common.sources import DataUnavailableError, load

GEN_TASKS = [s.name for s in registry.tasks_of("bio_gen")]


def utils_of(task: str):
    return importlib.import_module(f"tasks.{task}.utils")


def test_registry_lists_the_five_gen_tasks_scored_by_rouge_l():
    assert GEN_TASKS == [
        "bio_meqsum",
        "bio_mediqa_qs",
        "bio_mts_dialog",
        "bio_aci_bench",
        "bio_mediqa_qa",
    ]
    assert {registry.task(t).result_key for t in GEN_TASKS} == {"rougeL,none"}


@pytest.mark.parametrize("task", GEN_TASKS)
def test_sample_documents_render_with_the_shared_template(task, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    split = load(utils_of(task).SOURCE)
    assert split.source == "sample" and split.records
    assert all(isinstance(r, GenerationRecord) for r in split.records)
    docs = utils_of(task).load_test()["test"]
    template = load_template()
    for doc, record in zip(docs, split.records, strict=True):
        prompt = gen.doc_to_text(doc)
        assert prompt == template.render(doc["instruction"], doc["prompt_input"])
        assert prompt.endswith("### Response:\n") and record.input.strip() in prompt
        assert gen.doc_to_target(doc) == record.references[0]
        assert doc["input_truncated"] is False and doc["omitted_chars"] == 0


def test_truncate_middle_keeps_whole_lines_at_both_ends():
    lines = [f"[doctor] line {i:03d} " + "x" * 40 for i in range(100)]
    text = "\n".join(lines)
    cut = gen.truncate_middle(text, 1000)
    head, marker, tail = cut.text.partition(f"\n[... {cut.omitted_chars} characters omitted ...]\n")
    assert marker and cut.truncated
    assert len(head) + len(tail) <= 1000
    assert len(head) + len(tail) + cut.omitted_chars == len(text)
    assert head.split("\n")[0] == lines[0] and tail.split("\n")[-1] == lines[-1]
    assert set(head.split("\n") + tail.split("\n")) <= set(lines)  # no line was split
    assert gen.truncate_middle(text, len(text)) == gen.Truncation(text, 0)
    assert gen.truncate_middle(text, None).omitted_chars == 0


def test_record_validation_names_the_record():
    with pytest.raises(ValueError, match="'r1'.*empty input"):
        GenerationRecord(id="r1", input="  ", references=["x"])
    with pytest.raises(ValueError, match="'r2'.*reference"):
        GenerationRecord(id="r2", input="text", references=[""])


def test_missing_local_files_explain_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")
    with pytest.raises(DataUnavailableError) as info:
        load(utils_of("bio_meqsum").SOURCE)
    message = str(info.value)
    assert "meqsum/MeQSum.xlsx" in message and "biobench data fetch meqsum" in message


def test_an_unknown_mts_section_header_is_named(tmp_path):
    folder = tmp_path / "mts_dialog"
    folder.mkdir()
    (folder / "MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv").write_text(
        "ID,section_header,section_text,dialogue\n0,VITALS,BP 120/80,Doctor: hi\n"
    )
    with pytest.raises(ValueError, match="'VITALS'"):
        utils_of("bio_mts_dialog").parse_local(tmp_path)


def test_a_missing_xlsx_column_is_named(tmp_path):
    import openpyxl

    (tmp_path / "mediqa2021").mkdir()
    book = openpyxl.Workbook()
    book.active.append(["q_id", "Question", "Summary"])
    book.active.append([1, "long question", "short?"])
    book.save(tmp_path / "mediqa2021/MEDIQA2021-Task1-TestSet-ReferenceSummaries.xlsx")
    with pytest.raises(ValueError, match="NLM Question"):
        utils_of("bio_mediqa_qs").parse_local(tmp_path)


# --- real data ------------------------------------------------------------------------------


@pytest.mark.realdata
def test_meqsum_real_split_is_the_documented_half(shared_data):
    import openpyxl

    digest = hashlib.sha256((shared_data / "meqsum/MeQSum.xlsx").read_bytes()).hexdigest()
    assert digest.startswith("abedd939d5014306")  # the upstream file the README names
    records = load(utils_of("bio_meqsum").SOURCE).records
    assert len(records) == 500 and len({r.id for r in records}) == 500
    # independent reading of the split rule: 500 lowest SHA-256("bio_meqsum/split-v1:" + File)
    sheet = openpyxl.load_workbook(shared_data / "meqsum/MeQSum.xlsx", read_only=True).active
    files = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]]
    key = lambda f: hashlib.sha256(f"bio_meqsum/split-v1:{f}".encode()).hexdigest()  # noqa: E731
    chosen = set(sorted(files, key=key)[:500])
    assert [r.id for r in records] == [f for f in files if f in chosen]


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("task", "n", "first_id", "first_reference"),
    [
        ("bio_mediqa_qs", 100, "96", "How can i get rid of a lower lip birthmark permanently?"),
        ("bio_mts_dialog", 200, "0", "The patient is a 55-year-old African-American male"),
        ("bio_aci_bench", 40, "D2N088-virtassist", "CHIEF COMPLAINT\n\nUpper respiratory"),
        ("bio_mediqa_qa", 150, "1", "Bassen-Kornzweig syndrome: Bassen-Kornzweig syndrome is"),
    ],
)
def test_real_files_parse_to_the_documented_test_sets(
    shared_data, task, n, first_id, first_reference
):
    split = load(utils_of(task).SOURCE)
    assert split.source == "local" and len(split.records) == n
    assert len({r.id for r in split.records}) == n
    assert split.records[0].id == first_id
    assert split.records[0].references[0].startswith(first_reference)
    assert split.sha256 == load(utils_of(task).SOURCE).sha256  # deterministic


@pytest.mark.realdata
def test_mts_sections_and_aci_subsets_and_truncation(shared_data):
    mts = load(utils_of("bio_mts_dialog").SOURCE).records
    assert {r.subset for r in mts} <= set(utils_of("bio_mts_dialog").SECTIONS)
    docs = utils_of("bio_aci_bench").load_test()["test"]
    assert sorted(set(docs["subset"])) == ["aci", "virtassist", "virtscribe"]
    assert [docs["subset"].count(s) for s in ("aci", "virtassist", "virtscribe")] == [22, 10, 8]
    budget = utils_of("bio_aci_bench").MAX_INPUT_CHARS
    cut = [d for d in docs if d["input_truncated"]]
    assert len(cut) == sum(len(d["input"]) > budget for d in docs) == 7
    for d in cut:
        assert "characters omitted ...]" in d["prompt_input"]
        assert len(d["prompt_input"]) < budget + 60 and d["omitted_chars"] > 0
    for d in docs:
        if not d["input_truncated"]:
            assert d["prompt_input"] == d["input"]


@pytest.mark.realdata
def test_mediqa_qa_reference_is_the_rank_1_answer(shared_data):
    import re

    xml = (shared_data / "mediqa2019/MEDIQA2019-Task3-QA-TestSet-wLabels.xml").read_text()
    # an independent reading: the AnswerText right after each ReferenceRank="1" attribute
    rank1 = re.findall(r'ReferenceRank="1"[^>]*>.*?<AnswerText>(.*?)</AnswerText>', xml, re.S)
    records = load(utils_of("bio_mediqa_qa").SOURCE).records
    assert len(rank1) == len(records) == 150

    import html

    assert [r.references[0] for r in records] == [html.unescape(t).strip() for t in rank1]
    assert json.dumps(records[0].references[0])  # plain text, serialisable
