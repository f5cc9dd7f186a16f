"""Stage 1: ask the generator model for new tasks, one request per index, checkpointing each
paid response as soon as it arrives.

Request ``i`` is fully determined by ``(config, i)``: its seeds are drawn by
``random.Random(f"{seed}/{i}")`` from the seed file, so a rerun asks the same question for an index
that is still missing and never asks again for one already in ``raw_responses.jsonl``.
Workers (``concurrency`` of them) take indices in order; each response is appended with fsync
before the next request of that worker, so a kill loses at most the requests in flight.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import openai
from tqdm import tqdm

from bioinstruct_data.config import InstructConfig
from bioinstruct_data.jsonl import AppendLog
from bioinstruct_data.rundir import RunDir
from bioinstruct_data.schemas import SeedTask
from bioinstruct_data.seeds import load_seeds, request_rng, sample_seeds
from bioinstruct_data.templates import GenerateTemplate, load_generate_template
from tasks.ground.openai_client import (
    Budget,
    RequestFailed,
    chat,
    make_client,
    prompt_token_bound,
)

log = logging.getLogger(__name__)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    custom_id: str
    seed_ids: list[str]
    messages: list[dict[str, str]]


@dataclass
class GenerateReport:
    planned: int = 0
    already_done: int = 0
    completed: int = 0
    failed: int = 0
    not_sent_budget: int = 0
    stopped_by_budget: bool = False
    spent_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def custom_id(index: int) -> str:
    return f"req-{index:07d}"


def plan_request(
    config: InstructConfig, seeds: Sequence[SeedTask], template: GenerateTemplate, index: int
) -> PlannedRequest:
    chosen = sample_seeds(seeds, config.seeds_per_prompt, request_rng(config.seed, index))
    return PlannedRequest(
        index=index,
        custom_id=custom_id(index),
        seed_ids=[s.id for s in chosen],
        messages=template.messages(chosen, config.tasks_per_request),
    )


def request_estimate(config: InstructConfig, request: PlannedRequest, batch: bool) -> float:
    """Worst-case cost of one generation request (see client.Budget)."""
    return config.cost(
        config.model, prompt_token_bound(request.messages), config.max_tokens, batch=batch
    )


def checkpoint_row(
    config: InstructConfig,
    template: GenerateTemplate,
    request: PlannedRequest,
    *,
    text: str,
    finish_reason: str,
    response_id: str,
    prompt_tokens: int,
    completion_tokens: int,
    mode: str,
    requested_at: str,
    attempts: int,
) -> dict[str, Any]:
    return {
        "request_index": request.index,
        "custom_id": request.custom_id,
        "seed_ids": request.seed_ids,
        "model": config.model,
        "prompt": template.name,
        "prompt_version": template.version,
        "params": {
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "tasks_per_request": config.tasks_per_request,
            "seed": config.seed,
        },
        "text": text,
        "finish_reason": finish_reason,
        "response_id": response_id,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        "cost_usd": config.cost(
            config.model, prompt_tokens, completion_tokens, batch=mode == "batch"
        ),
        "mode": mode,
        "attempts": attempts,
        "requested_at": requested_at,
        "received_at": now(),
    }


def done_indices(run: RunDir) -> set[int]:
    return {int(row["request_index"]) for row in AppendLog(run.raw)}


def record_possibly_billed(
    run: RunDir, config: InstructConfig, label: str, attempts: int, estimate: float
) -> float:
    """Log attempts that timed out (the provider may have billed them) at worst-case cost."""
    if attempts <= 0:
        return 0.0
    cost = attempts * estimate
    AppendLog(run.billed_attempts).append(
        {
            "label": label,
            "attempts": attempts,
            "cost_usd": cost,
            "model": config.model,
            "at": now(),
            "note": "timed out; billed amount unknown, counted at worst case",
        }
    )
    return cost


class _Generation:
    """One ``generate`` call: workers take indices in order and checkpoint each response."""

    def __init__(self, config: InstructConfig, run: RunDir, report: GenerateReport) -> None:
        self.config, self.run, self.report = config, run, report
        self.seeds = load_seeds(config.seed_file)
        self.template = load_generate_template(config.generate_prompt)
        self.checkpoint = AppendLog(run.raw)
        self.budget = Budget(config.max_cost or None, run.spent())
        self.stopped = False

    async def run_all(self, client: openai.AsyncOpenAI, pending: list[int]) -> None:
        queue = iter(pending)
        with tqdm(total=len(pending), desc="generate", unit="req") as bar:

            async def worker() -> None:
                for index in queue:
                    if self.stopped:
                        self.report.not_sent_budget += 1
                        continue
                    if await self.one(client, index):
                        bar.update(1)

            await asyncio.gather(*(worker() for _ in range(self.config.concurrency)))

    def _stop(self, index: int, estimate: float) -> None:
        self.stopped = self.report.stopped_by_budget = True
        self.report.not_sent_budget += 1
        log.warning(
            "budget: request %d (worst case $%.4f) would pass the budget (%s); "
            "stopping before sending it",
            index,
            estimate,
            self.budget.describe(),
        )

    async def one(self, client: openai.AsyncOpenAI, index: int) -> bool:
        """Ask for request ``index``; False when the budget stopped it before it was sent."""
        config, budget, report = self.config, self.budget, self.report
        request = plan_request(config, self.seeds, self.template, index)
        estimate = request_estimate(config, request, batch=False)
        if not budget.try_reserve(estimate):
            self._stop(index, estimate)
            return False
        requested_at = now()
        try:
            result = await chat(
                client,
                config,
                request.messages,
                model=config.model,
                max_tokens=config.max_tokens,
                rng=random.Random(f"{config.seed}/retry/{index}"),
                label=request.custom_id,
                temperature=config.temperature,
                top_p=config.top_p,
            )
        except RequestFailed as exc:
            budget.release(estimate)
            budget.charge(
                record_possibly_billed(self.run, config, exc.label, exc.possibly_billed, estimate)
            )
            report.failed += 1
            log.error("%s; it will be retried by the next run", exc)
            return True
        row = checkpoint_row(
            config,
            self.template,
            request,
            text=result.text,
            finish_reason=result.finish_reason,
            response_id=result.response_id,
            prompt_tokens=result.prompt_tokens or 0,
            completion_tokens=result.completion_tokens or 0,
            mode="online",
            requested_at=requested_at,
            attempts=result.attempts,
        )
        self.checkpoint.append(row)
        budget.settle(estimate, row["cost_usd"])
        budget.charge(
            record_possibly_billed(
                self.run, config, request.custom_id, result.possibly_billed, estimate
            )
        )
        report.completed += 1
        return True


async def generate_async(
    config: InstructConfig,
    run: RunDir,
    indices: Iterable[int],
    client: openai.AsyncOpenAI | None = None,
) -> GenerateReport:
    """Send every request of ``indices`` not yet in the checkpoint (see module docstring)."""
    config.require_prices(config.model)
    done = done_indices(run)
    wanted = list(dict.fromkeys(int(i) for i in indices))
    pending = [i for i in wanted if i not in done]
    report = GenerateReport(planned=len(wanted), already_done=len(wanted) - len(pending))
    job = _Generation(config, run, report)
    budget = job.budget
    if not pending:
        report.spent_usd = budget.spent
        return report
    own_client = client is None
    client = client or make_client(config)
    try:
        await job.run_all(client, pending)
    finally:
        if own_client:
            await client.close()
    report.spent_usd = budget.spent
    log.info(
        "generate: %d sent ok, %d failed, %d already done, %d not sent (budget); %s",
        report.completed,
        report.failed,
        report.already_done,
        report.not_sent_budget,
        budget.describe() if config.max_cost > 0 else f"spent ${budget.spent:.4f}",
    )
    return report


def generate(
    config: InstructConfig,
    run: RunDir,
    indices: Iterable[int],
    client: openai.AsyncOpenAI | None = None,
) -> GenerateReport:
    return asyncio.run(generate_async(config, run, indices, client))
