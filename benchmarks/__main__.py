"""Run every ``benchmarks/bench_*.py`` (or those named on the command line) and print their reports.

Each module's ``run()`` measures its subject side by side in one process and returns a dict of
figures (times, ratios, goals); the dicts are printed and written to ``runs/bench/<name>.json``.
The run ends with one table of every goal: figure, goal, anchor (the measured reference), ratio,
met or not (``runs/bench/summary.md``), with the wall and CPU seconds of each module and the load
average at its start (the machine may be shared).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE.parent / "runs" / "bench"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def summary_rows(name: str, report: dict) -> list[dict]:
    """A module's goal rows: its own ``summary``, else one row from its goal keys."""
    if report.get("summary"):
        return [{"module": name, **row} for row in report["summary"]]
    met = next(
        (report[k] for k in ("goal_met", "meets_goal", "meets_time_goal") if k in report), None
    )
    goal = report.get("goal") or next((f"{k}={report[k]}" for k in report if "goal" in k), "")
    return [{"module": name, "figure": name, "goal": goal, "anchor": "", "ratio": "", "met": met}]


def summary_table(rows: list[dict], timing: dict[str, dict]) -> str:
    lines = [
        "| module | figure | goal | anchor | ratio | met | wall s | CPU s | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = timing[r["module"]]
        met = {True: "**yes**", False: "no", None: "n/a"}[
            None if r["met"] is None else bool(r["met"])
        ]
        lines.append(
            f"| {r['module']} | {r['figure']} | {r['goal']} | {r['anchor']} | {r['ratio']} | "
            f"{met} | {t['wall_s']} | {t['cpu_s']} | {t['load_avg_1m']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in HERE.glob("bench_*.py"))
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    timing: dict[str, dict] = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ==", flush=True)
        load, wall, cpu = os.getloadavg()[0], time.perf_counter(), _cpu_seconds()
        report = module.run()
        timing[name] = {
            "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(_cpu_seconds() - cpu, 1),
            "load_avg_1m": round(load, 2),
        }
        print(json.dumps(report, indent=2))
        (OUT / f"{name}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        rows += summary_rows(name, report)
    from runners.hardware import describe

    machine = describe()
    table = (
        f"Machine: {machine['cpu'] or 'unknown CPU'}, {machine['cpu_capability']}, bf16 units: "
        f"{', '.join(machine['bf16_units']) or 'none'}, {machine['torch_threads']} torch "
        f"threads, {os.cpu_count()} cores.\n\n" + summary_table(rows, timing)
    )
    (OUT / "summary.md").write_text(table, encoding="utf-8")
    print("== summary ==\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
