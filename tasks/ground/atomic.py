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
from typing import Any, BinaryIO


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


class NotRegularFile(OSError):
    """A path that is not a plain file (a link, FIFO, device, socket, folder) or is too large."""


def open_regular(path: Path | str, *, follow_links: bool = False) -> BinaryIO:
    """``path`` opened for binary reading if it is a regular file: a symbolic link is not
    followed (``O_NOFOLLOW``; ``follow_links`` allows one whose target is a regular file, as in
    a Hugging Face cache snapshot) and a FIFO or device is never waited on (``O_NONBLOCK``,
    then the opened file's kind is checked). Raises :class:`NotRegularFile` (an ``OSError``)
    naming what the path is instead."""
    import stat

    nofollow = 0 if follow_links else getattr(os, "O_NOFOLLOW", 0)
    flags = os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_links and Path(path).is_symlink():
            raise NotRegularFile(f"{path}: a symbolic link, not a regular file") from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "not a regular file"
            if stat.S_ISFIFO(mode):
                kind = "a FIFO"
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                kind = "a device"
            elif stat.S_ISDIR(mode):
                kind = "a folder"
            raise NotRegularFile(f"{path}: {kind}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path | str, max_bytes: int, *, follow_links: bool = False) -> bytes:
    """The bytes of a regular file (:func:`open_regular`) of at most ``max_bytes``; a larger
    one raises :class:`NotRegularFile` without being read past the limit."""
    with open_regular(path, follow_links=follow_links) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotRegularFile(f"{path}: more than the {max_bytes} bytes read")
    return data
