"""The one typed config of a LoRA run (``FinetuneConfig``, a pydantic model: every default is
defined here; the shipped YAMLs in ``runners/configs/finetune/`` say where each value comes
from), loaded from a YAML file or a shipped config name plus ``--set key=value`` overrides.

Types are pydantic's (lax: ``8``, ``8.0`` and ``"8"`` are the int 8; PyYAML's string ``3e-4`` is
the float 3e-4), except that ``true``/``false`` are never numbers and only ``true``/``false`` are
booleans. A list of names may be given as one name. Every error is one ``ConfigError`` naming
the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from runners.cli import runs_dir
from tasks import registry
from tasks.ground.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "finetune"
OFFLINE_DATA = "offline"
DEFAULT_OFFLINE_FILE = runs_dir(
    "instructions", "offline.jsonl"
)  # the checkout's runs/, not the cwd
CATEGORIES = registry.CATEGORIES
# bf16-matmul: float32 weights and training, matrix products (forward and backward) on the
# CPU's bf16 units (runners.hardware.apply_matmul_precision; a CPU setting)
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "bf16-matmul")


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("true/false is not a number")
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Int = Annotated[int, BeforeValidator(_not_a_flag)]
Float = Annotated[float, BeforeValidator(_not_a_flag)]
Flag = Annotated[bool, Strict()]
Names = Annotated[list[str], BeforeValidator(_one_or_many)]


class FinetuneConfig(BaseModel):
    """Every setting of a LoRA run (defaults: tloen/alpaca-lora ``finetune.py`` unless noted)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    base_model: str = ""  # hub id or folder; ``default`` = the embedded SmolLM2-135M-Instruct
    output_dir: str = ""
    # data
    data: str = OFFLINE_DATA  # instruction .jsonl/.json, or ``offline`` (built from shared data)
    categories: Names = Field(default_factory=list)  # subset of qa/ie/gen; empty = all
    max_records: Int | None = None  # cap on selected records (seeded sample); None = all
    balance_categories: Flag = False  # sample each category down to the smallest one's size
    val_size: Int = 2000
    template: str = "alpaca"
    cutoff_len: Int = 256
    train_on_inputs: Flag = False  # False: loss on the response only (alpaca-lora default: True)
    add_eos_token: Flag = True  # (alpaca-lora default: False) the model learns to stop
    # LoRA
    lora_r: Int = 8
    lora_alpha: Int = 16
    lora_dropout: Float = 0.05
    lora_target_modules: Names = Field(default_factory=lambda: ["q_proj", "v_proj"])
    # optimisation
    learning_rate: Float = 3e-4
    num_epochs: Float = 3.0
    max_steps: Int = -1  # > 0 overrides num_epochs
    batch_size: Int = 128  # effective batch: micro_batch_size x accumulation x processes
    micro_batch_size: Int = 4
    warmup_steps: Int = 100
    lr_scheduler: str = "linear"
    weight_decay: Float = 0.0
    optim: str = "adamw_torch"
    group_by_length: Flag = True  # (alpaca-lora default: False; its README's run used it)
    gradient_checkpointing: Flag = False
    precision: str = "auto"  # auto: bf16 on a bf16 GPU, fp16 on other GPUs, fp32 on CPU
    load_in_4bit: Flag = False  # QLoRA (needs CUDA + bitsandbytes)
    seed: Int = 42
    # bookkeeping
    logging_steps: Int = 10
    eval_steps: Int = 200
    save_steps: Int = 200
    save_total_limit: Int = 3
    dataloader_num_workers: Int = 0
    merge: Flag = False  # also write base + adapter merged into one model

    @model_validator(mode="after")
    def _check_rules(self) -> FinetuneConfig:
        for ok, key, problem in _rules(self):
            if not ok:
                raise PydanticCustomError(
                    "config_rule",
                    "{problem} (got {value})",
                    {"key": key, "problem": problem, "value": repr(getattr(self, key))},
                )
        return self


def _rules(c: FinetuneConfig) -> list[tuple[bool, str, str]]:
    """(holds, key, what to do otherwise) for every rule across fields."""
    bad_categories = [x for x in c.categories if x not in CATEGORIES]
    multiple = c.batch_size >= c.micro_batch_size and c.batch_size % c.micro_batch_size == 0
    return [
        (bool(c.base_model.strip()), "base_model", "set a hub id, a folder, or 'default'"),
        (bool(c.output_dir.strip()), "output_dir", "set a folder for checkpoints/adapter"),
        (bool(c.data.strip()), "data", f"set an instruction file or {OFFLINE_DATA!r}"),
        (not bad_categories, "categories", f"each must be one of {CATEGORIES}"),
        (c.max_records is None or c.max_records > 0, "max_records", "must be > 0"),
        (c.val_size >= 0, "val_size", "must be >= 0"),
        (c.cutoff_len >= 8, "cutoff_len", "must be >= 8 tokens"),
        (c.lora_r > 0, "lora_r", "must be > 0"),
        (c.lora_alpha > 0, "lora_alpha", "must be > 0"),
        (0.0 <= c.lora_dropout < 1.0, "lora_dropout", "must be in [0, 1)"),
        (bool(c.lora_target_modules), "lora_target_modules", "name at least one module"),
        (c.learning_rate > 0, "learning_rate", "must be > 0"),
        (c.max_steps > 0 or c.num_epochs > 0, "num_epochs", "or max_steps must be > 0"),
        (c.micro_batch_size > 0, "micro_batch_size", "must be > 0"),
        (
            multiple,
            "batch_size",
            f"must be a multiple of micro_batch_size={c.micro_batch_size}",
        ),
        (c.warmup_steps >= 0, "warmup_steps", "must be >= 0"),
        (c.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}"),
        *(
            (getattr(c, key) > 0, key, "must be > 0")
            for key in ("logging_steps", "eval_steps", "save_steps", "save_total_limit")
        ),
    ]


# --------------------------------------------------------------------------- errors


def _type_name(key: str) -> str:
    """``int``, ``float``, ``bool``, ``str`` or ``list`` for a field (``X | None``: X)."""
    hint = FinetuneConfig.model_fields[key].annotation
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and typing.get_origin(hint) is not list:
        hint = args[0]
    while typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) is list:
        return "list"
    return getattr(hint, "__name__", str(hint))


def _example(key: str) -> str:
    field = FinetuneConfig.model_fields[key]
    default = field.get_default(call_default_factory=True)
    text = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...")
    return f"{key}: {text.strip()}"


def _config_error(exc: ValidationError, raw: dict[str, Any], where: str) -> ConfigError:
    """The first problem of a ``ValidationError`` (unknown keys first) as one ConfigError."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    key = str(error["loc"][0]) if error["loc"] else error.get("ctx", {}).get("key", "?")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(FinetuneConfig.model_fields), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(FinetuneConfig.model_fields))
        return ConfigError(f"{where}: unknown key {key!r}.{hint} Known keys: {known}")
    if error["type"] == "config_rule":
        ctx = error["ctx"]
        return ConfigError(f"{where}: config key {ctx['key']!r}: {error['msg']}")
    name = _type_name(key)
    return ConfigError(
        f"{where}: config key {key!r}: expected {name}, got {raw.get(key)!r}; "
        f"write e.g. `{_example(key)}` (the default)"
    )


# --------------------------------------------------------------------------- loading


def config_from_dict(raw: dict[str, Any], where: str = "config") -> FinetuneConfig:
    """A validated config from ``key: value`` pairs; ``where`` names their file in errors."""
    try:
        return FinetuneConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, raw, where) from None


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
    """A shipped config or YAML file, with ``overrides`` (e.g. from ``--set``) on top."""
    path = config_path(name_or_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of key: value")
    raw.update(overrides or {})
    return config_from_dict(raw, where=str(path))


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lora_r=16", "categories=[qa, ie]"]`` -> ``{"lora_r": 16, ...}`` (values as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: write key=value, e.g. --set lora_r=16")
        out[key.strip()] = yaml.safe_load(value)
    return out
