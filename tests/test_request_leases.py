"""Several workers share one request queue: leases claimed by exclusive file creation, renewed by a
heartbeat, reclaimed when they expire; real worker processes drain a queue with no double run."""

from __future__ import annotations

import errno
import importlib.util
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leaderboard import leases
from leaderboard.leases import Heartbeat, WorkerId, acquire, create_exclusive, read_lease
from leaderboard.request_queue import LeaseLost, RequestQueue, new_request
from leaderboard.schemas import EvalBackend, RequestStatus, model_folder
from leaderboard.store import Store
from runners import worker
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # AppTest / accelerate / worker processes: make test, not test-fast

FORK = multiprocessing.get_context("fork")


# --- exclusive creation and leases ---------------------------------------------------------------


def _create(path: str, data: bytes, start: float, no_links: bool, out) -> None:
    if no_links:
        os.link = _no_link
    while time.time() < start:  # all processes try at the same moment
        pass
    out.put((data, create_exclusive(Path(path), data)))


def _no_link(src, dst, **kw):
    raise OSError(errno.EPERM, "no hard links here")


@pytest.mark.parametrize("no_links", [False, True], ids=["link", "o_excl"])
def test_exactly_one_of_many_processes_creates_a_file(tmp_path, no_links):
    target, out = tmp_path / "000001.lease", FORK.Queue()
    start = time.time() + 0.5
    procs = [
        FORK.Process(target=_create, args=(str(target), f"p{i}".encode(), start, no_links, out))
        for i in range(8)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    winners = [data for data, won in results if won]
    assert len(winners) == 1
    assert target.read_bytes() == winners[0]  # the winner's content, whole
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no leftovers


def test_without_hard_links_exclusive_create_falls_back_to_o_excl(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "link", _no_link)
    path = tmp_path / "x.lease"
    assert create_exclusive(path, b"first") and not create_exclusive(path, b"second")
    assert path.read_bytes() == b"first"


def _acquire(folder: str, n: int, start: float, out) -> None:
    while time.time() < start:
        pass
    lease = acquire(Path(folder), WorkerId(f"host{n}", n), 30.0, reclaim_dead_local=False)
    out.put(None if lease is None else lease.generation)


def test_an_expired_lease_is_reclaimed_by_exactly_one_worker(tmp_path):
    folder = tmp_path / "leases" / "r1"
    first = acquire(folder, WorkerId("gone", 1), 0.2)
    assert first.generation == 1 and acquire(folder, WorkerId("other", 2), 0.2) is None
    time.sleep(0.4)  # no heartbeat: it expires
    out, start = FORK.Queue(), time.time() + 0.5
    procs = [FORK.Process(target=_acquire, args=(str(folder), n, start, out)) for n in range(6)]
    for p in procs:
        p.start()
    got = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sorted(g for g in got if g is not None) == [2]
    assert got.count(None) == 5
    assert not first.is_current() and not first.renew() and first.lost.is_set()
    assert leases.generations(folder) == [1, 2]


def test_heartbeat_keeps_a_lease_past_its_length(tmp_path):
    folder = tmp_path / "r"
    lease = acquire(folder, WorkerId.current(), 0.6)
    with Heartbeat(lease, interval=0.1):
        time.sleep(1.5)  # 2.5 lease lengths
        assert acquire(folder, WorkerId("other", 2), 0.6, reclaim_dead_local=False) is None
        assert lease.is_current() and not lease.lost.is_set()
        assert read_lease(lease.path)["expires_at"] > time.time()
    time.sleep(0.8)  # heartbeat stopped: now it expires
    assert acquire(folder, WorkerId("other", 2), 0.6, reclaim_dead_local=False) is not None


def test_heartbeat_notices_a_lost_lease(tmp_path):
    folder = tmp_path / "r"
    lease = acquire(folder, WorkerId.current(), 0.3)
    time.sleep(0.5)
    assert acquire(folder, WorkerId("other", 2), 0.3, reclaim_dead_local=False) is not None
    called = []
    with Heartbeat(lease, interval=0.05, on_lost=lambda: called.append(1)):
        deadline = time.time() + 5
        while not lease.lost.is_set() and time.time() < deadline:
            time.sleep(0.05)
    assert lease.lost.is_set() and called == [1]


def test_done_is_final_and_abandoned_is_free_at_once(tmp_path):
    folder = tmp_path / "r"
    lease = acquire(folder, WorkerId.current(), 60)
    assert lease.release(leases.ABANDONED)
    again = acquire(folder, WorkerId("b", 2), 60, reclaim_dead_local=False)
    assert again is not None and again.generation == 2
    assert again.release(leases.DONE, "FINISHED")
    assert acquire(folder, WorkerId("c", 3), 0.0, reclaim_dead_local=False) is None
    assert not lease.release(leases.DONE)  # an old holder cannot release a newer lease


def test_a_lease_being_written_counts_as_held(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / leases.lease_name(1)).write_bytes(b"")  # O_EXCL fallback, content not yet written
    assert acquire(folder, WorkerId("b", 2), 60) is None
    old = time.time() - 120
    os.utime(folder / leases.lease_name(1), (old, old))  # its writer died long ago
    assert acquire(folder, WorkerId("b", 2), 60).generation == 2


# --- the queue ------------------------------------------------------------------------------------


def _queue(model: Path, root: Path, n: int) -> tuple[RequestQueue, list[str]]:
    queue = RequestQueue(root)
    base = new_request(str(model), model_type="base", model_id="test/tiny")
    ids = []
    for i in range(n):
        rid = f"2026010{i}T000000000000-{i:08d}"
        req = base.model_copy(update={"request_id": rid, "model_id": f"test/tiny-{i}"})
        queue.write(queue.dir / model_folder(req.model_id) / f"{rid}.json", req)
        ids.append(rid)
    return queue, ids


def test_a_finished_request_is_not_claimed_again(model, tmp_path):
    queue, (rid,) = _queue(model, tmp_path / "store", 1)
    claim = queue.claim(WorkerId.current(), 60)
    queue.finish(claim.path, claim.request, "test__tiny-0/x", claim.lease)
    assert read_lease(claim.lease.path)["state"] == leases.DONE
    assert queue.claim(WorkerId("other", 2), 0.0, reclaim_dead_local=False) is None
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.FINISHED and req.submission_id == "test__tiny-0/x"


def test_a_worker_that_lost_its_lease_cannot_fail_the_request(model, tmp_path):
    queue, _ = _queue(model, tmp_path / "store", 1)
    slow = queue.claim(WorkerId("slow", 1), 0.2, reclaim_dead_local=False)
    time.sleep(0.4)
    fresh = queue.claim(WorkerId("fresh", 2), 60, reclaim_dead_local=False)
    assert fresh is not None and fresh.request.attempts == 2
    with pytest.raises(LeaseLost):
        queue.fail(slow.path, slow.request, "timeout", slow.lease)
    queue.finish(fresh.path, fresh.request, "test__tiny-0/x", fresh.lease)
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.FINISHED and req.worker == "fresh:2"


def test_a_worker_claims_only_the_backends_it_runs(model, tmp_path, monkeypatch):
    queue, (first, second) = _queue(model, tmp_path / "store", 2)
    path = next(queue.dir.rglob(f"{first}.json"))
    queue.write(path, queue.read(path).model_copy(update={"backend": EvalBackend.VLLM}))
    hf_only = queue.claim(WorkerId.current(), 60, accept=lambda r: str(r.backend) == "hf")
    assert hf_only.request.request_id == second  # the older vllm request is left alone
    assert queue.claim(WorkerId.current(), 60, accept=lambda r: str(r.backend) == "hf") is None
    any_backend = queue.claim(WorkerId.current(), 60)
    assert any_backend.request.request_id == first and any_backend.request.backend == "vllm"
    # hf data parallel over 4 GPUs: left to a machine that has them
    queue.write(hf_only.path, hf_only.request.model_copy(update={"data_parallel_size": 4}))
    hf_only.lease.release(leases.ABANDONED)
    seen = []
    monkeypatch.setattr(worker, "run_claim", lambda q, c, *a: seen.append(c.request) or True)
    for gpus, expected in ((2, 0), (4, 1)):
        assert worker.work(Store(tmp_path / "store"), tmp_path / "w", until_empty=True,
                           backends=frozenset({"hf"}), gpus=gpus) == expected  # fmt: skip
    assert [r.request_id for r in seen] == [second]

    real = importlib.util.find_spec
    for vllm, expected in ((None, {"hf"}), (object(), {"hf", "vllm"})):
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda n, *a, v=vllm: v if n == "vllm" else real(n, *a)
        )
        assert worker.installed_backends() == expected


# --- real worker processes ------------------------------------------------------------------------

DRIVER = """
import json, os, sys, time
from pathlib import Path

from leaderboard.store import Store
from runners import worker

cfg = json.loads(sys.argv[1])
marks = Path(cfg["marks"])


def fake_process(req, store, work_dir, env=None, lease=None, allow_remote_code=False):
    # stands in for the evaluation: records that it ran, exclusively, then takes its time
    (marks / f"{req.request_id}.start.{os.getpid()}").write_text(str(time.time()))
    try:
        os.close(os.open(marks / f"{req.request_id}.ran", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        (marks / f"{req.request_id}.DOUBLE.{os.getpid()}").write_text("")
    end = time.time() + cfg["seconds"]
    while time.time() < end:
        if lease is not None and lease.lost.is_set():
            raise worker.LeaseLost("lost")
        time.sleep(0.02)
    return "fake/" + req.request_id


worker.process = fake_process
(marks / f"ready.{os.getpid()}").write_text("")
while not (marks / "go").exists():
    time.sleep(0.02)
n = 0
while True:  # with "wait_for": poll the queue until that many requests were processed
    n += worker.work(
        Store(Path(cfg["store"])), Path(cfg["work"]), until_empty=True, poll=0.1,
        lease_seconds=cfg["lease"], heartbeat=cfg["heartbeat"],
        reclaim_dead_local=cfg["reclaim_dead_local"],
    )
    if n >= cfg["wait_for"]:
        break
    time.sleep(0.1)
print(json.dumps({"pid": os.getpid(), "processed": n}))
"""


def _worker(tmp_path: Path, env: dict, **cfg) -> subprocess.Popen:
    cfg = {
        "store": str(tmp_path / "store"), "work": str(tmp_path / "work"),
        "marks": str(tmp_path / "marks"), "seconds": 0.5, "lease": 5.0, "heartbeat": None,
        "wait_for": 0, "reclaim_dead_local": True, **cfg,
    }  # fmt: skip
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    return subprocess.Popen(
        [sys.executable, str(driver), json.dumps(cfg)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_workers_drain_six_requests_and_none_runs_twice(model, tmp_path, subprocess_env):
    queue, ids = _queue(model, tmp_path / "store", 6)
    marks = tmp_path / "marks"
    marks.mkdir()
    procs = [_worker(tmp_path, subprocess_env) for _ in range(2)]
    _wait_for(lambda: len(list(marks.glob("ready.*"))) == 2)
    (marks / "go").write_text("")  # both start claiming at the same moment
    outputs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(o["processed"] for o in outputs) == 6
    assert all(o["processed"] >= 1 for o in outputs), outputs  # the work was shared
    assert not list(marks.glob("*.DOUBLE.*"))
    assert sorted(p.name.split(".")[0] for p in marks.glob("*.ran")) == sorted(ids)
    assert len(list(marks.glob("*.start.*"))) == 6  # six evaluations started in all, not more
    entries = queue.entries()
    assert [r.status for _, r in entries] == [RequestStatus.FINISHED] * 6
    assert all(r.attempts == 1 and r.submission_id == f"fake/{r.request_id}" for _, r in entries)
    workers = {r.worker for _, r in entries}
    assert workers == {f"{os.uname().nodename}:{o['pid']}" for o in outputs}


@pytest.mark.slow
def test_a_dead_workers_request_is_taken_over_when_its_lease_expires(
    model, tmp_path, subprocess_env
):
    queue, (rid,) = _queue(model, tmp_path / "store", 1)
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "go").write_text("")
    a = _worker(tmp_path, subprocess_env, seconds=60.0, lease=8.0, heartbeat=0.5)
    _wait_for(lambda: list(marks.glob(f"{rid}.start.*")))
    os.kill(a.pid, signal.SIGKILL)  # dies mid-evaluation, lease file left behind
    a.communicate(timeout=30)
    held = read_lease(queue.lease_dir(rid) / leases.lease_name(1))
    assert held["state"] == leases.HELD and held["pid"] == a.pid
    # the other worker acts as if on another machine: only the lease's expiry frees it
    b = _worker(
        tmp_path, subprocess_env, seconds=0.3, lease=8.0, heartbeat=0.5, wait_for=1,
        reclaim_dead_local=False,
    )  # fmt: skip
    out = json.loads(b.communicate(timeout=120)[0].strip().splitlines()[-1])
    assert b.returncode == 0 and out["processed"] == 1
    b_ready = (marks / f"ready.{out['pid']}").stat().st_mtime
    starts = sorted(marks.glob(f"{rid}.start.*"), key=lambda p: float(p.read_text()))
    assert [p.name.rsplit(".", 1)[1] for p in starts] == [str(a.pid), str(out["pid"])]
    taken_over_at = float(starts[1].read_text())
    assert b_ready < held["expires_at"] <= taken_over_at  # it waited for the expiry, no longer
    assert taken_over_at - held["expires_at"] < 5.0
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.FINISHED and req.attempts == 2
    assert req.worker.endswith(f":{out['pid']}")
    newest = read_lease(queue.lease_dir(rid) / leases.lease_name(2))
    assert newest["state"] == leases.DONE and newest["pid"] == out["pid"]


@pytest.mark.slow
def test_a_live_worker_keeps_its_request_longer_than_the_lease(model, tmp_path, subprocess_env):
    queue, (rid,) = _queue(model, tmp_path / "store", 1)
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "go").write_text("")
    a = _worker(tmp_path, subprocess_env, seconds=4.5, lease=1.5, heartbeat=0.3)
    _wait_for(lambda: list(marks.glob(f"{rid}.start.*")))
    other = WorkerId("other-machine", 1)
    while a.poll() is None:  # 3 lease lengths: the heartbeat must keep it
        assert queue.claim(other, 1.5, reclaim_dead_local=False) is None
        time.sleep(0.2)
    assert a.returncode == 0, a.stderr.read()[-2000:]
    assert queue.claim(other, 1.5, reclaim_dead_local=False) is None  # finished: done for good
    ((_, req),) = queue.entries()
    assert req.status == RequestStatus.FINISHED and req.attempts == 1
    assert len(list(marks.glob(f"{rid}.start.*"))) == 1
