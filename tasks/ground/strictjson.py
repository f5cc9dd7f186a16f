"""JSON as the standard defines it: NaN and +-Infinity are refused, not read as floats.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity``; a score or a metric that
arrives as one of them would pass a ``float`` field unnoticed. Submissions, samples lines and
item records are read with :func:`loads_strict`.
"""

from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows (NaN/Infinity are rejected)")


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` that rejects NaN and +-Infinity instead of turning them into floats."""
    return json.loads(text, parse_constant=_reject_constant)
