"""What a comparison says, in one sentence per pair, and the items behind a McNemar test.

One sign convention everywhere: the **gain of the second run (B) over the first (A)**,
``B − A``, positive when B is better (the stored :class:`~leaderboard.schemas.PairedTest` holds
``A − B``; :func:`gain` turns it around, interval included). One unit: percentage points.

The verdict reads the group tests (QA, IE, GEN ...) when there are any, else the task tests:
"B is better on IE by +7.0 points [+3.0, +10.0], Holm p 0.002; A is better on QA by 2.1 points
[...]; no difference on GEN (Holm p 0.41)". A test that is not supported (too few items, a
degenerate bootstrap) is named as not tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leaderboard.schemas import Comparison, PairedTest
from tasks import registry

UNIT = "points"  # percentage points: 100 x a difference of two fractions


@dataclass(frozen=True)
class Gain:
    value: float  # B − A, percentage points
    low: float
    high: float


def gain(t: PairedTest) -> Gain:
    """The gain of B over A with its CI, in percentage points."""
    return Gain(-100 * t.diff, -100 * t.ci_high, -100 * t.ci_low)


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _name(column: str) -> str:
    group = next((g for g in registry.GROUPS if g.name == column), None)
    return group.display if group else registry.display_name(column)


def clause(t: PairedTest, labels: dict[str, str], alpha: float) -> str:
    """One test in words (A and B by label)."""
    name = _name(t.column) + (f" vs {_name(t.column_b)}" if t.column_b != t.column else "")
    if not t.supported:
        return f"{name} not tested ({t.unsupported_reason or 'too few paired items'})"
    g = gain(t)
    if not t.significant:
        return f"no difference on {name} (Holm p {_p(t.p_holm)})"
    better, size = (t.b, g) if g.value > 0 else (t.a, Gain(-g.value, -g.high, -g.low))
    text = (
        f"{labels.get(better, better)} is better on {name} by {size.value:+.1f} {UNIT} "
        f"[{size.low:+.1f}, {size.high:+.1f}], Holm p {_p(t.p_holm)}"
    )
    if t.both_at_baseline:
        text += " (both at a constant-answer baseline)"
    return text


def sentences(c: Comparison) -> list[str]:
    """One sentence per compared pair: significant differences first (largest first), then
    the tests without a difference."""
    pairs: dict[tuple[str, str], list[PairedTest]] = {}
    for t in c.tests:
        pairs.setdefault((t.a, t.b), []).append(t)
    out = []
    for (a, b), tests in pairs.items():
        groups = [t for t in tests if t.kind == "group"]
        chosen = groups or [t for t in tests if t.kind == "task"]
        chosen = sorted(
            chosen, key=lambda t: (not (t.supported and t.significant), -abs(t.diff), t.column)
        )
        head = f"{c.labels.get(b, b)} vs {c.labels.get(a, a)}: "
        out.append(head + "; ".join(clause(t, c.labels, c.settings.alpha) for t in chosen) + ".")
    return out


# --- the discordant items of a 0/1 task ------------------------------------------------------

DISCORDANT_COLUMNS = ["doc_id", "A answer", "B answer", "right"]


def discordant_items(
    items: pd.DataFrame, a: str, b: str, task: str, metric: str, filter_: str
) -> pd.DataFrame:
    """Items of ``task`` where exactly one of runs ``a`` and ``b`` is right (0/1 ``metric``),
    paired like the test (same doc_id, doc hash and prompt hash), ``right`` naming the run
    ("A" or "B"): the b and c of McNemar's test. ``items`` is the loader's per-item table."""
    part = items[
        (items["task"] == task) & (items["metric"] == metric) & (items["filter"] == filter_)
    ]
    keys = ["doc_id", "doc_hash", "prompt_hash"]

    def side(run: str) -> pd.DataFrame:
        mine = part[part["submission_id"] == run].drop_duplicates(keys)
        answer = mine["response"].where(
            mine["response"].notna(), "option " + mine["choice"].astype("Int64").astype("string")
        )
        return mine.assign(answer=answer.fillna("").astype(str))[[*keys, "value", "answer"]]

    both = side(a).merge(side(b), on=keys, suffixes=(" A", " B"))
    right_a, right_b = both["value A"] == 1, both["value B"] == 1
    out = both[right_a != right_b]
    return pd.DataFrame(
        {
            "doc_id": out["doc_id"].astype(int).to_numpy(),
            "A answer": out["answer A"].to_numpy(),
            "B answer": out["answer B"].to_numpy(),
            "right": ["A" if x else "B" for x in (out["value A"] == 1)],
        },
        columns=DISCORDANT_COLUMNS,
    ).sort_values(["right", "doc_id"], kind="stable", ignore_index=True)
