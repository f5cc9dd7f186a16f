"""Errors shared by every command of the project.

``ConfigError`` lives on the ground floor (:mod:`tasks.ground`), so that any floor may raise it:
the OpenAI client and price table beside it, ``bioinstruct_data`` (the instruction recipe) and
``runners`` (the LLM judge, ``runners/judging``, and the LoRA recipe, ``runners/finetuning``).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and how to fix it."""
