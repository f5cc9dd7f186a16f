"""What a LoRA run leaves in ``output_dir``: ``loss_log.jsonl`` (mirrored while training) and
``loss_curve.png``, ``adapter/`` (adapter, tokenizer, model card), ``merged/`` with ``merge``, and
``run.json`` (config + results)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from runners.finetuning.card import model_card
from runners.finetuning.config import FinetuneConfig
from runners.finetuning.model import load_tokenizer, torch_dtype
from tasks.ground import atomic


def loss_log_callback(output_dir: Path):
    """A TrainerCallback that mirrors the Trainer's log history (restored on resume) to JSONL."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                write_loss_log(output_dir, state.log_history)

    return LossLog()


def write_loss_log(output_dir: Path, history: list[dict[str, Any]]) -> Path:
    rows = []
    for entry in history:
        row = {"step": entry.get("step"), "epoch": entry.get("epoch")}
        if "loss" in entry:
            row.update(split="train", loss=entry["loss"], learning_rate=entry.get("learning_rate"))
        elif "eval_loss" in entry:
            row.update(split="validation", loss=entry["eval_loss"])
        else:
            continue
        if "num_input_tokens_seen" in entry:
            row["tokens_seen"] = entry["num_input_tokens_seen"]
        rows.append(row)
    path = output_dir / "loss_log.jsonl"
    atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return path


def plot_loss(log_path: Path, png: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    fig, ax = plt.subplots(figsize=(7, 4))
    for split_name, style in (("train", "-"), ("validation", "o-")):
        pts = [(r["step"], r["loss"]) for r in rows if r["split"] == split_name]
        if pts:
            ax.plot(*zip(*pts, strict=True), style, label=f"{split_name} loss", markersize=4)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (response tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic.atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return png


def write_outputs(
    cfg, trainer, tokenizer, base: str, summary: dict, output_dir: Path, saved: bool = False
) -> None:
    """Rank 0's outputs; ``saved``: the adapter was written by ``Trainer.save_model`` already
    (sharded runs), whose pickled ``training_args.bin`` is removed (nothing here loads pickles)."""
    adapter_dir = output_dir / "adapter"
    if saved:
        (adapter_dir / "training_args.bin").unlink(missing_ok=True)
    else:  # one process or DDP: the unwrapped model holds the whole adapter
        trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    card = model_card(summary, base)
    atomic.write_text(adapter_dir / "README.md", card)  # replaces peft's placeholder card
    log_path = write_loss_log(output_dir, trainer.state.log_history)
    title = f"LoRA on {Path(base).name}: {output_dir.name}"  # one title per adapter
    plot_loss(log_path, output_dir / "loss_curve.png", title)
    if cfg.merge:
        merge(base, adapter_dir, output_dir / "merged", cfg)
        atomic.write_text(output_dir / "merged" / "README.md", card)
    summary["outputs"] = {
        "adapter": str(adapter_dir),
        "merged": str(output_dir / "merged") if cfg.merge else None,
        "loss_log": str(log_path),
        "loss_curve": str(output_dir / "loss_curve.png"),
    }
    atomic.write_text(output_dir / "run.json", json.dumps(summary, indent=2))


def merge(base: str, adapter_dir: Path, target: Path, cfg: FinetuneConfig) -> Path:
    """Base + adapter folded into plain weights (reloaded unquantised, so QLoRA runs merge too)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dtype = torch_dtype("fp32" if cfg.precision == "auto" and cfg.load_in_4bit else cfg.precision)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    load_tokenizer(base).save_pretrained(tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target
