"""Hostile request queues, with real processes: a planted request never makes a worker run a
stranger's code, a link or FIFO in the queue never blocks or redirects a write, and the web form
takes hub ids only (submissions README, "Threat model")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leaderboard.request_queue import RateLimit, RequestError, RequestQueue, new_request
from leaderboard.schemas import EvalRequest, RequestStatus
from tests.support.submission_runs import ROOT, env

EVIL_CODE = """\
from pathlib import Path

Path({marker!r}).write_text("the model's own code ran")

from transformers import LlamaConfig, PreTrainedTokenizerFast


class EvilConfig(LlamaConfig):
    pass


class EvilTokenizer(PreTrainedTokenizerFast):
    pass
"""
AUTO_MAPS = {
    "config.json": {"AutoConfig": "evil_code.EvilConfig"},
    "tokenizer_config.json": {"AutoTokenizer": [None, "evil_code.EvilTokenizer"]},
}


def evil_model(model: Path, marker: Path, config: str) -> Path:
    """The tiny LLaMA with an ``auto_map`` in ``config`` naming Python code of its own folder
    that writes ``marker`` when it is imported (what trust_remote_code would run)."""
    (model / "evil_code.py").write_text(EVIL_CODE.format(marker=str(marker)))
    data = json.loads((model / config).read_text())
    data["auto_map"] = AUTO_MAPS[config]
    (model / config).write_text(json.dumps(data))
    return model


def plant(store: Path, model: Path, **fields) -> Path:
    """A request file written straight into the queue folder (as anyone who can write the
    store could), bypassing ``biobench request``'s checks; ``fields`` override the request's."""
    now = datetime.now(UTC)
    data = {
        "request_id": f"{now:%Y%m%dT%H%M%S%f}-planted", "model": str(model.resolve()),
        "model_id": "test/planted", "precision": "float32", "license": "mit",
        "model_type": "base", "tasks": "bio_pubmedqa", "limit": 1,
        "submitted_at": now.isoformat(),
    } | fields  # fmt: skip
    request = EvalRequest.model_validate(data)  # well-formed: only the model is hostile
    folder = store / "requests" / "test__planted"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{request.request_id}.json"
    path.write_text(json.dumps(data))
    return path


def worker(store: Path, work: Path, *flags: str, timeout: float = 300, **extra_env: str):
    """A real ``biobench worker --until-empty`` process."""
    cmd = [sys.executable, "-m", "runners.cli", "worker", "--store", str(store), "--work-dir",
           str(work), "--until-empty", "--poll", "1", *flags]  # fmt: skip
    return subprocess.run(
        cmd, cwd=ROOT, env=env(**extra_env), capture_output=True, text=True, timeout=timeout
    )


def only_request(store: Path) -> EvalRequest:
    ((_, req),) = RequestQueue(store).entries()
    return req


def test_the_planted_model_code_really_runs_when_trusted(model, tmp_path, monkeypatch):
    """The check below can fail: loading this model with trust_remote_code runs its code."""
    from transformers import AutoConfig

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    marker = tmp_path / "RAN"
    evil_model(model, marker, "config.json")
    AutoConfig.from_pretrained(model, trust_remote_code=True)
    assert marker.read_text() == "the model's own code ran"


@pytest.mark.slow  # real worker processes
@pytest.mark.parametrize("config", sorted(AUTO_MAPS))
def test_a_planted_request_never_runs_the_models_code(model, tmp_path, config):
    """A request file carrying ``allow_remote_code: true`` for a model with an ``auto_map`` (in
    config.json or tokenizer_config.json): a real worker claims it, inspects the model again,
    and fails it before anything is loaded; the model's code never runs."""
    marker = tmp_path / "RAN"
    evil_model(model, marker, config)
    store, work = tmp_path / "store", tmp_path / "work"
    plant(store, model, allow_remote_code=True)
    proc = worker(store, work, HF_MODULES_CACHE=str(tmp_path / "modules"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists()  # the model's code never ran
    req = only_request(store)
    assert req.status == RequestStatus.FAILED, req
    assert "refused at claim time" in req.error and "--allow-remote-code" in req.error
    assert not list(work.rglob("eval.log"))  # no evaluation was started


def test_a_worker_needs_its_own_flag_and_a_request_cannot_give_it(model, tmp_path):
    """The operator's ``--allow-remote-code`` is the only way: with it the same model is
    accepted at claim time (and the request's own flag is irrelevant either way)."""
    from runners import worker as worker_mod

    marker = tmp_path / "RAN"
    evil_model(model, marker, "tokenizer_config.json")
    store = tmp_path / "store"
    path = plant(store, model, allow_remote_code=False)
    req = RequestQueue(store).read(path)
    from leaderboard.request_queue import recheck

    with pytest.raises(RequestError, match="--allow-remote-code"):
        recheck(req, allow_remote_code=False)
    assert recheck(req, allow_remote_code=True).needs_remote_code
    cmd = worker_mod.eval_command(req, "bio_pubmedqa", tmp_path / "out", trust_remote_code=True)
    assert "--allow-remote-code" in cmd and not marker.exists()


def _pickle_that_writes(marker: Path) -> bytes:
    import pickle

    class Writes:
        def __reduce__(self):
            return (Path.write_text, (marker, "a pickle ran"))

    return pickle.dumps(Writes())


@pytest.mark.slow  # real worker processes
@pytest.mark.parametrize(
    "layout",
    ["dummy safetensors beside pickle", "pickle beside model.safetensors", "stray safetensors"],
)
def test_the_weights_that_would_load_are_checked_at_claim_time(model, tmp_path, layout):
    marker = tmp_path / "RAN"
    weights = model / "model.safetensors"
    if layout == "dummy safetensors beside pickle":
        weights.rename(model / "dummy.safetensors")
        (model / "pytorch_model.bin").write_bytes(_pickle_that_writes(marker))
    elif layout == "pickle beside model.safetensors":
        (model / "pytorch_model.bin").write_bytes(_pickle_that_writes(marker))
    else:
        (model / "extra.safetensors").write_bytes(weights.read_bytes())
    with pytest.raises(RequestError):  # biobench request refuses it
        new_request(str(model), model_type="base", model_id="test/tiny")
    store, work = tmp_path / "store", tmp_path / "work"
    plant(store, model)
    proc = worker(store, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    req = only_request(store)
    assert req.status == RequestStatus.FAILED and "refused at claim time" in req.error
    assert not marker.exists() and not list(work.rglob("eval.log"))


def test_an_adapter_with_pickle_weights_or_custom_code_is_refused(model, tmp_path):
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(model), "r": 8, "peft_type": "LORA"})
    )
    (adapter / "adapter_model.bin").write_bytes(_pickle_that_writes(tmp_path / "RAN"))
    (adapter / "dummy.safetensors").write_bytes((model / "model.safetensors").read_bytes())
    with pytest.raises(RequestError, match="adapter_model.safetensors"):
        new_request(str(model), model_type="base", model_id="test/t", peft_adapter=str(adapter))
    (adapter / "adapter_model.bin").unlink()
    (adapter / "dummy.safetensors").rename(adapter / "adapter_model.safetensors")
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps(config | {"auto_mapping": {"x": 1}}))
    with pytest.raises(RequestError, match="custom code"):
        new_request(str(model), model_type="base", model_id="test/t", peft_adapter=str(adapter))


# --- file kinds in the queue ------------------------------------------------------------------


@pytest.mark.slow  # real worker processes
def test_links_fifos_and_devices_in_the_queue_never_block_or_redirect(model, tmp_path):
    store, work = tmp_path / "store", tmp_path / "work"
    folder = store / "requests" / "test__planted"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.json")  # reading it would wait for a writer forever
    os.symlink("/dev/zero", folder / "zero.json")  # reading it would never end
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (folder / "broken.json").write_text("{not json")
    os.symlink(victim, folder / "broken.reason")  # the rejection reason would overwrite it
    proc = worker(store, work, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert victim.read_text() == "precious\n"  # the planted link was replaced, not followed
    reason = folder / "broken.reason"
    assert not reason.is_symlink() and reason.read_text().strip()
    rejected = {p.name for p in folder.glob("*.rejected")}
    assert rejected == {"fifo.rejected", "zero.rejected", "broken.rejected"}
    why = dict((p.name, w) for p, w in RequestQueue(store).rejected())
    assert "FIFO" in why["fifo.rejected"] and "symbolic link" in why["zero.rejected"]

    os.mkfifo(folder / "again.json")  # `biobench request --list` lists it without blocking
    listing = subprocess.run(
        [sys.executable, "-m", "runners.cli", "request", "--list", "--store", str(store)],
        cwd=ROOT, env=env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "INVALID  test__planted/again.json" in listing.stdout and "FIFO" in listing.stdout

    from leaderboard.screens import shared  # the Submit page's reader

    found, problems = shared.read_requests(store)
    assert found == [] and any("again.json" in f and "FIFO" in why for f, why in problems)


def test_a_linked_request_folder_is_not_entered(model, tmp_path):
    store = tmp_path / "store"
    elsewhere = tmp_path / "elsewhere"
    path = plant(store, model)
    path.parent.rename(elsewhere)
    os.symlink(elsewhere, store / "requests" / "test__planted")
    assert RequestQueue(store).scan() == ([], [])


# --- the web form -------------------------------------------------------------------------------


def test_the_web_form_takes_hub_ids_only_and_says_nothing_about_server_paths(model, tmp_path):
    from leaderboard.screens import shared

    root = str(tmp_path / "store")
    limit = RateLimit(100, 3600)
    fields = {"model_type": "base", "tasks": "bio_qa"}
    existing = shared.file_request(root, fields | {"model": str(model)}, "v1", limit)
    missing = shared.file_request(root, fields | {"model": str(tmp_path / "nope")}, "v1", limit)
    etc = shared.file_request(root, fields | {"model": "/etc"}, "v1", limit)
    assert not existing.ok and existing.message == missing.message == etc.message
    assert str(tmp_path) not in existing.message and "--" not in existing.message
    assert "hub id" in existing.message
    relative = shared.file_request(root, fields | {"model": "leaderboard/screens"}, "v1", limit)
    assert not relative.ok and "Hugging Face hub" in relative.message  # looked up on the hub only
    assert "HF_HUB_OFFLINE" not in relative.message and "usage:" not in relative.message
    assert RequestQueue(Path(root)).entries() == []


def test_the_web_form_limits_each_visitor_and_the_queue(model, tmp_path):
    from leaderboard.screens import shared

    limit = RateLimit(2, 3600)
    fields = {"model": "org/name", "model_type": "base"}
    answers = [shared.file_request(str(tmp_path), fields, "v1", limit) for _ in range(3)]
    assert "within the hour" not in answers[1].message
    assert "within the hour" in answers[2].message
    assert "within the hour" not in shared.file_request(str(tmp_path), fields, "v2", limit).message
    assert limit.allow("v1", now=10**12)  # the window passes

    queue = RequestQueue(tmp_path / "store")
    queue.add(new_request(str(model), model_type="base", model_id="test/tiny"))
    other = new_request(str(model), model_type="base", model_id="test/tiny", revision="v2")
    with pytest.raises(RequestError, match="limit") as info:
        queue.add(other, max_pending=1)
    assert info.value.field == "queue" and shared.WEB_MESSAGES["queue"].startswith("The queue")
