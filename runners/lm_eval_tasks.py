"""``biobench lm-eval-tasks install|uninstall|status``: plain ``lm_eval --tasks bio_qa``.

lm-eval 0.4.13 finds tasks in exactly two places: its own ``lm_eval/tasks/`` folder, which
``TaskManager`` globs recursively for ``*.yaml``, and ``--include_path``. It reads no environment
variable, no config default and no entry points. Python's recursive glob (3.11-3.13) does not
descend into a *symlinked folder*, so one symlink to our ``tasks/`` folder is not seen; a
*symlinked file* is, and lm-eval resolves every YAML path (``Path.resolve()``) before reading it,
so ``include:`` and ``!function`` references resolve next to the real file in our ``tasks/``.

``install`` therefore creates one folder that lm-eval does not own,
``lm_eval/tasks/bioinstruct_bench/``, holding one symlink per ``*.yaml`` of our ``tasks/``
folder (the same files ``--include_path tasks`` would scan, in the same sub-folders) and a
marker file listing them. No file of lm-eval is written, moved or edited. ``uninstall`` removes
exactly the links and folders the marker lists, so lm-eval's folder is left as it was; it
refuses to touch a ``bioinstruct_bench`` folder it did not create. ``status`` says whether the
registration is complete and current (a YAML added to ``tasks/`` later needs ``install`` again).

Once lm-eval itself discovers the ``lm_eval.tasks`` entry-point group (pyproject.toml declares
ours), no registration is needed: ``install`` then removes any left-over registration instead,
so the tasks are not indexed twice.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from runners.cli import Parser

REGISTRATION_NAME = "bioinstruct_bench"
MARKER_NAME = ".biobench-registration.json"  # not *.yaml: lm-eval never reads it
ENTRY_POINT_GROUP = "lm_eval.tasks"
DISTRIBUTION = "bioinstruct-bench"
_IGNORE_DIRS = {"__pycache__", ".ipynb_checkpoints"}  # as lm-eval's own scan


class RegistrationError(RuntimeError):
    """The registration folder cannot be created or removed safely."""


def lm_eval_tasks_dir() -> Path:
    """lm-eval's own ``tasks`` folder (located without importing lm-eval)."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise RegistrationError("lm-eval is not installed in this environment")
    return Path(list(spec.submodule_search_locations)[0]) / "tasks"


def suite_tasks_dir() -> Path:
    """Our task folder, resolved the way lm-eval's entry-point discovery resolves ``tasks``."""
    spec = importlib.util.find_spec("tasks")
    if spec is None or not spec.submodule_search_locations:
        raise RegistrationError("the `tasks` package of bioinstruct-bench is not importable")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def suite_yaml_files(source: Path) -> list[Path]:
    """Every ``*.yaml`` under ``source``, relative to it: what ``--include_path`` scans."""
    return sorted(
        p.relative_to(source)
        for p in source.glob("**/*.yaml")
        if not any(part in _IGNORE_DIRS for part in p.relative_to(source).parts)
    )


_ENTRY_POINT_CALL = re.compile(r"entry_points\s*\(")
_GROUP_LITERAL = re.compile(r"""["']lm_eval\.tasks["']""")


def native_entry_point_support(tasks_dir: Path | None = None) -> bool:
    """Whether this lm-eval's task manager reads the ``lm_eval.tasks`` entry-point group.

    A source check (no import: importing lm-eval's task manager takes seconds): a module of
    ``lm_eval/tasks/`` that both calls ``entry_points(`` and names the group. lm-eval 0.4.13 has
    none; the open task-plugin pull request adds exactly that to ``lm_eval/tasks/manager.py``.
    """
    tasks_dir = tasks_dir or lm_eval_tasks_dir()
    for path in sorted(tasks_dir.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if _ENTRY_POINT_CALL.search(text) and _GROUP_LITERAL.search(text):
            return True
    return False


def declared_entry_points() -> list[str]:
    """``name = value`` of our installed distribution's ``lm_eval.tasks`` entry points."""
    try:
        eps = metadata.distribution(DISTRIBUTION).entry_points
    except metadata.PackageNotFoundError:
        return []
    return [f"{ep.name} = {ep.value}" for ep in eps if ep.group == ENTRY_POINT_GROUP]


@dataclass
class Status:
    lm_eval_version: str
    lm_eval_tasks: Path
    source: Path
    native: bool
    registration: Path
    installed: bool = False  # our marker is there
    foreign: bool = False  # a folder of that name that we did not create
    recorded_source: str | None = None
    links: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # YAML of tasks/ with no link
    wrong: list[str] = field(default_factory=list)  # link absent, dangling or elsewhere
    extra: list[str] = field(default_factory=list)  # link to a YAML tasks/ no longer has

    @property
    def current(self) -> bool:
        return (
            self.installed
            and not (self.missing or self.wrong or self.extra)
            and self.recorded_source == str(self.source)
        )

    @property
    def ok(self) -> bool:
        """``lm_eval --tasks bio_qa`` resolves every suite task, with no flag."""
        return self.native or self.current

    def lines(self) -> list[str]:
        out = [
            f"lm-eval {self.lm_eval_version}: tasks folder {self.lm_eval_tasks}",
            f"suite tasks folder: {self.source}",
            "entry points (pyproject.toml): " + (", ".join(declared_entry_points()) or "none"),
            "lm-eval reads the lm_eval.tasks entry points: " + ("yes" if self.native else "no"),
        ]
        if self.foreign:
            out.append(f"{self.registration} exists but was not created by biobench")
        elif not self.installed:
            out.append(f"registration: none ({self.registration} absent)")
        else:
            out.append(f"registration: {self.registration} ({len(self.links)} YAML links)")
            if self.recorded_source != str(self.source):
                out.append(f"  made for another tasks folder: {self.recorded_source}")
            for label, names in (
                ("not linked yet", self.missing),
                ("link broken", self.wrong),
                ("no longer in tasks/", self.extra),
            ):
                out += [f"  {label}: {name}" for name in names]
        if self.ok:
            how = "entry point" if self.native else "registration"
            out.append(f"OK: `lm_eval --tasks bio_qa` finds the suite (via the {how})")
        else:
            out.append("NOT OK: run `biobench lm-eval-tasks install`")
        return out


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _read_marker(registration: Path) -> dict | None:
    marker = registration / MARKER_NAME
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistrationError(f"unreadable marker {marker}: {exc}") from exc
    if not isinstance(data, dict) or data.get("created_by") != DISTRIBUTION:
        raise RegistrationError(f"{marker} was not written by biobench")
    return data


def status(lm_eval_tasks: Path | None = None, source: Path | None = None) -> Status:
    lm_eval_tasks = lm_eval_tasks or lm_eval_tasks_dir()
    source = (source or suite_tasks_dir()).resolve()
    try:
        version = metadata.version("lm_eval")
    except metadata.PackageNotFoundError:
        version = "?"
    registration = lm_eval_tasks / REGISTRATION_NAME
    st = Status(
        lm_eval_version=version,
        lm_eval_tasks=lm_eval_tasks,
        source=source,
        native=native_entry_point_support(lm_eval_tasks),
        registration=registration,
    )
    if not (registration.exists() or registration.is_symlink()):
        return st
    data = _read_marker(registration) if _is_real_dir(registration) else None
    if data is None:
        st.foreign = True
        return st
    st.installed = True
    st.recorded_source = data.get("source")
    st.links = list(data.get("links", []))
    wanted = {p.as_posix() for p in suite_yaml_files(source)}
    for rel in st.links:
        link = registration / rel
        if rel not in wanted:
            st.extra.append(rel)
        elif not link.is_symlink() or Path(os.readlink(link)) != source / rel:
            st.wrong.append(rel)
        elif not link.is_file():
            st.wrong.append(rel)
    st.missing = sorted(wanted - set(st.links))
    return st


def _remove_registration(registration: Path, data: dict) -> None:
    """Remove the links, folders and marker the marker lists, and nothing else."""
    for rel in data.get("links", []):
        link = registration / rel
        if link.is_symlink():
            link.unlink()
    dirs = sorted(
        {registration / Path(rel).parent for rel in data.get("links", [])},
        key=lambda p: len(p.parts),
        reverse=True,
    )
    for folder in dirs:
        while folder != registration and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    (registration / MARKER_NAME).unlink(missing_ok=True)
    if any(registration.iterdir()):
        left = sorted(p.name for p in registration.iterdir())
        raise RegistrationError(
            f"{registration} holds files biobench did not create ({left}); left in place"
        )
    registration.rmdir()


def uninstall(lm_eval_tasks: Path | None = None) -> bool:
    """Remove our registration; ``True`` when there was one."""
    lm_eval_tasks = lm_eval_tasks or lm_eval_tasks_dir()
    registration = lm_eval_tasks / REGISTRATION_NAME
    if not (registration.exists() or registration.is_symlink()):
        return False
    data = _read_marker(registration) if _is_real_dir(registration) else None
    if data is None:
        raise RegistrationError(f"{registration} was not created by biobench; not touching it")
    _remove_registration(registration, data)
    return True


def install(lm_eval_tasks: Path | None = None, source: Path | None = None) -> Status:
    """Create (or bring up to date) the registration; a no-op where lm-eval reads entry points."""
    lm_eval_tasks = lm_eval_tasks or lm_eval_tasks_dir()
    source = (source or suite_tasks_dir()).resolve()
    if native_entry_point_support(lm_eval_tasks):
        uninstall(lm_eval_tasks)  # the entry point suffices; do not index the suite twice
        return status(lm_eval_tasks, source)
    if not lm_eval_tasks.is_dir():
        raise RegistrationError(f"lm-eval's tasks folder {lm_eval_tasks} is missing")
    current = status(lm_eval_tasks, source)
    if current.current:
        return current  # nothing to change (``make setup`` runs this every time)
    registration = lm_eval_tasks / REGISTRATION_NAME
    if registration.exists() or registration.is_symlink():
        data = _read_marker(registration) if _is_real_dir(registration) else None
        if data is None:
            raise RegistrationError(f"{registration} was not created by biobench; not touching it")
        _remove_registration(registration, data)
    files = suite_yaml_files(source)
    if not files:
        raise RegistrationError(f"no *.yaml task files under {source}")
    marker = {
        "created_by": DISTRIBUTION,
        "what": "symlinks to the bioinstruct-bench task YAMLs, so that lm-eval 0.4.13 indexes "
        "them; remove with `biobench lm-eval-tasks uninstall`",
        "source": str(source),
        "links": [p.as_posix() for p in files],
    }
    try:
        registration.mkdir()
        # the marker first: an interrupted install is still ours to finish or remove
        (registration / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
        for rel in files:
            link = registration / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source / rel)
    except OSError as exc:
        raise RegistrationError(f"cannot write {registration}: {exc}") from exc
    return status(lm_eval_tasks, source)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench lm-eval-tasks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["install", "uninstall", "status"])
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="install: print only when something changed"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "install":
            before = status()
            st = install()
            if not (args.quiet and before.current and st.ok):
                print("\n".join(st.lines()))
            return 0 if st.ok else 1
        if args.action == "uninstall":
            removed = uninstall()
            where = lm_eval_tasks_dir() / REGISTRATION_NAME
            print(f"removed {where}" if removed else f"nothing to remove ({where} absent)")
            return 0
        st = status()
        print("\n".join(st.lines()))
        return 0 if st.ok else 1
    except RegistrationError as exc:
        print(f"biobench lm-eval-tasks: {exc}", file=sys.stderr)
        return 1
