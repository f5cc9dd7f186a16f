"""The LoRA instruction-tuning library behind ``biobench finetune`` (``runners/finetune.py``,
the command) and ``biobench ablation``.

* ``config``: ``FinetuneConfig`` (a pydantic model, every default defined there), YAML loading,
  ``--set`` overrides;
* ``data``: instruction records -> selected, split, tokenised (response-only loss) and padded;
* ``model``: base model, tokenizer, precision, QLoRA quantisation, seeded LoRA adapters;
* ``checkpoints``: the output folder, resumable checkpoints, the same-config check;
* ``train``: ``Trainer`` arguments, the run and its summary;
* ``outputs`` / ``card``: loss log and curve, adapter, merged model, ``run.json``, model card.

The names below are the library's public API, importable from ``runners.finetuning``.
"""

from __future__ import annotations

from runners.finetuning.checkpoints import (
    RESUMABLE_CHANGES,
    check_same_run,
    is_complete_checkpoint,
    last_checkpoint,
)
from runners.finetuning.config import (
    CATEGORIES,
    CONFIG_DIR,
    DEFAULT_OFFLINE_FILE,
    OFFLINE_DATA,
    PRECISIONS,
    FinetuneConfig,
    config_from_dict,
    config_path,
    load_config,
    parse_overrides,
)
from runners.finetuning.data import InstructionDataError, prepare_data, resolve_data
from runners.finetuning.model import (
    build_model,
    load_tokenizer,
    quantization_config,
    resolve_base,
    torch_dtype,
)
from runners.finetuning.outputs import merge, plot_loss, write_loss_log
from runners.finetuning.train import train, training_arguments
from tasks.ground.errors import ConfigError

__all__ = [
    "CATEGORIES",
    "CONFIG_DIR",
    "DEFAULT_OFFLINE_FILE",
    "OFFLINE_DATA",
    "PRECISIONS",
    "RESUMABLE_CHANGES",
    "ConfigError",
    "FinetuneConfig",
    "InstructionDataError",
    "build_model",
    "check_same_run",
    "config_from_dict",
    "config_path",
    "is_complete_checkpoint",
    "last_checkpoint",
    "load_config",
    "load_tokenizer",
    "merge",
    "parse_overrides",
    "plot_loss",
    "prepare_data",
    "quantization_config",
    "resolve_base",
    "resolve_data",
    "torch_dtype",
    "train",
    "training_arguments",
    "write_loss_log",
]
