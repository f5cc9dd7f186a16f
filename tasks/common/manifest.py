"""The data manifest: every file the suite reads, its pinned public source and its SHA-256.

``data_manifest.json`` beside this module is the one place these facts live. Each dataset is a
folder of the data directory (the layout of ``../shared/data``); each of its files is a blob of a
public GitHub repository at a full commit, downloadable from
``<base URL>/<OWNER>/<REPO>/<COMMIT>/<path in the repository>`` and checked by size and SHA-256.
The task loaders name the files they read (``DatasetSource.local_files``); a test checks that
each is here, and that each dataset's ``tasks`` list names exactly the task folders reading it.

Example entry (``datasets.medqa.files[0]``)::

    {"path": "medqa/test.jsonl", "source": "data/medqa/test.jsonl", "bytes": 2103066,
     "sha256": "b0536be0ff39..."}   # repository: the dataset's (xk-huang/medagents-benchmark)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MANIFEST_FILE = Path(__file__).with_name("data_manifest.json")


@dataclass(frozen=True)
class DataFile:
    """One file of the data folder and the blob it is a copy of."""

    dataset: str
    path: str  # relative to the data folder, e.g. "medqa/test.jsonl"
    repository: str  # "OWNER/REPO" on GitHub
    commit: str  # full 40-hex commit
    source: str  # path in the repository at that commit
    bytes: int
    sha256: str

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.repository}/{self.commit}/{self.source}"


@dataclass(frozen=True)
class Dataset:
    """One folder of the data directory: its files, the task folders reading it, its terms."""

    name: str
    title: str
    tasks: tuple[str, ...]  # task folders under tasks/ (empty: instruction data only)
    licence: str  # the licence or terms as the source states them
    restricted: bool  # terms that limit use (shown before the first download)
    files: tuple[DataFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def repositories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.repository for f in self.files))


@dataclass(frozen=True)
class Manifest:
    base_url: str
    datasets: dict[str, Dataset]

    @property
    def files(self) -> tuple[DataFile, ...]:
        return tuple(f for d in self.datasets.values() for f in d.files)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.datasets.values())

    def dataset_of(self, path: str) -> Dataset:
        name = path.split("/", 1)[0]
        if name not in self.datasets:
            raise KeyError(f"{path!r} is in no dataset of {MANIFEST_FILE.name}")
        return self.datasets[name]

    def files_under(self, paths: Iterable[str]) -> tuple[DataFile, ...]:
        """The manifest files named by ``paths``: a file's own path, or a folder (``hoc/text``)
        for every file under it. A path the manifest does not know is a KeyError."""
        out: dict[str, DataFile] = {}
        for path in paths:
            path = path.strip("/")
            hits = [
                f
                for f in self.dataset_of(path).files
                if f.path == path or f.path.startswith(path + "/")
            ]
            if not hits:
                raise KeyError(f"{path!r} is not a file or folder of {MANIFEST_FILE.name}")
            out.update((f.path, f) for f in hits)
        return tuple(out.values())

    def datasets_of_task(self, task_folder: str) -> tuple[Dataset, ...]:
        return tuple(d for d in self.datasets.values() if task_folder in d.tasks)


def parse(raw: dict) -> Manifest:
    repos = raw["repositories"]
    datasets = {}
    for name, entry in raw["datasets"].items():
        files = []
        for f in entry["files"]:
            repo = f.get("repository", entry["repository"])
            files.append(
                DataFile(
                    dataset=name,
                    path=f["path"],
                    repository=repo,
                    commit=repos[repo]["commit"],
                    source=f["source"],
                    bytes=int(f["bytes"]),
                    sha256=f["sha256"],
                )
            )
        datasets[name] = Dataset(
            name=name,
            title=entry["title"],
            tasks=tuple(entry["tasks"]),
            licence=entry["licence"],
            restricted=bool(entry["restricted"]),
            files=tuple(files),
        )
    return Manifest(base_url=raw["base_url"], datasets=datasets)


@functools.cache
def manifest() -> Manifest:
    """The manifest shipped with the suite (read once per process)."""
    return parse(json.loads(MANIFEST_FILE.read_text(encoding="utf-8")))


def readme_source_line(files: Iterable[DataFile]) -> str:
    """The "Source" bullet of a task README for the manifest files it reads (a test checks each
    README carries exactly this line, so the READMEs follow the manifest)."""
    files = list(files)
    m = manifest()
    datasets = list(dict.fromkeys(f.dataset for f in files))
    parts = []
    if len(files) > 20:  # HoC: folders of small files, described by folder
        groups: dict[tuple[str, str], list[DataFile]] = {}
        for f in files:
            groups.setdefault((f.repository, f.commit), []).append(f)
        for (repo, commit), group in groups.items():
            tops = " and ".join(
                f"`{t}`" for t in sorted({f.path.rsplit("/", 1)[0] + "/" for f in group})
            )
            srcs = ", ".join(
                f"`{s}`" for s in sorted({f.source.rsplit("/", 1)[0] + "/" for f in group})
            )
            size = sum(f.bytes for f in group)
            parts.append(
                f"{tops} ({len(group):,} files, {size:,} bytes) = {srcs} of {repo} @{commit[:8]}"
            )
    else:
        parts = [
            f"`{f.path}` = `{f.source}` of {f.repository} @{f.commit[:8]} ({f.bytes:,} bytes, "
            f"SHA-256 `{f.sha256[:12]}…`)"
            for f in files
        ]
    terms = "; ".join(
        f"{d}: {m.datasets[d].licence}" if len(datasets) > 1 else m.datasets[d].licence
        for d in datasets
    )
    return (
        "- Source (the only one; pinned in `tasks/common/data_manifest.json`): "
        + "; ".join(parts)
        + f". Downloaded into the data folder on first use, or beforehand with `biobench data "
        f"fetch {' '.join(datasets)}`, and checked by size and SHA-256 "
        f"([docs/data.md](../../docs/data.md)). Terms: {terms}."
    )
