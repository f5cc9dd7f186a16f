"""The data manifest and `biobench data`: real downloads over HTTP from a mirror of
../shared/data on 127.0.0.1 (tests/data_mirror.py), real processes, nothing patched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tasks import registry
from tasks.common import fetch
from tasks.common.manifest import manifest, readme_source_line
from tests.conftest import ROOT, SHARED_DATA
from tests.data_mirror import Mirror, serve

# what ../shared/data holds besides the datasets: its own notes (not read by any task)
SHARED_NOTES = {"README.md", "SOURCES.md", "hoc_manifest.sha256", "ner/LICENSE.md", "hoc/LICENSE"}


def _need_shared_data() -> Path:
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data folder {SHARED_DATA} is absent: no files for the mirror to serve")
    return SHARED_DATA


@pytest.fixture
def mirror():
    """A mirror of ../shared/data in the OWNER/REPO/COMMIT/PATH layout, and its URL."""
    m = Mirror(_need_shared_data())
    with serve(m) as url:
        m.url = url
        yield m


@pytest.fixture
def env(subprocess_env, tmp_path, mirror) -> dict[str, str]:
    """A fresh machine online: an empty data folder, the mirror as BIOBENCH_DATA_URL."""
    out = dict(subprocess_env)
    for var in ("BIOBENCH_DATA_DIR", "BIOBENCH_SOURCE", "BIOBENCH_ALLOW_SAMPLES", "HF_HUB_OFFLINE"):
        out.pop(var, None)
    out.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        BIOBENCH_DATA_URL=mirror.url,
        BIOBENCH_OFFLINE="0",
        BIOBENCH_DATA_RETRIES="1",
    )
    return out


def data_cmd(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "runners.cli", "data", *args]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def online(env, monkeypatch) -> None:
    """The same fresh online machine, for commands run in this process (no start-up cost)."""
    for var in ("BIOBENCH_DATA_DIR", "BIOBENCH_SOURCE", "BIOBENCH_ALLOW_SAMPLES", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    for var in ("XDG_CACHE_HOME", "BIOBENCH_DATA_URL", "BIOBENCH_OFFLINE", "BIOBENCH_DATA_RETRIES"):
        monkeypatch.setenv(var, env[var])


def data_run(*args: str, capsys) -> subprocess.CompletedProcess:
    """``biobench data ...`` in this process: its exit status and what it printed."""
    from runners import data

    capsys.readouterr()
    code = data.main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["biobench", "data", *args], code, out.out, out.err)


def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "bioinstruct-bench" / "data"


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The process failed with status 2 and one line of error, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("data: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def leftovers(root: Path) -> list[str]:
    """Files under ``root`` that are not intact manifest files (temporaries, partial files)."""
    known = {f.path: f for f in manifest().files}
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_dir() or rel == f"{fetch.STATE_DIR}/fetch.lock":
            continue
        if rel not in known or fetch.problem(root, known[rel]):
            out.append(rel)
    return out


# --- the manifest itself ----------------------------------------------------------------------


def test_every_shared_data_file_matches_the_manifest():
    root = _need_shared_data()
    files = manifest().files
    assert len(files) == 3754 and manifest().bytes == 52_925_952
    assert fetch.problems(root, files) == []
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk - {f.path for f in files} == SHARED_NOTES


def test_biobench_data_verify_passes_on_shared_data(capsys):
    from runners import data

    assert data.main(["verify", str(_need_shared_data())]) == 0
    assert "all 3,754 files (52.9 MB)" in capsys.readouterr().out


def test_manifest_pins_full_commits_and_names_real_tasks():
    folders = {spec.dataset for spec in registry.TASKS}
    for d in manifest().datasets.values():
        assert set(d.tasks) <= folders, d.name
        assert d.licence and d.files
        for f in d.files:
            assert re.fullmatch(r"[0-9a-f]{40}", f.commit) and re.fullmatch(
                r"[0-9a-f]{64}", f.sha256
            )
            assert f.path.startswith(d.name + "/") and f.bytes > 0
    # the terms the issue names as limiting use are flagged, so they are shown before download
    restricted = {d.name for d in manifest().datasets.values() if d.restricted}
    assert {"ddi", "mediqa2019", "bioasq", "chemprot", "gad"} <= restricted


@pytest.mark.parametrize("leaf", sorted({leaf for s in registry.TASKS for leaf in s.leaves}))
def test_each_task_reads_manifest_files_of_its_listed_datasets(leaf):
    spec = registry.spec_of_leaf(leaf)
    source = registry.leaf_source(leaf)
    files = manifest().files_under(source.local_files)
    assert files, leaf
    for f in files:
        assert spec.dataset in manifest().datasets[f.dataset].tasks, (leaf, f.path)


@pytest.mark.parametrize("folder", sorted({s.dataset for s in registry.TASKS}))
def test_task_readme_source_line_follows_the_manifest(folder):
    readme = (registry.TASKS_DIR / folder / "README.md").read_text(encoding="utf-8")
    files = {
        f.path: f
        for spec in registry.TASKS
        if spec.dataset == folder
        for leaf in spec.leaves
        for f in manifest().files_under(registry.leaf_source(leaf).local_files)
    }
    line = readme_source_line(files.values())
    assert line in readme.splitlines(), f"{folder}/README.md: its Data section needs\n{line}"
    for f in files.values():
        assert f"{f.repository} @{f.commit[:8]}" in line


# --- downloads --------------------------------------------------------------------------------


@pytest.mark.slow
def test_fetch_all_gets_every_file_verified_then_nothing_more(env, tmp_path, mirror):
    proc = data_cmd("fetch", "all", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = cache_root(tmp_path)
    assert fetch.problems(root, manifest().files) == []
    assert leftovers(root) == []
    assert "CC BY-NC 4.0" in proc.stderr  # DDI's terms, shown on first download
    served = len(mirror.requests)
    assert served == len(manifest().files)
    again = data_cmd("fetch", "all", env=env, cwd=tmp_path)
    assert again.returncode == 0 and len(mirror.requests) == served  # nothing downloaded twice
    assert data_cmd("verify", env=env, cwd=tmp_path).returncode == 0


@pytest.mark.slow
def test_plain_lm_eval_downloads_what_it_needs_and_runs(env, tmp_path, tiny_llama, mirror):
    workdir = tmp_path / "empty"
    workdir.mkdir()
    cmd = [
        str(Path(sys.executable).with_name("lm_eval")),
        "--model",
        "hf",
        "--model_args",
        f"pretrained={tiny_llama}",
        "--tasks",
        "bio_qa",
        "--limit",
        "2",
    ]
    if not Path(cmd[0]).is_file():
        pytest.skip("no lm_eval console script next to this Python")
    proc = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"\|bio_qa\s*\|", proc.stdout)
    qa = {d for s in registry.tasks_of("bio_qa") for d in manifest().datasets_of_task(s.dataset)}
    fetched = {f.path for d in qa for f in d.files if (cache_root(tmp_path) / f.path).is_file()}
    needed = {
        f.path
        for s in registry.tasks_of("bio_qa")
        for f in manifest().files_under(registry.leaf_source(s.name).local_files)
    }
    assert fetched == needed  # the test splits the tasks read, verified; not the training files
    assert not list(workdir.iterdir()) or all(p.name != "medqa" for p in workdir.iterdir())


def test_a_changed_byte_is_refused_and_nothing_is_kept(online, tmp_path, mirror, capsys):
    mirror.corrupt.add("medqa/test.jsonl")
    proc = data_run("fetch", "medqa", capsys=capsys)
    line = one_error_line(proc)
    assert "medqa/test.jsonl" in line and "does not match the manifest" in line
    assert len(mirror.requests) == 1  # a wrong hash is not downloaded again and again
    root = cache_root(tmp_path)
    assert not (root / "medqa" / "test.jsonl").exists()
    assert leftovers(root) == []


def test_a_dropped_connection_resumes_with_a_range_request(online, tmp_path, mirror, capsys):
    mirror.cut_once.add("pubmedqa/ori_pqal.json")
    proc = data_run("fetch", "pubmedqa", capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    root = cache_root(tmp_path)
    assert fetch.problems(root, manifest().datasets["pubmedqa"].files) == []
    ranges = [r for path, r in mirror.requests if path == "pubmedqa/ori_pqal.json"]
    assert len(ranges) == 2 and ranges[0] == ""
    start = int(re.fullmatch(r"bytes=(\d+)-", ranges[1]).group(1))
    assert 0 < start <= 2584787 // 2  # the bytes received before the cut were kept
    assert leftovers(root) == []


def test_a_partial_file_from_a_killed_run_is_resumed(online, tmp_path, mirror, capsys):
    f = manifest().datasets["medqa"].files[0]
    part = cache_root(tmp_path) / fetch.STATE_DIR / "partial" / f.path
    part.parent.mkdir(parents=True)
    part.write_bytes((SHARED_DATA / f.path).read_bytes()[:1000])
    proc = data_run("fetch", "bio_medqa", capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    assert mirror.requests == [(f.path, "bytes=1000-")]
    assert fetch.problem(cache_root(tmp_path), f) == ""


def test_a_404_is_one_clear_line_and_not_retried(online, tmp_path, mirror, capsys):
    mirror.missing.add("medqa/test.jsonl")
    line = one_error_line(data_run("fetch", "medqa", capsys=capsys))
    assert "HTTP 404" in line and "medqa/test.jsonl" in line and "BIOBENCH_DATA_URL" in line
    assert len(mirror.requests) == 1


def test_a_dead_server_is_one_clear_line(online, tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("BIOBENCH_DATA_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BIOBENCH_DATA_RETRIES", "0")
    line = one_error_line(data_run("fetch", "medqa", capsys=capsys))
    assert "cannot download medqa/test.jsonl" in line and "Connection refused" in line


@pytest.mark.slow
def test_two_concurrent_fetches_leave_one_correct_copy(env, tmp_path, mirror):
    cmd = [sys.executable, "-m", "runners.cli", "data", "fetch", "ner", "pubmedqa", "hoc"]
    procs = [
        subprocess.Popen(cmd, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    root = cache_root(tmp_path)
    files = [f for d in ("ner", "pubmedqa", "hoc") for f in manifest().datasets[d].files]
    assert fetch.problems(root, files) == [] and leftovers(root) == []
    paths = [path for path, _ in mirror.requests]
    assert sorted(paths) == sorted(f.path for f in files)  # each file downloaded once


def test_offline_a_missing_file_is_one_line_naming_the_fix(
    env, online, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BIOBENCH_OFFLINE", "1")
    line = one_error_line(data_run("fetch", "bio_ddi", capsys=capsys))
    assert "ddi/DDICorpus-2013.zip" in line and "biobench data fetch ddi" in line
    assert str(cache_root(tmp_path)) in line
    # the same line from a task loader when nothing catches it (what plain lm_eval shows)
    env = dict(env, BIOBENCH_OFFLINE="", HF_HUB_OFFLINE="1")
    code = (
        "from tasks.common.sources import load; from tasks.bio_ddi import utils; load(utils.SOURCE)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "HF_HUB_OFFLINE=1" in line and "biobench data fetch ddi" in line


def test_offline_fetch_of_present_files_needs_no_network(online, monkeypatch, capsys):
    monkeypatch.setenv("BIOBENCH_OFFLINE", "1")
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(_need_shared_data()))
    proc = data_run("fetch", "bio_qa", capsys=capsys)
    assert proc.returncode == 0 and "verified in" in proc.stdout


def test_unknown_selection_is_one_line(online, capsys):
    line = one_error_line(data_run("fetch", "bio_nothing", capsys=capsys))
    assert "'bio_nothing' is not 'all', a group" in line


def test_selection_resolves_groups_tasks_and_datasets():
    from runners.data import select

    assert [d.name for d in select(["bio_ie_gen"])] == [
        "ner",
        "chemprot",
        "ddi",
        "gad",
        "hoc",
    ]
    assert [d.name for d in select(["bio_mmlu_medical_anatomy", "medqa"])] == [
        "medqa",
        "mmlu_medical",
    ]
    assert len(select(["all"])) == len(manifest().datasets)


def test_status_lists_every_dataset_with_terms(online, monkeypatch, capsys):
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(_need_shared_data()))
    proc = data_run("status", capsys=capsys)
    assert proc.returncode == 0
    for d in manifest().datasets.values():
        n = len(d.files)
        assert re.search(rf"^{d.name}\s.*{n} / {n} / {n}", proc.stdout, re.M), d.name
    assert "ddi: CC BY-NC 4.0" in proc.stdout


def test_verify_names_each_missing_and_altered_file(tmp_path, capsys):
    from runners import data

    f, g = manifest().datasets["medqa"].files[0], manifest().datasets["gad"].files[0]
    for x in (f, g):
        (tmp_path / x.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / x.path).write_bytes((_need_shared_data() / x.path).read_bytes())
    altered = bytearray((tmp_path / g.path).read_bytes())
    altered[10] ^= 1
    (tmp_path / g.path).write_bytes(bytes(altered))
    assert data.main(["verify", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert f"{tmp_path / g.path}: altered (SHA-256 differs)" in out.out
    assert f"{tmp_path / f.path}:" not in out.out
    assert out.out.count(": missing") == len(manifest().files) - 2
    assert "3,753 of 3,754 files" in out.err


def test_loader_refetches_an_altered_file_before_reading_it(env, tmp_path, monkeypatch, mirror):
    from tasks.bio_medqa import utils as medqa
    from tasks.common.sources import load

    root = tmp_path / "data"
    f = manifest().datasets["medqa"].files[0]
    (root / "medqa").mkdir(parents=True)
    (root / f.path).write_text("not the real file\n")
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(root))
    monkeypatch.setenv("BIOBENCH_DATA_URL", mirror.url)
    monkeypatch.setenv("BIOBENCH_OFFLINE", "0")
    split = load(medqa.SOURCE)
    assert len(split.records) == 1273 and fetch.problem(root, f) == ""
    assert os.path.getsize(root / f.path) == f.bytes


def test_docs_table_follows_the_manifest():
    """docs/data.md's table of sources: every dataset, its repositories @commit and size."""
    text = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    rows = {r.group(1): r.group(0) for r in re.finditer(r"^\| (\w+) \|.*\|$", text, re.M)}
    for d in manifest().datasets.values():
        assert d.name in rows, f"docs/data.md has no row for {d.name}"
        row = rows[d.name]
        for f in d.files:
            assert f"{f.repository} @{f.commit[:8]}" in row, (d.name, f.repository)
        assert f"| {d.bytes / 1e6:.1f} |" in row, d.name


@pytest.mark.slow
def test_make_demo_data_step_fetches_from_the_mirror_without_shared_data(env, tmp_path, mirror):
    """`make demo` / `make bench` on a machine without ../shared/data: `make data` fills the
    per-user data folder from the mirror, and the demo then reads that folder."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    venv = Path(sys.prefix)
    args = [make, "-o", "setup", f"VENV={venv}", f"SHARED_DATA={tmp_path / 'no-shared-data'}"]
    proc = subprocess.run(
        [*args, "data"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = cache_root(tmp_path)
    assert fetch.problems(root, manifest().files) == [] and leftovers(root) == []
    assert len(mirror.requests) == len(manifest().files)
    dry = subprocess.run([*args, "-n", "demo"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert f"BIOBENCH_DATA_DIR={root} HF_HUB_OFFLINE=1" in dry.stdout
    assert "BIOBENCH_ALLOW_SAMPLES" not in dry.stdout
