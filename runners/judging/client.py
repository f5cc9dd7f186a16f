"""Asking the judge: one chat request per item through the project's one OpenAI client wrapper
(:mod:`tasks.ground.openai_client`: retries, backoff, usage, ``Budget``), plus what only the judge
decides:

* Fatal for the run: 401/403/404 (wrong key, base URL or model name) — every item would fail.
* Any other failure after retries: that item is recorded as an error and the run goes on.
* Budget: requests wait for those in flight to settle when they do not fit yet, and the run
  stops (``skipped_budget``) when one cannot fit even then. A response without ``usage`` is
  charged its worst-case bound.
"""

from __future__ import annotations

import asyncio
import logging
import random

from runners.judging.rubric import Rubric
from runners.judging.schemas import JudgeConfig, JudgeItem, Price, Verdict
from tasks.ground.openai_client import (
    Budget,
    ChatResult,
    Counters,
    RequestFailed,
    chat,
    make_client,
    prompt_token_bound,
)

log = logging.getLogger(__name__)

__all__ = ["Budget", "FatalJudgeError", "JudgeClient", "worst_case_cost"]


class FatalJudgeError(RuntimeError):
    """The judge endpoint refuses every request (authentication, unknown model or URL)."""


def worst_case_cost(messages: list[dict[str, str]], max_tokens: int, price: Price | None) -> float:
    if price is None:
        return 0.0
    return price.cost(prompt_token_bound(messages), max_tokens)


class JudgeClient:
    """Scores items with a judge model at an OpenAI-compatible endpoint."""

    def __init__(self, config: JudgeConfig, rubric: Rubric, api_key: str, budget: Budget) -> None:
        self.config, self.rubric, self.budget = config, rubric, budget
        self.counters = Counters()
        self._rng = random.Random(config.seed)
        self._client = make_client(config, api_key=api_key)
        self._semaphore = asyncio.Semaphore(config.concurrency)

    async def close(self) -> None:
        await self._client.close()

    async def judge(self, item: JudgeItem, key: str) -> Verdict:
        """One verdict: ok/unparsable, error after retries, or skipped_budget."""
        cfg = self.config
        base = {"key": key, "judge_model": cfg.model, "rubric_version": self.rubric.version}
        messages = self.rubric.messages(item)
        bound = worst_case_cost(messages, cfg.max_tokens, cfg.price)
        async with self._semaphore:
            if not await self.budget.reserve(bound):
                return Verdict(status="skipped_budget", error="--max-cost reached", **base)
            cost: float | None = None
            try:
                result = await chat(
                    self._client,
                    cfg,
                    messages,
                    model=cfg.model,
                    max_tokens=cfg.max_tokens,
                    rng=self._rng,
                    label=f"judge-{key[:12]}",
                    temperature=cfg.temperature,
                    seed=cfg.seed,
                    counters=self.counters,
                )
                cost = self._cost(result, bound)
            except RequestFailed as exc:
                self._raise_if_fatal(exc)
                return Verdict(status="error", error=exc.reason, attempts=exc.attempts, **base)
            finally:
                self.budget.settle(bound, cost or 0.0)
        return self._verdict(result, cost, base)

    def _cost(self, result: ChatResult, bound: float) -> float | None:
        price = self.config.price
        if price is None:
            return None
        n_in, n_out = result.prompt_tokens, result.completion_tokens
        return price.cost(n_in, n_out) if n_in is not None and n_out is not None else bound

    def _raise_if_fatal(self, exc: RequestFailed) -> None:
        cfg = self.config
        if exc.status_code in (401, 403):
            raise FatalJudgeError(
                f"judge endpoint {cfg.base_url} refused the credentials "
                f"(HTTP {exc.status_code}); set ${cfg.api_key_env}"
            ) from exc
        if exc.status_code == 404:
            raise FatalJudgeError(
                f"judge endpoint {cfg.base_url} answered 404 for model {cfg.model!r}: "
                "check --base-url (it ends in /v1) and --judge-model"
            ) from exc

    def _verdict(self, result: ChatResult, cost: float | None, base: dict[str, str]) -> Verdict:
        score, reason, how = self.rubric.parse(result.text)
        return Verdict(
            status="ok" if score is not None else "unparsable",
            score=score,
            reason=reason,
            raw=result.text,
            parsed_by=how,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost=cost,
            attempts=result.attempts,
            **base,
        )
