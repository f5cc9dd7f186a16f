"""Plain ``lm_eval --tasks bio_qa``: the ``lm_eval.tasks`` entry point and, for lm-eval 0.4.13,
the reversible registration folder made by ``biobench lm-eval-tasks install``."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from runners import lm_eval_tasks as reg
from tasks import registry
from tests.conftest import ROOT

BUILTIN_YAML = "task: builtin_task\ndataset_path: x\noutput_type: loglikelihood\n"


def _index(path: Path) -> dict:
    from lm_eval.tasks._index import TaskIndex

    return TaskIndex.build([path])


def _fake_lm_eval_tasks(tmp_path: Path) -> Path:
    """A stand-in for lm-eval's ``tasks`` folder: one built-in task and a module."""
    folder = tmp_path / "lm_eval" / "tasks"
    (folder / "builtin").mkdir(parents=True)
    (folder / "builtin" / "builtin.yaml").write_text(BUILTIN_YAML)
    (folder / "manager.py").write_text("# lm-eval 0.4.13 reads no entry points\n")
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[str, bytes | str]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", "")
        else:
            out[rel] = ("file", path.read_bytes())
    return out


def test_pyproject_declares_the_lm_eval_tasks_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["lm_eval.tasks"] == {"bioinstruct_bench": "tasks"}
    # resolved as the lm-eval task-plugin proposal does: the package's folder is scanned
    spec = importlib.util.find_spec("tasks")
    assert Path(spec.submodule_search_locations[0]).resolve() == registry.TASKS_DIR.resolve()
    assert reg.declared_entry_points() == ["bioinstruct_bench = tasks"], (
        "the installed metadata lacks the entry point: run `make setup`"
    )


def test_installed_lm_eval_finds_the_suite_without_include_path():
    st = reg.status()
    assert not st.native  # lm-eval 0.4.13: the registration is what makes it work
    assert st.ok, "\n".join(st.lines())
    assert registry.suite_names() <= set(_index(st.registration))


def test_install_links_every_yaml_and_lm_eval_indexes_them_like_include_path(tmp_path):
    lm_tasks = _fake_lm_eval_tasks(tmp_path)
    st = reg.install(lm_tasks, registry.TASKS_DIR)
    assert st.ok and st.current and not st.native
    assert len(st.links) == len(list(registry.TASKS_DIR.rglob("*.yaml")))
    via_registration = _index(lm_tasks)
    via_include_path = _index(registry.TASKS_DIR)
    assert set(via_registration) == set(via_include_path) | {"builtin_task"}
    for name, entry in via_include_path.items():
        found = via_registration[name]
        assert found.kind == entry.kind
        assert Path(found.yaml_path).resolve() == Path(entry.yaml_path).resolve()
        assert Path(found.yaml_path).is_relative_to(lm_tasks / reg.REGISTRATION_NAME)
    # the one mechanism lm-eval's scan would not follow: a symlinked folder
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "suite").symlink_to(registry.TASKS_DIR, target_is_directory=True)
    assert _index(alone) == {}


def test_install_is_idempotent_and_uninstall_restores_the_folder_exactly(tmp_path):
    lm_tasks = _fake_lm_eval_tasks(tmp_path)
    before = _snapshot(lm_tasks)
    reg.install(lm_tasks, registry.TASKS_DIR)
    marker = lm_tasks / reg.REGISTRATION_NAME / reg.MARKER_NAME
    stamp = marker.stat().st_mtime_ns
    assert reg.install(lm_tasks, registry.TASKS_DIR).current
    assert marker.stat().st_mtime_ns == stamp  # current: nothing rewritten
    assert {k: v for k, v in _snapshot(lm_tasks).items() if k in before} == before
    assert reg.uninstall(lm_tasks) is True
    assert _snapshot(lm_tasks) == before
    assert reg.uninstall(lm_tasks) is False
    assert not reg.status(lm_tasks, registry.TASKS_DIR).ok


def test_a_folder_not_made_by_biobench_is_never_touched(tmp_path):
    lm_tasks = _fake_lm_eval_tasks(tmp_path)
    theirs = lm_tasks / reg.REGISTRATION_NAME
    theirs.mkdir()
    (theirs / "their_task.yaml").write_text(BUILTIN_YAML.replace("builtin", "their"))
    before = _snapshot(lm_tasks)
    with pytest.raises(reg.RegistrationError, match="not created by biobench"):
        reg.install(lm_tasks, registry.TASKS_DIR)
    with pytest.raises(reg.RegistrationError, match="not created by biobench"):
        reg.uninstall(lm_tasks)
    st = reg.status(lm_tasks, registry.TASKS_DIR)
    assert st.foreign and not st.ok
    assert _snapshot(lm_tasks) == before


def test_status_reports_a_stale_registration_and_install_refreshes_it(tmp_path):
    source = tmp_path / "suite"
    shutil.copytree(registry.TASKS_DIR / "_groups", source / "_groups")
    lm_tasks = _fake_lm_eval_tasks(tmp_path)
    assert reg.install(lm_tasks, source).current
    (source / "_groups" / "bio_new.yaml").write_text(BUILTIN_YAML.replace("builtin", "bio_new"))
    (source / "_groups" / "bio_gen.yaml").unlink()
    st = reg.status(lm_tasks, source)
    assert st.missing == ["_groups/bio_new.yaml"]
    assert st.extra == ["_groups/bio_gen.yaml"]
    assert not st.ok
    st = reg.install(lm_tasks, source)
    assert st.current and "_groups/bio_new.yaml" in st.links
    assert not (lm_tasks / reg.REGISTRATION_NAME / "_groups" / "bio_gen.yaml").is_symlink()
    assert "bio_new_task" in _index(lm_tasks)


def test_an_lm_eval_that_reads_entry_points_needs_no_registration(tmp_path):
    lm_tasks = _fake_lm_eval_tasks(tmp_path)
    reg.install(lm_tasks, registry.TASKS_DIR)
    before = _snapshot(lm_tasks)
    (lm_tasks / "manager.py").write_text(
        'TASKS_ENTRY_POINT_GROUP = "lm_eval.tasks"\n'
        "eps = md.entry_points(group=TASKS_ENTRY_POINT_GROUP)\n"
    )
    st = reg.install(lm_tasks, registry.TASKS_DIR)
    assert st.native and st.ok and not st.installed
    assert not (lm_tasks / reg.REGISTRATION_NAME).exists()  # not indexed twice
    assert set(_snapshot(lm_tasks)) == {k for k in before if not k.startswith("bioinstruct")}


def test_cli_status_and_usage(capsys):
    from runners import cli

    assert cli.main(["lm-eval-tasks", "status"]) == 0
    assert "OK: `lm_eval --tasks bio_qa` finds the suite" in capsys.readouterr().out
    assert "lm-eval-tasks" in cli.usage()


@pytest.mark.slow  # two lm_eval processes (~15 s each on this CPU)
def test_installed_lm_eval_script_runs_bio_qa_from_any_folder(tiny_llama, tmp_path):
    lm_eval = Path(sys.executable).parent / "lm_eval"
    assert lm_eval.is_file(), lm_eval
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BIOBENCH_SOURCE"] = "sample"  # the shipped samples; real runs set BIOBENCH_DATA_DIR
    work = tmp_path / "anywhere"
    work.mkdir()
    out = tmp_path / "out"

    def run(*args: str) -> str:
        proc = subprocess.run(
            [str(lm_eval), *args], env=env, cwd=work, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    listing = run("ls", "tasks")
    for name in sorted(registry.suite_names()):
        assert f"|{name} " in listing, name

    run(
        "--model", "hf", "--model_args", f"pretrained={tiny_llama},dtype=float32",
        "--tasks", "bio_qa", "--limit", "2", "--device", "cpu", "--output_path", str(out),
    )  # fmt: skip
    (path,) = list(out.rglob("results_*.json"))
    results = json.loads(path.read_text())
    members = {s.name for s in registry.tasks_of("bio_qa")}
    assert set(results["group_subtasks"]["bio_qa"]) == members
    (group,) = [g for g in registry.GROUPS if g.name == "bio_qa"]
    assert 0.0 <= results["results"]["bio_qa"][group.result_key] <= 1.0
    for spec in registry.tasks_of("bio_qa"):
        assert 0.0 <= results["results"][spec.name][spec.result_key] <= 1.0, spec.name
    assert not list(work.iterdir())  # nothing needed from, or written to, the working folder
