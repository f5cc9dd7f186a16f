"""The one atomic-write helper: all of a file or none of it, no temporary file left behind."""

from __future__ import annotations

import json

import pytest

from tasks.ground import atomic


def test_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "deep" / "out.json"
    atomic.write_json(target, {"a": "é"})
    assert target.read_text(encoding="utf-8") == '{\n  "a": "é"\n}\n'
    atomic.write_text(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path  # same folder, same suffix
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]
    with pytest.raises(TypeError):
        atomic.write_json(target, {"not json": object()})
    assert target.read_bytes() == b"old"
    assert json.loads(atomic.write_json(tmp_path / "x.json", [1]).read_text()) == [1]
