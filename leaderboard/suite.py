"""What the suite's lm-eval YAMLs say: task versions, metric aggregations and group aggregation.

The registry (``tasks/registry.py``) says which tasks exist and their primary metric; the YAMLs
under ``tasks/`` (lm-eval's source of truth) say each task's version and how groups aggregate.
This module reads them the way lm-eval does (``include:`` first, the including file's keys on
top) without importing task code: ``!function`` tags are kept as opaque markers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tasks import registry


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps ``!function x.y`` as the marker string ``!function x.y``."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str:
    return f"!{suffix} {loader.construct_scalar(node)}"


_Loader.add_multi_constructor("!", _tagged)


@dataclass(frozen=True)
class SuiteTask:
    name: str
    version: str
    path: Path
    output_type: str
    metrics: dict[str, str]  # metric name -> aggregation ("mean" or a marker)
    max_gen_toks: int | None = None  # generate_until tasks: the task's own generation cap
    # metric name -> its ``higher_is_better`` (None: the YAML leaves it to lm-eval's default)
    higher_is_better: dict[str, bool | None] = field(default_factory=dict)
    # versions whose primary score is still comparable with this one (``metadata:
    # comparable_versions`` of the YAML: a release that only adds a metric); the board keeps them
    comparable_versions: tuple[str, ...] = ()

    def is_current(self, version: str) -> bool:
        """Whether a score run under ``version`` is comparable with the suite's own."""
        return version == self.version or version in self.comparable_versions


@dataclass(frozen=True)
class Aggregate:
    metric: str
    filters: tuple[str, ...] | None  # None: every filter the children report
    weight_by_size: bool


@dataclass(frozen=True)
class SuiteGroup:
    name: str
    version: str
    children: tuple[str, ...]
    aggregates: tuple[Aggregate, ...]


@dataclass(frozen=True)
class Suite:
    tasks: dict[str, SuiteTask]
    groups: dict[str, SuiteGroup]

    def leaves_of(self, group: str) -> list[str]:
        """All leaf tasks under a group, recursively (lm-eval aggregates over these)."""
        out: list[str] = []
        for child in self.groups[group].children:
            out += self.leaves_of(child) if child in self.groups else [child]
        return out

    def is_stale(self, task: str, version: str) -> bool:
        """Whether a score of ``task`` run under ``version`` is not comparable with the suite's
        (``SuiteTask.is_current``); a task the suite does not know, or no version, is not."""
        return bool(version) and task in self.tasks and not self.tasks[task].is_current(version)


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise ValueError(f"include cycle through {path}")
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    includes = data.pop("include", None)
    if includes is None:
        return data
    merged: dict[str, Any] = {}
    for name in [includes] if isinstance(includes, str) else includes:
        merged.update(_read((path.parent / name).resolve(), (*seen, path)))
    merged.update(data)
    return merged


def _child_name(entry: Any) -> str:
    """A group member: a task/group name, or an inline config (``{task: ..., ...}``)."""
    if isinstance(entry, dict):
        return str(entry.get("task") or entry.get("group"))
    return str(entry)


def _version(config: dict[str, Any]) -> str:
    metadata = config.get("metadata") or {}
    return str(metadata.get("version", ""))


@cache
def _load(tasks_dir: Path) -> Suite:
    tasks: dict[str, SuiteTask] = {}
    groups: dict[str, SuiteGroup] = {}
    for path in sorted(tasks_dir.rglob("*.yaml")):
        config = _read(path.resolve())
        if isinstance(config.get("group"), str) and "task" in config:
            aggs = tuple(
                Aggregate(
                    metric=a["metric"],
                    filters=tuple(a["filter_list"]) if a.get("filter_list") else None,
                    weight_by_size=bool(a.get("weight_by_size", True)),
                )
                for a in config.get("aggregate_metric_list") or []
            )
            children = tuple(_child_name(c) for c in config["task"])
            groups[config["group"]] = SuiteGroup(config["group"], _version(config), children, aggs)
        elif isinstance(config.get("task"), str):
            metrics = {
                m["metric"]: str(m.get("aggregation", "mean"))
                for m in config.get("metric_list") or []
            }
            directions = {
                m["metric"]: m.get("higher_is_better") for m in config.get("metric_list") or []
            }
            cap = (config.get("generation_kwargs") or {}).get("max_gen_toks")
            tasks[config["task"]] = SuiteTask(
                config["task"],
                _version(config),
                path,
                config.get("output_type", ""),
                metrics,
                int(cap) if cap is not None else None,
                directions,
                tuple(
                    str(v) for v in (config.get("metadata") or {}).get("comparable_versions", ())
                ),
            )
    return Suite(tasks, groups)


def load_suite(tasks_dir: Path | None = None) -> Suite:
    return _load((tasks_dir or registry.TASKS_DIR).resolve())
