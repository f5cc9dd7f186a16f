"""Run state of a LoRA run: its output folder, the checkpoints a rerun resumes from (a kill
mid-save leaves an incomplete folder, which is skipped), the config that must not change across
a resumption, and the code version it trains with."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from runners.finetuning.config import FinetuneConfig
from tasks.ground import atomic
from tasks.ground.errors import ConfigError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
# Fields that may change between a killed run and its resumption (they do not change the math).
RESUMABLE_CHANGES = frozenset(
    {
        "output_dir",
        "logging_steps",
        "eval_steps",
        "save_steps",
        "save_total_limit",
        "dataloader_num_workers",
        "merge",
    }
)


def is_complete_checkpoint(path: Path) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint without a readable one was cut."""
    state = path / "trainer_state.json"
    if not state.is_file():
        return False
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return (path / "adapter_model.safetensors").is_file() or (path / "adapter_model.bin").is_file()


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The complete checkpoint with the highest step under ``checkpoints``, if any."""
    if not checkpoints.is_dir():
        return None
    found = []
    for path in checkpoints.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and is_complete_checkpoint(path):
            found.append((int(step), path))
        elif step.isdigit():
            log.warning("ignoring incomplete checkpoint %s (interrupted while saving)", path)
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path | None) -> int:
    """The optimizer step of ``checkpoint-<step>`` (0 for a fresh run)."""
    return int(checkpoint.name.split("-")[1]) if checkpoint else 0


def tokens_at(checkpoint: Path | None) -> int:
    """Input tokens seen when ``checkpoint`` was saved (0 for a fresh run)."""
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("num_input_tokens_seen") or 0)


def check_same_run(saved: dict[str, Any], cfg: FinetuneConfig, output_dir: Path) -> None:
    """A resumed run must have the config of the run that wrote the checkpoints."""
    current = cfg.model_dump()
    diffs = [
        f"{k}: {saved.get(k)!r} -> {current[k]!r}"
        for k in current
        if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]
    ]
    if diffs:
        raise ConfigError(
            f"{output_dir} holds checkpoints of a run with a different config ("
            + "; ".join(diffs)
            + "). Use another output_dir, or --overwrite to start again."
        )


def start_output_dir(cfg: FinetuneConfig, overwrite: bool = False) -> Path | None:
    """Make (or, with ``overwrite``, empty) ``output_dir`` and record the config in its
    ``config.json``; returns the checkpoint to resume from, if any."""
    output_dir = Path(cfg.output_dir)
    if overwrite and output_dir.exists():
        if any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
            raise ConfigError(
                f"--overwrite: {output_dir} is not the output folder of a finetune run (it has no "
                "config.json); refusing to delete it. Choose an empty or new output_dir."
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resume_from = last_checkpoint(output_dir / "checkpoints")
    config_file = output_dir / "config.json"
    if resume_from is not None and config_file.is_file():
        check_same_run(json.loads(config_file.read_text(encoding="utf-8")), cfg, output_dir)
    atomic.write_text(config_file, json.dumps(cfg.model_dump(), indent=2))
    return resume_from


def git_commit() -> str:
    """HEAD of the project checkout (``+dirty`` with uncommitted changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")
