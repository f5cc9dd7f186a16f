"""``biobench data``: the suite's datasets, fetched from their pinned public sources.

    biobench data fetch [all | GROUP | TASK | DATASET ...]   download what is missing, verified
    biobench data status                                     what is here, and under which terms
    biobench data verify [DIR]                               re-hash a folder against the manifest
    biobench data path                                       the data folder in use

The files, their sources, sizes, SHA-256 and licences are those of the data manifest
(``tasks/common/data_manifest.json``); the data folder is ``$BIOBENCH_DATA_DIR``, else
``~/.cache/bioinstruct-bench/data``; ``$BIOBENCH_DATA_URL`` names a mirror. docs/data.md says
more. Exit status 2, with one line saying what and the fix, when something is missing or wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from runners.cli import Parser
from tasks import registry
from tasks.common import fetch
from tasks.common.manifest import Dataset, manifest


class SelectionError(ValueError):
    pass


def select(names: Sequence[str]) -> list[Dataset]:
    """Datasets named by ``all``, a group (``bio_qa``), a task (``bio_medqa``, ``bio_ddi_gen``,
    a per-subject MMLU task) or a dataset (``medqa``), in manifest order."""
    m = manifest()
    chosen: set[str] = set()
    for name in names or ["all"]:
        if name == "all":
            chosen.update(m.datasets)
        elif name in m.datasets:
            chosen.add(name)
        elif name in {g.name for g in registry.GROUPS}:
            for spec in registry.tasks_of(name):
                chosen.update(d.name for d in m.datasets_of_task(spec.dataset))
        elif (spec := registry.spec_of_leaf(name)) is not None:
            chosen.update(d.name for d in m.datasets_of_task(spec.dataset))
        else:
            groups = ", ".join(g.name for g in registry.GROUPS)
            raise SelectionError(
                f"{name!r} is not 'all', a group ({groups}), a bio_* task or a dataset "
                f"({', '.join(m.datasets)})"
            )
    return [d for d in m.datasets.values() if d.name in chosen]


def cmd_fetch(args: argparse.Namespace) -> int:
    datasets = select(args.names)
    files = [f for d in datasets for f in d.files]
    root = fetch.ensure(files, args.dir, progress=None if args.progress else False)
    print(
        f"data: {len(files):,} files ({fetch.human_size(sum(f.bytes for f in files))}) of "
        f"{', '.join(d.name for d in datasets)} verified in {root}"
    )
    restricted = [d for d in datasets if d.restricted]
    if restricted:
        print("terms that limit use (the project does not redistribute these files):")
        for d in restricted:
            print(f"  {d.name}: {d.licence}")
    return 0


def _short_licence(text: str) -> str:
    for mark in (" (", ";", ":", ","):
        text = text.split(mark, 1)[0]
    return text


def cmd_status(args: argparse.Namespace) -> int:
    root = fetch.data_root() if args.dir is None else args.dir
    m = manifest()
    print(f"data folder: {root}  (source: {fetch.base_url()})")
    rows = [("dataset", "tasks", "files (present / verified / all)", "MB", "licence")]
    for d in m.datasets.values():
        present = sum((root / f.path).is_file() for f in d.files)
        verified = present - len([f for f, p in fetch.problems(root, d.files) if p != "missing"])
        tasks = ", ".join(t.removeprefix("bio_") for t in d.tasks) or "(instruction data)"
        licence = _short_licence(d.licence) + (" *" if d.restricted else "")
        files = f"{present} / {verified} / {len(d.files)}"
        rows.append((d.name, tasks, files, f"{d.bytes / 1e6:.1f}", licence))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"all: {len(m.files):,} files, {fetch.human_size(m.bytes)}")
    print("* terms that limit use (shown before the first download):")
    for d in m.datasets.values():
        if d.restricted:
            print(f"  {d.name}: {d.licence}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    root = fetch.data_root() if args.dir is None else args.dir
    if not root.is_dir():
        print(f"biobench data verify: {root} is not a folder", file=sys.stderr)
        return 2
    files = manifest().files
    bad = fetch.problems(root, files)
    for f, problem in bad:
        print(f"{root / f.path}: {problem} (dataset {f.dataset})")
    if bad:
        print(
            f"biobench data verify: {len(bad):,} of {len(files):,} files in {root} are missing "
            f"or altered; `biobench data fetch {' '.join(dict.fromkeys(f.dataset for f, _ in bad))}`"
            f" with {fetch.DATA_DIR_ENV}={root} downloads them again",
            file=sys.stderr,
        )
        return 2
    print(
        f"all {len(files):,} files ({fetch.human_size(manifest().bytes)}) in {root} match the manifest"
    )
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    print(fetch.data_root())
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="biobench data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="download the named datasets (default: all), verified")
    p.add_argument("names", nargs="*", metavar="NAME", help="all | GROUP | TASK | DATASET")
    p.add_argument("--dir", type=Path, default=None, help="data folder (default: data path)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=cmd_fetch)
    p = sub.add_parser("status", help="each dataset: tasks, files here, size, licence")
    p.add_argument("--dir", type=Path, default=None, help="data folder (default: data path)")
    p.set_defaults(run=cmd_status)
    p = sub.add_parser("verify", help="re-hash a data folder against the manifest")
    p.add_argument("dir", type=Path, nargs="?", default=None, help="default: the data path")
    p.set_defaults(run=cmd_verify)
    p = sub.add_parser("path", help="print the data folder in use")
    p.set_defaults(run=cmd_path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (SelectionError, fetch.DataUnavailableError) as exc:
        print(f"biobench data {args.command}: {exc}", file=sys.stderr)
        return 2
