"""``biobench request`` checks and the ``biobench worker`` flow, end to end with a tiny LLaMA."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from leaderboard.leases import WorkerId
from leaderboard.request_queue import (
    LeaseLost,
    RequestError,
    RequestQueue,
    new_request,
    safetensors_parameters,
)
from leaderboard.schemas import EvalRequest, RequestStatus
from leaderboard.store import Store
from runners import request as request_cmd
from runners import worker
from tests.support.submission_runs import env


def request_for(model: Path, **kw) -> EvalRequest:
    args = {"model_type": "base", "model_id": "test/tiny", **kw}
    return new_request(str(model), **args)


def test_local_model_facts_are_read_from_its_files(model):
    req = request_for(model)
    assert req.status == RequestStatus.PENDING and req.license == "apache-2.0"
    assert req.architectures == ["LlamaForCausalLM"] and str(req.precision) == "float32"
    expected = 0
    for path in model.glob("*.safetensors"):
        with safe_open(path, framework="np") as handle:
            for key in handle.keys():
                expected += _numel(handle.get_slice(key).get_shape())
    assert expected > 0 and req.n_parameters == expected
    assert sum(safetensors_parameters(p) for p in model.glob("*.safetensors")) == expected


def _numel(shape) -> int:
    out = 1
    for dim in shape:
        out *= dim
    return out


def test_license_is_required(model):
    (model / "README.md").write_text("# no front matter\n")
    with pytest.raises(RequestError, match="no license found .* pass --license"):
        request_for(model)
    assert request_for(model, license="mit").license == "mit"


def test_remote_code_is_refused_unless_allowed(model):
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(RequestError, match="trust_remote_code .* --allow-remote-code"):
        request_for(model)
    assert request_for(model, allow_remote_code=True).allow_remote_code


def test_pickle_weights_are_refused(model):
    for path in model.glob("*.safetensors"):
        path.unlink()
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(RequestError, match="found pytorch_model.bin.*pickle"):
        request_for(model)


def test_adapter_must_name_the_requested_base(model, tmp_path):
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "other/base"})
    )
    shutil.copy(next(model.glob("*.safetensors")), adapter / "adapter_model.safetensors")
    with pytest.raises(RequestError, match="trained on 'other/base'"):
        request_for(model, peft_adapter=str(adapter))
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(model)})
    )
    assert request_for(model, peft_adapter=str(adapter)).base_model == str(model)


def test_hub_models_need_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RequestError, match="HF_HUB_OFFLINE is set"):
        new_request("some-org/some-model", model_type="base")


def test_duplicate_requests_are_refused(model, tmp_path):
    queue = RequestQueue(tmp_path / "store")
    queue.add(request_for(model))
    with pytest.raises(RequestError, match="already requested"):
        queue.add(request_for(model))
    ((path, req),) = queue.entries()
    queue.fail(path, req, "boom")
    queue.add(request_for(model))  # a FAILED request may be requested again
    assert len(queue.entries()) == 2


def test_request_cli_queues_and_lists(model, tmp_path, capsys):
    store = tmp_path / "store"
    args = [str(model), "--model-type", "base", "--model-id", "test/cli", "--store", str(store)]
    assert request_cmd.main(args) == 0
    assert request_cmd.main(args) == 2
    assert "refused: " in capsys.readouterr().err
    assert request_cmd.main(["--list", "--store", str(store)]) == 0
    assert "PENDING  test/cli" in capsys.readouterr().out


def test_claim_resumes_a_request_whose_worker_died(model, tmp_path):
    queue = RequestQueue(tmp_path / "store")
    queue.add(request_for(model))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = dataclasses.replace(WorkerId.current(), pid=dead.pid)  # this machine, process gone
    first = queue.claim(gone)
    assert first.request.status == RequestStatus.RUNNING and first.request.attempts == 1
    other = WorkerId("elsewhere", 1)
    second = queue.claim(other)  # its process is gone from this machine: reclaimed at once
    assert second is not None and second.lease.generation == 2
    assert second.request.attempts == 2 and second.request.worker == "elsewhere:1"
    assert not first.lease.is_current()
    assert queue.claim(WorkerId("elsewhere", 2)) is None  # a live lease is kept until it expires
    with pytest.raises(LeaseLost):  # the first holder may not overwrite the second's request
        queue.finish(first.path, first.request, "x/y", first.lease)
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.RUNNING and req.worker == "elsewhere:1"


def test_a_completed_task_is_not_evaluated_again(model, tmp_path):
    req = request_for(model)
    out = tmp_path / "work" / req.request_id / "bio_pubmedqa"
    out.mkdir(parents=True)
    (out / "results_2026-01-01T00-00-00.json").write_text("{}")
    broken = req.model_copy(update={"model": "/nonexistent/model"})
    assert worker.run_eval(broken, "bio_pubmedqa", out) == out  # no evaluation was started


def test_worker_marks_unrunnable_requests_failed(model, tmp_path):
    store = Store(tmp_path / "store")
    queue = RequestQueue(store.root)
    queue.add(request_for(model, precision="api"))
    assert worker.work(store, tmp_path / "work", until_empty=True) == 1
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.FAILED and "cannot be evaluated" in req.error
    assert req.finished_at is not None


@pytest.mark.slow
def test_worker_evaluates_stores_and_finishes_a_request(model, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    store = Store(tmp_path / "store")
    queue = RequestQueue(store.root)
    queue.add(
        request_for(
            model,
            tasks="bio_pubmedqa,bio_meqsum",
            limit=2,
            max_gen_toks=8,
        )
    )
    processed = worker.work(store, tmp_path / "work", until_empty=True, env=env())
    assert processed == 1
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.FINISHED, req.error
    sub = store.read(req.submission_id)
    assert sub.model.id == "test/tiny" and sub.model.license == "apache-2.0"
    assert {t.task for t in sub.tasks} == {"bio_pubmedqa", "bio_meqsum"}
    assert all(t.n_items == 2 and not t.data.complete for t in sub.tasks)
    assert req.request_id in sub.notes
    # each task ran in its own folder, renamed into place when complete
    work = tmp_path / "work" / req.request_id
    assert sorted(p.name for p in work.iterdir()) == ["bio_meqsum", "bio_pubmedqa"]
