"""The model card (``README.md`` of the adapter and the merged model): base model, data (file,
hash, selection, split), hyperparameters, training results, provenance, how to evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def _provenance(base: str) -> dict[str, Any]:
    marker = Path(base) / "biobench_model.json"
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    return {}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _header(summary: dict[str, Any], base: str, prov: dict[str, Any]) -> list[str]:
    """Front matter, title, prompt, and where the base model came from."""
    cfg, data = summary["config"], summary["data"]
    return [
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
    ]


def _data_and_hyperparameters(summary: dict[str, Any]) -> list[str]:
    cfg, data = summary["config"], summary["data"]
    return [
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
    ]


def _training(summary: dict[str, Any]) -> list[str]:
    s = summary
    return [
        "## Training",
        f"- optimizer steps: {s['global_step']} (epochs {s['epochs']:.3f}); "
        f"resumed from step {s['resumed_from_step']}",
        f"- last train loss: {_fmt(s['train_loss_last'])}; validation loss: "
        f"{_fmt(s['val_loss_first'])} before -> {_fmt(s['val_loss'])} after",
        f"- throughput this session: {s['tokens_per_second']:.1f} tokens/s wall, "
        f"{s['tokens_per_cpu_second']:.1f} tokens per CPU-second "
        f"({s['tokens_seen']} input tokens seen in total)",
        f"- trainable parameters: {s['trainable_parameters']} of {s['total_parameters']}",
        "",
    ]


def _provenance_and_usage(summary: dict[str, Any], base: str) -> list[str]:
    from importlib import metadata

    versions = {p: metadata.version(p) for p in ("torch", "transformers", "peft", "accelerate")}
    return [
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


def model_card(summary: dict[str, Any], base: str) -> str:
    """The card of a finished run (``summary``: what ``train`` returns) on ``base``."""
    lines = [
        *_header(summary, base, _provenance(base)),
        *_data_and_hyperparameters(summary),
        *_training(summary),
        *_provenance_and_usage(summary, base),
    ]
    return "\n".join(lines)
