"""Files of ``biobench judge``: the logged samples it reads, its append-only cache, its outputs.

* Input: lm-eval's ``samples_<task>_<time>.jsonl`` of ``bio_gen`` tasks anywhere under a folder.
* Cache: one JSON line per final verdict (``ok`` or ``unparsable``), appended and flushed as
  each arrives, so a killed run loses at most the requests in flight; a torn last line is
  skipped on reading. Later lines win.
* Outputs next to each samples file: ``judge_<task>_<time>.jsonl`` (one verdict per sample),
  ``judge_summary_<time>.json`` and ``judge_scores_<time>.png``, each written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.judging.schemas import FINAL_STATUSES, JudgeItem, Verdict
from tasks.ground import atomic

log = logging.getLogger(__name__)

CACHE_NAME = "judge_cache.jsonl"


# --- samples ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplesFile:
    path: Path
    task: str
    stamp: str  # lm-eval's timestamp suffix; shared by the files of one run


def find_samples(root: Path, tasks: Iterable[str]) -> list[SamplesFile]:
    """``samples_<task>_<time>.jsonl`` files under ``root`` for the given task names."""
    names = sorted(set(tasks), key=len, reverse=True)  # longest first: no prefix confusion
    found = []
    for path in sorted(root.rglob("samples_*.jsonl")):
        stem = path.stem.removeprefix("samples_")
        task = next((t for t in names if stem.startswith(f"{t}_")), None)
        if task is not None:
            found.append(SamplesFile(path, task, stem[len(task) + 1 :]))
    return found


def read_items(sf: SamplesFile, limit: int | None = None) -> list[JudgeItem]:
    """The judge items of one samples file (doc fields written by ``tasks.common.generation``)."""
    items = []
    with sf.path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
                doc = sample["doc"]
                response = sample.get("filtered_resps") or sample["resps"][0]
                response = response[0] if isinstance(response, list) else response
                items.append(
                    JudgeItem(
                        task=sf.task,
                        doc_id=int(sample["doc_id"]),
                        samples_file=sf.path.name,
                        instruction=doc["instruction"],
                        input=doc.get("prompt_input", doc["input"]),
                        reference=doc["references"][0],
                        response=str(response),
                    )
                )
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{sf.path}:{line_no}: not a bio_gen sample logged by lm-eval "
                    f"({type(exc).__name__}: {exc}); run `biobench eval --tasks bio_gen` "
                    "(it logs samples) and pass its output folder"
                ) from exc
    items.sort(key=lambda it: it.doc_id)
    return items[:limit] if limit is not None else items


# --- cache --------------------------------------------------------------------------------


def read_cache(path: Path) -> dict[str, Verdict]:
    """Final verdicts by key; unreadable lines (a torn last line after a kill) are skipped."""
    out: dict[str, Verdict] = {}
    if not path.is_file():
        return out
    bad = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                verdict = Verdict.from_dict(json.loads(line))
            except (ValueError, TypeError):
                bad += 1
                continue
            if verdict.status in FINAL_STATUSES:
                out[verdict.key] = verdict
    if bad:
        log.warning("%s: skipped %d unreadable line(s) (an interrupted write)", path, bad)
    return out


class CacheWriter:
    """Appends final verdicts to the cache, one flushed line each."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = path.is_file() and path.stat().st_size > 0 and not _ends_with_newline(path)
        self._handle = path.open("a", encoding="utf-8")
        if torn:
            self._handle.write("\n")  # close a line torn by a kill, so the next one is whole

    def append(self, verdict: Verdict) -> None:
        if verdict.status not in FINAL_STATUSES:
            return
        self._handle.write(json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


# --- outputs ------------------------------------------------------------------------------


def write_item_scores(path: Path, items: list[JudgeItem], verdicts: list[Verdict]) -> None:
    lines = []
    for item, verdict in zip(items, verdicts, strict=True):
        row = {"task": item.task, "doc_id": item.doc_id, **verdict.to_dict()}
        lines.append(json.dumps(row, ensure_ascii=False))
    atomic.write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def score_stats(scores: list[int]) -> dict[str, Any]:
    """Mean, sample SD and two-sided 95% t-interval of the mean (None where undefined)."""
    n = len(scores)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci95": None}
    mean = sum(scores) / n
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "ci95": None}
    from scipy import stats

    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci95": [mean - half, mean + half]}


def task_summary(verdicts: list[Verdict]) -> dict[str, Any]:
    counts = {
        s: sum(v.status == s for v in verdicts)
        for s in ("ok", "unparsable", "error", "skipped_budget")
    }
    scores = [v.score for v in verdicts if v.status == "ok" and v.score is not None]
    return {
        "n_items": len(verdicts),
        **{f"n_{k}": c for k, c in counts.items()},
        **score_stats(scores),
    }


def plot_summary(path: Path, per_task: dict[str, dict[str, Any]], title: str) -> None:
    """Bar chart of per-task mean judge scores with 95% CIs (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [t for t, s in per_task.items() if s["mean"] is not None]
    fig, ax = plt.subplots(figsize=(1.6 * max(3, len(names)) + 1, 4))
    means = [per_task[t]["mean"] for t in names]
    cis = [per_task[t]["ci95"] or [m, m] for t, m in zip(names, means, strict=True)]
    errs = [
        [m - lo for m, (lo, _) in zip(means, cis, strict=True)],
        [hi - m for m, (_, hi) in zip(means, cis, strict=True)],
    ]
    ax.bar(names, means, yerr=errs if names else None, capsize=4, color="#4c72b0")
    for i, t in enumerate(names):
        ax.text(i, 0.2, f"n={per_task[t]['n']}", ha="center", color="white", fontsize=8)
    ax.set_ylim(0, 10)
    ax.set_ylabel("judge score (1-10), mean ± 95% CI")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def outputs_for(sf: SamplesFile) -> tuple[Path, Path, Path]:
    folder = sf.path.parent
    stamp = re.sub(r"[^\w.\-]", "_", sf.stamp)
    return (
        folder / f"judge_{sf.task}_{stamp}.jsonl",
        folder / f"judge_summary_{stamp}.json",
        folder / f"judge_scores_{stamp}.png",
    )
