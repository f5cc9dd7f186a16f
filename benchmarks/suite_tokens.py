"""How big is a full suite run? Prompt and generated tokens per task, counted by the suite itself.

    BIOBENCH_DATA_DIR=../shared/data python -m benchmarks.suite_tokens \\
        --out benchmarks/reports/suite_tokens_smollm2.json

No model is evaluated. lm-eval's own ``TaskManager`` (``include_path`` = ``tasks/``) builds every
request of every leaf task of the five groups, exactly as ``lm_eval run`` would before sending
them to a model, and the embedded model's tokenizer (SmolLM2-135M-Instruct; ``--tokenizer`` for
another) counts their tokens:

* ``loglikelihood`` requests (multiple choice: one request per option): context + continuation
  tokens of every request (``prompt_tokens``: what an engine without prefix caching processes),
  and the distinct contexts once plus every continuation (``unique_prompt_tokens``: the floor
  with prefix caching);
* ``generate_until`` requests: context tokens, and ``max_gen_toks`` (the task YAML's cap, or
  ``--max-gen-toks`` to apply a run's cap) per request as the upper bound of generated tokens
  (``generated_tokens_cap``): generation stops earlier at a stop sequence or end of text.

Special tokens are not added (lm-eval's ``hf`` model adds at most one prefix token per request).
Counts are SmolLM2 tokens: another tokenizer (e.g. LLaMA-2's 32k SentencePiece vocabulary) gives
somewhat different counts for the same text.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from tasks import registry

DEFAULT_GROUPS = tuple(g.name for g in registry.GROUPS)
FULL_RUN = ("bio_qa", "bio_ie", "bio_gen")  # the default variants: one leaderboard submission
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task sets none
ENCODE_CHUNK = 512


class Counter:
    """Token counts of strings, each distinct string encoded once."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.cache: dict[str, int] = {}

    def prime(self, texts: list[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for start in range(0, len(todo), ENCODE_CHUNK):
            chunk = todo[start : start + ENCODE_CHUNK]
            ids = self.tokenizer(chunk, add_special_tokens=False)["input_ids"]
            self.cache.update(zip(chunk, (len(x) for x in ids), strict=True))

    def __call__(self, text: str) -> int:
        if text not in self.cache:
            self.prime([text])
        return self.cache[text]


def leaves(groups: tuple[str, ...]) -> list[str]:
    from leaderboard.suite import load_suite

    suite = load_suite(registry.TASKS_DIR)
    out: list[str] = []
    for name in groups:
        out += suite.leaves_of(name) if name in suite.groups else [name]
    return list(dict.fromkeys(out))


def count_task(task, counter: Counter, max_gen_toks: int | None) -> dict[str, Any]:
    """Requests and tokens of one lm-eval task (its ``instances``, built already)."""
    kinds = sorted({inst.request_type for inst in task.instances})
    texts = []
    for inst in task.instances:
        texts += [inst.args[0], inst.args[1]] if inst.request_type == "loglikelihood" else []
        texts += [inst.args[0]] if inst.request_type == "generate_until" else []
    counter.prime(texts)
    prompt = unique = gen_cap = longest = 0
    contexts: set[str] = set()
    caps: set[int] = set()
    for inst in task.instances:
        context = inst.args[0]
        n_context = counter(context)
        if inst.request_type == "loglikelihood":
            n_cont = counter(inst.args[1])
            prompt += n_context + n_cont
            unique += n_cont + (0 if context in contexts else n_context)
            longest = max(longest, n_context + n_cont)
        elif inst.request_type == "generate_until":
            cap = max_gen_toks or int(inst.args[1].get("max_gen_toks", DEFAULT_MAX_GEN_TOKS))
            caps.add(cap)
            prompt += n_context
            unique += 0 if context in contexts else n_context
            gen_cap += cap
            longest = max(longest, n_context + cap)
        else:
            raise ValueError(f"{task.config.task}: request type {inst.request_type} not counted")
        contexts.add(context)
    n_docs = len({inst.doc_id for inst in task.instances})
    return {
        "request_type": "+".join(kinds),
        "docs": n_docs,
        "requests": len(task.instances),
        "prompt_tokens": prompt,
        "unique_prompt_tokens": unique,
        "max_gen_toks": None if not caps else min(caps) if len(caps) == 1 else sorted(caps),
        "generated_tokens_cap": gen_cap,
        "mean_prompt_tokens_per_request": round(prompt / max(len(task.instances), 1), 1),
        "longest_request_tokens": longest,
    }


def _sum(rows: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("docs", "requests", "prompt_tokens", "unique_prompt_tokens", "generated_tokens_cap")
    return {k: sum(int(r[k]) for r in rows) for k in keys}


def count(
    groups: tuple[str, ...] = DEFAULT_GROUPS,
    tokenizer: str | None = None,
    limit: int | None = None,
    max_gen_toks: int | None = None,
) -> dict[str, Any]:
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    from leaderboard.suite import load_suite
    from runners.model import resolve_model_path

    tokenizer_path = resolve_model_path(tokenizer or "default")
    counter = Counter(AutoTokenizer.from_pretrained(tokenizer_path))
    names = leaves(groups)
    started = time.perf_counter()
    manager = TaskManager(include_path=str(registry.TASKS_DIR))
    task_dict = manager.load(names)["tasks"]
    per_task: dict[str, dict[str, Any]] = {}
    for name in names:
        task = task_dict[name]
        task.build_all_requests(limit=limit)
        per_task[name] = count_task(task, counter, max_gen_toks)
        logging.info("%s: %s", name, per_task[name])
    suite = load_suite(registry.TASKS_DIR)
    by_group = {
        g: _sum([per_task[t] for t in suite.leaves_of(g)]) for g in groups if g in suite.groups
    }
    full = [t for t in leaves(FULL_RUN) if t in per_task]
    return {
        "what": "prompt and generated-token upper bound of every request lm-eval builds for the "
        "suite's tasks (no model evaluated)",
        "tokenizer": str(Path(tokenizer_path).name) if tokenizer is None else tokenizer,
        "data_dir": os.environ.get("BIOBENCH_DATA_DIR", ""),
        "data_source": os.environ.get("BIOBENCH_SOURCE", "auto"),
        "limit": limit,
        "max_gen_toks_override": max_gen_toks,
        "suite_version": registry.SUITE_VERSION,
        "tasks": per_task,
        "groups": by_group,
        "full_run": {"groups": list(FULL_RUN), "tasks": full, **_sum([per_task[t] for t in full])},
        "all_groups": {"groups": list(groups), **_sum(list(per_task.values()))},
        "seconds": round(time.perf_counter() - started, 1),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| task | requests | docs | prompt tokens | unique prompt tokens | max_gen_toks | "
        "generated tokens (cap) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["tasks"].items():
        cap = row["max_gen_toks"] if row["generated_tokens_cap"] else "—"
        lines.append(
            f"| `{name}` | {row['requests']:,} | {row['docs']:,} | {row['prompt_tokens']:,} | "
            f"{row['unique_prompt_tokens']:,} | {cap} | {row['generated_tokens_cap']:,} |"
        )
    for label, row in [
        *((f"**{g}**", r) for g, r in report["groups"].items()),
        ("**full run** (bio_qa + bio_ie + bio_gen)", report["full_run"]),
        ("**all five groups**", report["all_groups"]),
    ]:
        lines.append(
            f"| {label} | {row['requests']:,} | {row['docs']:,} | {row['prompt_tokens']:,} | "
            f"{row['unique_prompt_tokens']:,} | | {row['generated_tokens_cap']:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", default=",".join(DEFAULT_GROUPS), help="groups or tasks")
    parser.add_argument("--tokenizer", help="model folder or hub id (default: embedded model)")
    parser.add_argument("--limit", type=int, help="first N documents per task (smoke runs)")
    parser.add_argument("--max-gen-toks", type=int, help="count this generation cap instead")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    report = count(groups, args.tokenizer, args.limit, args.max_gen_toks)
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(markdown(report) if args.markdown else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
