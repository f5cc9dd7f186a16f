"""``biobench finetune``: LoRA instruction tuning of a causal LM from a YAML config.

One typed config (``FinetuneConfig``, defaults defined only there; the shipped YAMLs in
``runners/configs/finetune/`` say where each value comes from), peft LoRA on any
``AutoModelForCausalLM`` through the transformers ``Trainer``:

* the Alpaca instruction template shared with every ``bio_*`` evaluation task;
* loss on response tokens only (``train_on_inputs: false``), length-grouped batches,
  optional gradient checkpointing, seeded data split, sampling and LoRA initialisation;
* checkpoints under ``<output_dir>/checkpoints``; a rerun continues from the last complete one
  (a kill mid-save leaves an incomplete folder, which is skipped);
* ``<output_dir>/loss_log.jsonl`` + ``loss_curve.png`` (train and validation loss);
* ``<output_dir>/adapter`` (the LoRA adapter, tokenizer, model card ``README.md``),
  ``<output_dir>/merged`` with ``--merge``, ``<output_dir>/run.json`` (config + results).

Examples::

    biobench finetune --config smollm2-135m --output-dir runs/finetune/smollm2
    biobench finetune --config llama2-7b --data my_instructions.jsonl --set lora_r=8
    accelerate launch --multi_gpu -m runners.finetune --config llama2-13b   # multi-GPU (DDP;
    #   FSDP / DeepSpeed through `accelerate config`); the same DDP path on CPU (gloo), as the
    #   tests smoke-check it: python -m torch.distributed.run --standalone --nproc_per_node 2 \
    #   -m runners.finetune --config ...

Evaluate the adapter with lm-eval's peft support::

    biobench eval --model hf --model_args pretrained=<base>,peft=<output_dir>/adapter \\
        --tasks bio_pubmedqa --limit 5
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bioinstruct_data.errors import ConfigError
from runners.cli import Parser
from tasks import registry
from tasks.common import atomic

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs" / "finetune"
ROOT = Path(__file__).resolve().parents[1]
OFFLINE_DATA = "offline"
DEFAULT_OFFLINE_FILE = Path("runs/instructions/offline.jsonl")
CATEGORIES = registry.CATEGORIES
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
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


@dataclass
class FinetuneConfig:
    """Every setting of a LoRA run (defaults: tloen/alpaca-lora ``finetune.py`` unless noted)."""

    base_model: str = ""  # hub id or folder; ``default`` = the embedded SmolLM2-135M-Instruct
    output_dir: str = ""
    # data
    data: str = OFFLINE_DATA  # instruction .jsonl/.json, or ``offline`` (built from shared data)
    categories: list[str] = field(default_factory=list)  # subset of qa/ie/gen; empty = all
    max_records: int | None = None  # cap on selected records (seeded sample); None = all
    balance_categories: bool = False  # sample each category down to the smallest one's size
    val_size: int = 2000
    template: str = "alpaca"
    cutoff_len: int = 256
    train_on_inputs: bool = False  # False: loss on the response only (alpaca-lora default: True)
    add_eos_token: bool = True  # (alpaca-lora default: False) the model learns to stop
    # LoRA
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    # optimisation
    learning_rate: float = 3e-4
    num_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides num_epochs
    batch_size: int = 128  # effective batch: micro_batch_size x accumulation x processes
    micro_batch_size: int = 4
    warmup_steps: int = 100
    lr_scheduler: str = "linear"
    weight_decay: float = 0.0
    optim: str = "adamw_torch"
    group_by_length: bool = True  # (alpaca-lora default: False; its README's run used it)
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto: bf16 on a bf16 GPU, fp16 on other GPUs, fp32 on CPU
    load_in_4bit: bool = False  # QLoRA (needs CUDA + bitsandbytes)
    seed: int = 42
    # bookkeeping
    logging_steps: int = 10
    eval_steps: int = 200
    save_steps: int = 200
    save_total_limit: int = 3
    dataloader_num_workers: int = 0
    merge: bool = False  # also write base + adapter merged into one model

    def validate(self) -> FinetuneConfig:
        def need(ok: bool, key: str, problem: str) -> None:
            if not ok:
                raise ConfigError(f"config key {key!r}: {problem} (got {getattr(self, key)!r})")

        need(bool(self.base_model.strip()), "base_model", "set a hub id, a folder, or 'default'")
        need(bool(self.output_dir.strip()), "output_dir", "set a folder for checkpoints/adapter")
        need(bool(self.data.strip()), "data", f"set an instruction file or {OFFLINE_DATA!r}")
        bad = [c for c in self.categories if c not in CATEGORIES]
        need(not bad, "categories", f"each must be one of {CATEGORIES}")
        need(self.max_records is None or self.max_records > 0, "max_records", "must be > 0")
        need(self.val_size >= 0, "val_size", "must be >= 0")
        need(self.cutoff_len >= 8, "cutoff_len", "must be >= 8 tokens")
        need(self.lora_r > 0, "lora_r", "must be > 0")
        need(self.lora_alpha > 0, "lora_alpha", "must be > 0")
        need(0.0 <= self.lora_dropout < 1.0, "lora_dropout", "must be in [0, 1)")
        need(bool(self.lora_target_modules), "lora_target_modules", "name at least one module")
        need(self.learning_rate > 0, "learning_rate", "must be > 0")
        need(self.max_steps > 0 or self.num_epochs > 0, "num_epochs", "or max_steps must be > 0")
        need(self.micro_batch_size > 0, "micro_batch_size", "must be > 0")
        need(
            self.batch_size >= self.micro_batch_size
            and self.batch_size % self.micro_batch_size == 0,
            "batch_size",
            f"must be a multiple of micro_batch_size={self.micro_batch_size}",
        )
        need(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        need(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}")
        for key in ("logging_steps", "eval_steps", "save_steps", "save_total_limit"):
            need(getattr(self, key) > 0, key, "must be > 0")
        return self


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """YAML value -> the field's type, or a ConfigError naming the key."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    try:
        if origin is list:
            items = [value] if isinstance(value, str) else list(value)
            return [str(v) for v in items]
        if hint is bool:
            if isinstance(value, bool):
                return value
            raise TypeError
        if hint is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise TypeError
            return int(float(value))
        if hint is float:  # PyYAML reads 3e-4 as a string: accept it
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if hint is str:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise TypeError
            return str(value)
    except (TypeError, ValueError):
        pass
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"config key {key!r}: expected {name}, got {value!r}")


def config_from_dict(raw: dict[str, Any], where: str = "config") -> FinetuneConfig:
    hints = typing.get_type_hints(FinetuneConfig)
    unknown = [k for k in raw if k not in hints]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(hints), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{where}: unknown key {key!r}.{hint} Known keys: {', '.join(sorted(hints))}"
        )
    values = {k: _coerce(k, v, hints[k]) for k, v in raw.items()}
    return FinetuneConfig(**values).validate()


def config_path(name_or_path: str) -> Path:
    """A YAML path, or the name of a shipped config (``smollm2-135m``, ``llama2-7b``, ...)."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(f"no config {name_or_path!r}: give a .yaml path or one of {known}")


def load_config(name_or_path: str, overrides: dict[str, Any] | None = None) -> FinetuneConfig:
    path = config_path(name_or_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of key: value")
    raw.update(overrides or {})
    return config_from_dict(raw, where=str(path))


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: write key=value, e.g. --set lora_r=16")
        out[key.strip()] = yaml.safe_load(value)
    return out


# --------------------------------------------------------------------------- run state


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


def check_same_run(saved: dict[str, Any], cfg: FinetuneConfig, output_dir: Path) -> None:
    """A resumed run must have the config of the run that wrote the checkpoints."""
    current = asdict(cfg)
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


# --------------------------------------------------------------------------- model


def resolve_base(base_model: str) -> str:
    from runners.model import resolve_model_path

    return resolve_model_path(base_model)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def torch_dtype(precision: str):
    import torch

    if precision == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def quantization_config(cfg: FinetuneConfig):
    """QLoRA's 4-bit NF4 + double quantisation (Dettmers et al. 2023), or None."""
    if not cfg.load_in_4bit:
        return None
    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            "config key 'load_in_4bit': QLoRA needs a CUDA GPU and the bitsandbytes package "
            "(`pip install bitsandbytes` on a GPU machine); set load_in_4bit: false to train "
            "in full or half precision instead"
        )
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch_dtype(cfg.precision),
    )


def load_tokenizer(base: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        # No new token (it would change the vocabulary, and lm-eval's peft loading with it).
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_model(cfg: FinetuneConfig, base: str):
    """The base model with fresh LoRA adapters (seeded), trainable parameters only in LoRA."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, set_seed

    quant = quantization_config(cfg)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(cfg.precision)}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    model.config.use_cache = False
    if quant is not None:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing
        )
    targets = cfg.lora_target_modules
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets[0] if targets == ["all-linear"] else targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    set_seed(cfg.seed)  # LoRA A matrices are initialised randomly
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        names = sorted({n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if "." in n})
        raise ConfigError(
            f"config key 'lora_target_modules' {targets}: {exc}. Module names in this model: "
            f"{', '.join(names[:40])}"
        ) from exc
    return model


# --------------------------------------------------------------------------- data


def resolve_data(cfg: FinetuneConfig) -> Path:
    """The instruction file; ``offline`` builds it from $BIOBENCH_DATA_DIR once."""
    if cfg.data != OFFLINE_DATA:
        return Path(cfg.data)
    from bioinstruct_data import offline_instructions
    from tasks.common.sources import DATA_DIR_ENV, data_dir

    root = data_dir()
    if root is None or not root.is_dir():
        raise ConfigError(
            f"data: {OFFLINE_DATA!r} builds instructions from the training splits in "
            f"${DATA_DIR_ENV} (the shared data folder, e.g. ../shared/data), which is not set "
            "or not a folder. Set it, or point `data` at an instruction .jsonl file."
        )
    return offline_instructions.ensure(root, DEFAULT_OFFLINE_FILE)


def prepare_data(cfg: FinetuneConfig, tokenizer, data_file: Path) -> dict[str, Any]:
    from runners import finetune_data as fd
    from tasks.common.prompting import load_template

    records = fd.read_instructions(data_file)
    selected = fd.select(
        records, cfg.categories, cfg.max_records, cfg.seed, balance=cfg.balance_categories
    )
    train_records, val_records = fd.split(selected, cfg.val_size, cfg.seed)
    template = load_template(cfg.template)
    encoder = fd.Encoder(
        tokenizer, template, cfg.cutoff_len, cfg.train_on_inputs, cfg.add_eos_token
    )
    train, dropped_train = fd.encode_all(encoder, train_records, "train")
    val, dropped_val = (
        fd.encode_all(encoder, val_records, "validation") if val_records else (None, 0)
    )
    counts: dict[str, int] = {}
    for r in selected:
        counts[r["category"] or "unlabelled"] = counts.get(r["category"] or "unlabelled", 0) + 1
    return {
        "train": train,
        "val": val,
        "info": {
            "file": str(data_file),
            "sha256": fd.file_sha256(data_file),
            "n_records_in_file": len(records),
            "n_selected": len(selected),
            "selected_by_category": counts,
            "n_train": len(train),
            "n_val": 0 if val is None else len(val),
            "dropped_over_cutoff": dropped_train + dropped_val,
            "template": f"{template.name} v{template.version}",
        },
    }


# --------------------------------------------------------------------------- training


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


def train(cfg: FinetuneConfig, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) one LoRA tuning run; returns the summary also written to run.json."""
    from transformers import Trainer

    from runners.finetune_data import PadCollator

    output_dir = Path(cfg.output_dir)
    checkpoints = output_dir / "checkpoints"
    if overwrite and output_dir.exists():
        if any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
            raise ConfigError(
                f"--overwrite: {output_dir} is not the output folder of a finetune run (it has no "
                "config.json); refusing to delete it. Choose an empty or new output_dir."
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resume_from = last_checkpoint(checkpoints)
    config_file = output_dir / "config.json"
    if resume_from is not None and config_file.is_file():
        check_same_run(json.loads(config_file.read_text(encoding="utf-8")), cfg, output_dir)
    atomic.write_text(config_file, json.dumps(asdict(cfg), indent=2))
    commit = git_commit()  # the code this session trains with

    base = resolve_base(cfg.base_model)
    tokenizer = load_tokenizer(base)
    data = prepare_data(cfg, tokenizer, resolve_data(cfg))
    model = build_model(cfg, base)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("trainable parameters: %d of %d (%.3f%%)", trainable, total, 100 * trainable / total)
    args = training_arguments(cfg, checkpoints, data["val"] is not None, resume_from is not None)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["val"],
        data_collator=PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[loss_log_callback(output_dir)],
    )
    if resume_from is not None:
        log.info("resuming from %s", resume_from)
    start_step = int(resume_from.name.split("-")[1]) if resume_from else 0
    started, cpu_started = time.perf_counter(), time.process_time()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    elapsed, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    tokens_before = _tokens_at(resume_from)
    final_val: dict[str, float] = {}
    if data["val"] is not None:
        last_eval = [h for h in trainer.state.log_history if "eval_loss" in h]
        if last_eval and last_eval[-1].get("step") == trainer.state.global_step:
            final_val = {"eval_loss": last_eval[-1]["eval_loss"]}
        else:
            final_val = trainer.evaluate()
    summary = {
        "base_model": cfg.base_model,
        "base_model_path": base,
        "data": data["info"],
        "trainable_parameters": trainable,
        "total_parameters": total,
        "resumed_from_step": start_step,
        "global_step": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_loss_last": _last(trainer.state.log_history, "loss"),
        "train_loss_mean": result.training_loss,
        "val_loss": final_val.get("eval_loss"),
        "val_loss_first": _first(trainer.state.log_history, "eval_loss"),
        "tokens_seen": trainer.state.num_input_tokens_seen,
        "tokens_per_second": (trainer.state.num_input_tokens_seen - tokens_before) / elapsed,
        "tokens_per_cpu_second": (trainer.state.num_input_tokens_seen - tokens_before)
        / max(cpu_seconds, 1e-9),
        "steps_per_second": (trainer.state.global_step - start_step) / elapsed,
        "seconds_this_session": round(elapsed, 1),
        "cpu_seconds_this_session": round(cpu_seconds, 1),
        "git_commit": commit,
        "world_size": trainer.args.world_size,  # processes (DDP/FSDP ranks) that trained
        "config": asdict(cfg),
    }
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    if sharded:  # every rank takes part: FSDP / ZeRO-3 gather the LoRA shards to rank 0
        trainer.save_model(str(output_dir / "adapter"))
    if trainer.is_world_process_zero():
        write_outputs(cfg, trainer, tokenizer, base, summary, output_dir, saved=sharded)
    return summary


def _first(history: list[dict[str, Any]], key: str) -> float | None:
    return next((h[key] for h in history if key in h), None)


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    return next((h[key] for h in reversed(history) if key in h), None)


def _tokens_at(checkpoint: Path | None) -> int:
    """Input tokens seen when ``checkpoint`` was saved (0 for a fresh run)."""
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("num_input_tokens_seen") or 0)


# --------------------------------------------------------------------------- outputs


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
    plot_loss(log_path, output_dir / "loss_curve.png", f"LoRA on {Path(base).name}")
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


def _provenance(base: str) -> dict[str, Any]:
    marker = Path(base) / "biobench_model.json"
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    return {}


def model_card(summary: dict[str, Any], base: str) -> str:
    from importlib import metadata

    cfg = summary["config"]
    data = summary["data"]
    prov = _provenance(base)
    versions = {p: metadata.version(p) for p in ("torch", "transformers", "peft", "accelerate")}
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    lines = [
        "---",
        "library_name: peft",
        f"base_model: {prov.get('upstream', cfg['base_model'])}",
        "tags: [lora, biomedical, instruction-tuning, bioinstruct-bench]",
        "---",
        "",
        f"# LoRA adapter for {prov.get('name', Path(base).name)} (BioInstruct Bench recipe)",
        "",
        "Trained with `biobench finetune` (BioInstruct Bench). Prompt: the project's Alpaca "
        f"template ({data['template']}); loss on response tokens only: "
        f"{not cfg['train_on_inputs']}.",
        "",
        "## Base model",
        f"- config value: `{cfg['base_model']}`; loaded from `{base}`",
        *(f"- {k}: {v}" for k, v in prov.items()),
        "",
        "## Data",
        f"- file: `{data['file']}`",
        f"- sha256: `{data['sha256']}`",
        f"- records in file: {data['n_records_in_file']}; selected: {data['n_selected']} "
        f"(categories {cfg['categories'] or 'all'}: {data['selected_by_category']})",
        f"- train / validation: {data['n_train']} / {data['n_val']} "
        f"(dropped over cutoff_len: {data['dropped_over_cutoff']})",
        "",
        "## Hyperparameters",
        "```yaml",
        yaml.safe_dump(cfg, sort_keys=False).rstrip(),
        "```",
        "",
        "## Training",
        f"- optimizer steps: {summary['global_step']} (epochs {summary['epochs']:.3f}); "
        f"resumed from step {summary['resumed_from_step']}",
        f"- last train loss: {fmt(summary['train_loss_last'])}; validation loss: "
        f"{fmt(summary['val_loss_first'])} before -> {fmt(summary['val_loss'])} after",
        f"- throughput this session: {summary['tokens_per_second']:.1f} tokens/s wall, "
        f"{summary['tokens_per_cpu_second']:.1f} tokens per CPU-second "
        f"({summary['tokens_seen']} input tokens seen in total)",
        f"- trainable parameters: {summary['trainable_parameters']} of "
        f"{summary['total_parameters']}",
        "",
        "## Provenance",
        f"- git commit: `{summary['git_commit']}`",
        "- " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        "## Evaluate",
        "```",
        f"biobench eval --model hf --model_args pretrained={base},peft=<this folder> "
        "--tasks bio_qa",
        "```",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="biobench finetune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        required=True,
        help="a YAML file, or a shipped config name: "
        + ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))),
    )
    parser.add_argument("--output-dir", help="overrides output_dir")
    parser.add_argument("--base-model", help="overrides base_model")
    parser.add_argument("--data", help="overrides data (instruction file or 'offline')")
    parser.add_argument("--categories", help="overrides categories, e.g. qa,ie")
    parser.add_argument("--max-steps", type=int, help="overrides max_steps")
    parser.add_argument("--merge", action="store_true", help="also write the merged model")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key (repeatable)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete output_dir first instead of resuming from its checkpoints",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from runners.finetune_data import InstructionDataError

    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        overrides = parse_overrides(args.set)
        for key in ("output_dir", "base_model", "data", "max_steps"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        if args.categories is not None:
            overrides["categories"] = [c for c in args.categories.split(",") if c]
        if args.merge:
            overrides["merge"] = True
        cfg = load_config(args.config, overrides)
        summary = train(cfg, overwrite=args.overwrite)
    except (ConfigError, InstructionDataError) as exc:
        print(f"biobench finetune: {exc}", file=sys.stderr)
        return 2

    keys = (
        "global_step",
        "train_loss_last",
        "val_loss_first",
        "val_loss",
        "tokens_per_second",
        "tokens_per_cpu_second",
        "seconds_this_session",
    )
    print(json.dumps({k: summary[k] for k in keys}, indent=2))
    print(f"adapter: {Path(cfg.output_dir) / 'adapter'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
