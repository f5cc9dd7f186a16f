"""Leases on shared files: which worker runs which request, across machines, without a lock server.

Several ``biobench worker`` processes, on one machine or many, share one store folder (a local
disk, NFS, or any mount with the two guarantees below). A request is run by whoever holds its
lease; a lease is a small file, and the only operations that decide anything are ones the file
system performs atomically on the server:

* **exclusive create** of ``<leases>/<request-id>/<generation>.lease``: the file is written in
  full under a temporary name and hard-linked into place (``link(2)`` fails if the name exists;
  on NFS a lost reply that turns into a spurious EEXIST is caught by checking the link count,
  the classic NFS-safe lock-file protocol). Where the file system has no hard links, ``open(2)``
  with ``O_CREAT | O_EXCL`` is used instead (atomic on local file systems and NFSv3+);
* **rename** (``os.replace``) of a fully written temporary file over the holder's own lease, to
  renew it.

Generation 1 is created by the first claimer. The holder renews its lease (a heartbeat thread
rewrites ``expires_at``) every ``seconds / 4``. A lease whose ``expires_at`` has passed (its
worker died, hung, or lost the store) is reclaimed by creating generation *n + 1* exclusively:
of any number of workers trying at once exactly one succeeds, and no file is ever deleted or
overwritten by anyone but its holder, so no reclaimer can steal a newer lease by mistake. A
holder that finds a generation above its own has lost the lease: it stops its run and writes
nothing. On the same machine (same host, boot and PID namespace) a lease whose process is gone
is reclaimed at once, without waiting for it to expire.

Requirements: workers' clocks agree to well within ``seconds - seconds / 4`` (NTP); the store
gives close-to-open consistency (NFS does; object-store FUSE mounts often lack hard links and
atomic exclusive create — check yours before sharing one between workers).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 300.0
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}
HELD, DONE, ABANDONED = "held", "done", "abandoned"
MAX_LEASE_BYTES = 64 * 2**10  # a lease is a few hundred bytes of JSON


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` if no such name exists; True if this call created it.

    Readers never see a partial file on the hard-link path (the content is complete before the
    name appears); on the ``O_EXCL`` fallback they may, briefly, and must treat an unreadable
    lease as held (see :func:`read_lease`).
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    _write_synced(tmp, data)
    try:
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            # NFS: a retransmitted LINK whose first reply was lost reports EEXIST although it
            # succeeded; then the temporary file has two names.
            return os.stat(tmp).st_nlink == 2
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class WorkerId:
    """Who holds a lease: host and pid, plus what makes the pid comparable (boot, namespace)."""

    host: str
    pid: int
    boot_id: str = ""
    pid_ns: str = ""

    @classmethod
    def current(cls) -> WorkerId:
        return cls(socket.gethostname(), os.getpid(), _boot_id(), _pid_namespace())

    @property
    def label(self) -> str:
        return f"{self.host}:{self.pid}"

    def is_dead_here(self) -> bool:
        """True only when this process can see that the holder's process is gone: same host,
        same boot, same PID namespace (two containers with one host name are not confused)."""
        me = WorkerId.current()
        same = (self.host, self.boot_id, self.pid_ns) == (me.host, me.boot_id, me.pid_ns)
        return bool(same and self.boot_id and self.pid_ns) and not pid_alive(self.pid)


def lease_name(generation: int) -> str:
    return f"{generation:06d}.lease"


def generations(folder: Path) -> list[int]:
    """Lease generations present in ``folder``, ascending."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        stem, dot, suffix = name.partition(".")
        if dot and suffix == "lease" and stem.isdigit() and len(stem) == 6:
            out.append(int(stem))
    return sorted(out)


def read_lease(path: Path) -> dict[str, Any] | None:
    """A lease file's content, or None when it cannot be read as one (being written, damaged,
    or not a regular file: a planted link or FIFO is never followed or waited on)."""
    from tasks.ground.atomic import read_bounded

    try:
        data = json.loads(read_bounded(path, MAX_LEASE_BYTES))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("expires_at"), int | float)
    return data if ok and data.get("state") in (HELD, DONE, ABANDONED) else None


@dataclass
class Lease:
    """One generation of one request's lease, held by this process."""

    folder: Path
    generation: int
    holder: WorkerId
    seconds: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    acquired_at: float = field(default_factory=time.time)
    expires_at: float = 0.0
    lost: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def path(self) -> Path:
        return self.folder / lease_name(self.generation)

    def content(self, state: str = HELD, outcome: str | None = None) -> bytes:
        data = {
            "generation": self.generation,
            "worker": self.holder.label,
            "host": self.holder.host,
            "pid": self.holder.pid,
            "boot_id": self.holder.boot_id,
            "pid_ns": self.holder.pid_ns,
            "token": self.token,
            "acquired_at": self.acquired_at,
            "renewed_at": time.time(),
            "expires_at": self.expires_at,
            "seconds": self.seconds,
            "state": state,
            "outcome": outcome,
        }
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")

    def is_current(self) -> bool:
        """This generation is the newest and still ours (no worker has reclaimed it)."""
        if any(g > self.generation for g in generations(self.folder)):
            return False
        data = read_lease(self.path)
        return data is not None and data.get("token") == self.token

    def _rewrite(self, state: str, outcome: str | None = None) -> None:
        tmp = self.folder / f".{lease_name(self.generation)}.{uuid.uuid4().hex}.tmp"
        _write_synced(tmp, self.content(state, outcome))
        os.replace(tmp, self.path)

    def renew(self) -> bool:
        """Extend the lease by ``seconds``; False (and ``lost`` set) when it is no longer ours."""
        if self.lost.is_set() or not self.is_current():
            self.lost.set()
            return False
        self.expires_at = time.time() + self.seconds
        self._rewrite(HELD)
        return True

    def release(self, state: str, outcome: str | None = None) -> bool:
        """Mark the lease ``done`` (the request is finished: never run again) or ``abandoned``
        (claimable at once). Only the current holder may; returns whether it did."""
        if not self.is_current():
            self.lost.set()
            return False
        self._rewrite(state, outcome)
        return True


def acquire(
    folder: Path,
    holder: WorkerId,
    seconds: float = DEFAULT_LEASE_SECONDS,
    *,
    reclaim_dead_local: bool = True,
    now: float | None = None,
) -> Lease | None:
    """The next generation of the lease in ``folder`` if it is free, else None.

    Free: no lease yet; the newest one ``abandoned``; or ``held`` but past ``expires_at`` (or, with
    ``reclaim_dead_local``, held by a process of this machine that is gone). ``done`` is never
    free. Exactly one of any number of concurrent callers gets a given generation.
    """
    now = time.time() if now is None else now
    present = generations(folder)
    if present:
        newest = folder / lease_name(present[-1])
        data = read_lease(newest)
        if data is None:
            try:  # being written (O_EXCL fallback) or damaged: held until its mtime ages out
                if newest.stat().st_mtime + seconds > now:
                    return None
            except FileNotFoundError:
                return None
        elif data["state"] == DONE:
            return None
        elif data["state"] == HELD and float(data["expires_at"]) > now:
            other = WorkerId(
                str(data.get("host", "")),
                int(data.get("pid", 0) or 0),
                str(data.get("boot_id", "")),
                str(data.get("pid_ns", "")),
            )
            if not (reclaim_dead_local and other.pid > 0 and other.is_dead_here()):
                return None
            log.info("lease %s: holder %s is gone; reclaiming it", newest, other.label)
        generation = present[-1] + 1
    else:
        generation = 1
    folder.mkdir(parents=True, exist_ok=True)
    lease = Lease(folder, generation, holder, seconds)
    lease.expires_at = time.time() + seconds
    if not create_exclusive(lease.path, lease.content()):
        return None
    return lease


class Heartbeat:
    """Renew ``lease`` every ``interval`` seconds in a thread; on loss set ``lease.lost`` and call
    ``on_lost``. A renewal that fails with an I/O error is retried; once the lease would have
    expired without a renewal, it counts as lost."""

    def __init__(self, lease: Lease, interval: float | None = None, on_lost=None):
        self.lease = lease
        self.interval = interval if interval is not None else lease.seconds / 4
        self.on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                renewed = self.lease.renew()
            except OSError as exc:
                log.warning("lease %s: renewal failed (%s); retrying", self.lease.path, exc)
                renewed = time.time() < self.lease.expires_at
                if not renewed:
                    self.lease.lost.set()
            if not renewed:
                log.error(
                    "lease %s: lost (reclaimed by another worker or expired)", self.lease.path
                )
                if self.on_lost is not None:
                    self.on_lost()
                return
