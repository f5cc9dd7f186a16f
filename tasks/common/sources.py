"""Where a dataset's records come from: local original files, the hub, or the shipped sample.

Resolution (``BIOBENCH_SOURCE`` = ``auto`` by default):

1. ``local`` — ``$BIOBENCH_DATA_DIR`` holds the dataset's files in their original distribution
   format (the layout of ``../shared/data``; see its README).
2. ``hub`` — plain data files (parquet/json) of a public hub repository at a pinned revision,
   read with ``datasets`` (no dataset scripts). Skipped when ``HF_HUB_OFFLINE=1``.
3. ``sample`` — the few records written for this project in the task folder, only when
   ``BIOBENCH_ALLOW_SAMPLES=1`` (``make demo`` on a machine with neither). Their scores mean nothing.

Set ``BIOBENCH_SOURCE`` to ``local``, ``hub`` or ``sample`` to force one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.common.records import LoadedSplit

log = logging.getLogger(__name__)

DATA_DIR_ENV = "BIOBENCH_DATA_DIR"
SOURCE_ENV = "BIOBENCH_SOURCE"
ALLOW_SAMPLES_ENV = "BIOBENCH_ALLOW_SAMPLES"
SOURCE_MODES = ("auto", "local", "hub", "sample")


class DataUnavailableError(RuntimeError):
    """No source of a dataset could be read; the message says how to provide one."""


@dataclass(frozen=True)
class HubFiles:
    """Plain data files of a hub dataset repository at a pinned revision."""

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

    ``parse_local(data_dir)`` reads the original files; ``parse_hub(tables)`` normalises the rows
    of the hub files (one list of rows per entry of ``hub``);
    ``from_record(dict)`` rebuilds a canonical record from the shipped sample's JSON lines.
    All three return canonical records of the same type.
    """

    name: str
    local_files: tuple[str, ...]
    parse_local: Callable[[Path], list[Any]]
    sample_file: Path
    from_record: Callable[[dict[str, Any]], Any]
    hub: tuple[HubFiles, ...] = ()  # empty: no verified hub copy (the task README says why)
    parse_hub: Callable[[list[list[dict[str, Any]]]], list[Any]] | None = None
    sample_keep: Callable[[Any], bool] | None = None  # when one sample file serves several tasks

    def describe_missing(self, tried: list[str]) -> str:
        files = ", ".join(f"${DATA_DIR_ENV}/{f}" for f in self.local_files)
        hub = "; ".join(f"{h.repo} (revision {h.revision}, file {h.path})" for h in self.hub)
        lines = [
            f"Dataset {self.name!r} could not be loaded from any source.",
            *(f"  - {t}" for t in tried),
            "Fix one of:",
            f"  * put the original files at {files} and set {DATA_DIR_ENV} to their folder;",
        ]
        if hub:
            lines.append(
                f"  * allow access to the Hugging Face hub dataset {hub} (unset HF_HUB_OFFLINE);"
            )
        else:
            lines.append("    (no hub copy is pinned for this dataset; its task README says why)")
        lines.append(
            f"  * for a smoke run only, set {ALLOW_SAMPLES_ENV}=1 to use the shipped sample "
            f"{self.sample_file.name} (its scores mean nothing)."
        )
        return "\n".join(lines)


def source_mode() -> str:
    mode = os.environ.get(SOURCE_ENV, "auto").strip().lower() or "auto"
    if mode not in SOURCE_MODES:
        raise ValueError(f"{SOURCE_ENV}={mode!r} is not one of {SOURCE_MODES}")
    return mode


def data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def load_local(source: DatasetSource) -> LoadedSplit:
    root = data_dir()
    if root is None:
        raise DataUnavailableError(f"{DATA_DIR_ENV} is not set")
    missing = [f for f in source.local_files if not (root / f).exists()]
    if missing:
        raise DataUnavailableError(f"missing under {root}: {', '.join(missing)}")
    return LoadedSplit(records=source.parse_local(root), source="local", location=str(root))


def load_hub(source: DatasetSource) -> LoadedSplit:
    if not source.hub or source.parse_hub is None:
        raise DataUnavailableError("no plain-file hub copy is known for this dataset")
    if _truthy("HF_HUB_OFFLINE"):
        raise DataUnavailableError("HF_HUB_OFFLINE is set")
    tables = [h.rows() for h in source.hub]
    location = " + ".join(h.url for h in source.hub)
    return LoadedSplit(records=source.parse_hub(tables), source="hub", location=location)


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
    "local": load_local,
    "hub": load_hub,
    "sample": load_sample,
}


def load(source: DatasetSource) -> LoadedSplit:
    """Load a dataset split from the first source that works (see module docstring)."""
    mode = source_mode()
    if mode != "auto":
        try:
            return _LOADERS[mode](source)
        except DataUnavailableError as exc:
            raise DataUnavailableError(source.describe_missing([f"{mode}: {exc}"])) from exc
    order = ["local", "hub"] + (["sample"] if _truthy(ALLOW_SAMPLES_ENV) else [])
    tried: list[str] = []
    for name in order:
        try:
            return _LOADERS[name](source)
        except DataUnavailableError as exc:
            tried.append(f"{name}: {exc}")
        except Exception as exc:
            if name != "hub":
                raise
            # any failure to fetch or read the hub copy (HTTP clients raise their own error
            # types, not OSError) means "not from the hub": try the next source, report it

            tried.append(f"hub: {type(exc).__name__}: {exc}")
            log.info("%s: hub source failed: %s", source.name, exc)
    if not _truthy(ALLOW_SAMPLES_ENV):
        tried.append(f"sample: not allowed ({ALLOW_SAMPLES_ENV} is not set)")
    raise DataUnavailableError(source.describe_missing(tried))


def local_source(
    name: str,
    task_file: str,
    local_file: str,
    parse_local: Callable[[Path], list[Any]],
    from_record: Callable[[dict[str, Any]], Any],
) -> DatasetSource:
    """A split read from one file under the data folder, with no verified hub copy; the shipped
    sample is the ``sample.jsonl`` next to the task module ``task_file`` (its ``__file__``)."""
    return DatasetSource(
        name=name,
        local_files=(local_file,),
        parse_local=parse_local,
        sample_file=Path(task_file).with_name("sample.jsonl"),
        from_record=from_record,
    )
