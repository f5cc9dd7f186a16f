"""Shared test fixtures: real-data location, and a tiny random LLaMA built inside the tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.tiny_llama import build_tiny_llama

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


def pytest_configure(config):
    """Under pytest-xdist (``make test``: ``-n auto``), share the cores between the workers:
    each worker's torch, and the commands its tests start, get cores / workers threads."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        os.environ.setdefault("MKL_NUM_THREADS", str(threads))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may reach the hub; sources are chosen explicitly by each test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for var in (
        "BIOBENCH_DATA_DIR",
        "BIOBENCH_SOURCE",
        "BIOBENCH_ALLOW_SAMPLES",
        "BIOBENCH_DATA_URL",  # a developer's mirror or offline switch never leaks into a test
        "BIOBENCH_OFFLINE",
        "BIOBENCH_DATA_RETRIES",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """``../shared/data`` as BIOBENCH_DATA_DIR, or skip when this checkout has no such folder."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def model(tiny_llama, tmp_path) -> Path:
    """A copy of the tiny LLaMA with a licence in its model card (what a request needs)."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_llama, folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny test model\n")
    return folder


@pytest.fixture(scope="session")
def runs(tmp_path_factory, tiny_llama):
    """Two tiny-model lm-eval runs, A submitted, B not (``tests/support/submission_runs.py``); built
    once per ``pytest`` run: under pytest-xdist the workers share one copy in the run's common
    temp folder, the first builds it under a file lock, the others wait and reuse it."""
    from filelock import FileLock

    from tests.support.submission_runs import tiny_runs

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    with FileLock(str(base / "submission-runs.lock")):
        model_a = (
            base / "submission-runs-model-a"
        )  # the same seeded tiny LLaMA, in the shared folder
        if not (model_a / "config.json").is_file():
            shutil.copytree(tiny_llama, model_a, dirs_exist_ok=True)
        return tiny_runs(base / "submission-runs", model_a)


@pytest.fixture
def sample_data(monkeypatch):
    """Tasks read their shipped samples (what the tiny runs were evaluated on)."""
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for commands run as subprocesses by tests (offline, project importable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
