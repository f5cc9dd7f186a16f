"""The one configuration of the instruction-generation recipe; every default is defined here.

``InstructConfig`` is saved as ``config.json`` in the run folder when a run starts; a later
command on the same folder reuses it, and refuses settings that would mix incompatible data into
the same checkpoint (another model, prompt, seed set or sampling seed).

Prices are US dollars per million tokens (input, output); the defaults are the project's one
price table, ``tasks/ground/prices.json`` (shared with the LLM judge). The table is a
convenience, not a source of truth: provider prices change, so pass ``--prices prices.json`` (or
``--price-in`` / ``--price-out``) for real budgets. ``--max-cost`` refuses to start without a
price for the model.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.ground.errors import ConfigError
from tasks.ground.prices import Price, default_prices, lookup


@dataclass(frozen=True)
class InstructConfig:
    # endpoint and model
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"  # name of the variable holding the key (never the key)
    model: str = "gpt-4"
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 3072
    # what each generation request asks for
    tasks_per_request: int = 10  # new tasks requested per prompt
    seeds_per_prompt: int = 3  # seed tasks shown per prompt (BioInstruct: 3 of 80)
    generate_prompt: str = "instruct_generate"  # file under bioinstruct_data/prompts/
    seed_file: str = ""  # "" = the shipped bioinstruct_data/seed_tasks.jsonl
    seed: int = 42  # sampling seed; request i uses random.Random(f"{seed}/{i}")
    target: int = 25_005  # kept records wanted (size of the published BioInstruct)
    max_requests: int = 0  # hard cap on generation requests (0 = no cap)
    max_rounds: int = 50  # `run`: rounds of generate -> parse -> filter -> dedup
    # transport
    concurrency: int = 8
    max_retries: int = 6
    timeout_s: float = 120.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    # filters (Self-Instruct: instructions of 3..150 words)
    min_instruction_words: int = 3
    max_instruction_words: int = 150
    max_input_words: int = 1000
    max_output_words: int = 1500
    blacklist: tuple[str, ...] = (
        "image",
        "images",
        "graph",
        "graphs",
        "picture",
        "pictures",
        "file",
        "files",
        "map",
        "maps",
        "draw",
        "plot",
        "go to",
        "video",
        "audio",
        "music",
        "flowchart",
        "diagram",
    )
    max_non_ascii_letter_share: float = 0.15  # non-English heuristic, see filters.looks_english
    min_function_word_share: float = 0.10
    function_word_min_words: int = 8
    # dedup (Self-Instruct / Alpaca: drop if ROUGE-L F > 0.7 against any kept instruction)
    rouge_threshold: float = 0.7
    rouge_use_stemmer: bool = False
    # classification
    classifier: str = "model"  # "model" (the generator model, fixed prompt) or "keywords"
    classify_prompt: str = "instruct_classify"
    classify_model: str = ""  # "" = same as model
    classify_per_request: int = 20
    classify_max_tokens: int = 400
    # money
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(default_prices()))
    max_cost: float = 0.0  # USD over the whole run folder (0 = no budget)
    batch_discount: float = 0.5  # Batch API price multiplier
    batch_poll_s: float = 30.0
    batch_max_requests: int = 50_000  # per batch file (the API's limit)

    # fields that must not change within one run folder (they shape the checkpoint's contents)
    IDENTITY = (
        "model",
        "generate_prompt",
        "seed_file",
        "seed",
        "seeds_per_prompt",
        "tasks_per_request",
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(self.model.strip() != "", "model is empty: pass --model NAME")
        need(0.0 <= self.temperature <= 2.0, f"temperature={self.temperature} not in [0, 2]")
        need(0.0 < self.top_p <= 1.0, f"top_p={self.top_p} not in (0, 1]")
        need(self.max_tokens > 0, f"max_tokens={self.max_tokens} must be positive")
        need(self.tasks_per_request >= 1, "tasks_per_request must be >= 1")
        need(self.seeds_per_prompt >= 1, "seeds_per_prompt must be >= 1")
        need(self.target >= 1, "target must be >= 1")
        need(self.concurrency >= 1, "concurrency must be >= 1")
        need(self.max_retries >= 0, "max_retries must be >= 0")
        need(self.timeout_s > 0, "timeout_s must be positive")
        need(
            0.0 < self.rouge_threshold <= 1.0,
            f"rouge_threshold={self.rouge_threshold} not in (0, 1]",
        )
        need(
            self.classifier in {"model", "keywords"},
            f"classifier={self.classifier!r}: use 'model' or 'keywords'",
        )
        need(self.classify_per_request >= 1, "classify_per_request must be >= 1")
        need(self.max_cost >= 0, "max_cost must be >= 0 (0 = no budget)")
        need(
            self.min_instruction_words <= self.max_instruction_words,
            "min_instruction_words is larger than max_instruction_words",
        )

    # -- prices ------------------------------------------------------------------------------

    def price_of(self, model: str) -> tuple[float, float] | None:
        """(input, output) USD per 1M tokens; the longest table key that prefixes the model."""
        price = lookup(self.prices, model)
        return tuple(price) if price is not None else None  # type: ignore[return-value]

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int, batch: bool) -> float:
        price = self.price_of(model)
        if price is None:
            return 0.0
        usd = Price(*price).cost(prompt_tokens, completion_tokens)
        return usd * (self.batch_discount if batch else 1.0)

    def require_prices(self, *models: str) -> None:
        if self.max_cost <= 0:
            return
        missing = [m for m in models if self.price_of(m) is None]
        if missing:
            raise ConfigError(
                f"--max-cost needs a price for {', '.join(missing)}: pass --price-in/--price-out "
                f'(USD per 1M tokens) or --prices FILE.json with {{"{missing[0]}": [in, out]}}'
            )

    @property
    def effective_classify_model(self) -> str:
        return self.classify_model or self.model

    # -- (de)serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["blacklist"] = list(self.blacklist)
        data["prices"] = {k: list(v) for k, v in self.prices.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstructConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; known: {sorted(known)}")
        data = dict(data)
        if "blacklist" in data:
            data["blacklist"] = tuple(data["blacklist"])
        if "prices" in data:
            data["prices"] = {k: (float(v[0]), float(v[1])) for k, v in data["prices"].items()}
        return cls(**data)

    @classmethod
    def from_file(cls, path: Path) -> InstructConfig:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> InstructConfig:
        return dataclasses.replace(self, **changes)

    def identity_conflicts(self, other: InstructConfig) -> list[str]:
        return [
            f"{name}: run folder has {getattr(other, name)!r}, now {getattr(self, name)!r}"
            for name in self.IDENTITY
            if getattr(self, name) != getattr(other, name)
        ]
