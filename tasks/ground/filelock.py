"""An exclusive ``flock`` on a lock file, the one way the project serialises writers.

The submission store (``<store>/.lock``) and the request queue (``<store>/requests/.lock``) take
it around every write. The lock belongs to the open file, so a killed process releases it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder, when missing); blocks
    until no other process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def try_locked(path: Path) -> Iterator[bool]:
    """Take the lock on ``path`` only if it is free now: yields True while held, False when
    another process holds it or the file cannot be opened (a read-only store). Never creates a
    missing folder."""
    try:
        handle = open(path, "a+")
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
