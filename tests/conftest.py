"""Shared test fixtures: real-data location, and a tiny random LLaMA built inside the tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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


TINY_CORPUS = [
    "Below is an instruction that describes a task. Write a response.",
    "### Instruction: ### Input: ### Response: Question: Context: Options:",
    "A. B. C. D. E. yes no maybe The answer is",
    "aspirin inhibits cyclooxygenase; metformin lowers hepatic glucose output.",
    "The patient presents with fever, cough and dyspnea. Chest radiograph shows consolidation.",
    "BRCA1 mutations increase the risk of breast and ovarian cancer.",
    "0 1 2 3 4 5 6 7 8 9 , . ; : ( ) [ ] - ' \" ? !",
]


def build_tiny_llama(path: Path, seed: int = 0, hidden_size: int = 32) -> Path:
    """A 2-layer LLaMA with a byte-level BPE tokenizer trained here; random weights, seeded
    (``hidden_size`` 256 and up: wide enough that oneDNN runs its products on bf16 units)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TINY_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<pad>",
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


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
    """Two tiny-model lm-eval runs, A submitted, B not (``tests/submission_runs.py``); built
    once per ``pytest`` run: under pytest-xdist the workers share one copy in the run's common
    temp folder, the first builds it under a file lock, the others wait and reuse it."""
    from filelock import FileLock

    from tests.submission_runs import tiny_runs

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
