"""The judge rubric: loading the versioned prompt file, filling it, and reading the judge's score.

The file format is described in ``runners/prompts/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from runners.judging.schemas import JudgeItem

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
PLACEHOLDERS = ("instruction", "input", "reference", "response")
_SECTION = re.compile(r"<!--\s*(system|user)\s*-->")


@dataclass(frozen=True)
class Rubric:
    name: str
    version: str
    scale_min: int
    scale_max: int
    system: str
    user: str
    sha256: str
    path: str

    def messages(self, item: JudgeItem) -> list[dict[str, str]]:
        """The chat messages asking the judge about ``item``."""
        values = {
            "instruction": item.instruction,
            "input": item.input,
            "reference": item.reference,
            "response": item.response if item.response.strip() else "(empty response)",
        }
        # one pass over the template, so text inside the values is never substituted again
        user = re.sub(
            r"\{\{(instruction|input|reference|response)\}\}",
            lambda m: values[m.group(1)],
            self.user,
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def parse(self, text: str) -> tuple[int | None, str, str]:
        """(score or None, reason or why unparsable, how it was parsed)."""
        return parse_score(text, self.scale_min, self.scale_max)


def load_rubric(name_or_path: str = "judge_rubric_v1.md") -> Rubric:
    path = Path(name_or_path)
    if not path.is_file():
        path = PROMPTS_DIR / name_or_path
    if not path.is_file():
        known = sorted(p.name for p in PROMPTS_DIR.glob("judge_rubric_*.md"))
        raise FileNotFoundError(
            f"no judge rubric {name_or_path!r}; known in {PROMPTS_DIR}: {known}"
        )
    raw = path.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", raw, re.S)
    if not match:
        raise ValueError(f"{path}: must start with a '---' front matter block (name, version)")
    meta = yaml.safe_load(match.group(1)) or {}
    missing = [k for k in ("name", "version", "scale_min", "scale_max") if k not in meta]
    if missing:
        raise ValueError(f"{path}: front matter lacks {missing}")
    parts = _SECTION.split(match.group(2))
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ValueError(f"{path}: needs one '<!-- system -->' and one '<!-- user -->' section")
    absent = [p for p in PLACEHOLDERS if "{{" + p + "}}" not in sections["user"]]
    if absent:
        raise ValueError(f"{path}: the user section lacks placeholders {absent}")
    return Rubric(
        name=str(meta["name"]),
        version=str(meta["version"]),
        scale_min=int(meta["scale_min"]),
        scale_max=int(meta["scale_max"]),
        system=sections["system"],
        user=sections["user"],
        sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
        path=str(path),
    )


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_SCORE_KV = re.compile(r"[\"']?score[\"']?\s*[:=]\s*(-?\d+(?:\.\d+)?)", re.I)
_SCORE_OF = re.compile(r"(?<![\d.])(-?\d+(?:\.\d+)?)\s*/\s*10\b")


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(?:\.0+)?\s*", value):
        return int(float(value))
    return None


def _json_objects(text: str) -> list[dict]:
    """Every JSON object found in ``text`` (code fences first, then any ``{...}`` span)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    found = []
    decoder = json.JSONDecoder()
    for chunk in candidates:
        for start in (i for i, ch in enumerate(chunk) if ch == "{"):
            try:
                obj, _ = decoder.raw_decode(chunk[start:])
            except ValueError:
                continue
            if isinstance(obj, dict):
                found.append(obj)
    return found


def parse_score(text: str, low: int = 1, high: int = 10) -> tuple[int | None, str, str]:
    """Read an integer score in ``[low, high]`` from a judge reply.

    Returns ``(score, reason, parsed_by)`` with ``parsed_by`` one of ``json``, ``score_field``,
    ``out_of_10``; or ``(None, why, "unparsable")``. Several different scores in one reply, a
    non-integer, or a value outside the scale make it unparsable.
    """
    if not text or not text.strip():
        return None, "empty reply", "unparsable"
    for obj in _json_objects(text):
        if "score" in obj:
            score = _as_int(obj["score"])
            if score is None:
                return None, f"score {obj['score']!r} is not an integer", "unparsable"
            if not low <= score <= high:
                return None, f"score {score} outside {low}-{high}", "unparsable"
            reason = obj.get("reason", obj.get("explanation", ""))
            return score, str(reason), "json"
    for pattern, how in ((_SCORE_KV, "score_field"), (_SCORE_OF, "out_of_10")):
        values = {float(v) for v in pattern.findall(text)}
        if len(values) > 1:
            return None, f"several scores in the reply: {sorted(values)}", "unparsable"
        if values:
            value = values.pop()
            if not value.is_integer():
                return None, f"score {value} is not an integer", "unparsable"
            if not low <= int(value) <= high:
                return None, f"score {int(value)} outside {low}-{high}", "unparsable"
            return int(value), "", how
    return None, "no score found in the reply", "unparsable"
