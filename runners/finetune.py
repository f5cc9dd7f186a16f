"""``biobench finetune``: LoRA instruction tuning of a causal LM from a YAML config.

The command; the library is ``runners/finetuning/`` (config, data, model, checkpoints, train,
outputs, card). One typed config (``FinetuneConfig``, defaults defined only there; the shipped
YAMLs in ``runners/configs/finetune/`` say where each value comes from), peft LoRA on any
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
    #   tests smoke-check it: python -m torch.distributed.run --standalone --nproc_per_node 2 \\
    #   -m runners.finetune --config ...

Evaluate the adapter with lm-eval's peft support::

    biobench eval --model hf --model_args pretrained=<base>,peft=<output_dir>/adapter \\
        --tasks bio_pubmedqa --limit 5
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from runners.cli import Parser
from runners.finetuning import (
    CONFIG_DIR,
    ConfigError,
    InstructionDataError,
    load_config,
    parse_overrides,
    train,
)

SUMMARY_KEYS = (
    "global_step",
    "train_loss_last",
    "val_loss_first",
    "val_loss",
    "tokens_per_second",
    "tokens_per_cpu_second",
    "seconds_this_session",
)


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


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``--set`` pairs, then the dedicated flags (which win)."""
    overrides = parse_overrides(args.set)
    for key in ("output_dir", "base_model", "data", "max_steps"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.categories is not None:
        overrides["categories"] = [c for c in args.categories.split(",") if c]
    if args.merge:
        overrides["merge"] = True
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, overrides_from_args(args))
        summary = train(cfg, overwrite=args.overwrite)
    except (ConfigError, InstructionDataError) as exc:
        print(f"biobench finetune: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in SUMMARY_KEYS}, indent=2))
    print(f"adapter: {Path(cfg.output_dir) / 'adapter'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
