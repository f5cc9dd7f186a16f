"""The recipe over real HTTP against a scripted OpenAI-compatible server on 127.0.0.1:
fault injection (429, 500, timeouts, malformed and truncated output), budget stop,
kill-and-resume, the Batch API flow, model classification, and the whole `run` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_instruct_server import ScriptedOpenAI

from bioinstruct_data.batch import batch_generate, load_state, save_state
from bioinstruct_data.classify import classify
from bioinstruct_data.config import InstructConfig
from bioinstruct_data.generate import generate, plan_request, request_estimate
from bioinstruct_data.jsonl import AppendLog, read_jsonl
from bioinstruct_data.pipeline import parse_stage
from bioinstruct_data.rundir import RunDir
from bioinstruct_data.schemas import CATEGORIES, InstructionRecord
from bioinstruct_data.seeds import load_seeds
from bioinstruct_data.templates import load_generate_template
from runners.cli import main as cli

MODEL = "scripted-model"


@pytest.fixture
def server():
    app = ScriptedOpenAI(tasks_per_response=3, slow_s=3.0)
    app.url = app.start()
    yield app
    app.stop()


def _config(server, **changes) -> InstructConfig:
    settings = dict(
        base_url=server.url,
        model=MODEL,
        tasks_per_request=3,
        concurrency=3,
        max_retries=3,
        timeout_s=2.0,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        max_tokens=200,
    )
    settings.update(changes)
    return InstructConfig(**settings)


def _indices(run: RunDir) -> list[int]:
    return sorted(int(r["request_index"]) for r in AppendLog(run.raw).rows())


@pytest.mark.slow  # waits out scripted client timeouts (~2 s)
def test_generate_survives_429_500_timeouts_and_malformed_bodies(server, tmp_path):
    server.faults = {
        "req-0000000": ["429", "500", "ok"],
        "req-0000001": ["timeout", "ok"],
        "req-0000002": ["malformed_json", "no_choices", "ok"],
        "req-0000003": ["truncated"],
        "req-0000004": ["garbage"],
    }
    server.fail_always = {"req-0000005"}
    run = RunDir(tmp_path / "run")
    config = _config(server)
    report = generate(config, run, range(8))
    assert (report.completed, report.failed, report.stopped_by_budget) == (7, 1, False)
    rows = {r["request_index"]: r for r in AppendLog(run.raw).rows()}
    assert sorted(rows) == [0, 1, 2, 3, 4, 6, 7]
    assert [rows[i]["attempts"] for i in (0, 1, 2, 3)] == [3, 2, 3, 1]
    assert rows[3]["finish_reason"] == "length"
    # every checkpointed response is one the server really sent, with its usage
    served = dict((rid, label) for label, rid in server.served_ok())
    assert all(served[r["response_id"]] == r["custom_id"] for r in rows.values())
    assert all(r["usage"]["completion_tokens"] > 0 for r in rows.values())
    # the timed-out attempt is recorded as possibly billed
    billed = read_jsonl(run.billed_attempts)
    assert [b["label"] for b in billed] == ["req-0000001"]
    # parse: 3 tasks per good response, 2 from the truncated one, none from the garbage one
    records = parse_stage(run, config)
    stages = json.loads(run.stages_file.read_text())
    assert len(records) == 5 * 3 + 2
    assert stages["parse"]["rejects"] == {"no_instruction_label": 1, "truncated_dropped": 1}
    # rerun: only the failed index is asked again
    server.fail_always = set()
    before = len(server.log)
    again = generate(config, run, range(8))
    assert (again.completed, again.already_done) == (1, 7)
    assert [label for label, *_ in server.log[before:]] == ["req-0000005"]
    assert _indices(run) == list(range(8))


def test_max_cost_stops_before_the_budget_and_a_rerun_continues(server, tmp_path):
    out = tmp_path / "run"
    price = ["--price-in", "1000", "--price-out", "1000"]  # USD per 1M tokens: easy numbers
    config = _config(server, prices={MODEL: (1000.0, 1000.0)})
    template = load_generate_template()
    estimate = request_estimate(config, plan_request(config, load_seeds(), template, 0), False)
    budget = 3 * estimate
    args = [
        "instruct",
        "generate",
        "--out",
        str(out),
        "--base-url",
        server.url,
        "--model",
        MODEL,
        "--requests",
        "40",
        "--tasks-per-request",
        "3",
        "--max-tokens",
        "200",
        "--concurrency",
        "2",
        *price,
    ]
    assert cli([*args, "--max-cost", f"{budget:.6f}"]) == 3
    run = RunDir(out)
    sent = _indices(run)
    assert 0 < len(sent) < 40
    spent = run.spent()
    assert spent <= budget
    # it stopped because the next worst case did not fit, not earlier
    assert spent + 2 * estimate > budget
    assert len(server.log) == len(sent)  # nothing was sent that did not come back
    assert cli([*args, "--max-cost", "1000"]) == 0
    assert _indices(run) == list(range(40))
    assert len(server.log) == 40  # no request was paid for twice


@pytest.mark.slow  # kills and restarts a generation subprocess (~7 s)
def test_kill_and_resume_loses_no_paid_response_and_duplicates_nothing(
    server, tmp_path, subprocess_env
):
    server.delay_s = 0.15
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "runners.cli",
        "instruct",
        "generate",
        "--out",
        str(out),
        "--base-url",
        server.url,
        "--model",
        MODEL,
        "--requests",
        "30",
        "--tasks-per-request",
        "3",
        "--concurrency",
        "3",
        "--timeout",
        "10",
    ]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        command, cwd=root, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    raw = out / "raw_responses.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if raw.exists() and raw.read_bytes().count(b"\n") >= 6:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.5)  # let the server finish the answers that were in flight
    run = RunDir(out)
    after_kill = _indices(run)
    assert 6 <= len(after_kill) < 30
    checkpointed = {r["response_id"] for r in AppendLog(run.raw).rows()}
    lost = [rid for _, rid in server.served_ok() if rid not in checkpointed]
    assert len(lost) <= 3  # at most the requests in flight when the process died
    served_before = len(server.log)

    done = subprocess.run(
        command, cwd=root, env=subprocess_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = AppendLog(run.raw).rows()
    assert sorted(r["request_index"] for r in rows) == list(range(30))  # no duplicate
    asked_again = [label for label, *_ in server.log[served_before:]]
    assert not {f"req-{i:07d}" for i in after_kill} & set(asked_again)
    assert len(asked_again) == 30 - len(after_kill)


def test_batch_api_flow_and_resume_after_a_lost_create(server, tmp_path):
    server.batch_line_errors = {"req-0000002"}
    run = RunDir(tmp_path / "run")
    config = _config(server, prices={MODEL: (10.0, 30.0)}, batch_poll_s=0.01)
    report = batch_generate(config, run, list(range(6)))
    assert (report.completed, report.failed) == (5, 1)
    rows = AppendLog(run.raw).rows()
    assert sorted(r["request_index"] for r in rows) == [0, 1, 3, 4, 5]
    for row in rows:
        assert row["mode"] == "batch"
        usage = row["usage"]
        full = config.cost(MODEL, usage["prompt_tokens"], usage["completion_tokens"], False)
        assert row["cost_usd"] == pytest.approx(full / 2)  # the Batch API discount
    uploaded = [f for f in server.files.values() if f["purpose"] == "batch"]
    lines = [json.loads(x) for x in uploaded[0]["content"].decode().splitlines()]
    assert [x["custom_id"] for x in lines] == [f"req-{i:07d}" for i in range(6)]
    assert all(x["url"] == "/v1/chat/completions" and x["body"]["model"] == MODEL for x in lines)
    assert (
        lines[0]["body"]["messages"]
        == plan_request(config, load_seeds(), load_generate_template(), 0).messages
    )
    assert load_state(run)[0]["status"] == "collected"

    # the next batch asks only for the failed line; pretend the process died right after
    # creating it, before recording the batch id: the rerun must find it, not create another
    server.batch_line_errors = set()
    batch_generate(config, run, list(range(6)), wait=False)
    state = load_state(run)
    assert state[1]["indices"] == [2] and state[1]["status"] == "submitted"
    state[1].update(status="uploaded", batch_id="")
    save_state(run, state)
    report = batch_generate(config, run, list(range(6)))
    assert len(server.batches) == 2
    assert report.completed == 1
    assert sorted(r["request_index"] for r in AppendLog(run.raw).rows()) == list(range(6))


def test_classify_with_the_model_falls_back_to_rules_and_resumes(server, tmp_path):
    run = RunDir(tmp_path / "run")
    config = _config(server, classify_per_request=3, max_retries=1)
    texts = [
        "What causes gout?",
        "Extract the drugs from the note.",
        "Summarize the note.",
        "Calculate the BMI.",
        "Is aspirin an NSAID?",
        "List the genes in the text.",
        "Write a discharge letter.",
    ]
    records = [InstructionRecord(f"r{i}", t, "", "x") for i, t in enumerate(texts)]
    server.fail_always = {"classify-r3"}  # the second chunk (r3, r4, r5) cannot be had
    report = classify(records, config, run)
    # the scripted model answers qa, ie, gen, other, ... by position within each request
    assert [r.category for r in records[:3]] == ["qa", "ie", "gen"]
    assert [r.category for r in records[3:6]] == ["other", "qa", "ie"]  # keyword rules
    assert records[6].category == "qa"
    assert [r.provenance.category_source for r in records] == (
        ["model"] * 3 + ["keywords"] * 3 + ["model"]
    )
    assert report["category_source"] == {"model": 4, "keywords": 3}
    assert report["requests_failed"] == 1 and len(AppendLog(run.classify_raw).rows()) == 2
    server.fail_always = set()
    before = len(server.log)
    fresh = [InstructionRecord(r.id, r.instruction, "", "x") for r in records]
    classify(fresh, config, run)
    assert [label for label, *_ in server.log[before:]] == ["classify-r3"]  # only the missing
    assert [r.provenance.category_source for r in fresh] == ["model"] * 7


def test_run_end_to_end_with_provenance_stats_and_contamination(server, tmp_path, monkeypatch):
    out = tmp_path / "run"
    server.faults = {"req-0000001": ["500"], "req-0000002": ["truncated"]}
    args = [
        "instruct",
        "run",
        "--out",
        str(out),
        "--base-url",
        server.url,
        "--model",
        MODEL,
        "--target",
        "25",
        "--tasks-per-request",
        "3",
        "--concurrency",
        "2",
        "--max-tokens",
        "300",
        "--seed",
        "3",
    ]
    assert cli(args) == 0
    records = read_jsonl(out / "instructions.jsonl")
    assert len(records) == 25
    seeds = {s.id for s in load_seeds()}
    for row in records:
        assert row["category"] in CATEGORIES
        prov = row["provenance"]
        assert len(prov["seed_ids"]) == 3 and set(prov["seed_ids"]) <= seeds
        assert prov["model"] == MODEL and prov["prompt"] == "instruct_generate"
        assert prov["prompt_version"] == "1" and prov["received_at"]
        assert prov["category_source"] == "model"
    stages = json.loads((out / "stages.json").read_text())
    assert stages["dedup"]["kept"] >= 25 and stages["final"]["records"] == 25
    assert stages["run"]["stopped"] == "target reached"
    assert "| gen |" in (out / "stats.md").read_text()
    assert (out / "category_mix.png").stat().st_size > 1000
    # a second run over the finished folder asks nothing more
    before = len(server.log)
    assert cli(args) == 0
    assert len(server.log) == before
    # changing the model inside the same folder is refused
    assert cli([*args[:-2], "--model", "other-model"]) == 2

    # contamination of the output against every registered bio_* task (shipped samples)
    monkeypatch.setenv("BIOBENCH_ALLOW_SAMPLES", "1")
    assert cli(["instruct", "contamination", str(out / "instructions.jsonl")]) == 0
    report = json.loads((out / "instructions.contamination.json").read_text())
    assert report["records"] == 25 and report["targets"]
    for target in report["targets"]:
        assert target["error"] or target["n_items"] > 0
        assert target["n_overlapping"] == 0
