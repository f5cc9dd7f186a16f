"""JSON-lines files: atomic whole-file writes and an append-only, fsync'ed checkpoint.

* ``write_jsonl`` / ``write_text`` write a temporary file next to the target and ``os.replace`` it,
  so a killed process leaves either the old file or the new one, never half of one.
* ``AppendLog`` is the checkpoint of paid responses: one JSON object per line, appended with a
  single ``write`` followed by ``fsync``. A kill can at worst leave a partial last line; it is
  cut off (and logged) the next time the log is opened, so the next append starts on a clean line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tasks.ground import atomic

log = logging.getLogger(__name__)


class JsonlError(ValueError):
    """A JSON-lines file that cannot be read; the message names the file, the line and the fix."""


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:mod:`tasks.ground.atomic`)."""
    atomic.write_text(path, text)


def write_bytes(path: Path, data: bytes) -> None:
    atomic.write_bytes(path, data)


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    """Write rows (dicts) as JSON lines atomically; returns the number of rows."""
    lines = [dumps(row) for row in rows]
    write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a line that is not a JSON object is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JsonlError(
                    f"{path}:{number}: not valid JSON ({exc.msg}); fix or delete that line"
                ) from exc
            if not isinstance(row, dict):
                raise JsonlError(f"{path}:{number}: expected a JSON object per line")
            rows.append(row)
    return rows


class AppendLog:
    """Append-only JSON-lines log with fsync after every record (the paid-response checkpoint)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()

    def _repair_tail(self) -> None:
        """Cut a partial last line left by a kill in the middle of a write."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # find the last newline; everything after it is an unfinished record
            block = 1 << 16
            pos = size
            keep = 0
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                chunk = fh.read(pos - start)
                idx = chunk.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        log.warning(
            "%s: cut an unfinished last record (%d bytes) left by an interrupted write",
            self.path,
            size - keep,
        )

    def append(self, row: dict[str, Any]) -> None:
        data = (dumps(row) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return iter(())
        return iter(self.rows())

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return read_jsonl(self.path)
