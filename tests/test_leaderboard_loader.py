"""One bad stored file never takes the leaderboard down, and an interrupted replace never hides
a row: real stores written through :class:`leaderboard.store.Store`, then hand-damaged; the
shared loader runs with its parquet cache on (``BIOBENCH_CACHE_DIR`` in a temporary folder).

* every kind of bad file (integers beyond 64 bits in different fields, invalid JSON, bytes that
  are not UTF-8, wrong types, nesting, a bad reference file) is skipped with exactly one problem
  naming it, logged once, and every other submission still loads, from a cold and a warm cache;
* a replace killed (``BIOBENCH_STORE_FAULT``) at each step of the atomic write shows the old or
  the new run, never neither: readers repair it themselves, or, while a writer holds the lock,
  show the replaced run from its trash folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from leaderboard import loader, views
from leaderboard.store import FAULT_ENV, SUBMISSION_FILE, Store
from tests.support.submission_runs import env
from tests.support.synthetic_store import make_submission, write_store

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "leaderboard" / "app.py")
QA = views.layout(views.Variant.LOGLIK).of(views.Category.QA)[:2]
GOOD, BAD = "org-a__good/run-1", "org-b__bad/run-1"


def _store(root: Path) -> Path:
    write_store(
        root,
        [
            make_submission("org-a/good", seed=0, tasks=QA, n_items=6, n_parameters=7 * 10**9),
            make_submission("org-b/bad", seed=1, tasks=QA, n_items=6, n_parameters=10**9),
        ],
    )
    (root / "reference").mkdir()
    (root / "reference" / "paper.json").write_text(
        json.dumps(
            {
                "source": {"title": "T", "url": "https://example.org", "table": "1",
                           "verified": "test"},
                "setup": {"shots": 0, "description": "zero-shot"},
                "rows": [{"model": "Paper 7B", "scores": [
                    {"benchmark": "PubMedQA", "column": QA[0].name, "value": 50.0}]}],
            }
        )
    )  # fmt: skip
    return root


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return _store(tmp_path_factory.mktemp("loader") / "submissions")


@pytest.fixture
def root(pristine, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "submissions"
    shutil.copytree(pristine, out)
    return out


def _edit(change):
    def apply(path: Path) -> None:
        data = json.loads(path.read_bytes())
        change(data)
        path.write_text(json.dumps(data))

    return apply


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return _edit(change)


def _raw(blob: bytes):
    return lambda path: path.write_bytes(blob)


def _not_utf8(path: Path) -> None:  # valid JSON, one byte of a string is not UTF-8
    data = json.loads(path.read_bytes())
    data["notes"] = "MARK"
    path.write_bytes(json.dumps(data).encode().replace(b"MARK", b"caf\xe9"))


BAD_SUBMISSIONS = {
    "n_parameters 10**40": _set("model", "n_parameters", 10**40),
    "n_parameters 2**63": _set("model", "n_parameters", 2**63),
    "model_num_parameters 10**40": _set("run", "model_num_parameters", 10**40),
    "n_shot 10**40": lambda p: _edit(lambda d: d["tasks"][0].update(n_shot=10**40))(p),
    "n_items 10**40": lambda p: _edit(lambda d: d["tasks"][1].update(n_items=10**40))(p),
    "ci seed -10**30": lambda p: _edit(lambda d: d["tasks"][0]["ci"].update(seed=-(10**30)))(p),
    "seeds 10**25": _set("run", "seeds", {"random_seed": 10**25}),
    "file bytes 10**40": lambda p: _edit(lambda d: d["files"][0].update(bytes=10**40))(p),
    "integer of 5000 digits": _raw(b'{"schema_version": "1.0", "n": ' + b"9" * 5000 + b"}"),
    "invalid JSON": _raw(b'{"schema_version": "1.0", "model": '),
    "empty file": _raw(b""),
    "not UTF-8": _not_utf8,
    "UTF-16": lambda p: p.write_bytes(p.read_text().encode("utf-16")),
    "lone surrogate escape": _set("notes", "\ud800"),
    "NUL in the id": _set("model", "id", "org-b/ba\x00d"),
    "wrong type: n_parameters text": _set("model", "n_parameters", "seven billion"),
    "wrong type: tasks object": _set("tasks", {"a": 1}),
    "wrong type: metric text": lambda p: _edit(
        lambda d: d["tasks"][0].update(metrics={"acc,none": "high"})
    )(p),  # fmt: skip
    "wrong type: top-level list": _raw(b"[1, 2, 3]"),
    "nested 100000 deep": _raw(b"[" * 100_000 + b"]" * 100_000),
}


def _problems_naming(problems, path: Path) -> list[tuple[str, str]]:
    return [(f, m) for f, m in problems if f == str(path)]


def _assert_good_survives(tables: loader.StoreTables) -> None:
    assert list(tables.submissions["submission_id"]) == [GOOD]
    assert set(tables.scores["submission_id"]) == {GOOD, "reference/paper/Paper 7B"}
    assert len(tables.scores[tables.scores["submission_id"] == GOOD]) == len(QA)
    rows, scores = views.frames_from_loader(tables.submissions, tables.scores)
    board = views.build_board(rows, scores, views.layout(views.Variant.LOGLIK))
    assert len(board) == 2  # the good submission and the reported row


@pytest.mark.parametrize("damage", list(BAD_SUBMISSIONS.values()), ids=list(BAD_SUBMISSIONS))
def test_a_bad_submission_is_one_problem_and_the_rest_loads(root, damage, caplog):
    bad = Store(root).path_of(BAD) / SUBMISSION_FILE
    damage(bad)
    with caplog.at_level(logging.WARNING, logger="leaderboard.loader"):
        cold = loader.load_tables(root)
    (problem,) = _problems_naming(cold.problems, bad)
    assert len(cold.problems) == 1 and problem[1].startswith("cannot read submission.json: ")
    _assert_good_survives(cold)
    logged = [r for r in caplog.records if str(bad) in r.getMessage()]
    assert len(logged) == 1  # logged once
    # the cache was written (nothing in the kept rows is out of its schema) and is used
    assert list((loader.cache_root() / "tables").glob("*/scores.parquet"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="leaderboard.loader"):
        warm = loader.load_tables(root)
    assert warm.problems == cold.problems and not caplog.records
    pd.testing.assert_frame_equal(warm.submissions, cold.submissions)
    pd.testing.assert_frame_equal(warm.scores, cold.scores)
    # items: the good one loads; the bad one is skipped with one problem, or raises ItemsError
    problems: list = []
    items = loader.load_items([GOOD, BAD], root, problems=problems)
    assert set(items["submission_id"]) == {GOOD} and len(items) > 0
    assert [f for f, _ in problems] == [str(bad)]
    with pytest.raises(loader.ItemsError):
        loader.load_items([BAD], root, cache=False)


@pytest.mark.parametrize(
    "damage",
    [
        _set("rows", 0, "n_parameters", 10**40),
        _set("setup", "shots", 2**64),
        _set("rows", 0, "scores", 0, "value", "high"),
        _raw(b"\xff\xfe not json"),
    ],
    ids=["n_parameters 10**40", "shots 2**64", "wrong type", "not UTF-8"],
)
def test_a_bad_reference_file_is_one_problem_and_the_rest_loads(root, damage):
    bad = root / "reference" / "paper.json"
    damage(bad)
    tables = loader.load_tables(root)
    (problem,) = tables.problems
    assert problem[0] == str(bad) and problem[1].startswith("cannot read paper.json: ")
    assert sorted(tables.submissions["submission_id"]) == [GOOD, BAD]
    assert set(tables.scores["status"]) == {"reproduced"}
    assert loader.load_tables(root).problems == tables.problems  # from the cache


def test_a_folder_name_that_is_not_utf8_is_one_problem(root):
    odd = root / os.fsdecode(b"org-c__odd\xff") / "run-1"
    shutil.copytree(Store(root).path_of(BAD), odd)
    tables = loader.load_tables(root)
    ((file, message),) = tables.problems
    assert file == os.fsencode(odd / SUBMISSION_FILE).decode("utf-8", "backslashreplace")
    assert "\\xff" in file and "UnicodeEncodeError" in message
    assert sorted(tables.submissions["submission_id"]) == [GOOD, BAD]
    assert loader.load_tables(root).problems == tables.problems  # the problem itself is cached


def test_two_bad_submissions_are_two_problems(root):
    _set("model", "n_parameters", 10**40)(Store(root).path_of(BAD) / SUBMISSION_FILE)
    third = root / "org-c__third" / "run-1"
    shutil.copytree(Store(root).path_of(GOOD), third)
    (third / SUBMISSION_FILE).write_bytes(b"{")
    tables = loader.load_tables(root)
    assert sorted(f for f, _ in tables.problems) == sorted(
        [str(Store(root).path_of(BAD) / SUBMISSION_FILE), str(third / SUBMISSION_FILE)]
    )
    _assert_good_survives(tables)


def test_an_unwritable_cache_is_logged_and_the_tables_still_load(root, tmp_path, monkeypatch,
                                                                 caplog):  # fmt: skip
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("BIOBENCH_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.WARNING, logger="leaderboard.loader"):
        tables = loader.load_tables(root)
    assert sorted(tables.submissions["submission_id"]) == [GOOD, BAD] and not tables.problems
    assert any("cannot write the leaderboard cache" in r.getMessage() for r in caplog.records)
    assert len(loader.load_items([GOOD], root)) > 0


def test_the_board_page_warns_once_and_shows_the_rest(root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    bad = Store(root).path_of(BAD) / SUBMISSION_FILE
    _set("model", "n_parameters", 10**40)(bad)
    monkeypatch.setenv("BIOBENCH_SUBMISSIONS_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = views.escape_markdown(f"{BAD}/{SUBMISSION_FILE}")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and shown in warnings[0], warnings  # once, naming the file
    assert len(at.dataframe[0].value) == 1  # the good row, ranked
    assert len(at.dataframe[1].value) == 1  # the reported row, in its own table
    at.switch_page("screens/model.py")
    at.query_params["id"] = BAD
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert sum(shown in w.value for w in at.warning) == 1
    assert any("No leaderboard row" in w.value for w in at.warning)


# --- a replace killed half-way ----------------------------------------------------------------

REPLACE = """
import sys
from pathlib import Path
from tests.support.synthetic_store import make_submission
from leaderboard import views
from leaderboard.store import Store
from leaderboard.validate import Prepared
qa = views.layout(views.Variant.LOGLIK).of(views.Category.QA)[:2]
sub, blob = make_submission("org-b/bad", seed=5, tasks=qa, n_items=6, run_id="run-2")
Store(Path(sys.argv[1])).add(Prepared(sub, {"items.jsonl": blob}), replace=True)
"""
NEW = "org-b__bad/run-2"


def _kill_a_replace(root: Path, stage: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", REPLACE, str(root)], cwd=ROOT, env=env(**{FAULT_ENV: stage}),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr  # SIGKILL at that step


def _shows(root: Path, expected: str) -> None:
    store = Store(root)
    assert store.ids() == sorted([GOOD, expected])
    tables = loader.load_tables(root)
    assert not tables.problems
    assert sorted(tables.submissions["submission_id"]) == sorted([GOOD, expected])
    assert store.read(expected).submission_id == expected
    items = loader.load_items([expected], root)
    assert set(items["submission_id"]) == {expected} and len(items) > 0


@pytest.mark.parametrize(
    ("stage", "expected"),
    [("written", BAD), ("journal", BAD), ("trashed", BAD), ("renamed", NEW)],
)
def test_a_killed_replace_never_hides_the_row(root, stage, expected):
    _kill_a_replace(root, stage)
    names = lambda: sorted(p.name for p in root.iterdir() if p.name.startswith("."))  # noqa: E731
    left = names()
    # while another process holds the lock (a writer at work), readers change nothing and
    # show the old run (from its trash folder when it was moved aside) or the committed new one
    store = Store(root)
    with store.lock():
        _shows(root, expected)
        if stage == "trashed":  # the old run is only in its trash folder, and read from there
            assert not (root / BAD).exists()
            assert store.path_of(BAD).parent == root and store.path_of(BAD).name in left
        assert names() == left
    # with the lock free, the first reader repairs the store itself: no writer needed
    _shows(root, expected)
    assert not [n for n in names() if n.startswith((".txn-", ".trash-"))]
    assert (root / expected / SUBMISSION_FILE).is_file()
