"""The request queue never runs a stranger's code: only suite task names, structured model
arguments, validated fields, and one spelling per set of weights."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lm_eval._cli.utils import MergeDictAction
from pydantic import ValidationError

from leaderboard.request_queue import RequestError, RequestQueue, new_request
from leaderboard.schemas import EvalRequest, RequestStatus
from leaderboard.store import Store
from runners import request as request_cmd
from runners import worker


def lm_eval_model_args(value: str) -> dict:
    """``--model_args`` parsed by lm-eval's own CLI action, as ``lm_eval run`` parses it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_args", nargs="+", action=MergeDictAction)
    return parser.parse_args(["--model_args", value]).model_args


@pytest.fixture
def evil_task(tmp_path) -> Path:
    """A task YAML naming Python code, and the module it names (which leaves a mark if run)."""
    folder = tmp_path / "evil"
    folder.mkdir()
    marker = tmp_path / "IMPORTED"
    (folder / "evil_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "class Evil:\n    pass\n"
    )
    (folder / "evil.yaml").write_text(
        "task: evil\nclass: !function evil_module.Evil\n", encoding="utf-8"
    )
    return folder / "evil.yaml"


BAD_TASKS = [
    "{yaml}",
    "bio_qa,{yaml}",
    "{folder}",
    "bio_qa,../tasks/bio_pubmedqa/bio_pubmedqa.yaml",
    "bio_qa --include_path /tmp",
    "mmlu_anatomy",
    "bio_*",
    "",
]


@pytest.mark.parametrize("tasks", BAD_TASKS)
def test_requests_name_only_suite_tasks(model, evil_task, tasks, tmp_path, capsys):
    value = tasks.format(yaml=evil_task, folder=evil_task.parent)
    with pytest.raises(RequestError, match="not suite tasks or groups"):
        new_request(str(model), model_type="base", model_id="test/tiny", tasks=value)
    rc = request_cmd.main(
        [str(model), "--model-type", "base", "--model-id", "test/tiny", "--tasks", value,
         "--store", str(tmp_path / "store")]
    )  # fmt: skip
    assert rc == 2 and "refused" in capsys.readouterr().err
    assert not (tmp_path / "store" / "requests").exists() or not list(
        (tmp_path / "store" / "requests").rglob("*.json")
    )


def test_worker_refuses_a_hand_placed_request_without_importing_anything(
    model, evil_task, tmp_path, caplog
):
    store = Store(tmp_path / "store")
    queue = RequestQueue(store.root)
    good = new_request(str(model), model_type="base", model_id="test/tiny")
    data = good.model_dump(mode="json") | {"tasks": str(evil_task)}
    folder = queue.dir / "test__tiny"
    folder.mkdir(parents=True)
    planted = folder / "20260101T000000000000-planted.json"
    planted.write_text(json.dumps(data))
    sys.path.insert(0, str(evil_task.parent))
    try:
        assert worker.work(store, tmp_path / "work", until_empty=True) == 0
    finally:
        sys.path.remove(str(evil_task.parent))
    assert "evil_module" not in sys.modules
    assert not (tmp_path / "IMPORTED").exists()
    assert not planted.exists() and planted.with_suffix(".rejected").exists()
    ((path, why),) = queue.rejected()
    assert "tasks" in why and "not suite tasks" in why
    assert "refused request file" in caplog.text
    assert not (tmp_path / "work").exists()  # nothing was evaluated


def test_model_arguments_are_one_structured_value(tiny_llama, tmp_path):
    """A folder named like extra lm-eval arguments stays one path."""
    folder = tmp_path / "m,trust_remote_code=True,peft=x"
    shutil.copytree(tiny_llama, folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    req = new_request(str(folder), model_type="base", model_id="test/tiny", precision="bfloat16")
    cmd = worker.eval_command(req, "bio_pubmedqa", tmp_path / "out")
    value = cmd[cmd.index("--model_args") + 1]
    parsed = lm_eval_model_args(value)
    assert parsed == {"pretrained": str(folder.resolve()), "dtype": "bfloat16"}
    assert cmd[cmd.index("--tasks") + 1] == "bio_pubmedqa"
    allowed = new_request(
        str(folder), model_type="base", model_id="test/tiny2", allow_remote_code=True,
        revision="v1",
    )  # fmt: skip
    cmd = worker.eval_command(allowed, "bio_qa", tmp_path)
    parsed = lm_eval_model_args(cmd[cmd.index("--model_args") + 1])
    assert "trust_remote_code" not in parsed  # a request's own flag is never read
    assert "--allow-remote-code" not in cmd and "revision" not in parsed  # local folder
    cmd = worker.eval_command(allowed, "bio_qa", tmp_path, trust_remote_code=True)
    parsed = lm_eval_model_args(cmd[cmd.index("--model_args") + 1])
    assert parsed["trust_remote_code"] is True and "--allow-remote-code" in cmd  # the worker's


def test_a_planted_task_never_reaches_the_eval_command(model, tmp_path):
    req = new_request(str(model), model_type="base", model_id="test/tiny")
    with pytest.raises(worker.WorkerError, match="not a suite task"):
        worker.eval_command(req, "/tmp/evil.yaml", tmp_path)


BAD_FIELDS = [
    ("revision", "main,trust_remote_code=True"),
    ("revision", "../../etc"),
    ("revision", "main\n"),
    ("revision", ""),
    ("precision", "float64"),
    ("precision", "float32,trust_remote_code=True"),
    ("model", "relative/../path"),
    ("model", "/abs/./path"),
    ("model", "/abs/path/"),
    ("model", "not a hub id"),
    ("model", "/path\x00nul"),
    ("peft_adapter", "/a/../b"),
    ("model_id", "org/name,x=y"),
    ("model_id", "org/name\n"),
    ("license", "mit\x00"),
    ("limit", 0),
    ("max_gen_toks", 10**9),
    ("n_parameters", 10**40),
    ("tasks", "bio_qa,/x.yaml"),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_every_request_field_is_validated(model, field, value):
    good = new_request(str(model), model_type="base", model_id="test/tiny").model_dump(mode="json")
    with pytest.raises(ValidationError) as info:
        EvalRequest.model_validate(good | {field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_extra_lm_eval_arguments_are_not_a_request_field(model):
    good = new_request(str(model), model_type="base", model_id="test/tiny").model_dump(mode="json")
    with pytest.raises(ValidationError, match="extra_args"):
        EvalRequest.model_validate(good | {"extra_args": ["--include_path", "/tmp"]})


def test_invalid_revision_is_refused_before_inspection(model):
    with pytest.raises(RequestError, match="revision"):
        new_request(str(model), model_type="base", model_id="test/tiny", revision="a,b=c")


SPELLINGS = ["{m}/", "{parent}/./model", "{parent}/x/../model", "{link}"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_one_set_of_weights_is_one_request_however_spelled(model, tmp_path, spelling):
    link = tmp_path / "link-to-model"
    os.symlink(model, link)
    (tmp_path / "x").mkdir()
    queue = RequestQueue(tmp_path / "store" / "x")
    queue.add(new_request(str(model), model_type="base", model_id="test/tiny"))
    other = spelling.format(m=model, parent=model.parent, link=link)
    with pytest.raises(RequestError, match="already requested"):
        queue.add(new_request(other, model_type="base", model_id="test/tiny"))
    ((_, req),) = queue.entries()
    assert req.model == str(model.resolve()) and req.status == RequestStatus.PENDING


def test_old_style_request_with_unresolved_path_is_rejected_not_run(model, tmp_path):
    store = Store(tmp_path / "store")
    queue = RequestQueue(store.root)
    good = new_request(str(model), model_type="base", model_id="test/tiny")
    data = good.model_dump(mode="json") | {"model": "model/"}
    folder = queue.dir / "test__tiny"
    folder.mkdir(parents=True)
    (folder / "old.json").write_text(json.dumps(data))
    assert queue.claim("me:1") is None
    ((_, why),) = queue.rejected()
    assert why.startswith("model:")
    assert queue.entries() == []
    assert datetime.now(UTC) >= good.submitted_at
