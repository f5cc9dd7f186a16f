"""LoRA recipe: length-grouped vs random batches, side by side on the same records.

Data: a seeded sample of 3,000 offline instruction records (``bioinstruct_data.offline_instructions``, built from the
training splits in $BIOBENCH_DATA_DIR) when that folder is set, else 2,000 synthetic records of
the same shape made with ``random.Random(0)``; tokenised with the embedded SmolLM2 tokenizer and
the recipe's encoder (Alpaca template, cutoff 384, response-only labels).

Measured:

* padding: the share of padded positions over one epoch of micro-batches, with the sampler the
  Trainer uses for ``group_by_length`` (transformers' ``LengthGroupedSampler``) and with a
  random permutation (the default), for micro-batch sizes 4 and 8;
* throughput: LoRA training steps on SmolLM2-135M (r=16 on q/k/v/o, fp32 on the CPU) fed the
  first ``STEPS`` batches of each sampler; real (non-pad) tokens per CPU-second of the process,
  which on a shared machine is steadier than wall time.

Goal: length grouping removes at least half of the padding at micro-batch 4.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import torch

from runners import finetuning as ft
from runners.finetuning import data as fd
from tasks.common.prompting import load_template

CUTOFF = 384
STEPS = 2
SAMPLE = 3_000  # records tokenised for the padding statistics (a seeded sample)
GOAL_PADDING_CUT = 0.5
N_SYNTHETIC = 2_000


def records() -> tuple[list[dict[str, str]], str]:
    root = os.environ.get("BIOBENCH_DATA_DIR")
    if root and Path(root).is_dir():
        from bioinstruct_data import offline_instructions

        path = offline_instructions.ensure(Path(root), ft.DEFAULT_OFFLINE_FILE)
        return fd.read_instructions(path), f"offline instructions ({path})"
    rng = random.Random(0)
    words = "patient dose aspirin tumour gene protein fever cough therapy trial risk".split()
    out = []
    for _ in range(N_SYNTHETIC):
        text = " ".join(rng.choice(words) for _ in range(int(rng.lognormvariate(3.5, 0.8))))
        out.append(
            {
                "instruction": "Summarise the text.",
                "input": text,
                "output": text[:80],
                "category": "gen",
                "source": "synthetic",
            }
        )
    return out, f"{N_SYNTHETIC} synthetic records"


def batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def padding_share(lengths: list[int], groups: list[list[int]]) -> float:
    real = sum(lengths[i] for g in groups for i in g)
    padded = sum(len(g) * max(lengths[i] for i in g) for g in groups)
    return 1 - real / padded


def orders(lengths: list[int], size: int, seed: int = 0) -> dict[str, list[int]]:
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed)
    grouped = list(LengthGroupedSampler(size, lengths=lengths, generator=generator))
    shuffled = list(range(len(lengths)))
    random.Random(seed).shuffle(shuffled)
    return {"random": shuffled, "group_by_length": grouped}


def lora_throughput(encoded: list[dict], order: list[int], size: int) -> dict[str, float]:
    from runners.model import prepare_default_model

    cfg = ft.config_from_dict(
        {
            "base_model": str(prepare_default_model()),
            "output_dir": "unused",
            "lora_r": 16,
            "lora_alpha": 16,
            "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
            "precision": "fp32",
        }
    )
    model = ft.build_model(cfg, cfg.base_model)
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    collate = fd.PadCollator(pad_id=0)
    tokens = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for group in batches(order, size)[:STEPS]:
        batch = collate([encoded[i] for i in group])
        tokens += int(batch["attention_mask"].sum())
        model(**batch).loss.backward()
        optim.step()
        optim.zero_grad()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "real_tokens": tokens,
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(wall, 1),
        "tokens_per_cpu_second": round(tokens / cpu, 1),
    }


def run() -> dict:
    from runners.model import prepare_default_model

    data, source = records()
    if len(data) > SAMPLE:
        data = random.Random(0).sample(data, SAMPLE)
        source += f", seeded sample of {SAMPLE}"
    tokenizer = ft.load_tokenizer(str(prepare_default_model()))
    encoder = fd.Encoder(tokenizer, load_template(), CUTOFF)
    encoded = [e for e in (encoder(r) for r in data) if e is not None]
    lengths = [len(e["input_ids"]) for e in encoded]
    report: dict = {
        "data": source,
        "records": len(encoded),
        "cutoff_len": CUTOFF,
        "mean_tokens": round(sum(lengths) / len(lengths), 1),
        "padding_share": {},
    }
    for size in (4, 8):
        shares = {
            k: round(padding_share(lengths, batches(o, size)), 4)
            for k, o in orders(lengths, size).items()
        }
        shares["padding_removed"] = round(1 - shares["group_by_length"] / shares["random"], 3)
        report["padding_share"][f"micro_batch_{size}"] = shares
    four = orders(lengths, 4)
    report["lora_steps_micro_batch_4"] = {
        k: lora_throughput(encoded, o, 4) for k, o in four.items()
    }
    removed = report["padding_share"]["micro_batch_4"]["padding_removed"]
    report["goal"] = f"group_by_length removes >= {GOAL_PADDING_CUT:.0%} of padding (mb 4)"
    report["goal_met"] = removed >= GOAL_PADDING_CUT
    return report
