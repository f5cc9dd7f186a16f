"""One LoRA run through the transformers ``Trainer``: training arguments from the config, the
run (or its resumption from the last complete checkpoint), and its summary (``run.json``)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from runners.finetuning.checkpoints import checkpoint_step, git_commit, start_output_dir, tokens_at
from runners.finetuning.config import FinetuneConfig
from runners.finetuning.data import PadCollator, prepare_data, resolve_data
from runners.finetuning.model import (
    build_model,
    cuda_available,
    load_tokenizer,
    resolve_base,
    torch_dtype,
)
from runners.finetuning.outputs import loss_log_callback, write_outputs
from tasks.ground.errors import ConfigError

log = logging.getLogger(__name__)


def training_arguments(cfg: FinetuneConfig, checkpoints: Path, has_val: bool, resuming: bool):
    from transformers import TrainingArguments

    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = cfg.micro_batch_size * world
    if cfg.batch_size % per_step:
        raise ConfigError(
            f"config key 'batch_size' ({cfg.batch_size}) must be a multiple of micro_batch_size x "
            f"processes ({cfg.micro_batch_size} x {world})"
        )
    dtype = torch_dtype(cfg.precision)
    return TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=cfg.micro_batch_size,
        per_device_eval_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.batch_size // per_step,
        num_train_epochs=cfg.num_epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        optim=cfg.optim,
        bf16=str(dtype) == "torch.bfloat16",
        fp16=str(dtype) == "torch.float16",
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        length_column_name="length",
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        eval_strategy="steps" if has_val else "no",
        eval_steps=cfg.eval_steps,
        eval_on_start=has_val and not resuming,
        prediction_loss_only=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=cfg.dataloader_num_workers,
        dataloader_pin_memory=cuda_available(),
        remove_unused_columns=False,
        ddp_find_unused_parameters=False if world > 1 else None,
        # several ranks without a GPU: transformers forms the gloo DDP group only with
        # use_cpu (otherwise every rank would train alone on the whole data); bf16 on a CPU
        # (autocast on its bf16 units) is refused by transformers without it too
        use_cpu=(world > 1 or str(dtype) == "torch.bfloat16") and not cuda_available(),
        report_to="none",
    )


def make_trainer(cfg: FinetuneConfig, model, tokenizer, data: dict, resume_from: Path | None):
    """The ``Trainer`` of the run: its datasets, padding, and the loss-log mirror."""
    from transformers import Trainer

    output_dir = Path(cfg.output_dir)
    has_val = data["val"] is not None
    args = training_arguments(cfg, output_dir / "checkpoints", has_val, resume_from is not None)
    return Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["val"],
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[loss_log_callback(output_dir)],
    )


def run_session(trainer, resume_from: Path | None, has_val: bool) -> dict[str, Any]:
    """Train this session (from ``resume_from`` when given), then the final validation loss."""
    if resume_from is not None:
        log.info("resuming from %s", resume_from)
    start_step, tokens_before = checkpoint_step(resume_from), tokens_at(resume_from)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    elapsed, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    final_val: dict[str, float] = {}
    if has_val:
        last_eval = [h for h in trainer.state.log_history if "eval_loss" in h]
        if last_eval and last_eval[-1].get("step") == trainer.state.global_step:
            final_val = {"eval_loss": last_eval[-1]["eval_loss"]}
        else:
            final_val = trainer.evaluate()
    return {
        "start_step": start_step,
        "tokens_before": tokens_before,
        "train_loss_mean": result.training_loss,
        "val_loss": final_val.get("eval_loss"),
        "elapsed": elapsed,
        "cpu_seconds": cpu_seconds,
    }


def summarise(cfg: FinetuneConfig, trainer, base: str, data_info: dict, session: dict) -> dict:
    """What ``run.json`` records: data, parameters, steps, losses, throughput, provenance."""
    state, history = trainer.state, trainer.state.log_history
    elapsed, cpu_seconds = session["elapsed"], session["cpu_seconds"]
    new_tokens = state.num_input_tokens_seen - session["tokens_before"]
    return {
        "base_model": cfg.base_model,
        "base_model_path": base,
        "data": data_info,
        "trainable_parameters": session["trainable"],
        "total_parameters": session["total"],
        "resumed_from_step": session["start_step"],
        "global_step": state.global_step,
        "epochs": state.epoch,
        "train_loss_last": _last(history, "loss"),
        "train_loss_mean": session["train_loss_mean"],
        "val_loss": session["val_loss"],
        "val_loss_first": _first(history, "eval_loss"),
        "tokens_seen": state.num_input_tokens_seen,
        "tokens_per_second": new_tokens / elapsed,
        "tokens_per_cpu_second": new_tokens / max(cpu_seconds, 1e-9),
        "steps_per_second": (state.global_step - session["start_step"]) / elapsed,
        "seconds_this_session": round(elapsed, 1),
        "cpu_seconds_this_session": round(cpu_seconds, 1),
        "git_commit": session["git_commit"],
        "world_size": trainer.args.world_size,  # processes (DDP/FSDP ranks) that trained
        "config": cfg.model_dump(),
    }


def _first(history: list[dict[str, Any]], key: str) -> float | None:
    return next((h[key] for h in history if key in h), None)


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    return next((h[key] for h in reversed(history) if key in h), None)


def use_bf16_matmuls() -> None:
    """``precision: bf16-matmul``: float32 products on the CPU's bf16 units for this process
    (ConfigError on a GPU, or on a CPU without the units)."""
    from runners.hardware import apply_matmul_precision

    if cuda_available():
        raise ConfigError(
            "config key 'precision' (bf16-matmul) is a CPU setting; on a GPU use bf16 or auto"
        )
    try:
        apply_matmul_precision("bf16", "precision fp32")
    except ValueError as exc:
        raise ConfigError(f"config key 'precision' (bf16-matmul): {exc}") from exc


def train(cfg: FinetuneConfig, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) one LoRA tuning run; returns the summary also written to run.json."""
    output_dir = Path(cfg.output_dir)
    resume_from = start_output_dir(cfg, overwrite)
    commit = git_commit()  # the code this session trains with

    if cfg.precision == "bf16-matmul":
        use_bf16_matmuls()
    base = resolve_base(cfg.base_model)
    tokenizer = load_tokenizer(base)
    data = prepare_data(cfg, tokenizer, resolve_data(cfg))
    model = build_model(cfg, base)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("trainable parameters: %d of %d (%.3f%%)", trainable, total, 100 * trainable / total)
    trainer = make_trainer(cfg, model, tokenizer, data, resume_from)
    session = run_session(trainer, resume_from, has_val=data["val"] is not None)
    session.update(trainable=trainable, total=total, git_commit=commit)
    summary = summarise(cfg, trainer, base, data["info"], session)
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    if sharded:  # every rank takes part: FSDP / ZeRO-3 gather the LoRA shards to rank 0
        trainer.save_model(str(output_dir / "adapter"))
    if trainer.is_world_process_zero():
        write_outputs(cfg, trainer, tokenizer, base, summary, output_dir, saved=sharded)
    return summary
