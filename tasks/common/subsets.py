"""Fixed, seeded "lite" subsets of each test split, so that partial runs are comparable.

``--limit N`` takes the first N test records in file order, which for some files is a handful
of documents (ChemProt and DDI are grouped by abstract, NER by article) or one subject (MMLU's
first 200 are anatomy and clinical knowledge). A lite subset instead is:

* **stratified** by the record's label (the gold answer of QA and relation extraction, "has
  entities" for NER, "has hallmarks" for HoC, the subset/subject field where there is one);
* **spread over documents** where records name their document (DDI's ``DDI-<corpus>.d<N>``
  ids, JNLPBA's ``d<N>.s<M>``): within a label, documents take turns;
* **shared by the two forms of a dataset**: a generative ``<name>_gen`` runs the same items as
  its log-likelihood sibling ``<name>`` (``tasks.registry.sibling_leaf``), so lite runs of the
  two forms pair item for item;
* **nested**: the first ``k`` indices of one seeded order, so lite-200 is part of lite-500;
* **versioned** (``SUBSET_VERSION``): the order depends only on the canonical records, the
  task name and the version, never on the machine.

``lite_indices(leaf, size)`` gives sorted test-record indices for lm-eval's ``--samples``
(``biobench eval --lite 200``); ``subset_name(leaf, doc_ids)`` names what a run evaluated
(``full``, ``lite-200-v1``, ``first-200`` or ``custom``) and is stored with each submission.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from dataclasses import asdict, is_dataclass
from functools import cache
from typing import Any

SUBSET_VERSION = "v1"
LITE_SIZES = (200, 500)


def _fields(record: Any) -> dict[str, Any]:
    return asdict(record) if is_dataclass(record) else dict(record)


def stratum(record: Any) -> str:
    """The label a record is stratified by (see the module docstring)."""
    r = _fields(record)
    for key in ("answer", "label"):
        if r.get(key) not in (None, ""):
            return f"{key}={r[key]}"
    if "spans" in r:
        return f"entities={bool(r['spans'])}"
    if "labels" in r and "label_set" in r:
        return f"hallmarks={bool(r['labels'])}"
    return f"subset={r.get('subset', '')}"


# ``<corpus>.d<N>.s<M>...`` (DDI 2013: ``DDI-DrugBank.d481.s0.p0``) or ``d<N>.s<M>`` (NER files
# with ``-DOCSTART-`` boundaries, tasks/common/ie_data.sentence_id): the document is before ``.s``.
_DOCUMENT_ID = re.compile(r"^((?:.*\.)?d\d+)\.s\d+(?:\..*)?$")


def document_of(record: Any) -> str | None:
    """The document a record's id names (see ``_DOCUMENT_ID``), or None when it names none."""
    match = _DOCUMENT_ID.match(str(_fields(record).get("id", "")))
    return match.group(1) if match else None


def document(record: Any) -> str:
    """The document a record belongs to, where its id says so (else the record itself)."""
    return document_of(record) or str(_fields(record).get("id", ""))


def _order(records: list[Any], key: str) -> list[int]:
    """A seeded order of all indices whose every prefix is (nearly) stratified and spread."""
    rng = random.Random(hashlib.sha256(key.encode()).hexdigest())
    strata: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, rec in enumerate(records):
        strata[stratum(rec)][document(rec)].append(i)
    ranked: list[tuple[float, float, int]] = []
    for name in sorted(strata):
        docs = strata[name]
        for doc in docs.values():
            rng.shuffle(doc)
        names = sorted(docs)
        rng.shuffle(names)
        turns: list[int] = []  # documents take turns: one record of each, then the next round
        depth = max(len(d) for d in docs.values())
        for level in range(depth):
            turns += [docs[n][level] for n in names if level < len(docs[n])]
        size = len(turns)
        for pos, index in enumerate(turns):
            ranked.append(((pos + 0.5) / size, rng.random(), index))
    return [index for _, _, index in sorted(ranked)]


@cache
def _cached_order(leaf: str) -> tuple[int, ...]:
    from tasks import registry
    from tasks.common.sources import load

    split = load(registry.leaf_source(leaf))
    # a generative variant takes its log-likelihood sibling's order: both forms of a dataset run
    # the same items, so their lite runs pair item for item
    name = registry.sibling_leaf(leaf) or leaf
    return tuple(_order(list(split.records), f"{name}:{SUBSET_VERSION}:{split.sha256}"))


def lite_indices(leaf: str, size: int) -> list[int]:
    """The first ``size`` records of the task's seeded order, sorted (all when size >= n)."""
    if size < 1:
        raise ValueError(f"a lite subset needs at least one item, got {size}")
    return sorted(_cached_order(leaf)[:size])


def subset_name(leaf: str, doc_ids: list[int], n_total: int) -> str:
    """What a run's logged doc ids are: the full split, a lite subset, the first N, or custom."""
    ids = sorted(doc_ids)
    if len(ids) == n_total:
        return "full"
    if ids == list(range(len(ids))):
        return f"first-{len(ids)}"
    if ids == lite_indices(leaf, len(ids)):
        return f"lite-{len(ids)}-{SUBSET_VERSION}"
    return "custom"
