"""An exclusive ``flock`` on a lock file, the one way the project serialises writers.

The submission store (``<store>/.lock``) and the request queue (``<store>/requests/.lock``) take
it around every write. The lock belongs to the open file, so a killed process releases it. The
lock file is opened without following a symbolic link and without waiting on a FIFO, so a link or
pipe planted in its place fails the open instead of redirecting or hanging it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder, when missing); blocks
    until no other process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def try_locked(path: Path) -> Iterator[bool]:
    """Take the lock on ``path`` only if it is free now: yields True while held, False when
    another process holds it or the file cannot be opened (a read-only store). Never creates a
    missing folder."""
    try:
        fd = _open(path)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    """The lock file's descriptor: created when missing, never through a link, never blocking
    on a FIFO (``O_NONBLOCK`` only affects the open and reads of a pipe, not ``flock``)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    return os.open(path, flags, 0o644)
