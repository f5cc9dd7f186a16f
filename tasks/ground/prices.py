"""The one price table of the project (``prices.json`` next to this file) and how it is read.

Both callers of a paid endpoint use it: the instruction recipe (``InstructConfig.prices``) and
the LLM judge (``biobench judge``). A table file maps a model name to its USD per million input
and output tokens, either ``{"input_per_mtok": x, "output_per_mtok": y}`` or ``[x, y]``; keys
starting with ``_`` are comments. A model is priced by its exact name, else by the longest key
that prefixes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tasks.ground.errors import ConfigError

PRICES_FILE = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class Price:
    """USD per million input / output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        ) / 1e6

    def pair(self) -> tuple[float, float]:
        return (self.input_per_mtok, self.output_per_mtok)


def _entry(path: Path, model: str, value: Any) -> Price:
    try:
        if isinstance(value, Mapping):
            return Price(float(value["input_per_mtok"]), float(value["output_per_mtok"]))
        first, second = value
        return Price(float(first), float(second))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{path}: entry {model!r} needs input_per_mtok and output_per_mtok "
            "(or [input, output]), USD per million tokens"
        ) from exc


def load_prices(path: Path) -> dict[str, Price]:
    """A price table file as {model: Price}; ConfigError naming the file when it is unusable."""
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read price table {path}: {exc}") from exc
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: a price table is a JSON object of model -> price")
    return {k: _entry(path, k, v) for k, v in table.items() if not k.startswith("_")}


@cache
def default_prices() -> dict[str, tuple[float, float]]:
    """The shipped table as {model: (input, output)} (what ``InstructConfig.prices`` holds)."""
    return {model: price.pair() for model, price in load_prices(PRICES_FILE).items()}


def lookup(table: Mapping[str, Any], model: str) -> Any | None:
    """The entry for ``model``: its own, else the longest key that prefixes it, else None."""
    if model in table:
        return table[model]
    keys = [k for k in table if model.startswith(k) and not k.startswith("_")]
    return table[max(keys, key=len)] if keys else None
