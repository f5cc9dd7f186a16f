"""Put each kept instruction in QA / IE / GEN / other, as the BioInstruct paper did with GPT-4.

``classifier="model"``: the generator model labels ``classify_per_request`` numbered
instructions per request with the fixed prompt ``prompts/instruct_classify.json``; every paid
response is checkpointed in ``classify_raw.jsonl``, so a rerun only asks about records still
unlabelled. A record the model leaves unlabelled (missing line, unknown label, failed request,
budget reached) falls back to ``keyword_category``; ``provenance.category_source`` says which.

``classifier="keywords"``: only the deterministic rules below (no model calls).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import openai
from tqdm import tqdm

from bioinstruct_data.config import InstructConfig
from bioinstruct_data.generate import now, record_possibly_billed
from bioinstruct_data.jsonl import AppendLog
from bioinstruct_data.rundir import RunDir
from bioinstruct_data.schemas import CATEGORIES, InstructionRecord
from bioinstruct_data.templates import ClassifyTemplate, load_classify_template
from tasks.ground.openai_client import (
    Budget,
    ChatResult,
    RequestFailed,
    chat,
    make_client,
    prompt_token_bound,
)

log = logging.getLogger(__name__)

# Published BioInstruct mix (dataset card of bio-nlp-umass/bioinstruct, classified by GPT-4).
PUBLISHED_MIX = {"ie": 0.338, "gen": 0.335, "qa": 0.228, "other": 0.100}

# Deterministic fallback: the first rule that matches the instruction wins.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "other",
        re.compile(
            r"\b(calculat\w*|compute|estimate the|convert .{0,40}\b(from|to) (mg|mmol|units?|kg|lb)|"
            r"differential diagnos\w*|urgency|triage (the|this)|prioriti[sz]e|discrepanc\w*|"
            r"therapeutic duplication\w*|medication review|order the steps|in the correct order)",
            re.I,
        ),
    ),
    (
        "ie",
        re.compile(
            r"(?<!problem )(?<!medication )(?<!as a )\blist\b|"
            r"\b(extract\w*|identify|find (all|every|the)|recogni[sz]e|named entit\w*|"
            r"annotat\w*|tag|label|classify|categori[sz]e|detect|pull out|return the|as json|"
            r"assign (the |an? )?(icd|code|label|category)|mentioned in|normali[sz]e|"
            r"de-?identif\w*|adverse drug events?|association between|relation(ship)? between)\b",
            re.I,
        ),
    ),
    (
        "gen",
        re.compile(
            r"\b(summari[sz]\w*|condense|rewrite|re-?phrase|paraphrase|simplif\w*|translate|write|"
            r"draft|compose|generate|create|produce|convert|turn .{0,40} into|expand|"
            r"explain .{0,40}(to|for) (a|an|the) (patient|layperson|child|caregiver|parent)|"
            r"plain (language|words)|patient-friendly|title|impression)\b",
            re.I,
        ),
    ),
    (
        "qa",
        re.compile(
            r"(\?\s*$|^\s*(what|which|who|whom|when|where|why|how|is|are|does|do|did|can|could|"
            r"should|would|will|was|were|has|have)\b|\b(answer|explain|describe|decide whether|"
            r"determine whether|eligib\w*)\b)",
            re.I,
        ),
    ),
)


def keyword_category(instruction: str, input_: str = "") -> str:
    """Deterministic category from the instruction's wording (see ``_RULES``)."""
    text = " ".join(instruction.split())
    for category, pattern in _RULES:
        if pattern.search(text):
            return category
    return "other"


def parse_labels(text: str, n: int, labels: Sequence[str]) -> dict[int, str]:
    """``"3: ie"`` lines -> {3: "ie"} for 1 <= number <= n; unknown labels are left out."""
    aliases = {
        "question answering": "qa",
        "information extraction": "ie",
        "extraction": "ie",
        "text generation": "gen",
        "generation": "gen",
        "others": "other",
    }
    found: dict[int, str] = {}
    for match in re.finditer(r"^\W*(\d+)\s*[:.)\-]\s*\**\s*([A-Za-z][A-Za-z ]*)", text, re.M):
        number = int(match.group(1))
        word = match.group(2).strip().lower()
        word = aliases.get(word, word.split()[0] if word else word)
        if 1 <= number <= n and word in labels and number not in found:
            found[number] = word
    return found


def _answered(rows: list[dict[str, Any]], labels: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for row in rows:
        ids = list(row["ids"])
        for number, label in parse_labels(row.get("text") or "", len(ids), labels).items():
            out.setdefault(ids[number - 1], label)
    return out


async def classify_async(
    records: Sequence[InstructionRecord],
    config: InstructConfig,
    run: RunDir,
    client: openai.AsyncOpenAI | None = None,
) -> dict[str, Any]:
    """Set ``category`` and ``provenance.category_source`` on every record (in place)."""
    template = load_classify_template(config.classify_prompt)
    model_labels: dict[str, str] = {}
    report: dict[str, Any] = {"requests_sent": 0, "requests_failed": 0, "stopped_by_budget": False}
    if config.classifier == "model":
        model_labels, report = await _ask_model(records, config, run, template, client)
    sources: Counter = Counter()
    for record in records:
        label = model_labels.get(record.id)
        if label is not None:
            record.category, source = label, "model"
        else:
            record.category, source = keyword_category(record.instruction, record.input), "keywords"
        record.provenance.category_source = source
        sources[source] += 1
    report["category_source"] = dict(sources)
    report["distribution"] = distribution(records)
    report["published"] = dict(PUBLISHED_MIX)
    return report


async def _ask_model(
    records: Sequence[InstructionRecord],
    config: InstructConfig,
    run: RunDir,
    template: ClassifyTemplate,
    client: openai.AsyncOpenAI | None,
) -> tuple[dict[str, str], dict[str, Any]]:
    model = config.effective_classify_model
    config.require_prices(model)
    job = _Classification(config, run, template, model)
    job.answered = _answered(job.checkpoint.rows(), template.labels)
    pending = [r for r in records if r.id not in job.answered]
    chunks = [
        pending[i : i + config.classify_per_request]
        for i in range(0, len(pending), config.classify_per_request)
    ]
    job.report["already_answered"] = len(records) - len(pending)
    if not chunks:
        return job.answered, job.report
    own_client = client is None
    client = client or make_client(config)
    queue = iter(enumerate(chunks))
    try:
        with tqdm(total=len(chunks), desc="classify", unit="req") as bar:

            async def worker() -> None:
                for number, chunk in queue:
                    if not job.report["stopped_by_budget"] and await job.one(client, number, chunk):
                        bar.update(1)

            await asyncio.gather(*(worker() for _ in range(config.concurrency)))
    finally:
        if own_client:
            await client.close()
    return job.answered, job.report


class _Classification:
    """One model-classification pass: numbered chunks of records, each answer checkpointed."""

    def __init__(
        self, config: InstructConfig, run: RunDir, template: ClassifyTemplate, model: str
    ) -> None:
        self.config, self.run, self.template, self.model = config, run, template, model
        self.checkpoint = AppendLog(run.classify_raw)
        self.budget = Budget(config.max_cost or None, run.spent())
        self.answered: dict[str, str] = {}
        self.report: dict[str, Any] = {
            "requests_sent": 0,
            "requests_failed": 0,
            "stopped_by_budget": False,
            "already_answered": 0,
        }

    async def one(
        self, client: openai.AsyncOpenAI, number: int, chunk: Sequence[InstructionRecord]
    ) -> bool:
        """Ask for one chunk's labels; False when the budget stopped it before it was sent."""
        config, budget, model = self.config, self.budget, self.model
        messages = self.template.messages([(r.instruction, r.input) for r in chunk])
        bound = prompt_token_bound(messages)
        estimate = config.cost(model, bound, config.classify_max_tokens, batch=False)
        if not budget.try_reserve(estimate):
            self.report["stopped_by_budget"] = True
            log.warning(
                "classify: budget reached (%s); the rest use keyword rules", budget.describe()
            )
            return False
        label = f"classify-{chunk[0].id}"
        try:
            result = await chat(
                client,
                config,
                messages,
                model=model,
                max_tokens=config.classify_max_tokens,
                rng=random.Random(f"{config.seed}/classify/{number}"),
                label=label,
                temperature=0.0,
                top_p=1.0,
            )
        except RequestFailed as exc:
            budget.release(estimate)
            budget.charge(
                record_possibly_billed(self.run, config, label, exc.possibly_billed, estimate)
            )
            self.report["requests_failed"] += 1
            log.error("%s; those records use keyword rules", exc)
            return True
        budget.settle(estimate, self._record(chunk, result))
        self.report["requests_sent"] += 1
        return True

    def _record(self, chunk: Sequence[InstructionRecord], result: ChatResult) -> float:
        """Checkpoint one answer, take its labels; its cost."""
        usage = {
            "prompt_tokens": result.prompt_tokens or 0,
            "completion_tokens": result.completion_tokens or 0,
        }
        cost = self.config.cost(self.model, *usage.values(), batch=False)
        row = {
            "ids": [r.id for r in chunk],
            "model": self.model,
            "prompt": self.template.name,
            "prompt_version": self.template.version,
            "text": result.text,
            "finish_reason": result.finish_reason,
            "response_id": result.response_id,
            "usage": usage,
            "cost_usd": cost,
            "received_at": now(),
        }
        self.checkpoint.append(row)
        for k, lab in parse_labels(result.text, len(chunk), self.template.labels).items():
            self.answered.setdefault(chunk[k - 1].id, lab)
        return cost


def classify(
    records: Sequence[InstructionRecord],
    config: InstructConfig,
    run: RunDir,
    client: openai.AsyncOpenAI | None = None,
) -> dict[str, Any]:
    return asyncio.run(classify_async(records, config, run, client))


def distribution(records: Sequence[InstructionRecord]) -> dict[str, float]:
    counts = Counter(r.category for r in records)
    total = max(1, len(records))
    return {c: round(counts.get(c, 0) / total, 4) for c in CATEGORIES}
