"""The one instruction template shared by tuning and evaluation.

The wording lives in ``prompts/alpaca.json`` (prompts are data); this module only loads and
fills it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class InstructionTemplate:
    name: str
    version: str
    prompt_input: str
    prompt_no_input: str
    response_split: str

    def render(self, instruction: str, input: str = "") -> str:  # noqa: A002 - the field's name
        """The prompt up to and including the response marker (the model writes after it)."""
        if input.strip():
            return self.prompt_input.format(instruction=instruction.strip(), input=input.strip())
        return self.prompt_no_input.format(instruction=instruction.strip())

    def response_of(self, text: str) -> str:
        """The part of a full generation that follows the response marker."""
        return text.split(self.response_split, 1)[-1].strip()


@cache
def load_template(name: str = "alpaca") -> InstructionTemplate:
    path = PROMPTS_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in PROMPTS_DIR.glob("*.json"))
        raise FileNotFoundError(f"No prompt template {name!r} in {PROMPTS_DIR}; known: {known}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return InstructionTemplate(
        name=raw["name"],
        version=str(raw["version"]),
        prompt_input=raw["prompt_input"],
        prompt_no_input=raw["prompt_no_input"],
        response_split=raw["response_split"],
    )


def render_prompt(instruction: str, input: str = "") -> str:  # noqa: A002
    return load_template().render(instruction, input)
