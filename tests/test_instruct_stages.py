"""Offline stages of the instruction recipe: parse, filter, classify rules, stats, config,
checkpoint repair, the published-dataset loader and the contamination check."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bioinstruct_data import contamination as cont
from bioinstruct_data.classify import keyword_category, parse_labels
from bioinstruct_data.config import ConfigError, InstructConfig
from bioinstruct_data.filters import apply_filters, looks_english, reject_reason
from bioinstruct_data.jsonl import AppendLog
from bioinstruct_data.parse import parse_responses, parse_text
from bioinstruct_data.published import PUBLISHED, PublishedDataError, load_published
from bioinstruct_data.rundir import RunDir
from bioinstruct_data.schemas import InstructionRecord, Provenance
from bioinstruct_data.stats import compute_stats, leading_verb, write_report
from tasks.common.records import MultipleChoiceRecord
from tasks.common.sources import DatasetSource, DataUnavailableError

# --------------------------------------------------------------------------------------------
# parse


def _row(index: int, text: str, finish: str = "stop") -> dict:
    return {
        "request_index": index,
        "text": text,
        "finish_reason": finish,
        "seed_ids": ["seed-001", "seed-040", "seed-077"],
        "model": "m",
        "prompt": "p",
        "prompt_version": "1",
        "response_id": f"id{index}",
    }


WELL_FORMED = """Task 4
Instruction: List the drugs in the sentence.
Input: Aspirin and warfarin were given.
Output: aspirin; warfarin
###
Task 5
Instruction: What causes scurvy?
Input: <noinput>
Output: Vitamin C deficiency.
###"""


def test_parse_well_formed_response_with_provenance():
    records, rejects, report = parse_responses([_row(7, WELL_FORMED)])
    assert [r.id for r in records] == ["r000007-00", "r000007-01"]
    assert records[0].input == "Aspirin and warfarin were given."
    assert records[1].input == "" and records[1].output == "Vitamin C deficiency."
    prov = records[0].provenance
    assert prov.seed_ids == ["seed-001", "seed-040", "seed-077"]
    assert (prov.request_index, prov.position, prov.response_id) == (7, 0, "id7")
    assert rejects == [] and report.parsed == 2 and report.blocks == 2


@pytest.mark.parametrize(
    ("text", "finish", "parsed", "rejects"),
    [
        # markdown bold labels and numbered labels (Alpaca style)
        (
            "**Instruction:** Define sepsis.\n**Input:** N/A\n**Output:** A dysregulated host "
            "response to infection.\n###\n5. Instruction: Name a statin.\n5. Input: <noinput>\n"
            "5. Output: atorvastatin\n###",
            "stop",
            2,
            {},
        ),
        # separators forgotten: split on the next Instruction label
        (
            "Task 4\nInstruction: Name a beta blocker.\nOutput: metoprolol\nTask 5\n"
            "Instruction: Name an ACE inhibitor.\nOutput: lisinopril",
            "stop",
            2,
            {},
        ),
        # what small models write: a bold header, plural labels, a bulleted instruction
        (
            "**Task 4: Writing**\nInstructions:\n- Write a paragraph about asthma.\n"
            "Outputs: Asthma is a chronic airway disease.",
            "stop",
            1,
            {},
        ),
        # cut at the token limit, but the last output is closed by a repeated label: kept
        (
            "Task 4\nInstruction: Is fever a symptom of influenza?\nOutput: Yes.\nOutput: yes\nOut",
            "length",
            1,
            {},
        ),
        # labels on one line
        ("Instruction: Define anemia. Input: none Output: Low hemoglobin.", "stop", 1, {}),
        # cut at the token limit inside task 5: task 5 is dropped
        (WELL_FORMED[:-40], "length", 1, {"truncated_dropped": 1}),
        # a block without output, a block without instruction
        (
            "Instruction: Do X.\nInput: y\n###\nOutput: only an output\n###",
            "stop",
            0,
            {"no_output_label": 1, "no_instruction_label": 1},
        ),
        ("I'm sorry, I cannot help with that.", "stop", 0, {"no_instruction_label": 1}),
        ("   ", "stop", 0, {"empty_response": 1}),
        ("Instruction:\nOutput: x\n###", "stop", 0, {"empty_instruction": 1}),
    ],
)
def test_parse_tolerates_malformed_output(text, finish, parsed, rejects):
    records, rejected, report = parse_responses([_row(1, text, finish)])
    assert report.parsed == parsed == len(records)
    assert dict(report.rejects) == rejects
    assert len(rejected) == sum(rejects.values())
    assert all(r.instruction and r.output for r in records)


def test_parse_text_keeps_complete_tasks_of_a_truncated_response_ending_on_a_separator():
    tasks, rejects, _ = parse_text(WELL_FORMED, truncated=True)
    assert len(tasks) == 2 and rejects == []


# --------------------------------------------------------------------------------------------
# filters


def _rec(
    instruction: str, output: str = "A correct answer.", input_: str = ""
) -> InstructionRecord:
    return InstructionRecord("x", instruction, input_, output)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_rec("Summarize."), "instruction_too_short"),
        (_rec(" ".join(["word"] * 151)), "instruction_too_long"),
        (_rec("Summarize the note below.", input_=" ".join(["w"] * 1001)), "input_too_long"),
        (_rec("Summarize the note below.", output="  "), "output_empty"),
        (_rec("Summarize the note below.", output=" ".join(["w"] * 1501)), "output_too_long"),
        (_rec("Describe the chest X-ray image of this patient."), "blacklist:image"),
        (_rec("Draw the pathway of bilirubin metabolism."), "blacklist:draw"),
        (_rec("Plot the glucose values over the day."), "blacklist:plot"),
        (_rec("Go to the hospital website and find the hours."), "blacklist:go to"),
        (_rec("Summarize the attached files for the team."), "blacklist:files"),
        (_rec("Create a flowchart of sepsis management."), "blacklist:flowchart"),
        (_rec("Write a program that computes BMI from weight."), "write_a_program"),
        (_rec("- List the symptoms in the note."), "bad_start"),
        (
            _rec(
                "Repeat the sentence below exactly.", output="The cat sat.", input_="the  cat sat."
            ),
            "output_echoes_input",
        ),
        (
            _rec("Name the drug class of metformin.", output="name the drug class of metformin."),
            "output_echoes_instruction",
        ),
        (
            _rec(
                "Resuma el siguiente informe clínico en tres frases para el paciente.",
                output="El paciente presenta fiebre y tos desde hace tres días y dolor.",
            ),
            "non_english",
        ),
        (
            _rec("Кратко опишите основные находки в выписке пациента.", output="Лихорадка."),
            "bad_start",
        ),
        (
            _rec("List the findings in the note.", output="Лихорадка и кашель в течение недели."),
            "non_english",
        ),
    ],
)
def test_filter_reasons(record, reason):
    assert reject_reason(record, InstructConfig()) == reason


@pytest.mark.parametrize(
    "instruction",
    [
        "Describe the chest radiograph findings in plain words.",  # graph only inside a word
        "Update the patient's profile with the new allergy.",  # file only inside a word
        "Explain how roadmaps for care transitions help older adults.",
        "What is the mapping between the two coding systems?",
    ],
)
def test_blacklist_matches_whole_words_only(instruction):
    assert reject_reason(_rec(instruction), InstructConfig()) is None


def test_english_heuristic():
    config = InstructConfig()
    assert looks_english("List the adverse drug events described in the discharge note.", config)
    assert looks_english("BP 120/80; HR 72; SpO2 98%", config)  # too short to judge words
    lists = "aspirin; warfarin; metformin; lisinopril; atorvastatin; omeprazole; insulin; heparin"
    assert looks_english(lists, config, prose=False) and not looks_english(lists, config)
    assert not looks_english("Пациент жалуется на кашель и температуру.", config)
    assert not looks_english(
        "Der Patient klagt seit drei Tagen über Husten, Fieber und Atemnot beim Gehen.", config
    )
    kept, dropped, counts = apply_filters(
        [_rec("List the drugs in the note."), _rec("Plot it.")], config
    )
    assert len(kept) == 1 and counts == {"instruction_too_short": 1}
    assert dropped[0]["reason"] == "instruction_too_short"


# --------------------------------------------------------------------------------------------
# classification rules


@pytest.mark.parametrize(
    ("instruction", "category"),
    [  # written for this test, not taken from the seeds the rules were tuned on
        ("Pull out every gene symbol mentioned in the abstract.", "ie"),
        ("Identify the dose and route of each drug in the order.", "ie"),
        ("Label each sentence of the note as subjective or objective.", "ie"),
        ("Summarize the operative note for the referring surgeon.", "gen"),
        ("Draft a letter informing the patient of a normal mammogram.", "gen"),
        ("Explain what a colonoscopy involves to a patient in plain language.", "gen"),
        ("Why does hypothyroidism cause weight gain?", "qa"),
        ("Is the patient eligible for the trial given these criteria?", "qa"),
        ("Which organism most often causes cellulitis", "qa"),
        ("Calculate the anion gap from the electrolytes below.", "other"),
        ("Give a differential diagnosis for a painful swollen calf.", "other"),
        ("Spot medication discrepancies between the two lists.", "other"),
    ],
)
def test_keyword_fallback_categories(instruction, category):
    assert keyword_category(instruction) == category


def test_parse_labels_accepts_common_answer_shapes():
    text = "1: qa\n2. IE\n3) generation\n4 - Other\n5: unsure\n9: qa\n1: gen"
    assert parse_labels(text, 5, ("qa", "ie", "gen", "other")) == {
        1: "qa",
        2: "ie",
        3: "gen",
        4: "other",
    }


# --------------------------------------------------------------------------------------------
# stats


def _classified(i: int, category: str, instruction: str, output: str) -> InstructionRecord:
    return InstructionRecord(
        f"r{i}",
        instruction,
        "",
        output,
        category,
        Provenance(origin="generated", category_source="model"),
    )


def test_compute_stats_hand_worked_and_report_files(tmp_path):
    records = [
        _classified(0, "qa", "What causes gout?", "Uric acid crystals."),
        _classified(1, "ie", "Extract the drugs.", "aspirin"),
        _classified(2, "ie", "Please extract the doses.", "81 mg daily"),
        _classified(3, "gen", "Summarize the note in one line.", "Stable."),
    ]
    stages = {
        "parse": {"responses": 3, "parsed": 6},
        "filter": {"kept": 5},
        "dedup": {"kept": 4},
        "final": {"records": 4},
    }
    stats = compute_stats(records, stages)
    assert stats["category_mix"]["ie"] == {"count": 2, "share": 0.5, "published_share": 0.338}
    assert stats["category_mix"]["other"]["count"] == 0
    assert stats["leading_verbs"][0] == ("extract", 2)
    assert stats["lengths_words"]["output"]["median"] == 2.0  # lengths 3, 1, 3, 1
    assert stats["funnel"] == [
        ("responses", 3),
        ("parsed tasks", 6),
        ("passed filters", 5),
        ("passed ROUGE-L dedup", 4),
        ("written (<= target)", 4),
    ]
    assert leading_verb("Please, now list the genes") == "list"

    run = RunDir(tmp_path)
    (tmp_path / "instructions.jsonl").write_text(
        "".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8"
    )
    run.update_stages(**stages)
    report = write_report(run)
    text = report.read_text(encoding="utf-8")
    assert "| ie | 2 | 50.0% | 33.8% |" in text and "| extract | 2 |" in text
    for name in ("category_mix.png", "lengths.png", "leading_verbs.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# config and checkpoint


def test_config_validation_prices_and_identity(tmp_path):
    with pytest.raises(ConfigError, match="top_p"):
        InstructConfig(top_p=0.0)
    with pytest.raises(ConfigError, match="unknown config keys"):
        InstructConfig.from_dict({"modle": "x"})
    config = InstructConfig(model="gpt-4o-2024-08-06", max_cost=1.0)
    assert config.price_of("gpt-4o-2024-08-06") == (2.5, 10.0)  # longest prefix wins
    assert config.cost("gpt-4o-mini", 1_000_000, 0, batch=True) == pytest.approx(0.075)
    with pytest.raises(ConfigError, match="--price-in"):
        config.require_prices("my-local-model")
    assert InstructConfig.from_dict(config.to_dict()) == config

    run = RunDir(tmp_path)
    run.resolve_config(None, {"model": "a"})
    AppendLog(run.raw).append({"request_index": 0})
    assert run.resolve_config(None, {"temperature": 0.5}).model == "a"  # saved settings reused
    with pytest.raises(ConfigError, match="model: run folder has 'a', now 'b'"):
        run.resolve_config(None, {"model": "b"})


def test_append_log_cuts_a_partial_last_line(tmp_path):
    path = tmp_path / "raw.jsonl"
    log = AppendLog(path)
    log.append({"request_index": 0})
    with path.open("ab") as fh:
        fh.write(b'{"request_index": 1, "text": "cut in the mid')
    log = AppendLog(path)  # reopening repairs the tail
    log.append({"request_index": 2})
    assert [r["request_index"] for r in log.rows()] == [0, 2]


# --------------------------------------------------------------------------------------------
# published dataset


@pytest.fixture
def published_file(tmp_path) -> Path:
    """A small file in the published layout (written for this test)."""
    rows = [
        {
            "instruction": "Summarize the patient's question.",
            "input": "Can I take ibuprofen with lisinopril? My knee hurts.",
            "output": "Is ibuprofen safe with lisinopril?",
        },
        {"instruction": "What class of drug is metformin?", "input": "", "output": "A biguanide."},
        {
            "instruction": "Extract the diseases.",
            "input": "He has gout and asthma.",
            "output": "gout; asthma",
        },
    ]
    path = tmp_path / "biomed_instruct_25k.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_published_loader_local_json_and_jsonl(published_file, tmp_path):
    records = load_published(published_file)
    assert [r.id for r in records] == [
        "bioinstruct-000000",
        "bioinstruct-000001",
        "bioinstruct-000002",
    ]
    assert records[1].input == "" and records[2].output == "gout; asthma"
    assert all(r.provenance.origin == "published" and r.category == "" for r in records)
    jsonl = tmp_path / "copy.jsonl"
    jsonl.write_text(
        "".join(json.dumps(r) + "\n" for r in json.loads(published_file.read_text())),
        encoding="utf-8",
    )
    assert [r.instruction for r in load_published(jsonl)] == [r.instruction for r in records]


def test_published_loader_errors(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"instruction": "x", "input": ""}]), encoding="utf-8")
    with pytest.raises(PublishedDataError, match=r"record 0 lacks \['output'\]"):
        load_published(bad)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="--local"):
        load_published()
    assert PUBLISHED.revision == "8711225b388ba51126bb37e9a51754a927924d49"


@pytest.mark.network
def test_published_loader_hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    records = load_published()
    assert len(records) == 25_005


# --------------------------------------------------------------------------------------------
# contamination


@dataclass(frozen=True)
class NerRecord:
    """An IE-style record shape unknown to the contamination code."""

    id: str
    tokens: list[str]
    tags: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


PASSAGE = (
    "Metformin remains the preferred initial pharmacologic agent for most adults with "
    "type 2 diabetes according to current guidelines"
)


def _source(tmp_path: Path, name: str, rows: list[dict], from_record) -> DatasetSource:
    sample = tmp_path / f"{name}.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return DatasetSource(
        name=name,
        local_files=(),
        parse_local=lambda root: [],
        sample_file=sample,
        from_record=from_record,
    )


def test_contamination_generic_records_and_normalisation(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    qa = _source(
        tmp_path,
        "qa",
        [
            {"id": "q1", "question": PASSAGE.upper() + "?", "choices": ["yes", "no"], "answer": 0},
            {
                "id": "q2",
                "question": "What is the first-line drug?",
                "choices": ["a", "b"],
                "answer": 1,
            },
        ],
        lambda r: MultipleChoiceRecord(r["id"], r["question"], r["choices"], r["answer"]),
    )
    ner = _source(
        tmp_path,
        "ner",
        [
            {"id": "n1", "tokens": PASSAGE.split()[:12] + ["."], "tags": ["O"] * 13},
            {
                "id": "n2",
                "tokens": ["x"],
                "meta": {
                    "note": "According to current guidelines , " + " ".join(PASSAGE.split()[:11])
                },
            },
            {"id": "n3", "tokens": PASSAGE.split()[2:17], "tags": ["O"] * 15},
        ],
        lambda r: NerRecord(r["id"], r["tokens"], r.get("tags", []), r.get("meta", {})),
    )
    missing = DatasetSource(
        name="absent",
        local_files=("nowhere.json",),
        parse_local=lambda root: [],
        sample_file=tmp_path / "absent.jsonl",
        from_record=dict,
    )
    rows = [
        {
            "id": "i1",
            "instruction": "Answer the question.",
            "input": f"Context: {PASSAGE.lower()}!",
            "output": "yes",
        },
        {"id": "i2", "instruction": "Explain insulin.", "input": "", "output": "A hormone."},
    ]
    index = cont.InstructionIndex(rows)
    reports = cont.check_targets(
        index, [(["bio_qa_x"], qa), (["bio_ner_x"], ner), (["bio_gone"], missing)]
    )
    by_name = {r.dataset: r for r in reports}
    qa_hits = by_name["qa"].overlapping
    assert by_name["qa"].n_items == 2 and [o["item_id"] for o in qa_hits] == ["q1"]
    assert qa_hits[0]["fields"] == ["question"] and qa_hits[0]["instruction_ids"] == ["i1"]
    assert qa_hits[0]["n_ngrams"] == len(PASSAGE.split()) - 13 + 1
    # n1 has only 12 passage tokens in a row (13 with the period, which normalises away); n2
    # joins the passage's end to its start (not contiguous); n3's 15 tokens hold 3 13-grams
    ner_hits = by_name["ner"].overlapping
    assert [(o["item_id"], o["fields"], o["n_ngrams"]) for o in ner_hits] == [("n3", ["tokens"], 3)]
    assert by_name["absent"].error and by_name["absent"].n_items == 0
    md = cont.render_markdown(reports, 13, len(rows))
    assert "| bio_qa_x | qa | 2 | 1 | 50.00% |" in md


def test_contamination_fields_and_registry_targets():
    fields = dict(cont.text_fields(NerRecord("n", ["a", "b"], [], {"x": ["c"]})))
    assert fields == {"tokens": "a b", "meta.x": "c"}
    assert dict(cont.text_fields({"choices": ["no way", "yes"]})) == {
        "choices[0]": "no way",
        "choices[1]": "yes",
    }
    assert cont.normalize("Ａspirin—81mg, DAILY!") == ["aspirin", "81mg", "daily"]
    from tasks.registry import TASKS

    leaves = {leaf for spec in TASKS if spec.name.startswith("bio_") for leaf in spec.leaves}
    targets = cont.registry_targets()
    covered = {name for names, _ in targets for name in names}
    assert covered == leaves


@pytest.mark.realdata
def test_contamination_detects_a_copied_pubmedqa_question(shared_data):
    from tasks.bio_pubmedqa.utils import SOURCE
    from tasks.common.sources import load

    item = load(SOURCE).records[3]
    rows = [
        {"id": "seed", "instruction": "Summarize the note.", "input": "", "output": "ok"},
        {
            "id": "leak",
            "instruction": "Answer yes, no or maybe.",
            "input": item.context[:400],
            "output": "yes",
        },
    ]
    pubmed = [t for t in cont.registry_targets() if t[1] is SOURCE]
    report = cont.check_targets(cont.InstructionIndex(rows), pubmed)[0]
    assert report.n_items == 500
    assert [o["item_id"] for o in report.overlapping] == [item.id]
    assert report.overlapping[0]["instruction_ids"] == ["leak"]


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys):
    from runners.cli import main as cli

    assert cli(["instruct", "parse", str(tmp_path / "run")]) == 2
    assert "run `biobench instruct generate --out" in capsys.readouterr().err
    assert cli(["instruct", "contamination", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x"}\nnot json\n', encoding="utf-8")
    assert cli(["instruct", "contamination", str(bad)]) == 2
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err
    assert cli(["instruct", "generate", "--out", str(tmp_path / "r"), "--top-p", "2"]) == 2
    assert "top_p=2.0 not in (0, 1]" in capsys.readouterr().err
