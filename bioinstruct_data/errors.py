"""Errors shared by every command of the project.

``ConfigError`` lives here, in a module that imports nothing, so that any layer may raise it:
``bioinstruct_data`` (the instruction recipe, its client and price table) and ``runners`` (the
LLM judge, ``runners/judging``, and the LoRA recipe, ``runners/finetuning``).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and how to fix it."""
