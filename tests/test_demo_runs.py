"""``biobench demo`` as real processes on the tiny LLaMA: killed evaluation steps restart and
reach the end, ``--fresh`` after a finished demo starts over and reaches the end, and no step
mixes an earlier run's output into its own (the submit step once found one task in two results
files and stopped with exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leaderboard.store import Store
from runners.demo import finished_group

# each demo run evaluates, tunes and evaluates a (tiny) model: about 2 demos in all, a few
# minutes on an idle machine, far more beside other jobs
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("bio_pubmedqa", "bio_chemprot")  # two groups: a kill can land between them


def command(out: Path, model: Path, *extra: str) -> list[str]:
    limits = [arg for g in GROUPS for arg in ("--items", f"{g}=3")]
    return [
        sys.executable, "-m", "runners.demo", "--out", str(out), "--model", str(model),
        *limits, "--finetune-steps", "2", *extra,
    ]  # fmt: skip


def run(out: Path, model: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        command(out, model, *extra), cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def running(out: Path, step: str) -> bool:
    """Whether the state says ``step``'s evaluation has started and not finished (an earlier,
    finished demo's folders do not count)."""
    name = f"evaluate the {step} model"
    try:
        state = json.loads((out / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return name in state.get("_started", []) and name not in state


def kill_in_second_group(out: Path, model: Path, env: dict, step: str, *extra: str) -> None:
    """Start the demo and SIGKILL its whole process group while ``step``'s second group runs
    (its first group finished, the second's folder made, lm-eval not finished)."""
    first, second = (out / "eval" / step / g for g in GROUPS)
    log = (out.parent / f"killed-{step}.log").open("w")
    proc = subprocess.Popen(
        command(out, model, *extra), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 900
    try:
        while not (running(out, step) and finished_group(first) and second.is_dir()):
            assert proc.poll() is None, f"demo ended before the kill: {proc.returncode}"
            assert time.time() < deadline, "the step never reached its second group"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        log.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not finished_group(second)  # killed mid-step, not after it


def one_run_per_model(out: Path) -> None:
    ids = Store(out / "submissions").ids()
    assert len(ids) == 2 and len({i.split("/")[0] for i in ids}) == 2, ids
    for step in ("base", "tuned"):
        for group in GROUPS:
            results = list((out / "eval" / step / group).rglob("results_*.json"))
            assert len(results) == 1, results


@pytest.fixture(scope="module")
def demo_env(tiny_llama, tmp_path_factory):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("BIOBENCH_DATA_DIR", None)  # the shipped samples and the seed instructions
    env["BIOBENCH_SOURCE"] = "sample"  # as `make demo-samples`: no data folder is fetched
    env["BIOBENCH_OFFLINE"] = "1"
    env["BIOBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.fixture(scope="module")
def demo_runs(tiny_llama, demo_env, tmp_path_factory):
    """One demo folder through: a fresh demo killed in the base model's evaluation, restarted
    to the end; then ``--fresh`` after that finished demo, killed in the tuned model's
    evaluation, restarted to the end. Returns the folder, the two restarts' output and the
    results files the finished demo had before ``--fresh``."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    kill_in_second_group(out, tiny_llama, demo_env, "base")
    killed_state = json.loads((out / "state.json").read_text())
    assert "evaluate the base model" in killed_state["_started"]
    assert "evaluate the base model" not in killed_state
    first = run(out, tiny_llama, demo_env)
    before = {p: p.stat().st_mtime_ns for p in (out / "eval").rglob("results_*.json")}
    kill_in_second_group(out, tiny_llama, demo_env, "tuned", "--fresh")
    second = run(out, tiny_llama, demo_env)
    return out, first.stdout, second.stdout, before


def test_restart_after_a_kill_in_the_base_evaluation_reaches_the_end(demo_runs):
    out, first, _, before = demo_runs
    # the restart kept the group that had finished and reran only the killed one
    assert f"{GROUPS[0]} finished before, kept" in first
    assert "[2/7] evaluate the base model ..." in first and "[7/7] done" in first
    assert len(before) == 2 * len(GROUPS)  # one results file per group and model


def test_fresh_after_a_finished_demo_then_a_kill_in_the_tuned_evaluation_reaches_the_end(
    demo_runs, demo_env, tiny_llama
):
    out, _, second, before = demo_runs
    # --fresh redid every step up to the kill; the restart reused them and kept the tuned
    # model's finished group
    assert "[2/7] evaluate the base model: done before, reusing" in second
    assert "[3/7] LoRA-tune on offline instructions: done before, reusing" in second
    assert f"{GROUPS[0]} finished before, kept" in second and "[7/7] done" in second
    after = {p: p.stat().st_mtime_ns for p in (out / "eval").rglob("results_*.json")}
    assert not set(before) & set(after)  # every evaluation folder was emptied and redone
    one_run_per_model(out)
    report = (out / "report.md").read_text()
    assert report.splitlines()[2].startswith("The clearest difference is on")
    again = run(out, tiny_llama, demo_env)  # a finished demo: every step reused
    assert again.stdout.count("done before, reusing") == 7
