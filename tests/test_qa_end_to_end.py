"""End to end: plain `lm_eval` and `biobench eval` on a tiny random LLaMA over the shipped samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runners import eval as eval_cmd
from runners.backends import parse_model_args
from tasks import registry

pytestmark = pytest.mark.slow


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"{cmd}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-3000:]}"
    )
    return proc


def _results(root: Path) -> dict:
    (path,) = list(root.rglob("results_*.json"))
    return json.loads(path.read_text())


def test_plain_lm_eval_runs_bio_qa_groups(tiny_llama, tmp_path, subprocess_env):
    env = dict(subprocess_env, BIOBENCH_SOURCE="sample")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_llama},dtype=float32",
        "--include_path",
        str(registry.TASKS_DIR),
        "--tasks",
        "bio_qa,bio_qa_gen",
        "--limit",
        "2",
        "--gen_kwargs",
        "max_gen_toks=4",
        "--output_path",
        str(out),
        "--log_samples",
    ]
    _run(cmd, env, tmp_path)
    results = _results(out)
    scores = results["results"]
    qa_groups = [g for g in registry.GROUPS if g.category is registry.Category.QA]
    for group in qa_groups:
        assert group.result_key in scores[group.name], group.name
    for spec in (s for g in qa_groups for s in registry.tasks_of(g.name)):
        assert spec.result_key in scores[spec.name], spec.name
        value = scores[spec.name][spec.result_key]
        assert 0.0 <= value <= 1.0
    # the group is the unweighted mean of its datasets
    for group in qa_groups:
        members = [scores[s.name][s.result_key] for s in registry.tasks_of(group.name)]
        assert scores[group.name][group.result_key] == pytest.approx(sum(members) / len(members))
    samples = list(out.rglob("samples_bio_medqa_gen_*.jsonl"))
    assert samples
    first = json.loads(samples[0].read_text().splitlines()[0])
    assert first["filtered_resps"][0] in {"A", "B", "C", "D", "[invalid]"}


def test_biobench_eval_records_provenance(tiny_llama, tmp_path, subprocess_env):
    env = dict(subprocess_env, BIOBENCH_SOURCE="sample")
    out = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "runners.cli",
        "eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_llama}",
        "--tasks",
        "bio_pubmedqa,bio_mmlu_medical",
        "--limit",
        "2",
        "--output_path",
        str(out),
    ]
    proc = _run(cmd, env, Path(__file__).resolve().parents[1])
    assert "bio_mmlu_medical" in proc.stdout and "bio_pubmedqa" in proc.stdout
    results = _results(out)
    block = results["biobench"]
    assert block["suite_version"] == registry.SUITE_VERSION
    pubmed = block["tasks"]["bio_pubmedqa"]
    assert pubmed["data_source"] == "sample" and pubmed["n_records"] == 4
    assert len(pubmed["data_sha256"]) == 64
    assert block["tasks"]["bio_mmlu_medical"]["n_records"] == 12  # six subjects, two each
    assert list(out.rglob("samples_bio_pubmedqa_*.jsonl")), "--log_samples is on by default"


def test_lm_eval_argv_default_model_and_passthrough(monkeypatch, tmp_path):
    monkeypatch.setattr("runners.model.prepare_default_model", lambda: tmp_path)
    args, extra = eval_cmd.build_parser().parse_known_args(
        ["--model", "default", "--model_args", "dtype=float32", "--tasks", "bio_qa", "--limit", "5"]
    )
    argv = eval_cmd.lm_eval_argv(args, extra)
    assert argv[argv.index("--model") + 1] == "hf"
    # one JSON object (runners/backends.py), read back exactly as lm-eval's CLI reads it
    model_args = parse_model_args(argv[argv.index("--model_args") + 1])
    assert model_args == {"pretrained": str(tmp_path), "dtype": "float32"}
    assert json.loads(argv[argv.index("--model_args") + 1]) == model_args
    monkeypatch.setattr(eval_cmd, "_registered", lambda: False)
    argv = eval_cmd.lm_eval_argv(args, extra)
    assert argv[argv.index("--include_path") + 1] == str(registry.TASKS_DIR)
    monkeypatch.setattr(eval_cmd, "_registered", lambda: True)  # lm-eval finds them itself
    assert "--include_path" not in eval_cmd.lm_eval_argv(args, extra)
    assert "--log_samples" in argv and argv[-2:] == ["--limit", "5"]
    monkeypatch.setattr(eval_cmd, "_cuda_available", lambda: False)
    argv = eval_cmd.lm_eval_argv(args, extra)
    assert argv[argv.index("--device") + 1] == "cpu"  # not lm-eval's default cuda:0
    args, extra = eval_cmd.build_parser().parse_known_args(["--tasks", "x", "--device", "mps"])
    assert eval_cmd.lm_eval_argv(args, extra).count("--device") == 1
    monkeypatch.setattr(eval_cmd, "_cuda_available", lambda: True)
    args, extra = eval_cmd.build_parser().parse_known_args(["--tasks", "x"])
    assert "--device" not in eval_cmd.lm_eval_argv(args, extra)


def test_missing_data_fails_with_a_clear_message(tiny_llama, tmp_path, subprocess_env):
    env = dict(subprocess_env, BIOBENCH_DATA_DIR=str(tmp_path))
    env.pop("BIOBENCH_ALLOW_SAMPLES", None)
    env.pop("BIOBENCH_SOURCE", None)
    cmd = [
        sys.executable,
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_llama}",
        "--include_path",
        str(registry.TASKS_DIR),
        "--tasks",
        "bio_medqa",
        "--limit",
        "1",
    ]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    # offline (HF_HUB_OFFLINE=1): one line naming dataset, file and the fetch command; exit 2
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: dataset medqa") and "medqa/test.jsonl" in last
    assert "biobench data fetch medqa" in last and str(tmp_path) in last
