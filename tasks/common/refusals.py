"""Refusals: answers that decline to answer, shared by every answer-extraction rule.

A refusal is never read as an answer of any class (option letter, yes/no word, relation label or
entity mention); an extraction rule may still accept an explicit answer marker written after one
("I can't be certain, but the answer is B"). The phrases are matched case-insensitively anywhere
in the answer; the list is deliberately short — phrases that decline, not phrases that hedge
("I'm not sure, but ..." is a hedge, not a refusal).
"""

from __future__ import annotations

import re

_REFUSAL = re.compile(
    r"""\bI\s*(?:cannot|can\s*not|can['’]?t|could\s*not|couldn['’]?t|am\s+unable|['’]m\s+unable
            |am\s+not\s+able|['’]m\s+not\s+able|won['’]?t|will\s+not|do\s+not\s+know
            |don['’]?t\s+know)\b
      |\b(?:I\s+am|I['’]m)\s+sorry\b|^\s*sorry\b
      |\bas\s+an\s+(?:AI|ai|language\s+model)\b
      |\b(?:cannot|can['’]?t|could\s+not)\s+be\s+(?:determined|answered)\b
      |\bnot\s+(?:possible|able)\s+to\s+(?:determine|answer|say|tell)\b
      |\b(?:not\s+enough|insufficient)\s+(?:information|context|data)\b""",
    re.IGNORECASE | re.VERBOSE,
)


def is_refusal(text: str) -> bool:
    """Whether the answer declines to answer (see the module docstring for the phrases)."""
    return bool(_REFUSAL.search(text))
