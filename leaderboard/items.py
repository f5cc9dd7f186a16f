"""lm-eval samples logs -> per-item records without dataset text, and metrics recomputed from them.

A samples line (``samples_<task>_<time>.jsonl``) holds the document, the prompt, the raw and
filtered responses and the per-item metric values. An :class:`~leaderboard.schemas.ItemRecord`
keeps only what identifies the item (doc_id and lm-eval's doc/prompt/target hashes), what the
model answered (the filtered response, e.g. the extracted letter, and the raw generated text,
so a later extraction rule can be re-applied to a stored run; or the option a multiple-choice
task picked) and the per-item metric values — never the document, prompt or target text. A
free-text response that repeats 8 or more consecutive words of its item (models copy their
input) is stored as a "withheld" marker instead (:func:`echoes_item`); its metric values are
kept.

Per-item metric values come in two kinds, and every aggregate is recomputed from them:

* numbers (accuracy 0/1, exact match, ROUGE F-measure, judge score) -> the mean;
* ``{"tp", "fp", "fn"}`` counts (entity or relation extraction) -> micro precision / recall / F1
  from the summed counts (the metric's name says which; anything else is F1).

Both are ratios of sums, ``sum(num) / sum(den)`` over items, which is how :mod:`leaderboard.stats`
resamples them: mean -> (value, 1); F1 -> (2 tp, 2 tp + fp + fn); precision -> (tp, tp + fp);
recall -> (tp, tp + fn). An empty denominator scores 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.schemas import Counts, ItemRecord
from tasks.common import ie_metrics, subsets
from tasks.ground.strictjson import loads_strict

# Document fields that name a shared context (e.g. the abstract a sentence comes from); the
# first one present becomes the item's cluster (hashed) for clustered standard errors.
CLUSTER_FIELDS = ("cluster", "cluster_id", "document_id", "abstract_id")
COUNT_KEYS = ("tp", "fp", "fn")
# Per-item correctness metrics (0/1 per item): compared with McNemar's exact test.
ACCURACY_METRICS = frozenset({"acc", "acc_norm", "exact_match", "em", "accuracy"})


class ItemError(ValueError):
    """A samples line that cannot become an item record; the message names line and field."""


MAX_LINE_BYTES = 4 * 2**20  # one samples line: document, prompts, responses and metrics


def read_jsonl(
    path: Path, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-empty line, streamed; a bad line raises ItemError.

    Lines are read with a size cap (a 10 MB answer or prompt is refused before it is parsed),
    decoded as strict UTF-8, and parsed as strict JSON (no NaN/Infinity, bounded nesting).
    """
    with path.open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(max_line_bytes + 1)
            if not raw:
                return
            number += 1
            if len(raw) > max_line_bytes:
                raise ItemError(
                    f"{path.name} line {number}: longer than {max_line_bytes} bytes; a samples "
                    "line holds one document, its prompts and responses - submit lm-eval's file"
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ItemError(
                    f"{path.name} line {number}: not UTF-8 (byte {exc.start}); lm-eval writes "
                    "UTF-8 - submit the file it wrote"
                ) from exc
            if not line.strip():
                continue
            try:
                obj = loads_strict(line)
            except RecursionError as exc:
                raise ItemError(f"{path.name} line {number}: JSON nested too deeply") from exc
            except ValueError as exc:
                raise ItemError(f"{path.name} line {number}: not valid JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise ItemError(f"{path.name} line {number}: expected a JSON object")
            yield number, obj


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def safe_text(text: str) -> str:
    """Text safe to store and show: C0 control characters (but tab and newlines), DEL and lone
    surrogates are written as visible escapes (``\\x00``, ``\\ud800``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def cluster_of(doc: dict[str, Any]) -> str | None:
    """A hashed cluster id: the first ``CLUSTER_FIELDS`` field present, else the document the
    record's id names (DDI pairs, JNLPBA sentences: ``tasks.common.subsets.document_of``)."""
    for field in CLUSTER_FIELDS:
        value = doc.get(field)
        if value not in (None, ""):
            return hashlib.sha256(f"{field}={value}".encode()).hexdigest()[:16]
    document = subsets.document_of(doc)
    if document is not None:
        return hashlib.sha256(f"document_id={document}".encode()).hexdigest()[:16]
    return None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ItemError(f"{where}: {number} is not finite")
        return number
    raise ItemError(f"{where}: expected a number, got {type(value).__name__}")


def _counts(value: dict[str, Any], where: str) -> Counts:
    missing = [k for k in COUNT_KEYS if k not in value]
    if missing:
        raise ItemError(f"{where}: count metrics need tp, fp and fn; missing {missing}")
    out = {}
    for key in COUNT_KEYS:
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
            raise ItemError(f"{where}: {key} must be a non-negative integer, got {number!r}")
        if float(number) != int(number):
            raise ItemError(f"{where}: {key} must be an integer, got {number!r}")
        out[key] = int(number)
    return Counts(**out)


def _choice(filtered: Any, where: str) -> int:
    """The option with the highest log-likelihood (first on ties, like lm-eval's argmax)."""
    try:
        lls = [float(pair[0]) for pair in filtered]
    except (TypeError, ValueError, IndexError) as exc:
        raise ItemError(
            f"{where}: filtered_resps is not a list of [loglikelihood, greedy]"
        ) from exc
    if not lls or not all(math.isfinite(x) for x in lls):
        raise ItemError(f"{where}: log-likelihoods must be finite numbers")
    return int(np.argmax(lls))


def _response(filtered: Any, where: str) -> str:
    if isinstance(filtered, list) and len(filtered) == 1:
        filtered = filtered[0]
    if not isinstance(filtered, str):
        raise ItemError(f"{where}: the filtered response must be one string")
    return filtered


def _raw_response(resps: Any, where: str) -> str | None:
    """The generated text of a samples line, None if absent. lm-eval logs ``resps = [[text]]``:
    one list per request, holding the request's generations; a data-parallel run (accelerate)
    may pad it with further generations, and lm-eval's filters read the first one, so that is
    the one kept."""
    if resps is None:
        return None
    while isinstance(resps, list) and resps:
        resps = resps[0]
    if not isinstance(resps, str):
        raise ItemError(f"{where}: 'resps' of a generation task must hold a generated string")
    return resps


def _stored_text(text: str, sample: dict[str, Any]) -> str:
    """``text`` as the store keeps it: escaped controls, or withheld if it echoes the item."""
    text = safe_text(text)
    return WITHHELD_RESPONSE.format(n=ECHO_WORDS) if echoes_item(text, sample) else text


ECHO_WORDS = 8  # a response sharing this many consecutive words with the item is withheld
# what a withheld response is stored as; every stored withheld response starts with the prefix
WITHHELD_RESPONSE = "[response withheld: it repeats {n}+ consecutive words of the test item]"
WITHHELD_PREFIX = WITHHELD_RESPONSE.partition(":")[0]


def is_withheld(response: str | None) -> bool:
    """Whether a stored response is the placeholder of one withheld from the store."""
    return bool(response) and response.startswith(WITHHELD_PREFIX)


_WORD = re.compile(r"[^\W_]+")  # letters and digits: "_" and punctuation separate words
_INVISIBLE = frozenset({"Cf", "Mn", "Me"})  # format characters (ZWJ, ...) and combining marks


def normalized_words(text: str) -> list[str]:
    """The words of ``text`` as the echo check compares them: Unicode compatibility forms
    folded (NFKD: full-width letters, ligatures), format characters (zero-width joiners and
    spaces, soft hyphens, direction marks: category Cf) and combining marks removed, case
    folded, then runs of letters and digits (any other character, ``_`` included, separates
    words; whitespace of any kind and amount counts once)."""
    decomposed = unicodedata.normalize("NFKD", text)
    visible = "".join(c for c in decomposed if unicodedata.category(c) not in _INVISIBLE)
    return _WORD.findall(unicodedata.normalize("NFKC", visible).casefold())


def _item_text(sample: dict[str, Any]) -> str:
    """Prompt(s), target and document of a samples line: the dataset text a response may echo."""
    parts: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)

    collect(sample.get("arguments"))
    collect(sample.get("target"))
    collect(sample.get("doc"))
    return "\n".join(parts)


def echoes_item(response: str, sample: dict[str, Any], n: int = ECHO_WORDS) -> bool:
    """Whether ``response`` repeats ``n`` consecutive words of the item's prompt, target or document.

    Models often copy their input (a 135M model restates the question or the sentence); such a
    response is dataset text, which a stored submission must not carry.
    """
    words = normalized_words(response)
    if len(words) < n:
        return False
    item = normalized_words(_item_text(sample))
    grams = {tuple(item[i : i + n]) for i in range(len(item) - n + 1)}
    return any(tuple(words[i : i + n]) in grams for i in range(len(words) - n + 1))


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class EchoGuard:
    """Free text of a results file (its environment report, chat template, task configs...)
    checked against the test items the run logged: a text that shares ``n`` consecutive words
    with an item's document or target is test-set text and is withheld from the store
    (:meth:`scan` each samples line, then :meth:`withheld`)."""

    def __init__(self, texts: dict[str, str], n: int = ECHO_WORDS) -> None:
        self.n = n
        self._grams: dict[tuple[str, ...], set[str]] = {}
        for key, text in texts.items():
            for gram in _grams(normalized_words(text), n):
                self._grams.setdefault(gram, set()).add(key)
        self.hits: set[str] = set()

    def scan(self, sample: dict[str, Any]) -> None:
        if not self._grams or len(self.hits) == len(self._grams):
            return
        parts: list[str] = []
        _collect(sample.get("doc"), parts)
        _collect(sample.get("target"), parts)
        words = normalized_words("\n".join(parts))
        for i in range(len(words) - self.n + 1):
            keys = self._grams.get(tuple(words[i : i + self.n]))
            if keys:
                self.hits |= keys


def _collect(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, parts)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect(v, parts)


def item_from_sample(task: str, sample: dict[str, Any], output_type: str, where: str) -> ItemRecord:
    """One samples line -> an ItemRecord (no dataset text kept)."""
    for key in ("doc_id", "doc_hash", "prompt_hash", "target_hash", "filtered_resps", "metrics"):
        if key not in sample:
            raise ItemError(f"{where}: field {key!r} is missing (was the file written by lm-eval?)")
    doc_id = sample["doc_id"]
    if isinstance(doc_id, bool) or not isinstance(doc_id, int) or not 0 <= doc_id < 2**31:
        raise ItemError(f"{where}: doc_id must be a non-negative integer, got {doc_id!r}")
    names = sample["metrics"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ItemError(f"{where}: 'metrics' must list the metric names")
    metrics: dict[str, float] = {}
    counts: dict[str, Counts] = {}
    for name in names:
        if name not in sample:
            raise ItemError(f"{where}: metric {name!r} is listed but has no value")
        value = sample[name]
        if isinstance(value, dict):
            counts[name] = _counts(value, f"{where} metric {name!r}")
        else:
            metrics[name] = _number(value, f"{where} metric {name!r}")
    choice = response = raw = None
    if output_type == "multiple_choice":
        choice = _choice(sample["filtered_resps"], where)
        gold = sample.get("target")
        if "acc" in metrics and isinstance(gold, int | str) and str(gold).isdigit():
            if metrics["acc"] != float(choice == int(gold)):
                raise ItemError(
                    f"{where}: acc={metrics['acc']} but the highest log-likelihood is option "
                    f"{choice} and the answer is {gold}; the samples file was modified"
                )
    else:
        response = _stored_text(_response(sample["filtered_resps"], where), sample)
        generated = _raw_response(sample.get("resps"), where)
        raw = None if generated is None else _stored_text(generated, sample)
    doc = sample.get("doc") if isinstance(sample.get("doc"), dict) else {}
    try:
        return ItemRecord(
            task=task,
            doc_id=sample["doc_id"],
            filter=str(sample.get("filter", "none")),
            doc_hash=sample["doc_hash"],
            prompt_hash=sample["prompt_hash"],
            target_hash=sample["target_hash"],
            response=response,
            raw_response=raw,
            choice=choice,
            metrics=metrics,
            counts=counts,
            cluster=cluster_of(doc),
        )
    except ValueError as exc:
        raise ItemError(f"{where}: {exc}") from exc


# --- metric kinds and recomputation -----------------------------------------------------------


@dataclass(frozen=True)
class MetricData:
    """Per-item ratio parts of one metric: the metric over items is ``num.sum() / den.sum()``."""

    name: str
    kind: str  # "mean" or "counts"
    num: np.ndarray
    den: np.ndarray

    @property
    def binary(self) -> bool:
        """An accuracy-type metric with 0/1 items: McNemar's test applies. Decided by the metric,
        not by the values alone (a ROUGE task whose items all score 0 is still continuous)."""
        return (
            self.kind == "mean"
            and self.name in ACCURACY_METRICS
            and bool(np.isin(self.num, (0.0, 1.0)).all())
        )

    def value(self) -> float:
        return ratio(self.num.sum(), self.den.sum())


def ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def count_parts(name: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray):
    low = name.lower()
    if "prec" in low:
        return tp, tp + fp
    if "rec" in low:
        return tp, tp + fn
    return 2 * tp, 2 * tp + fp + fn


def metric_data(items: Sequence[ItemRecord], name: str) -> MetricData:
    """Ratio parts of metric ``name`` over ``items`` (all of one task and filter)."""
    if not items:
        raise ValueError(f"no items for metric {name!r}")
    if all(name in it.metrics for it in items):
        num = np.fromiter((it.metrics[name] for it in items), float, len(items))
        return MetricData(name, "mean", num, np.ones(len(items)))
    if all(name in it.counts for it in items):
        tp, fp, fn = (
            np.fromiter((getattr(it.counts[name], k) for it in items), float, len(items))
            for k in COUNT_KEYS
        )
        num, den = count_parts(name, tp, fp, fn)
        return MetricData(name, "counts", num, den)
    missing = next(it for it in items if name not in it.metrics and name not in it.counts)
    raise ValueError(
        f"item doc_id={missing.doc_id} of task {missing.task!r} has no value for {name!r}"
    )


# Aggregations of per-item counts other than pooled P/R/F1, by the marker the suite's YAML
# names them with: a fixed list of the suite's own functions (never a name taken from data).
COUNT_AGGREGATIONS = {
    "!function tasks.common.ie_metrics.f1_blue_aggregate": ie_metrics.f1_blue_aggregate,
}


def recompute(items: Sequence[ItemRecord], name: str, aggregation: str = "mean") -> float:
    """The aggregate lm-eval reports for ``name``, from the item records alone."""
    if aggregation in COUNT_AGGREGATIONS and all(name in it.counts for it in items):
        counts = [it.counts[name].model_dump() for it in items]
        return float(COUNT_AGGREGATIONS[aggregation](counts))
    data = metric_data(items, name)
    if data.kind == "mean" and aggregation != "mean":
        raise ValueError(
            f"metric {name!r} aggregates with {aggregation!r}; the suite recomputes only means of "
            "per-item values and precision/recall/F1 from per-item tp/fp/fn counts"
        )
    return data.value()


def by_filter(items: Iterable[ItemRecord]) -> dict[str, list[ItemRecord]]:
    out: dict[str, list[ItemRecord]] = {}
    for item in items:
        out.setdefault(item.filter, []).append(item)
    for group in out.values():
        group.sort(key=lambda it: it.doc_id)
    return out


ITEMS_FILE = "items.jsonl.gz"
MAX_ITEMS_BYTES = 2 * 2**30  # decompressed


def write_items(items: Iterable[ItemRecord]) -> bytes:
    """JSON lines, gzip-compressed reproducibly (no name, mtime 0): same items, same bytes."""
    lines = [item.model_dump_json() for item in items]
    raw = ("\n".join(lines) + "\n").encode("utf-8")
    return gzip.compress(raw, compresslevel=6, mtime=0)


def parse_items(data: bytes, name: str = ITEMS_FILE) -> list[ItemRecord]:
    """Item records from :func:`write_items` bytes (bounded decompression, strict JSON)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        raw = handle.read(MAX_ITEMS_BYTES + 1)
    if len(raw) > MAX_ITEMS_BYTES:
        raise ItemError(f"{name}: more than {MAX_ITEMS_BYTES} bytes when decompressed")
    out = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(ItemRecord.model_validate(loads_strict(line)))
            except ValueError as exc:
                raise ItemError(f"{name} line {number}: {exc}") from exc
    return out
