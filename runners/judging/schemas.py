"""Typed contracts of ``biobench judge``: its configuration, the items it scores, the verdicts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tasks.ground.errors import ConfigError
from tasks.ground.prices import Price

__all__ = ["FINAL_STATUSES", "JudgeConfig", "JudgeItem", "Price", "Status", "Verdict"]

Status = Literal["ok", "unparsable", "error", "skipped_budget"]
FINAL_STATUSES = ("ok", "unparsable")  # cached; "error" and "skipped_budget" are retried later


@dataclass(frozen=True)
class JudgeConfig:
    """Every setting of a judge run; defaults are defined here only."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o"
    api_key_env: str = "OPENAI_API_KEY"
    rubric: str = "judge_rubric_v1.md"
    concurrency: int = 4
    max_retries: int = 5  # further attempts after the first, per item
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    timeout_s: float = 120.0
    max_tokens: int = 256
    temperature: float = 0.0
    max_cost: float | None = None  # USD; None = no limit
    price: Price | None = None  # None = unknown (no cost accounting)
    cache_path: Path | None = None  # None = <run folder>/judge_cache.jsonl
    tasks: tuple[str, ...] = ()  # empty = every bio_gen task found
    limit: int | None = None  # items per samples file (first N by doc_id)
    seed: int = 1234  # jitter of the retry back-off

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.max_cost is not None and self.max_cost < 0:
            raise ConfigError(f"--max-cost must be >= 0, got {self.max_cost}")
        if self.max_cost is not None and self.price is None:
            raise ConfigError(
                f"--max-cost needs a price for judge model {self.model!r}: add it to a price file "
                "(--prices FILE) or pass --price-in and --price-out (USD per million tokens)"
            )


@dataclass(frozen=True)
class JudgeItem:
    """One logged generation to score."""

    task: str
    doc_id: int
    samples_file: str
    instruction: str
    input: str
    reference: str
    response: str

    def key(self, model: str, rubric_version: str) -> str:
        """Cache key: SHA-256 of (judge model, rubric version, input, reference, response).

        ``input`` here is the instruction plus the input the model saw, so two tasks sharing an
        input text (an MTS-Dialog conversation asked for two sections) do not share a verdict.
        """
        payload = [
            model,
            rubric_version,
            f"{self.instruction}\n\n{self.input}",
            self.reference,
            self.response,
        ]
        blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Verdict:
    """The judge's answer on one item (or why there is none)."""

    key: str
    status: Status
    score: int | None = None
    reason: str = ""
    raw: str = ""
    error: str = ""
    parsed_by: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    attempts: int = 0
    judge_model: str = ""
    rubric_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status == "ok" and self.score is None:
            raise ValueError("an ok verdict needs a score")
        if self.status != "ok" and self.score is not None:
            raise ValueError(f"a {self.status} verdict cannot carry a score")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
