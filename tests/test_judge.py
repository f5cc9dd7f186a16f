"""``biobench judge`` against a scripted OpenAI-compatible server on 127.0.0.1 (real HTTP).

Requests are counted at the server, so "a second run sends zero requests" and "a resumed run
asks only what is missing" are checked where the requests arrive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runners import judge
from runners.judging.client import worst_case_cost
from runners.judging.rubric import load_rubric, parse_score
from runners.judging.schemas import JudgeItem, Price
from runners.judging.store import score_stats
from tests.conftest import ROOT
from tests.scripted_openai import ScriptedOpenAI

STAMP = "2026-11-21T10-00-00.000000"


def write_samples(run_dir: Path, task: str, responses: list[str], stamp: str = STAMP) -> Path:
    """A samples file in the format lm-eval writes for a bio_gen task (doc fields included)."""
    folder = run_dir / "model__x"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{stamp}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i, response in enumerate(responses):
            doc = {
                "id": f"q{i}",
                "input": f"full input {i}",
                "references": [f"reference {i}"],
                "subset": "",
                "instruction": f"Summarize {task}.",
                "prompt_input": f"input {i}",
                "input_truncated": False,
                "omitted_chars": 0,
            }
            sample = {
                "doc_id": i,
                "doc": doc,
                "target": doc["references"][0],
                "resps": [[response]],
                "filtered_resps": [response],
                "filter": "none",
                "metrics": ["rouge1", "rouge2", "rougeL"],
                "rouge1": 0.0,
            }
            handle.write(json.dumps(sample) + "\n")
    return path


def ok(score: int) -> tuple[str, str]:
    return ("ok", json.dumps({"score": score, "reason": f"scored {score}"}))


def run_judge(run_dir: Path, server: ScriptedOpenAI, *extra: str) -> int:
    return judge.main(
        [
            str(run_dir),
            "--base-url",
            server.base_url,
            "--judge-model",
            "scripted",
            "--backoff",
            "0.01",
            "--backoff-max",
            "0.05",
            *extra,
        ]
    )


def summary(run_dir: Path) -> dict:
    return json.loads(next(run_dir.rglob(f"judge_summary_{STAMP}.json")).read_text())


def item_scores(run_dir: Path, task: str) -> list[dict]:
    path = next(run_dir.rglob(f"judge_{task}_{STAMP}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "score", "how"),
    [
        ('{"score": 8, "reason": "good"}', 8, "json"),
        ('```json\n{"score": 3, "reason": "wrong dose"}\n```', 3, "json"),
        ('Here is my grade: {"reason": "ok", "score": 10} done', 10, "json"),
        ('{"score": 7.0}', 7, "json"),
        ('{"score": "6"}', 6, "json"),
        ("Score: 9\nThe answer is complete.", 9, "score_field"),
        ("I would give this 4/10.", 4, "out_of_10"),
        ('{"score": 11}', None, "unparsable"),
        ('{"score": 0}', None, "unparsable"),
        ('{"score": 7.5}', None, "unparsable"),
        ('{"score": "eight"}', None, "unparsable"),
        ('{"score": true}', None, "unparsable"),
        ("Score: 6 ... on reflection score: 8", None, "unparsable"),
        ("The response is quite good overall.", None, "unparsable"),
        ("", None, "unparsable"),
    ],
)
def test_parse_score(reply, score, how):
    got, _, parsed_by = parse_score(reply, 1, 10)
    assert (got, parsed_by) == (score, how)


def test_rubric_is_versioned_and_fills_every_placeholder():
    rubric = load_rubric()
    assert (rubric.name, rubric.version, rubric.scale_min, rubric.scale_max) == (
        "biobench-judge",
        "1",
        1,
        10,
    )
    item = JudgeItem("bio_meqsum", 0, "f", "Summarize.", "input {{reference}} text", "REF", "")
    system, user = rubric.messages(item)
    assert system["role"] == "system" and user["role"] == "user"
    assert "{{" not in user["content"].replace("input {{reference}} text", "")
    assert "input {{reference}} text" in user["content"]  # values are never re-substituted
    assert "REF" in user["content"] and "(empty response)" in user["content"]


def test_cache_key_covers_model_rubric_instruction_input_reference_response():
    base = JudgeItem("t", 0, "f", "instr", "input", "ref", "resp")
    key = base.key("gpt-4o", "1")
    variants = [
        base.key("gpt-4o-mini", "1"),
        base.key("gpt-4o", "2"),
        JudgeItem("t", 0, "f", "other", "input", "ref", "resp").key("gpt-4o", "1"),
        JudgeItem("t", 0, "f", "instr", "inp", "ref", "resp").key("gpt-4o", "1"),
        JudgeItem("t", 0, "f", "instr", "input", "re", "resp").key("gpt-4o", "1"),
        JudgeItem("t", 0, "f", "instr", "input", "ref", "res").key("gpt-4o", "1"),
    ]
    assert len({key, *variants}) == 7
    assert (
        JudgeItem("other_task", 9, "g", "instr", "input", "ref", "resp").key("gpt-4o", "1") == key
    )


def test_score_stats_hand_worked_and_statsmodels():
    from statsmodels.stats.weightstats import DescrStatsW

    s = score_stats([6, 8, 10])  # mean 8, sd 2, t(0.975, 2) = 4.302653 -> half 4.968275
    assert s["mean"] == 8 and s["sd"] == pytest.approx(2.0)
    assert s["ci95"] == pytest.approx([8 - 4.968275, 8 + 4.968275], abs=1e-6)
    data = [3, 7, 7, 9, 10, 2, 5, 8]
    lo, hi = DescrStatsW(data).tconfint_mean(alpha=0.05)
    assert score_stats(data)["ci95"] == pytest.approx([lo, hi], abs=1e-9)
    assert score_stats([5])["ci95"] is None and score_stats([])["mean"] is None


# --- against the scripted server ------------------------------------------------------------


def test_scores_summary_and_second_run_sends_no_request(tmp_path):
    responses = {"bio_meqsum": ["a", "b", "c", "d"], "bio_mediqa_qs": ["e", "f"]}
    scores = {"a": 2, "b": 5, "c": 9, "d": 8, "e": 10, "f": 6}
    for task, texts in responses.items():
        write_samples(tmp_path, task, texts)
    with ScriptedOpenAI({r: [ok(s)] for r, s in scores.items()}) as server:
        assert run_judge(tmp_path, server) == 0
        assert server.requests == 6
        first = summary(tmp_path)
        assert run_judge(tmp_path, server) == 0
        assert server.requests == 6  # everything came from the cache
        second = summary(tmp_path)

    from statsmodels.stats.weightstats import DescrStatsW

    meqsum = first["tasks"]["bio_meqsum"]
    assert (meqsum["n_items"], meqsum["n_ok"], meqsum["mean"]) == (4, 4, 6.0)
    assert meqsum["ci95"] == pytest.approx(list(DescrStatsW([2, 5, 9, 8]).tconfint_mean()))
    assert first["tasks"]["bio_mediqa_qs"]["mean"] == 8.0
    assert first["macro_mean"] == 7.0 and first["all_items"]["mean"] == pytest.approx(40 / 6)
    assert first["judge"]["rubric"]["version"] == "1"
    assert [r["score"] for r in item_scores(tmp_path, "bio_meqsum")] == [2, 5, 9, 8]
    assert first["this_run"]["requests_sent"] == 6 and first["this_run"]["cache_hits"] == 0
    assert second["this_run"]["requests_sent"] == 0 and second["this_run"]["cache_hits"] == 6
    assert second["tasks"] == first["tasks"]
    assert next(tmp_path.rglob(f"judge_scores_{STAMP}.png")).stat().st_size > 1000


def test_429_500_malformed_and_timeouts_are_retried(tmp_path):
    script = {
        "r429": ["429", ok(4)],
        "r500": ["500", "503", ok(5)],
        "bad": ["malformed", ok(6)],
        "slow": ["slow", ok(7)],
    }
    write_samples(tmp_path, "bio_meqsum", list(script))
    # the slow answer comes well after the timeout, and every other answer well before it even on
    # a loaded machine (at 0.5 s, a busy CI box timed out good answers and retried them)
    with ScriptedOpenAI(script, slow_s=5.0) as server:
        assert run_judge(tmp_path, server, "--timeout", "2") == 0
        counts = dict(server.by_response)
    assert counts == {"r429": 2, "r500": 3, "bad": 2, "slow": 2}
    assert [r["score"] for r in item_scores(tmp_path, "bio_meqsum")] == [4, 5, 6, 7]
    run = summary(tmp_path)["this_run"]
    assert run["retries"] == 5
    assert run["failures_by_kind"] == {"429": 1, "500": 1, "503": 1, "malformed": 1, "timeout": 1}


def test_unparsable_answers_are_recorded_never_scored(tmp_path):
    script = {
        "u1": [("ok", "The response looks good to me.")],
        "u2": [("ok", '{"score": 11}')],
        "u3": [("ok", '{"score": "eight"}')],
        "fine": [ok(9)],
    }
    write_samples(tmp_path, "bio_meqsum", list(script))
    with ScriptedOpenAI(script) as server:
        assert run_judge(tmp_path, server) == 0
        assert run_judge(tmp_path, server) == 0
        assert server.requests == 4  # unparsable answers are final: cached, not asked again
    rows = item_scores(tmp_path, "bio_meqsum")
    assert [r["status"] for r in rows] == ["unparsable", "unparsable", "unparsable", "ok"]
    assert [r["score"] for r in rows] == [None, None, None, 9]
    assert rows[0]["raw"] == "The response looks good to me."
    task = summary(tmp_path)["tasks"]["bio_meqsum"]
    assert (task["n_unparsable"], task["n_ok"], task["mean"]) == (3, 1, 9.0)


def test_persistent_failure_is_an_error_and_asked_again_next_run(tmp_path):
    write_samples(tmp_path, "bio_meqsum", ["down", "fine"])
    with ScriptedOpenAI({"down": ["500"], "fine": [ok(8)]}) as server:
        assert run_judge(tmp_path, server, "--max-retries", "2") == 4
        assert server.by_response["down"] == 3
        rows = item_scores(tmp_path, "bio_meqsum")
        assert rows[0]["status"] == "error" and rows[0]["score"] is None
        assert "gave up after 3 attempts" in rows[0]["error"]
        assert run_judge(tmp_path, server, "--max-retries", "2") == 4
        assert server.by_response["down"] == 6 and server.by_response["fine"] == 1


def test_refused_credentials_stop_the_run(tmp_path, capsys):
    write_samples(tmp_path, "bio_meqsum", ["a", "b"])
    with ScriptedOpenAI({"a": ["401"], "b": ["401"]}) as server:
        assert run_judge(tmp_path, server, "--concurrency", "1") == 2
        assert server.requests == 1
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_max_cost_stops_before_the_budget_is_exceeded(tmp_path):
    texts = [f"resp {i}" for i in range(8)]
    write_samples(tmp_path, "bio_meqsum", texts)
    price = Price(1000.0, 1000.0)  # USD per million tokens: each request costs ~ a dollar
    rubric = load_rubric()
    item = JudgeItem(
        "bio_meqsum", 0, "", "Summarize bio_meqsum.", "input 0", "reference 0", texts[0]
    )
    bound = worst_case_cost(rubric.messages(item), 256, price)
    actual = price.cost(900, 50)
    budget = 2 * bound + actual  # room for 3 requests judged one at a time, not 4
    with ScriptedOpenAI(usage=(900, 50)) as server:
        code = run_judge(
            tmp_path,
            server,
            "--concurrency",
            "1",
            "--price-in",
            "1000",
            "--price-out",
            "1000",
            "--max-cost",
            f"{budget:.6f}",
        )
        assert code == 3
        sent = server.requests
        rows = item_scores(tmp_path, "bio_meqsum")
        spent = sum(r["cost"] for r in rows if r["cost"] is not None)
        assert spent <= budget
        assert spent + bound > budget  # stopping was necessary: the next request might not fit
        assert sent == sum(r["status"] == "ok" for r in rows) == 3
        assert {r["status"] for r in rows[sent:]} == {"skipped_budget"}
        assert all(r["score"] is None for r in rows[sent:])
        assert summary(tmp_path)["this_run"]["cost_usd"] == pytest.approx(spent)
        # a larger budget continues with only the remaining items
        assert (
            run_judge(
                tmp_path, server, "--price-in", "1000", "--price-out", "1000", "--max-cost", "100"
            )
            == 0
        )
        assert server.requests == 8


@pytest.mark.slow  # kills and restarts a judge subprocess (~3 s)
def test_resume_after_a_killed_run_asks_only_the_rest(tmp_path, subprocess_env):
    texts = [f"item {i}" for i in range(12)]
    write_samples(tmp_path, "bio_mts_dialog", texts)
    with ScriptedOpenAI(latency_s=0.25) as server:
        cmd = [
            sys.executable,
            "-m",
            "runners.cli",
            "judge",
            str(tmp_path),
            "--base-url",
            server.base_url,
            "--judge-model",
            "scripted",
            "--concurrency",
            "1",
        ]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while server.requests < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the judge finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(0.5)  # let a request the killed process had already sent reach the server
        before = server.requests
        cache = tmp_path / "judge_cache.jsonl"
        done = len([line for line in cache.read_text().splitlines() if line.strip()])
        assert 3 <= done < 12
        assert not list(tmp_path.rglob("judge_summary_*.json"))  # killed before the summary

        assert run_judge(tmp_path, server) == 0
        assert server.requests - before == 12 - done
    rows = item_scores(tmp_path, "bio_mts_dialog")
    assert [r["status"] for r in rows] == ["ok"] * 12


def test_a_torn_cache_line_is_skipped_and_the_item_asked_again(tmp_path):
    write_samples(tmp_path, "bio_meqsum", ["a", "b"])
    with ScriptedOpenAI({"a": [ok(3)], "b": [ok(4)]}) as server:
        assert run_judge(tmp_path, server) == 0
        cache = tmp_path / "judge_cache.jsonl"
        lines = cache.read_text().splitlines()
        cache.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # killed mid-write
        assert run_judge(tmp_path, server) == 0
        assert server.requests == 3
    lines = cache.read_text().splitlines()
    assert len(lines) == 3  # the whole first line, the torn one, the re-asked item
    rows = [json.loads(lines[0]), json.loads(lines[2])]
    assert {r["score"] for r in rows} == {3, 4}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "bio_pubmedqa"], "not bio_gen tasks"),
        (["--max-cost", "1", "--judge-model", "my-local"], "--price-in"),
        (["--price-in", "1"], "both --price-in and --price-out"),
        (["--rubric", "nope.md"], "no judge rubric"),
    ],
)
def test_bad_arguments_are_explained(tmp_path, capsys, args, message):
    write_samples(tmp_path, "bio_meqsum", ["a"])
    assert judge.main([str(tmp_path), "--base-url", "http://127.0.0.1:9/v1", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_bio_gen_samples_is_explained(tmp_path, capsys):
    assert judge.main([str(tmp_path), "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "biobench eval --tasks bio_gen" in capsys.readouterr().err


def test_a_non_local_endpoint_needs_a_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    write_samples(tmp_path, "bio_meqsum", ["a"])
    assert judge.main([str(tmp_path)]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert os.environ.get("OPENAI_API_KEY") is None
