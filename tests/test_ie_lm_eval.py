"""Every IE task through lm-eval (in process) on the tiny random LLaMA and the shipped samples:
metrics present, per-item counts logged with each sample, task scores pooled from those counts,
group scores the unweighted mean of their tasks, and ``biobench eval`` provenance."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tasks import registry
from tasks.common import ie_metrics

IE_TASKS = [s.name for s in registry.TASKS if s.category is registry.Category.IE]
GEN_KWARGS = {"max_gen_toks": 16}

pytestmark = pytest.mark.slow  # every test runs lm-eval on the tiny model


@pytest.fixture(scope="module")
def lm(tiny_llama):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(tiny_llama), dtype="float32", device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(registry.TASKS_DIR))


def _evaluate(lm, task_manager, tasks, limit):
    from lm_eval import simple_evaluate

    return simple_evaluate(
        model=lm,
        tasks=tasks,
        task_manager=task_manager,
        limit=limit,
        log_samples=True,
        bootstrap_iters=0,
        gen_kwargs=dict(GEN_KWARGS),
        random_seed=1234,
    )


@pytest.mark.parametrize("name", IE_TASKS)
def test_task_runs_and_logs_counts(lm, task_manager, name, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    out = _evaluate(lm, task_manager, [name], limit=3)
    scores = out["results"][name]
    for metric in ("f1", "precision", "recall"):
        assert 0.0 <= scores[f"{metric},none"] <= 1.0
    samples = out["samples"][name]
    assert len(samples) == 3
    task = task_manager.load(name)["tasks"][name]
    logged = []
    for sample in samples:
        item = sample["f1"]
        assert set(item) == {"tp", "fp", "fn", "pred"}
        assert all(isinstance(item[k], int) and item[k] >= 0 for k in ("tp", "fp", "fn"))
        assert sample["precision"] == item == sample["recall"]
        # the logged counts are what the task's scoring gives for the logged answer
        assert task.process_results(sample["doc"], sample["filtered_resps"])["f1"] == item
        logged.append(item)
    pooled = ie_metrics.prf(ie_metrics.total(logged))
    assert scores["f1,none"] == pytest.approx(pooled.f1, abs=1e-12)
    assert scores["precision,none"] == pytest.approx(pooled.precision, abs=1e-12)
    assert scores["recall,none"] == pytest.approx(pooled.recall, abs=1e-12)
    if name == "bio_hoc":  # BLUE's eval_hoc F1 from the same per-abstract counts
        assert all(sample["f1_blue"] == sample["f1"] for sample in samples)
        expected = ie_metrics.f1_blue_aggregate(logged)
        assert scores["f1_blue,none"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["bio_ie", "bio_ie_gen"])
def test_group_is_unweighted_mean_of_task_f1(lm, task_manager, group, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    out = _evaluate(lm, task_manager, [group], limit=2)
    results = out["results"]
    members = out["group_subtasks"][group]
    assert sorted(members) == sorted(s.name for s in registry.tasks_of(group))
    mean = sum(results[t]["f1,none"] for t in members) / len(members)
    assert results[group]["f1,none"] == pytest.approx(mean, abs=1e-12)


@pytest.mark.slow
def test_biobench_eval_records_ie_provenance(tiny_llama, tmp_path, subprocess_env):
    env = dict(subprocess_env, BIOBENCH_SOURCE="sample")
    out = tmp_path / "runs"
    cmd = [
        sys.executable, "-m", "runners.cli", "eval", "--model", "hf",
        "--model_args", f"pretrained={tiny_llama},dtype=float32", "--device", "cpu",
        "--tasks", "bio_ner_ncbi_disease,bio_gad,bio_gad_gen", "--limit", "2",
        "--gen_kwargs", "max_gen_toks=8", "--output_path", str(out),
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, env=env, cwd=registry.TASKS_DIR.parent, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = list(out.rglob("results_*.json"))
    results = json.loads(path.read_text(encoding="utf-8"))
    provenance = results["biobench"]["tasks"]
    for name in ("bio_ner_ncbi_disease", "bio_gad", "bio_gad_gen"):
        assert provenance[name]["data_source"] == "sample"
        assert len(provenance[name]["data_sha256"]) == 64
        assert "f1,none" in results["results"][name]
    assert provenance["bio_gad"]["data_sha256"] == provenance["bio_gad_gen"]["data_sha256"]
    assert "bio_ner_ncbi_disease" in proc.stdout  # the printed table
