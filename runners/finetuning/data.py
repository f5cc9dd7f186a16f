"""Data side of the LoRA recipe: find the instruction file, read its records, select and split
them, tokenise with the response-only loss mask, and pad batches.

Records are Alpaca-style JSON objects ``{"instruction", "input", "output", "category"?,
"source"?}`` in a ``.jsonl`` file (one per line) or a ``.json`` file (a list). Every record is
rendered with the project's one instruction template (``tasks/common/prompts/alpaca.json``),
the template every ``bio_*`` evaluation task uses.

The loss mask: prompt and response are tokenised separately and concatenated, so the boundary
is exact; labels are ``-100`` over the prompt (and padding) and equal the token ids over the
response and the end-of-sequence token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.finetuning.config import DEFAULT_OFFLINE_FILE, OFFLINE_DATA, FinetuneConfig
from tasks.common.prompting import InstructionTemplate
from tasks.ground.errors import ConfigError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label value the causal-LM loss skips
REQUIRED_FIELDS = ("instruction", "output")


class InstructionDataError(ValueError):
    """An instruction file that cannot be used; the message names the file, line and fix."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(record: Any, where: str) -> dict[str, str]:
    if not isinstance(record, dict):
        raise InstructionDataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [f for f in REQUIRED_FIELDS if not str(record.get(f, "")).strip()]
    if missing:
        raise InstructionDataError(
            f"{where}: missing or empty field(s) {missing}; every record needs "
            f"'instruction' and 'output' (and optionally 'input', 'category', 'source')"
        )
    return {
        "instruction": str(record["instruction"]),
        "input": str(record.get("input") or ""),
        "output": str(record["output"]),
        "category": str(record.get("category") or "").lower(),
        "source": str(record.get("source") or ""),
    }


def read_instructions(path: Path) -> list[dict[str, str]]:
    """All records of a ``.jsonl`` or ``.json`` instruction file, checked."""
    if not path.is_file():
        raise InstructionDataError(f"instruction file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InstructionDataError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            records.append(_check(raw, f"{path}:{n}"))
    elif path.suffix == ".json":
        raw = json.loads(text)
        if not isinstance(raw, list):
            raise InstructionDataError(f"{path}: a .json instruction file must hold a list")
        records = [_check(r, f"{path}[{i}]") for i, r in enumerate(raw)]
    else:
        raise InstructionDataError(f"{path}: use a .jsonl (one record a line) or .json file")
    if not records:
        raise InstructionDataError(f"{path}: no records")
    return records


def select(
    records: list[dict[str, str]],
    categories: Sequence[str],
    max_records: int | None,
    seed: int,
    balance: bool = False,
) -> list[dict[str, str]]:
    """Records of ``categories`` (all when empty), at most ``max_records`` (a seeded sample).

    ``balance``: first sample every category down to the size of the smallest one, so that no
    category dominates a short run (seeded; the original order is kept).
    """
    if categories:
        wanted = set(categories)
        kept = [r for r in records if r["category"] in wanted]
        if not kept:
            found = dict(Counter(r["category"] for r in records))
            raise InstructionDataError(
                f"no records of categories {sorted(wanted)}; the file has {found}"
            )
    else:
        kept = list(records)
    rng = random.Random(seed)
    if balance:
        by_category: dict[str, list[int]] = {}
        for i, r in enumerate(kept):
            by_category.setdefault(r["category"], []).append(i)
        size = min(len(v) for v in by_category.values())
        chosen = sorted(i for v in by_category.values() for i in rng.sample(v, size))
        kept = [kept[i] for i in chosen]
    if max_records is not None and len(kept) > max_records:
        kept = [kept[i] for i in sorted(rng.sample(range(len(kept)), max_records))]
    return kept


def split(
    records: list[dict[str, str]], val_size: int, seed: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(train, validation): ``val_size`` records drawn with ``random.Random(seed)``."""
    if val_size == 0:
        return list(records), []
    if val_size >= len(records):
        raise InstructionDataError(
            f"val_size={val_size} leaves no training records (only {len(records)} selected); "
            "lower val_size or add data"
        )
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    val_ids = set(order[:val_size])
    train = [r for i, r in enumerate(records) if i not in val_ids]
    val = [r for i, r in enumerate(records) if i in val_ids]
    return train, val


@dataclass(frozen=True)
class Encoder:
    """Record -> ``input_ids``, ``attention_mask``, ``labels`` (response-only loss)."""

    tokenizer: Any
    template: InstructionTemplate
    cutoff_len: int
    train_on_inputs: bool = False
    add_eos_token: bool = True

    def __call__(self, record: dict[str, str]) -> dict[str, list[int]] | None:
        prompt = self.template.render(record["instruction"], record["input"])
        prompt_ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        response_ids = self.tokenizer(record["output"], add_special_tokens=False)["input_ids"]
        if self.add_eos_token and self.tokenizer.eos_token_id is not None:
            response_ids = response_ids + [self.tokenizer.eos_token_id]
        input_ids = (prompt_ids + response_ids)[: self.cutoff_len]
        n_prompt = min(len(prompt_ids), len(input_ids))
        if n_prompt == len(input_ids):
            return None  # the prompt fills the cutoff: nothing left to learn from
        if self.train_on_inputs:
            labels = list(input_ids)
        else:
            labels = [IGNORE_INDEX] * n_prompt + input_ids[n_prompt:]
        return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def encode_all(encoder: Encoder, records: list[dict[str, str]], desc: str):
    """A ``datasets.Dataset`` of encoded records with a ``length`` column (for length grouping).

    Records whose prompt alone fills ``cutoff_len`` are dropped and counted in the log.
    """
    import datasets
    from tqdm.auto import tqdm

    rows = []
    dropped = 0
    for record in tqdm(records, desc=f"tokenising {desc}", unit="rec"):
        encoded = encoder(record)
        if encoded is None:
            dropped += 1
            continue
        encoded["length"] = len(encoded["input_ids"])
        rows.append(encoded)
    if dropped:
        log.warning(
            "%s: %d of %d records dropped (prompt longer than cutoff_len=%d)",
            desc,
            dropped,
            len(records),
            encoder.cutoff_len,
        )
    if not rows:
        raise InstructionDataError(
            f"{desc}: every record's prompt is longer than cutoff_len={encoder.cutoff_len}; "
            "raise cutoff_len"
        )
    return datasets.Dataset.from_list(rows), dropped


@dataclass(frozen=True)
class PadCollator:
    """Right-pads a batch: ids with ``pad_id``, mask with 0, labels with -100."""

    pad_id: int
    pad_to_multiple_of: int = 8

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        m = self.pad_to_multiple_of
        width = -(-longest // m) * m if m > 1 else longest
        batch: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        for f in features:
            pad = width - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_id] * pad)
            batch["attention_mask"].append(list(f["attention_mask"]) + [0] * pad)
            batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}


# --------------------------------------------------------------------------- the run's data


def resolve_data(cfg: FinetuneConfig) -> Path:
    """The instruction file; ``offline`` builds it once from the training splits in the data
    folder (``$BIOBENCH_DATA_DIR``, else the per-user cache), fetched and verified first."""
    if cfg.data != OFFLINE_DATA:
        return Path(cfg.data)
    from bioinstruct_data import offline_instructions
    from tasks.common.fetch import DataUnavailableError, ensure
    from tasks.common.manifest import manifest

    try:  # the builders read the training splits of ten datasets and the test splits beside them
        root = ensure(manifest().files)
    except DataUnavailableError as exc:
        raise ConfigError(
            f"data: {OFFLINE_DATA!r} builds instructions from the training splits in the data "
            f"folder: {exc}. Or point `data` at an instruction .jsonl file."
        ) from exc
    return offline_instructions.ensure(root, DEFAULT_OFFLINE_FILE)


def prepare_data(cfg: FinetuneConfig, tokenizer, data_file: Path) -> dict[str, Any]:
    """Train and validation datasets of ``data_file`` and what they hold (``info``)."""
    from tasks.common.prompting import load_template

    records = read_instructions(data_file)
    selected = select(
        records, cfg.categories, cfg.max_records, cfg.seed, balance=cfg.balance_categories
    )
    train_records, val_records = split(selected, cfg.val_size, cfg.seed)
    template = load_template(cfg.template)
    encoder = Encoder(tokenizer, template, cfg.cutoff_len, cfg.train_on_inputs, cfg.add_eos_token)
    train, dropped_train = encode_all(encoder, train_records, "train")
    val, dropped_val = encode_all(encoder, val_records, "validation") if val_records else (None, 0)
    counts = Counter(r["category"] or "unlabelled" for r in selected)
    return {
        "train": train,
        "val": val,
        "info": {
            "file": str(data_file),
            "sha256": file_sha256(data_file),
            "n_records_in_file": len(records),
            "n_selected": len(selected),
            "selected_by_category": dict(counts),
            "n_train": len(train),
            "n_val": 0 if val is None else len(val),
            "dropped_over_cutoff": dropped_train + dropped_val,
            "template": f"{template.name} v{template.version}",
        },
    }
