"""``biobench ablation``: which instruction categories transfer to which task groups.

The paper's multi-task analysis (BioInstruct, Tran et al. 2024: gains are largest when the
instructions are closely related to the evaluated tasks), as one command:

1. train one LoRA adapter per instruction-category subset (``qa``, ``ie``, ``gen`` and ``all``)
   with the same finetune config and the same step budget (``biobench finetune``);
2. evaluate the base model and every adapter on the task groups (default ``bio_qa``, ``bio_ie``,
   ``bio_gen``) with ``biobench eval`` (lm-eval's ``peft=`` loads each adapter) and the same
   ``--limit``;
3. store each run as a submission in ``<output_dir>/submissions`` (checked like
   ``biobench submit``) and read back its per-item records;
4. the transfer matrix: rows = training subset, columns = evaluation group, cell = gain of the
   adapter over the base model on the group score (the unweighted mean of the group's task
   scores, as lm-eval aggregates it), with a paired-bootstrap CI (items resampled within each
   task, tasks independently, the same resamples for every model) and a two-sided bootstrap
   p-value, adjusted across all cells of the matrix (Holm; Benjamini-Hochberg also reported).
   Statistics: :mod:`leaderboard.stats`; per-item records: :mod:`leaderboard.items`.

Outputs: ``transfer.json``, ``transfer.md`` (matrix + per-task detail) and ``transfer.png``
(heatmap). Every step is reused on a rerun (finished adapters and evaluations are skipped), so a
killed ablation continues where it stopped.

    biobench ablation --config smollm2-135m --max-steps 160 --limit 50
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.schemas import N_RESAMPLES
from runners import finetuning as ft
from runners.cli import Parser, runs_dir
from tasks import registry
from tasks.ground import atomic

log = logging.getLogger(__name__)

SUBSETS = (*registry.CATEGORIES, "all")
# BioInstruct (Tran et al. 2024, JAMIA, doi:10.1093/jamia/ocae122, abstract): gains of the
# instruction-tuned LLaMA over the untuned one, relative to the untuned score. Its GEN figure is
# a GPT-4 judge score; the suite's bio_gen score is ROUGE-L, so that pair is not like for like.
PAPER_RELATIVE_GAIN = {"bio_qa": 0.173, "bio_ie": 0.057, "bio_gen": 0.96}
DEFAULT_GROUPS = ("bio_qa", "bio_ie", "bio_gen")
BASE = "base"


@dataclass(frozen=True)
class Plan:
    """One ablation: the finetune config and what to vary, evaluate and test."""

    config: str
    output_dir: Path
    max_steps: int
    limit: int | None
    subsets: tuple[str, ...] = SUBSETS
    groups: tuple[str, ...] = DEFAULT_GROUPS
    overrides: dict[str, Any] = field(default_factory=dict)
    eval_args: tuple[str, ...] = ()  # further `biobench eval` / lm-eval arguments
    n_resamples: int = N_RESAMPLES
    seed: int = 0
    alpha: float = 0.05
    level: float = 0.95
    lite: dict[str, int] = field(default_factory=dict)  # group -> seeded lite items per task
    max_gen_toks: int | None = None  # generation cap: min(task's own cap, this)
    dtype: str = "float32"  # lm-eval hf dtype of every evaluation
    store_dir: Path | None = None  # submission store (default <output_dir>/submissions)
    report_dir: Path | None = None  # committed outputs (default <output_dir>)
    model_name: str | None = None  # rows are named "<model_name>-lora-<subset>"
    train_jobs: int = 1  # adapters trained at the same time, one process each

    @property
    def store(self) -> Path:
        return self.store_dir or self.output_dir / "submissions"

    @property
    def reports(self) -> Path:
        return self.report_dir or self.output_dir

    def eval_settings(self, group: str) -> dict[str, Any]:
        """What decides a group's items and answers (recorded, and part of the fingerprint).
        A float32 plan also records its matmul precision (bf16 on a CPU with bf16 units, as
        ``biobench eval`` chooses: another measurement than plain float32)."""
        settings = {
            "group": group,
            "lite": self.lite.get(group),
            "limit": None if group in self.lite else self.limit,
            "max_gen_toks": self.max_gen_toks,
            "dtype": self.dtype,
            "eval_args": list(self.eval_args),
        }
        if self.dtype == "float32":
            from runners.hardware import default_matmul_precision

            settings["matmul_precision"] = default_matmul_precision()
        return settings

    def fingerprint(self, label: str) -> str:
        """SHA-256 of everything that determines a label's stored submission."""
        train = None
        if label != BASE:
            train = self.finetune_config(label).model_dump()
            train.pop("output_dir")
        blob = {
            "train": train,
            "eval": [self.eval_settings(g) for g in self.groups],
            "model_name": self.model_name,
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()

    def finetune_config(self, subset: str) -> ft.FinetuneConfig:
        over = {
            **self.overrides,
            "output_dir": str(self.output_dir / "adapters" / subset),
            "categories": [] if subset == "all" else [subset],
            "max_steps": self.max_steps,
        }
        return ft.load_config(self.config, over)


# --------------------------------------------------------------------------- train + evaluate


def finished(cfg: ft.FinetuneConfig) -> bool:
    """A finished run of exactly this config (its run.json and config.json are written)."""
    out = Path(cfg.output_dir)
    if not (out / "run.json").is_file() or not (out / "config.json").is_file():
        return False
    return json.loads((out / "config.json").read_text(encoding="utf-8")) == cfg.model_dump()


def train_adapter(plan: Plan, subset: str) -> Path:
    """Train (or reuse, or resume) the adapter of one subset; returns its adapter folder."""
    cfg = plan.finetune_config(subset)
    if finished(cfg):
        log.info("adapter %s: done already (%s)", subset, cfg.output_dir)
    else:
        log.info(
            "adapter %s: training %d steps on categories %s",
            subset,
            cfg.max_steps,
            cfg.categories or "all",
        )
        ft.train(cfg)
    return Path(cfg.output_dir) / "adapter"


def _train_in_process(plan: Plan, subset: str, slot: int, jobs: int) -> str:
    """One adapter in a process of its own: GPU ``slot`` (of those visible) when there are
    GPUs, else an equal share of the CPU cores."""
    import torch

    gpus = torch.cuda.device_count()
    if gpus:
        torch.cuda.set_device(slot % gpus)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))
    return str(train_adapter(plan, subset))


def train_in_parallel(plan: Plan, subsets: list[str]) -> None:
    """Train the adapters ``subsets`` in ``plan.train_jobs`` processes at once (spawned, so no
    state is shared); a failed training fails the run with its error."""
    import multiprocessing
    import sys
    import types
    from concurrent.futures import ProcessPoolExecutor

    jobs = min(plan.train_jobs, len(subsets))
    log.info("training %s in %d parallel processes", ", ".join(subsets), jobs)
    context = multiprocessing.get_context("spawn")
    # A spawned child re-runs the parent's ``__main__`` file first. The workers need nothing of
    # it (they import runners.ablation), and it need not be a program: Streamlit run in the
    # same process (an AppTest earlier in the same pytest worker) leaves its page script there.
    # So the children start from an empty ``__main__``; the parent's is put back at once.
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [
                pool.submit(_train_in_process, plan, subset, k, jobs)
                for k, subset in enumerate(subsets)
            ]
            sys.modules["__main__"] = main  # the workers have started
            for future in futures:
                future.result()
    finally:
        sys.modules["__main__"] = main


def results_file(folder: Path) -> Path | None:
    found = sorted(folder.rglob("results_*.json"))
    return found[-1] if found else None


def eval_units(plan: Plan, group: str) -> list[tuple[str, list[str], int | None]]:
    """A group's lm-eval runs: (folder name, tasks, generation cap to impose or None).

    lm-eval's ``--gen_kwargs`` sets one cap for every generative task of a run, so the tasks
    whose own cap is above ``plan.max_gen_toks`` run apart from the others with the smaller cap;
    every task thus generates at most min(its own cap, the plan's cap) tokens.
    """
    from leaderboard.suite import load_suite

    if plan.max_gen_toks is None:
        return [(group, [group], None)]
    suite = load_suite()
    capped = [
        t
        for t in suite.leaves_of(group)
        if suite.tasks[t].output_type == "generate_until"
        and (suite.tasks[t].max_gen_toks or 256) > plan.max_gen_toks
    ]
    if not capped:
        return [(group, [group], None)]
    rest = [t for t in suite.leaves_of(group) if t not in capped]
    units = [(group, rest, None)] if rest else []
    return [*units, (f"{group}-capped", capped, plan.max_gen_toks)]


def _cpu_seconds() -> float:
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def evaluate(plan: Plan, label: str, base: str, adapter: Path | None) -> tuple[list[Path], dict]:
    """``biobench eval`` of one model, one run per group (and cap); finished runs are reused.

    Returns the result folders and, per run, its wall and CPU seconds (None when reused).
    """
    from leaderboard.evalspec import EvalSpec
    from runners import eval as biobench_eval

    model = EvalSpec(
        model=base, tasks=(), model_args={"peft": str(adapter)} if adapter else {}, dtype=plan.dtype
    )
    folders, timing = [], {}
    for group in plan.groups:
        settings = plan.eval_settings(group)
        for name, tasks, cap in eval_units(plan, group):
            folder = plan.output_dir / "eval" / label / name
            folders.append(folder)
            done = folder / "DONE"
            if done.is_file() and results_file(folder) is not None:
                log.info("evaluation %s/%s: done already (%s)", label, name, folder)
                timing[name] = None
                continue
            if folder.exists():  # a killed run: lm-eval has no resume, start the unit again
                shutil.rmtree(folder)
            spec = model.with_(
                tasks=tuple(tasks),
                lite=settings["lite"],
                limit=settings["limit"] if settings["lite"] is None else None,
                max_gen_toks=cap,
                matmul_precision=settings.get("matmul_precision", ""),
            )
            argv = spec.eval_argv(str(folder)) + list(plan.eval_args)
            log.info("evaluation %s/%s: biobench eval %s", label, name, " ".join(argv))
            wall, cpu = time.perf_counter(), _cpu_seconds()
            code = biobench_eval.main(argv)
            if code != 0:
                raise RuntimeError(f"biobench eval of {label}/{name} failed with exit code {code}")
            timing[name] = {
                "wall_s": round(time.perf_counter() - wall, 1),
                "cpu_s": round(_cpu_seconds() - cpu, 1),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
            done.write_text("ok\n", encoding="utf-8")
    return folders, timing


def row_name(plan: Plan, base: str, label: str) -> str:
    name = plan.model_name or Path(base).name
    return name if label == BASE else f"{name}-lora-{label}"


def submit(plan: Plan, label: str, folders: list[Path], base: str, adapter: Path | None) -> str:
    """Check the runs like ``biobench submit`` and store them as one submission."""
    from leaderboard.store import Store
    from leaderboard.validate import Metadata, prepare

    cap = f"; generation capped at {plan.max_gen_toks} tokens" if plan.max_gen_toks else ""
    lite = ", ".join(f"{g}: {n}" for g, n in plan.lite.items())
    items = f"seeded lite subsets ({lite})" if lite else f"--limit {plan.limit}"
    meta = Metadata(
        model_id=f"bioinstruct-repro/{row_name(plan, base, label)}",
        base_model=f"bioinstruct-repro/{row_name(plan, base, BASE)}" if adapter else None,
        precision=plan.dtype,
        adapter=str(adapter) if adapter else None,
        license="see the base model",
        model_type="instruction-tuned" if adapter else "base",
        training_data=(
            [f"offline instructions (training splits), category: {label}"] if adapter else []
        ),
        run_id=label,
        notes=(
            f"BioInstruct reproduction (biobench ablation), training category: "
            f"{label if adapter else 'none (base model)'}; {items}; dtype {plan.dtype}{cap}"
        ),
    )
    prepared = prepare(folders, meta)
    Store(plan.store).add(prepared, replace=True)
    return prepared.submission_id


# --------------------------------------------------------------------------- the manifest


def read_manifest(plan: Plan) -> dict[str, Any]:
    path = plan.reports / "manifest.json"
    if not path.is_file():
        return {"steps": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def write_manifest(plan: Plan, manifest: dict[str, Any]) -> None:
    plan.reports.mkdir(parents=True, exist_ok=True)
    atomic.write_text(plan.reports / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def sha256_file(path: Path) -> str:
    from runners.finetuning.data import file_sha256

    return file_sha256(path)


def keep_training_record(plan: Plan, subset: str, adapter: Path) -> dict[str, Any]:
    """Copy an adapter's run.json, loss log and curve into the reports (the adapter itself is
    regenerated from config + seed + data, whose hashes the manifest keeps)."""
    run_dir = adapter.parent
    target = plan.reports / "training" / subset
    target.mkdir(parents=True, exist_ok=True)
    for name in ("run.json", "loss_log.jsonl", "loss_curve.png", "config.json"):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, target / name)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return {
        "adapter_sha256": sha256_file(adapter / "adapter_model.safetensors"),
        "data_sha256": run["data"].get("sha256"),
        "global_step": run["global_step"],
        "wall_s": run.get("seconds_this_session"),
        "cpu_s": run.get("cpu_seconds_this_session"),
    }


# --------------------------------------------------------------------------- statistics


@dataclass
class TaskTable:
    """One task's primary metric for every model on the items all of them share."""

    name: str
    num: np.ndarray  # (items, models)
    den: np.ndarray
    binary: bool


def task_tables(items_by_model: list[list], group_tasks: list[str]) -> dict[str, TaskTable]:
    """Per task of the groups: ratio parts for every model, paired by doc id and hashes."""
    from leaderboard import items as itemlib
    from tasks import registry

    tables = {}
    for task in group_tasks:
        spec = registry.spec_of_leaf(task)
        if spec is None:
            raise KeyError(f"task {task!r} is not in the registry")
        per_model = []
        for records in items_by_model:
            chosen = [it for it in records if it.task == task and it.filter == spec.filter]
            per_model.append({it.doc_id: it for it in chosen})
        shared = sorted(
            doc
            for doc in per_model[0]
            if all(
                doc in m
                and (m[doc].doc_hash, m[doc].prompt_hash)
                == (per_model[0][doc].doc_hash, per_model[0][doc].prompt_hash)
                for m in per_model
            )
        )
        if len(shared) < 2:
            log.warning("%s: %d item(s) shared by all models; left out", task, len(shared))
            continue
        data = [itemlib.metric_data([m[d] for d in shared], spec.metric) for m in per_model]
        tables[task] = TaskTable(
            task,
            np.column_stack([d.num for d in data]),
            np.column_stack([d.den for d in data]),
            all(d.binary for d in data),
        )
    return tables


def transfer_matrix(plan: Plan, labels: list[str], items_by_model: list[list]) -> dict[str, Any]:
    """Cells (subset x group): gain over the base model (column 0) with CI and p-values."""
    from leaderboard import stats
    from leaderboard.suite import load_suite

    suite = load_suite()
    pairs = [(m, 0) for m in range(1, len(labels))]
    cells, task_rows = [], []
    for group in plan.groups:
        members = list(suite.groups[group].children)
        tables = task_tables(items_by_model, members)
        if not tables:
            raise ValueError(f"group {group}: no task has items for every model")
        reps, scores = [], []
        for table in tables.values():
            result = stats.analyse_task(
                stats.TaskInput(table.name, table.num, table.den, table.binary),
                pairs,
                n_resamples=plan.n_resamples,
                n_permutations=plan.n_resamples,
                seed=plan.seed,
                level=plan.level,
                alpha=plan.alpha,
            )
            reps.append(result.replicates)
            scores.append(result.scores)
            for k, (m, _) in enumerate(pairs):
                task_rows.append(
                    {
                        "group": group,
                        "task": table.name,
                        "subset": labels[m],
                        "n_items": int(table.num.shape[0]),
                        "base": float(result.scores[0]),
                        "tuned": float(result.scores[m]),
                        "gain": float(result.diff[k]),
                        "ci": [float(result.diff_low[k]), float(result.diff_high[k])],
                        "test": result.test,
                        "p_value": float(result.p_value[k]),
                        "mde": float(np.ravel(result.mde)[k]),
                    }
                )
        group_reps = np.mean(reps, axis=0)  # (resamples, models): unweighted mean over tasks
        group_scores = np.mean(scores, axis=0)
        for m, _ in pairs:
            diff = float(group_scores[m] - group_scores[0])
            diff_reps = group_reps[:, m] - group_reps[:, 0]
            low, high = stats.percentile_interval(diff_reps, plan.level)
            p = float(stats.bootstrap_p(diff_reps[:, None], np.array([diff]))[0])
            se = float(np.std(diff_reps, ddof=1))
            cells.append(
                {
                    "subset": labels[m],
                    "group": group,
                    "base": float(group_scores[0]),
                    "tuned": float(group_scores[m]),
                    "gain": diff,
                    "ci": [float(low), float(high)],
                    "p_value": p,
                    "se": se,
                    "mde": float(stats.mde(se, plan.alpha, 0.8)),
                    "n_tasks": len(tables),
                    "n_items": int(sum(t.num.shape[0] for t in tables.values())),
                    "tasks_left_out": sorted(set(members) - set(tables)),
                }
            )
    p_values = [c["p_value"] for c in cells]
    for cell, holm, bh in zip(
        cells, stats.adjust(p_values, "holm"), stats.adjust(p_values, "fdr_bh"), strict=True
    ):
        cell.update(p_holm=float(holm), p_bh=float(bh), significant=bool(holm < plan.alpha))
    adjusted = stats.adjust([r["p_value"] for r in task_rows], "holm") if task_rows else []
    for row, holm in zip(task_rows, adjusted, strict=True):
        row["p_holm"] = float(holm)
    return {"cells": cells, "tasks": task_rows}


# --------------------------------------------------------------------------- reports


def heatmap(
    matrix: dict[str, Any], subsets: list[str], groups: list[str], png: Path, alpha: float = 0.05
) -> Path:
    """Gain of each adapter over the base model per group, in percentage points, groups by
    their display names, the significance level stated as a number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell = {(c["subset"], c["group"]): c for c in matrix["cells"]}
    gains = 100 * np.array([[cell[s, g]["gain"] for g in groups] for s in subsets])
    bound = max(float(np.abs(gains).max()), 1e-6)
    fig, ax = plt.subplots(figsize=(1.9 * len(groups) + 2, 0.9 * len(subsets) + 1.6))
    image = ax.imshow(gains, cmap="RdBu", vmin=-bound, vmax=bound)
    for i, s in enumerate(subsets):
        for j, g in enumerate(groups):
            c = cell[s, g]
            star = " *" if c["significant"] else ""
            ax.text(
                j,
                i,
                f"{100 * c['gain']:+.1f}{star}\n[{100 * c['ci'][0]:+.1f}, {100 * c['ci'][1]:+.1f}]",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(gains[i, j]) > 0.6 * bound else "black",  # legible on dark
            )
    names = {g.name: g.display for g in registry.GROUPS}
    ax.set_xticks(range(len(groups)), [names.get(g, g) for g in groups])
    ax.set_yticks(range(len(subsets)), [f"tuned on {s}" for s in subsets])
    ax.set_title(f"Gain over the base model, points (* Holm-adjusted p < {alpha:g})", fontsize=10)
    fig.colorbar(image, ax=ax, label="gain (percentage points)")
    fig.tight_layout()
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return png


def markdown(plan: Plan, matrix: dict[str, Any], runs: dict[str, Any], notes: list[str]) -> str:
    cell = {(c["subset"], c["group"]): c for c in matrix["cells"]}
    subsets = list(plan.subsets)
    if plan.lite:
        items = "seeded lite subsets of " + ", ".join(
            f"{n} items per task for {g}" for g, n in plan.lite.items()
        )
    else:
        items = f"`--limit {plan.limit}`"
    cap = f", generation capped at {plan.max_gen_toks} tokens" if plan.max_gen_toks else ""
    lines = [
        "# Instruction-category ablation: transfer matrix",
        "",
        f"Finetune config `{plan.config}`, {plan.max_steps} optimizer steps per adapter; "
        f"evaluation on {', '.join(plan.groups)} ({items}; dtype {plan.dtype}{cap}), every model "
        "on the same items. Cell: gain of the adapter over the base model on the group score "
        "(unweighted mean of task scores), 95% paired-bootstrap CI (items resampled within each "
        "task), bootstrap p adjusted across all cells (Holm; BH in transfer.json), and the "
        "minimum detectable effect at 80% power (MDE = 2.80 x bootstrap SE).",
        "",
        "| trained on | " + " | ".join(plan.groups) + " |",
        "|---|" + "---|" * len(plan.groups),
        "| base (score) | "
        + " | ".join(f"{cell[subsets[0], g]['base']:.4f}" for g in plan.groups)
        + " |",
    ]
    for s in subsets:
        row = []
        for g in plan.groups:
            c = cell[s, g]
            star = " **\\***" if c["significant"] else ""
            row.append(
                f"{c['gain']:+.4f} [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}] "
                f"p_holm={c['p_holm']:.3g}{star}"
            )
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    lines += [
        "",
        "| group | items (all tasks) | tasks | MDE of a cell (80% power) |",
        "|---|---|---|---|",
    ]
    for g in plan.groups:
        c = [cell[s, g] for s in subsets]
        mdes = [x.get("mde", float("nan")) for x in c]
        lines.append(
            f"| {g} | {c[0]['n_items']} | {c[0]['n_tasks']} | {min(mdes):.4f} to {max(mdes):.4f} |"
        )
    if "all" in subsets:
        lines += [
            "",
            "## The `all` adapter next to the paper",
            "",
            "| group | base | tuned on all | gain [95% CI] | relative gain | BioInstruct "
            "(LLaMA, relative) |",
            "|---|---|---|---|---|---|",
        ]
        for g in plan.groups:
            c = cell["all", g]
            rel = f"{c['gain'] / c['base']:+.1%}" if c["base"] else "n/a"
            paper = PAPER_RELATIVE_GAIN.get(g)
            lines.append(
                f"| {g} | {c['base']:.4f} | {c['tuned']:.4f} | {c['gain']:+.4f} "
                f"[{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}] | {rel} | "
                f"{f'{paper:+.1%}' if paper is not None else 'n/a'} |"
            )
        lines.append(
            "\nBioInstruct's GEN gain is a GPT-4 judge score, ours ROUGE-L: not like for like."
        )
    lines += [
        "",
        "## Adapters",
        "",
        "Loss curves: `loss_curves.png`; per adapter `training/<subset>/` (run.json, loss log).",
        "",
        "| subset | steps | training pool (records) | tokens seen | val loss before -> after "
        "| wall s | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in subsets:
        r = runs.get(s, {})
        before, after = r.get("val_loss_first"), r.get("val_loss")
        vl = f"{before:.4f} -> {after:.4f}" if before is not None and after is not None else "n/a"
        data = r.get("data", {})
        lines.append(
            f"| {s} | {r.get('global_step')} | {data.get('n_train')} | {r.get('tokens_seen')} "
            f"| {vl} | {r.get('seconds_this_session')} | {r.get('cpu_seconds_this_session')} |"
        )
    lines += [
        "",
        "## Per task",
        "",
        "| group | task | subset | n | base | tuned | gain [95% CI] | MDE | test | p | p_holm |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in matrix["tasks"]:
        lines.append(
            f"| {t['group']} | {t['task']} | {t['subset']} | {t['n_items']} | {t['base']:.4f} | "
            f"{t['tuned']:.4f} | {t['gain']:+.4f} [{t['ci'][0]:+.4f}, {t['ci'][1]:+.4f}] | "
            f"{t.get('mde', float('nan')):.4f} | {t['test']} | {t['p_value']:.3g} | "
            f"{t['p_holm']:.3g} |"
        )
    if notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- run


def check_groups(groups: tuple[str, ...]) -> None:
    from leaderboard.suite import load_suite

    known = load_suite().groups
    unknown = [g for g in groups if g not in known]
    if unknown or not groups:
        raise ft.ConfigError(
            f"--groups: unknown lm-eval group(s) {unknown or groups}; known: {sorted(known)}"
        )


def check_bf16(plan: Plan, to_evaluate: list[str], to_train: list[str]) -> None:
    """Refuse (ConfigError) to start bfloat16 work that this machine would run in software: a
    two-hour job would take days. Steps already stored cost nothing and pass."""
    from runners.hardware import slow_bf16

    uses = []
    if to_evaluate and plan.dtype == "bfloat16":
        uses.append(f"--dtype bfloat16 ({len(to_evaluate)} evaluations to run)")
    if [s for s in to_train if plan.finetune_config(s).precision == "bf16"]:
        uses.append(f"precision=bf16 ({len(to_train)} adapters to train)")
    why = slow_bf16() if uses else None
    if why:
        raise ft.ConfigError(
            f"{' and '.join(uses)}: {why}; run in float32 instead: --dtype float32 "
            "--set precision=fp32 (make reproduce REPRO_DTYPE=float32 REPRO_PRECISION=fp32)"
        )


def run(plan: Plan) -> dict[str, Any]:
    """Every step in order, each reused when done: by the manifest (a stored submission of the
    same fingerprint, e.g. committed by an earlier machine) or by its finished local output."""
    from datetime import UTC, datetime

    from leaderboard import collapse
    from leaderboard.loader import read_items
    from leaderboard.store import Store

    plan.output_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(plan)
    steps = manifest.setdefault("steps", {})
    base = ft.resolve_base(plan.finetune_config(plan.subsets[0]).base_model)
    labels = [BASE, *plan.subsets]
    store = Store(plan.store)
    items_by_model, submissions, notes, runs = [], {}, [], {}

    def stored(label: str) -> bool:
        step = steps.get(label) or {}
        return step.get("fingerprint") == plan.fingerprint(label) and (
            step.get("submission_id") in store.ids()
        )

    to_train = [s for s in plan.subsets if not stored(s) and not finished(plan.finetune_config(s))]
    check_bf16(plan, [label for label in labels if not stored(label)], to_train)
    if plan.train_jobs > 1 and len(to_train) > 1:
        train_in_parallel(plan, to_train)  # then the loop below finds them finished
    for label in labels:
        fingerprint = plan.fingerprint(label)
        sid = (steps.get(label) or {}).get("submission_id")
        if stored(label):
            log.info("%s: stored already as %s (manifest); reused", label, sid)
        else:
            record: dict[str, Any] = {"fingerprint": fingerprint}
            adapter = None
            if label != BASE:
                adapter = train_adapter(plan, label)
                record["train"] = keep_training_record(plan, label, adapter)
            folders, record["eval"] = evaluate(plan, label, base, adapter)
            sid = record["submission_id"] = submit(plan, label, folders, base, adapter)
            record["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            steps[label] = record
            write_manifest(plan, manifest)
        sub = store.read(sid)
        submissions[label] = sid
        items_by_model.append(read_items(store.root, sub))
        if label != BASE:
            run_json = plan.reports / "training" / label / "run.json"
            runs[label] = json.loads(run_json.read_text(encoding="utf-8"))
        if any(t.data.source == "sample" for t in sub.tasks):
            notes.append(f"{label}: evaluated on the shipped SAMPLE data; scores mean nothing")
    base_sub = store.read(submissions[BASE]) if BASE in submissions else None
    for label, sid in submissions.items():
        fallen = collapse.in_submission(store.read(sid), base_sub) if label != BASE else []
        if fallen:
            notes.append(
                f"{label}: COLLAPSED (the same answer on every item; leaderboard/collapse.py) on "
                + "; ".join(c.describe() for c in fallen)
            )
    matrix = transfer_matrix(plan, labels, items_by_model)
    report = {
        "config": plan.config,
        "max_steps": plan.max_steps,
        "limit": plan.limit,
        "lite": plan.lite,
        "max_gen_toks": plan.max_gen_toks,
        "dtype": plan.dtype,
        "groups": list(plan.groups),
        "subsets": list(plan.subsets),
        "settings": {
            "n_resamples": plan.n_resamples,
            "seed": plan.seed,
            "alpha": plan.alpha,
            "level": plan.level,
        },
        "submissions": submissions,
        **matrix,
        "notes": notes,
    }
    out = plan.reports
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "transfer.json", json.dumps(report, indent=2) + "\n")
    atomic.write_text(out / "transfer.md", markdown(plan, matrix, runs, notes))
    heatmap(matrix, list(plan.subsets), list(plan.groups), out / "transfer.png", plan.alpha)
    loss_curves(runs, plan.reports, out / "loss_curves.png")
    return report


def loss_curves(runs: dict[str, Any], reports: Path, png: Path) -> Path | None:
    """Train and validation loss of every adapter in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, subset in enumerate(runs):
        log_file = reports / "training" / subset / "loss_log.jsonl"
        if not log_file.is_file():
            continue
        rows = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
        train = [(r["step"], r["loss"]) for r in rows if r.get("split") == "train"]
        val = [(r["step"], r["loss"]) for r in rows if r.get("split") == "validation"]
        colour = f"C{k}"
        if train:
            ax.plot(*zip(*train, strict=True), color=colour, alpha=0.5, label=f"{subset} train")
        if val:
            ax.plot(*zip(*val, strict=True), "o-", color=colour, label=f"{subset} validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (response tokens)")
    ax.set_title("LoRA adapters per instruction category", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return png


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="biobench ablation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="smollm2-135m", help="finetune config (name or YAML)")
    parser.add_argument("--output-dir", type=Path, default=runs_dir("ablation"))
    parser.add_argument(
        "--max-steps",
        type=int,
        required=True,
        help="the step budget of every adapter (the same for all subsets)",
    )
    parser.add_argument(
        "--limit", type=int, help="items per task in evaluation (lm-eval --limit: the first N)"
    )
    parser.add_argument(
        "--lite",
        action="append",
        default=[],
        metavar="[GROUP=]N",
        help="evaluate the seeded lite subset of N items per task (biobench eval --lite), for "
        "every group or for one (repeatable: --lite bio_qa=200 --lite bio_gen=30); "
        "overrides --limit for those groups",
    )
    parser.add_argument(
        "--max-gen-toks",
        type=int,
        help="generation cap: each generative task generates at most min(its own cap, N) tokens",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16"),
        help="lm-eval hf dtype of every evaluation (benchmarks/reports/dtype_agreement_*.md)",
    )
    parser.add_argument(
        "--store", type=Path, help="submission store (default <output_dir>/submissions)"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="where the durable outputs go: transfer.{json,md,png}, loss curves, manifest.json "
        "(default <output_dir>)",
    )
    parser.add_argument(
        "--model-name", help="row name of the base model (default: its folder name)"
    )
    parser.add_argument(
        "--train-jobs",
        type=int,
        default=1,
        help="train the adapters in N processes at once (one GPU each when there are GPUs, "
        "else a share of the CPU cores); evaluations stay one at a time",
    )
    parser.add_argument(
        "--subsets", default=",".join(SUBSETS), help=f"comma-separated subsets of {SUBSETS}"
    )
    parser.add_argument(
        "--groups",
        default=",".join(DEFAULT_GROUPS),
        help="comma-separated lm-eval groups to evaluate",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="finetune config override (repeatable)",
    )
    parser.add_argument("--n-resamples", type=int, default=N_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05)
    return parser


def parse_lite(values: list[str], groups: tuple[str, ...]) -> dict[str, int]:
    """``--lite N`` (every group) and ``--lite GROUP=N`` (one group) as {group: N}."""
    lite: dict[str, int] = {}
    for value in values:
        group, _, size = value.rpartition("=")
        if not size.strip().isdigit() or int(size) <= 0:
            raise ft.ConfigError(
                f"--lite {value!r}: expected N or GROUP=N with N a positive item count per task"
            )
        if group and group not in groups:
            raise ft.ConfigError(f"--lite {value!r}: {group} is not one of --groups {groups}")
        for g in [group] if group else groups:
            lite[g] = int(size)
    return lite


def main(argv: list[str] | None = None) -> int:
    args, eval_args = build_parser().parse_known_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    subsets = tuple(s.strip() for s in args.subsets.split(",") if s.strip())
    bad = [s for s in subsets if s not in SUBSETS]
    if bad or not subsets:
        print(
            f"biobench ablation: --subsets must name some of {SUBSETS}, got {bad or subsets}",
            file=sys.stderr,
        )
        return 2
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    if args.train_jobs < 1:
        print("biobench ablation: --train-jobs must be >= 1", file=sys.stderr)
        return 2
    if args.max_gen_toks is not None and args.max_gen_toks <= 0:
        print("biobench ablation: --max-gen-toks must be > 0", file=sys.stderr)
        return 2
    if args.max_steps <= 0:
        print(
            "biobench ablation: --max-steps must be > 0 (the same budget for every adapter)",
            file=sys.stderr,
        )
        return 2
    try:
        lite = parse_lite(args.lite, groups)
        plan = Plan(
            config=args.config,
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            limit=args.limit,
            subsets=subsets,
            groups=groups,
            overrides=ft.parse_overrides(args.set),
            eval_args=tuple(eval_args),
            n_resamples=args.n_resamples,
            seed=args.seed,
            alpha=args.alpha,
            lite=lite,
            max_gen_toks=args.max_gen_toks,
            dtype=args.dtype,
            store_dir=args.store,
            report_dir=args.report_dir,
            model_name=args.model_name,
            train_jobs=args.train_jobs,
        )
        plan.finetune_config(subsets[0])  # a bad config fails before any work
        check_groups(plan.groups)
        report = run(plan)
    except (ft.ConfigError, ft.InstructionDataError) as exc:
        print(f"biobench ablation: {exc}", file=sys.stderr)
        return 2
    print((plan.reports / "transfer.md").read_text(encoding="utf-8"))
    print(
        f"transfer matrix: {plan.reports / 'transfer.json'} (+ .md, .png); "
        f"{len(report['cells'])} cells"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
