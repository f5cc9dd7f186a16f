"""The model side of the LoRA recipe: the base model and tokenizer, precision, QLoRA's 4-bit
quantisation, and the seeded LoRA adapters (peft)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from runners.finetuning.config import FinetuneConfig
from tasks.ground.errors import ConfigError


def resolve_base(base_model: str) -> str:
    """A hub id or folder as given, ``default`` as the embedded SmolLM2-135M-Instruct folder."""
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
    return {
        "fp32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
        "bf16-matmul": torch.float32,  # float32 tensors; the products on bf16 units
    }[precision]


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


def load_base_model(cfg: FinetuneConfig, base: str):
    """The base model in the config's precision (4-bit and k-bit-prepared with QLoRA)."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

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
    return model


def build_model(cfg: FinetuneConfig, base: str):
    """The base model with fresh LoRA adapters (seeded), trainable parameters only in LoRA."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    model = load_base_model(cfg, base)
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
