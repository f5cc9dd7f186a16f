"""Where a dataset's records come from: the data folder (fetched on first use), or the shipped sample.

Resolution (``BIOBENCH_SOURCE`` = ``auto`` by default):

1. ``auto`` — the dataset's files in the data folder (``$BIOBENCH_DATA_DIR``, else the per-user
   cache ``~/.cache/bioinstruct-bench/data``; the layout of ``../shared/data``), each checked
   against the SHA-256 of the data manifest (``tasks/common/data_manifest.json``). A missing or
   altered file is downloaded from its pinned GitHub source first (``tasks.common.fetch``;
   nothing is downloaded offline: ``HF_HUB_OFFLINE=1`` or ``BIOBENCH_OFFLINE=1``). When that
   fails and ``BIOBENCH_ALLOW_SAMPLES=1`` is set, the shipped sample is read instead.
2. ``local`` — the files in the data folder as they are: no download, no hash check (your own
   copy, or test fixtures).
3. ``sample`` — the few records written for this project in the task folder. Their scores
   mean nothing.

Every failure is a :class:`DataUnavailableError` whose message is one line (what, where, the
fix); when nothing catches it (plain ``lm_eval``), the process prints that line and exits 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.common.fetch import (
    DATA_DIR_ENV,
    DataUnavailableError,
    data_root,
    ensure,
    truthy,
)
from tasks.common.manifest import manifest
from tasks.common.records import LoadedSplit

log = logging.getLogger(__name__)

__all__ = ["DATA_DIR_ENV", "DataUnavailableError", "DatasetSource", "HubFiles", "load"]

SOURCE_ENV = "BIOBENCH_SOURCE"
ALLOW_SAMPLES_ENV = "BIOBENCH_ALLOW_SAMPLES"
SOURCE_MODES = ("auto", "local", "sample")


@dataclass(frozen=True)
class HubFiles:
    """Plain data files of a hub dataset repository at a pinned revision (the published
    BioInstruct corpus, ``bioinstruct_data.published``; no evaluation split is read from the hub:
    the data manifest pins each file's SHA-256, which no hub copy here could be given)."""

    repo: str
    revision: str
    path: str
    builder: str = "parquet"

    @property
    def url(self) -> str:
        return f"hf://datasets/{self.repo}@{self.revision}/{self.path}"

    def rows(self) -> list[dict[str, Any]]:
        import datasets

        ds = datasets.load_dataset(self.builder, data_files={"data": self.url}, split="data")
        return list(ds)


@dataclass(frozen=True, kw_only=True)
class DatasetSource:
    """One evaluation split of one dataset and the ways to read it.

    ``parse_local(data_dir)`` reads the original files (``local_files``, paths of the data
    manifest); ``from_record(dict)`` rebuilds a canonical record from the shipped sample's JSON
    lines. Both return canonical records of the same type.
    """

    name: str
    local_files: tuple[str, ...]
    parse_local: Callable[[Path], list[Any]]
    sample_file: Path
    from_record: Callable[[dict[str, Any]], Any]
    sample_keep: Callable[[Any], bool] | None = None  # when one sample file serves several tasks

    @property
    def dataset(self) -> str:
        """The manifest dataset of the files (``""`` when they are not in the manifest)."""
        if not self.local_files:
            return ""
        try:
            return manifest().dataset_of(self.local_files[0]).name
        except KeyError:
            return ""


class SourceModeError(DataUnavailableError, ValueError):
    """``BIOBENCH_SOURCE`` names no mode."""


def source_mode() -> str:
    mode = os.environ.get(SOURCE_ENV, "auto").strip().lower() or "auto"
    if mode not in SOURCE_MODES:
        raise SourceModeError(
            f"{SOURCE_ENV}={mode!r} is not one of {', '.join(SOURCE_MODES)}; unset it for the "
            "default (auto: the pinned data, fetched on first use)"
        )
    return mode


def load_data(source: DatasetSource) -> LoadedSplit:
    """The verified files of the data folder, downloaded first where missing or altered."""
    try:
        files = manifest().files_under(source.local_files)
    except KeyError as exc:
        raise DataUnavailableError(
            f"{source.name}: {exc.args[0]}; set {SOURCE_ENV}=local to read your own copy from "
            f"{data_root()}"
        ) from exc
    root = ensure(files)
    return LoadedSplit(records=source.parse_local(root), source="local", location=str(root))


def load_local(source: DatasetSource) -> LoadedSplit:
    """The files of the data folder as they are (no download, no hash check)."""
    root = data_root()
    missing = [f for f in source.local_files if not (root / f).exists()]
    if missing:
        fetch = f"`biobench data fetch {source.dataset}`" if source.dataset else "a copy"
        raise DataUnavailableError(
            f"{source.name}: {SOURCE_ENV}=local reads {root} as it is, and "
            f"{', '.join(missing)} is not there; get it with {fetch} (or unset {SOURCE_ENV} to "
            f"download on first use), or set {DATA_DIR_ENV} to the folder holding it"
        )
    return LoadedSplit(records=source.parse_local(root), source="local", location=str(root))


def load_sample(source: DatasetSource) -> LoadedSplit:
    lines = source.sample_file.read_text(encoding="utf-8").splitlines()
    records = [source.from_record(json.loads(line)) for line in lines if line.strip()]
    if source.sample_keep is not None:
        records = [r for r in records if source.sample_keep(r)]
    log.warning(
        "%s: using the shipped SAMPLE (%d records written for this project); scores mean nothing",
        source.name,
        len(records),
    )
    return LoadedSplit(
        records=records,
        source="sample",
        location=str(source.sample_file),
        notes=["sample records written for BioInstruct Bench; scores mean nothing"],
    )


_LOADERS: dict[str, Callable[[DatasetSource], LoadedSplit]] = {
    "auto": load_data,
    "local": load_local,
    "sample": load_sample,
}


def load(source: DatasetSource) -> LoadedSplit:
    """Load a dataset split as ``BIOBENCH_SOURCE`` says (see module docstring)."""
    mode = "auto"
    try:
        mode = source_mode()
        return _LOADERS[mode](source)
    except DataUnavailableError as exc:
        if mode == "auto" and truthy(ALLOW_SAMPLES_ENV) and not isinstance(exc, SourceModeError):
            log.warning("%s; %s=1: reading the shipped sample", exc, ALLOW_SAMPLES_ENV)
            return load_sample(source)
        _exit_cleanly_if_uncaught()
        raise


def _exit_cleanly_if_uncaught() -> None:
    """When a :class:`DataUnavailableError` reaches the top of the process uncaught (plain
    ``lm_eval`` calls the task loaders, and its command line is not ours), print its one line
    instead of a traceback and exit with status 2. Installed once, through ``sys.excepthook``
    (the interpreter's documented hook for uncaught exceptions); any other exception goes to
    the hook that was there before."""
    previous = sys.excepthook
    if getattr(previous, "biobench_data", False):
        return

    def hook(kind, exc, tb):
        err = exc
        while err is not None and not isinstance(err, DataUnavailableError):
            err = err.__cause__ or err.__context__
        if err is None:
            previous(kind, exc, tb)
            return
        sys.stdout.flush()
        print(f"error: {err}", file=sys.stderr, flush=True)
        os._exit(2)  # the interpreter's own exit status for an uncaught exception is always 1

    hook.biobench_data = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def local_source(
    name: str,
    task_file: str,
    local_file: str,
    parse_local: Callable[[Path], list[Any]],
    from_record: Callable[[dict[str, Any]], Any],
) -> DatasetSource:
    """A split read from one file under the data folder; the shipped sample is the ``sample.jsonl`` next to the task module ``task_file`` (its ``__file__``)."""
    return DatasetSource(
        name=name,
        local_files=(local_file,),
        parse_local=parse_local,
        sample_file=Path(task_file).with_name("sample.jsonl"),
        from_record=from_record,
    )
