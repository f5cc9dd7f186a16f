"""The suite's one way to write a file: all of it or none of it.

A temporary file in the target's folder (so the rename never crosses filesystems) is written,
flushed to disk and renamed over the target with ``os.replace``, which is atomic on POSIX and
Windows: a reader sees the old file or the new one, never a half-written one, and a process
killed mid-write leaves the target as it was (and no temporary file behind, unless killed by
SIGKILL). Every stage uses it: task data caches, the recipe's JSONL files, run states, adapters'
records, submissions, reports and plots.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path to write (by any means, e.g. ``savefig``) that replaces ``path`` when
    the block ends without an exception; the temporary file keeps ``path``'s suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, data: Any, indent: int | None = 2) -> Path:
    """``data`` as UTF-8 JSON (non-ASCII kept) with a final newline."""
    return write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
