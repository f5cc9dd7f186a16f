"""Refusals (answers that decline to answer) and the determiner "No", shared by every
answer-extraction rule.

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


# Words that may follow the answer "No" ("No, it is not", "No there is none"); any other word
# makes "No" the determiner of a noun phrase ("No conclusion can be drawn", "No evidence ..."),
# which is no answer "no" (extraction rules v3).
_AFTER_ANSWER_NO = frozenset(
    """it its they there this that these those the he she we i you because since as but so
    not never definitely absolutely certainly""".split()
)
_NEXT_WORD = re.compile(r"[ \t]+([A-Za-z][A-Za-z'\-]*)")


def is_determiner_no(word: str, rest: str) -> bool:
    """Whether ``word`` is "no" used as a determiner, given the text ``rest`` that follows it:
    ``No evidence ...`` / ``no definitive answer`` yes; ``No.``, ``No, ...``, ``No it is not`` no."""
    if word.lower() != "no":
        return False
    follow = _NEXT_WORD.match(rest)
    return bool(follow) and follow.group(1).lower() not in _AFTER_ANSWER_NO
