"""Real lm-eval runs shared by the submission, comparison and request tests (built once a session).

Two tiny random LLaMAs (seeds 0 and 1) evaluated with ``biobench eval`` on the shipped samples
(``BIOBENCH_SOURCE=sample``): every per-item metric kind the suite has — multiple-choice
accuracy, exact match after extraction, ROUGE means and tp/fp/fn counts (NER and relation
extraction). Run A evaluates every sample record and is stored with ``--submit``; run B uses
``--limit 2`` and the generative PubMedQA variant instead of the log-likelihood one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASKS_A = "bio_pubmedqa,bio_medqa_gen,bio_meqsum,bio_ner_bc2gm,bio_chemprot"
TASKS_B = "bio_pubmedqa_gen,bio_medqa_gen,bio_meqsum,bio_ner_bc2gm,bio_chemprot"
META = ["--license", "mit", "--model-type", "base", "--submitter", "tests"]


@dataclass(frozen=True)
class Runs:
    base: Path
    a: Path  # lm-eval output folder of run A (all sample records)
    b: Path  # run B (--limit 2)
    store: Path  # store holding run A, submitted by `biobench eval --submit`
    model_b: Path

    @property
    def a_id(self) -> str:
        (sub,) = (self.store / "test__tiny-a").iterdir()
        return f"test__tiny-a/{sub.name}"


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(ROOT) + os.pathsep + out.get("PYTHONPATH", "")
    out.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    out.update(BIOBENCH_SOURCE="sample")
    out.pop("BIOBENCH_DATA_DIR", None)
    out.update(extra)
    return out


def run(cmd: list[str], **extra_env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env(**extra_env), capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{cmd}\nSTDOUT:\n{proc.stdout[-3000:]}\nSTDERR:\n{proc.stderr[-3000:]}"
        )
    return proc


def biobench(*args: str) -> list[str]:
    return [sys.executable, "-m", "runners.cli", *args]


def tiny_runs(base: Path, model_a: Path) -> Runs:
    base.mkdir(parents=True, exist_ok=True)
    runs = Runs(base, base / "a", base / "b", base / "store", base / "tiny-b")
    if (base / "done.json").is_file():
        return runs
    from tests.support.tiny_llama import build_tiny_llama

    build_tiny_llama(runs.model_b, seed=1)
    common = ["--model", "hf", "--gen_kwargs", "max_gen_toks=8", "--batch_size", "4"]
    run(
        biobench(
            "eval", *common, "--model_args", f"pretrained={model_a},dtype=float32",
            "--tasks", TASKS_A, "--output_path", str(runs.a),
            "--submit", "--store", str(runs.store), "--model-id", "test/tiny-a", *META,
        )
    )  # fmt: skip
    run(
        biobench(
            "eval", *common, "--model_args", f"pretrained={runs.model_b},dtype=float32",
            "--tasks", TASKS_B, "--output_path", str(runs.b), "--limit", "2",
        )
    )  # fmt: skip
    (base / "done.json").write_text(json.dumps({"a": str(runs.a), "b": str(runs.b)}))
    return runs


def store_with_b(runs: Runs, root: Path) -> Path:
    """A copy of run A's store at ``root`` with run B submitted to it (shipped samples)."""
    import shutil

    from runners import submit as submit_cmd

    shutil.copytree(runs.store, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("BIOBENCH_SOURCE", "sample")
    try:
        rc = submit_cmd.main(
            [str(runs.b), "--store", str(root), "--model-id", "test/tiny-b", *META]
        )
    finally:
        mp.undo()
    assert rc == 0
    return root
