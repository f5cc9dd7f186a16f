"""Typed contracts of the instruction-generation recipe: seed tasks and instruction records.

Example generated record (one line of ``instructions.jsonl``)::

    {"id": "r000012-03", "instruction": "List the adverse drug events in the note.",
     "input": "After starting ...", "output": "Drug: ...; adverse effect: ...", "category": "ie",
     "provenance": {"origin": "generated", "seed_ids": ["seed-007", "seed-041", "seed-066"],
                    "model": "gpt-4", "prompt": "instruct_generate", "prompt_version": "1",
                    "request_index": 12, "position": 3, "response_id": "chatcmpl-...",
                    "requested_at": "2025-01-01T00:00:00+00:00", "received_at": "...",
                    "params": {"temperature": 1.0, "top_p": 1.0}, "category_source": "model"}}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tasks import registry

# The suite's categories (tasks/registry.py) plus "other": instructions that fit none of them.
OTHER = "other"
CATEGORIES = (*registry.CATEGORIES, OTHER)
CATEGORY_NAMES = {**{str(c): name for c, name in registry.CATEGORY_NAMES.items()}, OTHER: OTHER}


@dataclass(frozen=True)
class SeedTask:
    """One human-written seed task (a line of ``seed_tasks.jsonl``)."""

    id: str
    category: str
    instruction: str
    input: str
    output: str
    source: str  # where the task type comes from; every seed was written for this project

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"seed {self.id!r}: category {self.category!r} not in {CATEGORIES}")
        for name in ("id", "instruction", "output", "source"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"seed {self.id!r}: field {name!r} is empty")


@dataclass
class Provenance:
    """Where a record came from: enough to regenerate or audit it."""

    origin: str  # "generated", "seed" or "published"
    seed_ids: list[str] = field(default_factory=list)
    model: str = ""
    prompt: str = ""
    prompt_version: str = ""
    request_index: int | None = None
    position: int | None = None
    response_id: str = ""
    requested_at: str = ""
    received_at: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    category_source: str = ""  # "model", "keywords", "seed" or "" (not classified)
    source_location: str = ""  # for published records: hub URL or local path


@dataclass
class InstructionRecord:
    """An instruction / input / output triple with its category and provenance."""

    id: str
    instruction: str
    input: str
    output: str
    category: str = ""  # one of CATEGORIES, or "" before classification
    provenance: Provenance = field(default_factory=lambda: Provenance(origin="generated"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> InstructionRecord:
        prov = dict(row.get("provenance") or {})
        prov.setdefault("origin", "generated")
        return cls(
            id=str(row["id"]),
            instruction=str(row["instruction"]),
            input=str(row.get("input") or ""),
            output=str(row.get("output") or ""),
            category=str(row.get("category") or ""),
            provenance=Provenance(**prov),
        )
