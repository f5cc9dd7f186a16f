"""An lm-eval output folder -> a checked submission, or one clear rejection.

``prepare(paths, meta)`` reads ``results_<time>.json`` files and their ``samples_<task>_<time>.jsonl``
logs (one folder, several folders, or single results files: per-task runs of one model merge
into one submission) and checks, in this order:

1. file names, sizes and kinds (no links, nothing but results/samples files is read);
2. strict JSON (NaN and Infinity rejected anywhere);
3. every task belongs to the suite (``tasks/registry.py``) with the suite's task version;
4. every task has its samples log, with one record per evaluated document and filter;
5. every reported aggregate equals the one recomputed from the per-item records (the mean of
   per-item values, or P/R/F1 from summed tp/fp/fn), and group aggregates equal lm-eval's rule
   over the recomputed task scores;
6. the data: each logged document equals the record with the same doc_id in the suite's test
   split (loaded by the task's own loader), and the split's SHA-256 equals the one in the
   results' ``biobench`` block when there is one (plain ``lm_eval`` runs have none: it is
   recomputed). With ``--limit`` only the first records are logged: the submission records
   ``n_logged`` of ``n_total`` and the hash of exactly those records;
7. the metadata (model id, license, model type, precision, ...) against the ``Submission`` schema.

Each task's result also records its constant-answer baselines on the logged items (majority
class, first option, uniform random, the run's answer distribution and a paired test against
its most frequent answer: :mod:`leaderboard.baselines`).

Nothing from the files is executed: JSON only, no pickle, no code. A rejection raises
:class:`SubmissionError` with one message naming the file or field and how to fix it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from leaderboard import baselines as baselinelib
from leaderboard import evalspec, stats
from leaderboard import items as itemlib
from leaderboard.rescore import PromptPolicy, TaskRescorer, build_tasks
from leaderboard.schemas import (  # noqa: F401 (re-exported)
    N_RESAMPLES,
    RESULTS_CONFIG_FIELDS,
    RESULTS_FIELDS,
    SCHEMA_VERSION,
    Adapter,
    DataProvenance,
    FileRef,
    Interval,
    ItemRecord,
    LmEvalResults,
    Metadata,
    ModelInfo,
    Prepared,
    RunInfo,
    Submission,
    SubmissionError,
    TaskResult,
    check_model_id,
    check_plain_text,
    model_folder,
)
from leaderboard.suite import Suite, SuiteTask, load_suite
from tasks import registry
from tasks.common.records import canonical_json, records_sha256
from tasks.common.sources import DataUnavailableError, load
from tasks.common.subsets import lite_indices, subset_name
from tasks.ground.precision import MATMUL_PRECISIONS

MAX_RESULTS_BYTES = 50 * 2**20
MAX_SAMPLES_BYTES = 1024 * 2**20
MAX_TOTAL_BYTES = 4 * 2**30
MAX_RESULTS_FILES = 200
MAX_ITEMS = 2_000_000
TOLERANCE = 1e-9  # |reported - recomputed| allowed (float summation order)
CI_RESAMPLES = N_RESAMPLES
CI_SEED = 0

# lm-eval names its files results_<time>.json with ':' made '-': the names the store keeps
RESULTS_RE = re.compile(r"^results_(?P<stamp>[0-9A-Za-z._-]{1,80})\.json$")
SAMPLES_RE = re.compile(
    r"^samples_(?P<task>[A-Za-z0-9_.-]{1,150})_(?P<stamp>[0-9A-Za-z._-]{1,80})\.jsonl$"
)


# Which flag sets which Submission field (named in rejections).
FLAGS = {
    ("model", "id"): "--model-id",
    ("model", "revision"): "--revision",
    ("model", "license"): "--license",
    ("model", "model_type"): "--model-type",
    ("model", "precision"): "--precision",
    ("model", "n_parameters"): "--n-parameters",
    ("model", "base_model"): "--base-model",
    ("model", "training_data"): "--training-data",
    ("submitter",): "--submitter",
    ("notes",): "--notes",
    ("run_id",): "--run-id",
}


# --- reading files ------------------------------------------------------------------------------


@dataclass
class RunFile:
    path: Path
    stamp: str
    data: dict[str, Any]
    samples: dict[str, Path]
    guard: itemlib.EchoGuard | None = None  # the results' free text vs the logged test items

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = itemlib.EchoGuard(dict(_long_strings(self.data)))


# Free-text fields of a results file are stored at most this long (longer: cut, with a note);
# any other top-level text field at most DEFAULT_TEXT_CHARS.
TEXT_LIMITS = {"pretty_env_info": 8_000, "chat_template": 16_000, "system_instruction": 4_000}
DEFAULT_TEXT_CHARS = 300
ECHO_MARKER = "[withheld by biobench submit: repeats {n}+ consecutive words of a test item]"


def _bounded_text(data: dict[str, Any]) -> dict[str, Any]:
    """Only the known top-level fields of a results file (:data:`RESULTS_FIELDS`) and known
    ``config`` keys: anything else is dropped, never stored; free text bounded."""
    kept = {k: v for k, v in data.items() if k in RESULTS_FIELDS}
    if isinstance(kept.get("config"), dict):
        kept["config"] = {k: v for k, v in kept["config"].items() if k in RESULTS_CONFIG_FIELDS}
    for key, value in kept.items():
        most = TEXT_LIMITS.get(key, DEFAULT_TEXT_CHARS)
        if isinstance(value, str) and len(value) > most:
            kept[key] = value[:most] + f"\n[cut by biobench submit: {len(value)} characters in all]"
    return kept


def _long_strings(obj: Any, path: tuple = ()) -> Iterator[tuple[str, str]]:
    """(JSON path, text) of every string in ``obj`` long enough to hold an echo, walked without
    recursion; the path is :func:`json.dumps` of its keys (a stable, unambiguous name)."""
    stack: list[tuple[tuple, Any]] = [(path, obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((where + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((where + (i,), v) for i, v in enumerate(value))
        elif isinstance(value, str) and len(itemlib.normalized_words(value)) >= itemlib.ECHO_WORDS:
            yield json.dumps(where), value


def _withhold_echoes(run: RunFile) -> None:
    """Replace the results' strings that repeat test items (``run.guard``) by a marker."""
    for key in run.guard.hits if run.guard else ():
        *parents, last = json.loads(key)
        node = run.data
        for part in parents:
            node = node[part]
        node[last] = ECHO_MARKER.format(n=itemlib.ECHO_WORDS)


def rejected(file: Path | str, where: str, what: str, fix: str) -> SubmissionError:
    """The one form of a rejection: ``<file>:<where>: <what> — <fix>``."""
    name = Path(file).name if isinstance(file, Path) else file
    return SubmissionError(f"{name}:{where}: {what} — {fix}")


def _unsafe_value(obj: Any) -> tuple[str, str] | None:
    """(JSON path, problem) of the first NaN/infinite number, or string or key holding NUL,
    another control character or a lone surrogate (walked iteratively: deep nesting cannot
    overflow the stack)."""
    stack: list[tuple[str, Any]] = [("$", obj)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((f"{path}.{key}", key))
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            return path, f"{value} is NaN or infinite; NaN/Infinity are rejected"
        elif isinstance(value, str):
            try:
                check_plain_text(value)
            except ValueError as exc:
                return path, str(exc)
    return None


def _loc(loc: Sequence[Any]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _read_results(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    fix = "submit the results file lm-eval wrote, unmodified"
    if size > MAX_RESULTS_BYTES:
        raise rejected(path, "$", f"{size} bytes, more than the {MAX_RESULTS_BYTES} allowed", fix)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise rejected(path, f"byte {exc.start}", "not UTF-8", fix) from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise rejected(path, "$", "JSON nested too deeply", fix) from exc
    except ValueError as exc:
        raise rejected(path, "$", f"not valid JSON ({exc})", fix) from exc
    if not isinstance(data, dict):
        raise rejected(path, "$", "expected lm-eval's results object", fix)
    for key in ("results", "configs", "versions", "n-samples", "config", "lm_eval_version"):
        if key not in data:
            raise rejected(path, f"$.{key}", "missing; is this an lm-eval results file?", fix)
    bad = _unsafe_value(data)
    if bad:
        if "NaN" in bad[1]:
            fix = "rerun the evaluation with more than one document per task (no NaN stderr)"
        raise rejected(path, bad[0], bad[1], fix)
    try:
        LmEvalResults.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        value = err.get("input")
        got = "" if isinstance(value, dict | list) else f" (got {str(value)[:80]!r})"
        raise rejected(path, _loc(err["loc"]), f"{err['msg']}{got}", fix) from exc
    return _bounded_text(data)


def _check_plain_file(path: Path) -> None:
    if path.is_symlink():
        raise SubmissionError(f"{path}: symbolic links are not accepted; copy the file itself")
    if not path.is_file():
        raise SubmissionError(f"{path}: not a regular file")


def find_runs(paths: Sequence[Path]) -> list[RunFile]:
    """The results files under ``paths`` (folders are searched recursively) with their samples."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise SubmissionError(f"{path}: no such file or folder")
        if path.is_dir() and not path.is_symlink():
            hits = sorted(p for p in path.rglob("results_*.json"))
            if not hits:
                raise SubmissionError(
                    f"{path}: no lm-eval results_*.json in this folder; pass the --output_path "
                    "of an lm-eval run made with --log_samples"
                )
            found += hits
        else:
            found.append(path)
    if len(found) > MAX_RESULTS_FILES:
        raise SubmissionError(
            f"{len(found)} results files; at most {MAX_RESULTS_FILES} per submission"
        )
    runs, names, total = [], {}, 0
    for path in found:
        _check_plain_file(path)
        match = RESULTS_RE.match(path.name)
        if not match:
            raise SubmissionError(
                f"{path.name}: file name must be lm-eval's results_<time>.json (letters, "
                "digits, '.', '_', '-'); rename it and its samples_<task>_<time>.jsonl files "
                "as lm-eval wrote them"
            )
        if path.name in names:
            raise SubmissionError(
                f"{path} and {names[path.name]} have the same name; submit them separately"
            )
        names[path.name] = path
        stamp = match["stamp"]
        samples = {}
        for sample_path in sorted(path.parent.glob(f"samples_*_{stamp}.jsonl")):
            _check_plain_file(sample_path)
            m = SAMPLES_RE.match(sample_path.name)
            if not m or m["stamp"] != stamp:
                raise SubmissionError(f"{sample_path}: unexpected samples file name")
            size = sample_path.stat().st_size
            if size > MAX_SAMPLES_BYTES:
                raise SubmissionError(
                    f"{sample_path}: {size} bytes is more than the {MAX_SAMPLES_BYTES} allowed"
                )
            total += size
            samples[m["task"]] = sample_path
        if total > MAX_TOTAL_BYTES:
            raise SubmissionError(f"samples files total more than {MAX_TOTAL_BYTES} bytes")
        runs.append(RunFile(path, stamp, _read_results(path), samples))
    return runs


# --- data checks --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A record or document as plain JSON data, None-valued keys dropped (datasets adds them)."""
    if is_dataclass(value):
        value = asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class DataCheck:
    leaf: str
    source: str
    records: list[dict[str, Any]]
    full_sha256: str

    def check_doc(self, doc_id: int, doc: Any, where: str) -> None:
        if not 0 <= doc_id < len(self.records):
            raise SubmissionError(
                f"{where}: doc_id {doc_id} is outside the suite's test split of {self.leaf} "
                f"({len(self.records)} records, source {self.source}); the run used other data"
            )
        record = self.records[doc_id]
        projected = {k: doc.get(k) for k in record} if isinstance(doc, dict) else doc
        if canonical_json(_plain(projected)) != canonical_json(record):
            raise SubmissionError(
                f"{where}: the logged document of doc_id {doc_id} differs from record {doc_id} of "
                f"the suite's {self.leaf} test split (source {self.source}); rerun with the "
                "suite's data, or set BIOBENCH_DATA_DIR / BIOBENCH_SOURCE to the data that was used"
            )

    def logged_sha256(self, doc_ids: Iterable[int]) -> str:
        return records_sha256(self.records[i] for i in doc_ids)


def data_check(leaf: str) -> DataCheck:
    try:
        split = load(registry.leaf_source(leaf))
    except DataUnavailableError as exc:
        raise SubmissionError(
            f"task {leaf}: the suite's test data is needed to check the submission's data hashes "
            f"and could not be loaded.\n{exc}"
        ) from exc
    records = [_plain(r) for r in split.records]
    return DataCheck(leaf, split.source, records, split.sha256)


# --- per-task checks ----------------------------------------------------------------------------


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def _metric_keys(scores: dict[str, Any]) -> list[str]:
    return [k for k in scores if "," in k and "_stderr" not in k]


def _read_items(
    leaf: str,
    path: Path,
    output_type: str,
    check: DataCheck,
    rescorer: TaskRescorer,
    max_lines: int,
    guard: itemlib.EchoGuard | None = None,
) -> list[ItemRecord]:
    """Item records of a samples file, streamed line by line; each one re-scored by the suite
    (and shown to ``guard``, which finds the results' free text that repeats a test item)."""
    out: list[ItemRecord] = []
    try:
        for number, sample in itemlib.read_jsonl(path):
            if len(out) >= max_lines:
                raise SubmissionError(
                    f"{path.name}:line {number}: more samples than the results' n-samples allow "
                    f"({max_lines}) — submit the samples file of the same run"
                )
            where = f"{path.name} line {number}"
            item = itemlib.item_from_sample(leaf, sample, output_type, where)
            check.check_doc(item.doc_id, sample.get("doc"), where)
            rescorer.check(sample, where)
            if guard is not None:
                guard.scan(sample)
            out.append(item)
    except itemlib.ItemError as exc:
        raise SubmissionError(f"task {leaf}: {exc}") from exc
    return out


@dataclass
class CheckedTask:
    result: TaskResult
    items: list[ItemRecord]
    metrics: dict[str, float]
    size: int


def _suite_task(leaf: str, run: RunFile, suite: Suite) -> tuple[registry.TaskSpec, SuiteTask]:
    name = run.path.name
    spec = registry.spec_of_leaf(leaf)
    if spec is None:
        known = ", ".join(s.name for s in registry.TASKS)
        raise SubmissionError(
            f"{name}: task {leaf!r} is not part of the BioInstruct Bench suite; submit only "
            f"suite tasks ({known})"
        )
    suite_task = suite.tasks.get(leaf)
    version = str(run.data["versions"].get(leaf))
    if suite_task is None or version != suite_task.version:
        expected = suite_task.version if suite_task else "?"
        raise SubmissionError(
            f"{name}: task {leaf} has version {version} but the suite's is {expected}; rerun it "
            "with the current suite (biobench eval ...)"
        )
    return spec, suite_task


def _check_coverage(
    groups: dict[str, list[ItemRecord]], n_effective: int, samples: Path
) -> list[int]:
    """Every filter logs each evaluated document once, and all filters the same documents."""
    doc_ids: list[int] | None = None
    for filt, group in groups.items():
        ids = [it.doc_id for it in group]
        if len(set(ids)) != len(ids):
            raise SubmissionError(f"{samples.name}: a doc_id appears twice under filter {filt!r}")
        if len(ids) != n_effective:
            raise SubmissionError(
                f"{samples.name}: {len(ids)} samples under filter {filt!r} but the results say "
                f"{n_effective} documents were evaluated; submit the samples file of the same run"
            )
        if doc_ids is not None and ids != doc_ids:
            raise SubmissionError(f"{samples.name}: the filters cover different documents")
        doc_ids = ids
    return doc_ids or []


def _recompute_all(
    leaf: str, scores: dict[str, Any], groups: dict, suite_task: SuiteTask, where: str
) -> dict[str, float]:
    """Every reported aggregate of the task, checked against its per-item records."""
    metrics: dict[str, float] = {}
    for key in _metric_keys(scores):
        metric, filt = key.split(",", 1)
        reported = scores[key]
        if not isinstance(reported, int | float) or isinstance(reported, bool):
            continue
        if filt not in groups:
            raise SubmissionError(f"{where}: no samples under filter {filt!r} for {key}")
        try:
            value = itemlib.recompute(groups[filt], metric, suite_task.metrics.get(metric, "mean"))
        except ValueError as exc:
            raise SubmissionError(f"task {leaf}, {key}: {exc}") from exc
        if not _close(value, float(reported)):
            raise SubmissionError(
                f"task {leaf}: the results report {key} = {reported!r} but its per-item records "
                f"give {value!r} ({where}); submit the unmodified results and samples files of "
                "one run"
            )
        metrics[key] = float(reported)
    return metrics


def _provenance(
    leaf: str, run: RunFile, check: DataCheck, doc_ids: list[int], biobench: dict[str, Any]
) -> DataProvenance:
    name = run.path.name
    n_original = int((run.data["n-samples"].get(leaf) or {}).get("original", 0))
    if n_original != len(check.records):
        raise SubmissionError(
            f"{name}: task {leaf} ran on {n_original} documents but the suite's test split has "
            f"{len(check.records)} (source {check.source}); rerun with the suite's data"
        )
    block = (biobench.get("tasks") or {}).get(leaf)
    if block is not None and block.get("data_sha256") != check.full_sha256:
        raise SubmissionError(
            f"{name}: task {leaf} was evaluated on data with SHA-256 {block.get('data_sha256')} "
            f"but the suite's test split (source {check.source}) has {check.full_sha256}; rerun "
            "with the suite's data"
        )
    limit = run.data["config"].get("limit")
    _check_declared_subset(leaf, run, doc_ids, len(check.records), biobench)
    subset = subset_name(leaf, doc_ids, len(check.records))
    logged = check.logged_sha256(doc_ids)
    if subset == "custom":  # named by its items: rows on other items never share its pool
        subset = f"custom-{logged[:12]}"
    return DataProvenance(
        source=check.source,
        full_sha256=check.full_sha256,
        full_sha256_from="results" if block is not None else "recomputed",
        logged_sha256=logged,
        n_total=len(check.records),
        n_logged=len(doc_ids),
        limit=float(limit) if limit is not None else None,
        complete=len(doc_ids) == len(check.records),
        subset=subset,
    )


def _check_declared_subset(
    leaf: str, run: RunFile, doc_ids: list[int], n_total: int, biobench: dict[str, Any]
) -> None:
    """The logged documents are the subset the results declare: ``config.limit`` N means the
    first N test records in file order (doc ids 0..N-1, as lm-eval takes them; a fraction as
    lm-eval rounds it), a ``biobench.lite`` N means that task's seeded lite subset of N. Items
    picked from a larger run and declared as a smaller limit are rejected."""
    limit = run.data["config"].get("limit")
    ids = sorted(doc_ids)
    fix = "submit the results and samples files of one run, unmodified"
    if limit is not None:
        size = math.ceil(n_total * limit) if limit < 1.0 else int(limit)
        expected = list(range(min(size, n_total)))
        if ids != expected:
            odd = sorted(set(ids) ^ set(expected))[:3]
            raise rejected(
                run.path,
                f"$.config.limit ({leaf})",
                f"declares --limit {limit:g}, i.e. doc ids 0..{len(expected) - 1}, but the "
                f"samples log {len(ids)} documents that differ (doc ids {odd})",
                fix,
            )
    lite = biobench.get("lite") if isinstance(biobench, dict) else None
    if lite is not None:
        if isinstance(lite, bool) or not isinstance(lite, int) or lite < 1:
            raise rejected(run.path, "$.biobench.lite", f"{lite!r} is not a lite size", fix)
        if ids != lite_indices(leaf, min(lite, n_total)):
            raise rejected(
                run.path, f"$.biobench.lite ({leaf})",
                f"declares the lite subset of {lite} but the samples log other documents", fix,
            )  # fmt: skip


def check_task(
    leaf: str,
    run: RunFile,
    suite: Suite,
    biobench: dict[str, Any],
    task: Any,
    tasks: dict[str, Any] | None = None,
) -> CheckedTask:
    """All checks of one leaf task of a results file (see the module docstring), and its
    constant-answer baselines on the logged items (``tasks``: the suite's Task objects, holding
    the log-likelihood sibling a generative task's baselines are scored with)."""
    data = run.data
    spec, suite_task = _suite_task(leaf, run, suite)
    samples = run.samples.get(leaf)
    if samples is None:
        raise SubmissionError(
            f"{run.path.name}: no samples_{leaf}_{run.stamp}.jsonl next to it; per-item records "
            "are required - rerun with --log_samples (biobench eval turns it on)"
        )
    check = data_check(leaf)
    n_effective = int((data["n-samples"].get(leaf) or {}).get("effective", 0))
    n_filters = max(1, len(data["configs"].get(leaf, {}).get("filter_list") or []))
    rescorer = TaskRescorer(leaf, task, PromptPolicy.of_results(data, leaf))
    items = _read_items(
        leaf, samples, suite_task.output_type, check, rescorer, n_effective * n_filters, run.guard
    )
    groups = itemlib.by_filter(items)
    doc_ids = _check_coverage(groups, n_effective, samples)
    scores = data["results"].get(leaf, {})
    metrics = _recompute_all(leaf, scores, groups, suite_task, f"{run.path.name}, {samples.name}")
    if spec.result_key not in metrics:
        raise SubmissionError(
            f"{run.path.name}: task {leaf} reports no {spec.result_key}, the suite's primary "
            "metric; run the task as the suite defines it"
        )
    provenance = _provenance(leaf, run, check, doc_ids, biobench)
    primary_items = groups[spec.filter]
    parts = itemlib.metric_data(primary_items, spec.metric)
    clusters = [it.cluster for it in primary_items]
    cluster_arr = np.array(clusters) if all(c is not None for c in clusters) else None
    if len(primary_items) < 2:
        raise rejected(
            run.path, f"$.n-samples.{leaf}", f"task {leaf} evaluated {len(primary_items)} document",
            "a score needs at least 2 documents per task for its standard error; rerun with "
            "--limit 2 or more",
        )  # fmt: skip
    score, low, high = stats.score_interval(
        parts.num, parts.den, leaf, clusters=cluster_arr, n_resamples=CI_RESAMPLES, seed=CI_SEED
    )
    result = TaskResult(
        task=leaf,
        column=spec.name,
        is_detail=leaf != spec.name,
        version=suite_task.version,
        n_shot=int((data.get("n-shot") or {}).get(leaf, 0) or 0),
        output_type=suite_task.output_type,
        generation_kwargs=data["configs"].get(leaf, {}).get("generation_kwargs"),
        metrics=metrics,
        primary=spec.result_key,
        score=score,
        ci=Interval(low=low, high=high, n_resamples=CI_RESAMPLES, seed=CI_SEED),
        stderr=stats.ratio_se(parts.num, parts.den),
        n_items=len(primary_items),
        n_clusters=len(set(clusters)) if cluster_arr is not None else None,
        data=provenance,
        baselines=_baselines(leaf, items, {**(tasks or {}), leaf: task}, suite),
    )
    return CheckedTask(result, items, metrics, int(scores.get("sample_len", len(primary_items))))


def _baselines(leaf: str, items: list[ItemRecord], tasks: dict[str, Any], suite: Suite):
    scorer = suite.tasks.get(registry.sibling_leaf(leaf) or leaf)
    try:
        return baselinelib.compute(
            leaf, items, tasks, scorer_version=scorer.version if scorer else ""
        )
    except baselinelib.BaselineError as exc:
        raise SubmissionError(f"task {leaf}: constant-answer baselines: {exc}") from exc


def check_groups(runs: Sequence[RunFile], tasks: dict[str, CheckedTask], suite: Suite) -> dict:
    """Recompute every reported group aggregate the way lm-eval does (over all leaf tasks)."""
    out: dict[str, dict[str, float]] = {}
    for run in runs:
        for name, scores in run.data["results"].items():
            if name in run.data["configs"]:
                continue
            group = suite.groups.get(name)
            if group is None:
                raise SubmissionError(
                    f"{run.path.name}: {name!r} is neither a task nor a group of the suite"
                )
            leaves = [leaf for leaf in suite.leaves_of(name) if leaf in tasks]
            for key in _metric_keys(scores):
                reported = scores[key]
                if not isinstance(reported, int | float) or isinstance(reported, bool):
                    continue
                metric, filt = key.split(",", 1)
                agg = next((a for a in group.aggregates if a.metric == metric), None)
                members = [leaf for leaf in leaves if key in tasks[leaf].metrics]
                if agg is None or not members:
                    raise SubmissionError(
                        f"{run.path.name}: group {name} reports {key}, which the suite's group "
                        "does not aggregate; submit lm-eval's unmodified results"
                    )
                weights = [tasks[m].size if agg.weight_by_size else 1 for m in members]
                value = sum(
                    tasks[m].metrics[key] * w for m, w in zip(members, weights, strict=True)
                )
                value /= sum(weights)
                if not _close(value, float(reported)):
                    raise SubmissionError(
                        f"group {name}: the results report {key} = {reported!r} but its tasks "
                        f"give {value!r} ({run.path.name}); submit the unmodified results"
                    )
                out.setdefault(name, {})[key] = float(reported)
    return out


# --- model metadata from the run ------------------------------------------------------------------


_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "half": "float16"}


def _model_args(config: dict[str, Any]) -> dict[str, Any]:
    """The run's model arguments, parsed as lm-eval parsed them (:mod:`leaderboard.evalspec`)."""
    args = config.get("model_args")
    try:
        return evalspec.parse_model_args(args if isinstance(args, dict | str) else None)
    except evalspec.SpecError as exc:
        raise SubmissionError(
            f"$.config.model_args: {exc} — submit the results file lm-eval wrote, unmodified"
        ) from exc


def _derived_model_id(config: dict[str, Any]) -> str | None:
    args = _model_args(config)
    name = str(args.get("pretrained") or config.get("model_name") or "")
    try:
        return check_model_id(name)
    except ValueError:
        pass
    marker = Path(name) / "biobench_model.json" if name else None
    if marker is not None and marker.is_file():
        try:
            upstream = json.loads(marker.read_text(encoding="utf-8")).get("upstream", "")
            return check_model_id(upstream)
        except (OSError, ValueError):
            return None
    return None


def derived_metadata(config: dict[str, Any]) -> Metadata:
    args = _model_args(config)
    dtype = str(config.get("model_dtype") or args.get("dtype") or "").removeprefix("torch.")
    return Metadata(
        model_id=_derived_model_id(config),
        revision=str(args.get("revision") or config.get("model_revision") or "main"),
        sha=str(config.get("model_sha") or ""),
        adapter=str(args.get("peft") or args.get("lora_local_path") or "") or None,
        n_parameters=config.get("model_num_parameters") or None,
        precision=_DTYPES.get(dtype),
    )


def _explain(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = tuple(str(x) for x in err["loc"])
    flag = FLAGS.get(loc[:2]) or FLAGS.get(loc[:1])
    where = ".".join(loc)
    fix = f"pass {flag} (or set it in the --meta file)" if flag else "fix the field"
    return f"submission.json field {where}: {err['msg']}; {fix}"


# --- assembling ---------------------------------------------------------------------------------


def _scrubbed(results: dict[str, Any]) -> bytes:
    kept = {k: v for k, v in results.items() if k != "samples"}
    return (json.dumps(kept, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# lora_local_path: the adapter argument of lm-eval's vllm model (peft: of its hf model)
_IDENTITY_ARGS = ("pretrained", "revision", "peft", "lora_local_path", "delta", "trust_remote_code")


def _model_identity(run: RunFile) -> tuple[str, ...]:
    """What makes two runs the same model: weights, revision, adapter and the dtype used."""
    args = _model_args(run.data["config"])
    dtype = str(run.data["config"].get("model_dtype") or args.get("dtype") or "")
    return (*(str(args.get(k) or "") for k in _IDENTITY_ARGS), dtype)


def _same_model(runs: Sequence[RunFile]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if _model_identity(run) != _model_identity(first):
            raise SubmissionError(
                f"{first.path} and {run.path} evaluate different models "
                f"({_model_identity(first)} vs {_model_identity(run)}); submit one model at a time"
            )


def _suite_tasks(runs: Sequence[RunFile], tasks_dir: Path) -> dict[str, Any]:
    """The suite's lm-eval Task objects of every leaf in the runs (after the version check)."""
    leaves = sorted({leaf for run in runs for leaf in run.data["configs"]})
    for leaf in leaves:
        if registry.spec_of_leaf(leaf) is None:
            known = ", ".join(s.name for s in registry.TASKS)
            raise SubmissionError(
                f"task {leaf!r} is not part of the BioInstruct Bench suite; submit only suite "
                f"tasks ({known})"
            )
    try:  # and the log-likelihood siblings that score generative tasks' baselines
        return build_tasks(baselinelib.leaves_needed(leaves), tasks_dir)
    except Exception as exc:  # noqa: BLE001 - the loaders' own errors, reported below
        for leaf in leaves:
            data_check(leaf)  # missing canonical records: the clear "how to get the data" error
        raise SubmissionError(
            f"could not build the suite's tasks {leaves} to re-score the submission ({exc}); "
            "make the suite's test data available (BIOBENCH_DATA_DIR) and retry"
        ) from exc


def _check_runs(runs: Sequence[RunFile], suite: Suite, tasks_dir: Path) -> dict[str, CheckedTask]:
    checked: dict[str, CheckedTask] = {}
    owner: dict[str, Path] = {}
    built: dict[str, Any] | None = None
    for run in runs:
        biobench = run.data.get("biobench") or {}
        if biobench and biobench.get("suite_version") != registry.SUITE_VERSION:
            raise SubmissionError(
                f"{run.path.name}: made with suite version {biobench.get('suite_version')}, the "
                f"store holds suite {registry.SUITE_VERSION}; rerun with the current suite"
            )
        for leaf in run.data["configs"]:
            if leaf in checked:
                raise SubmissionError(
                    f"task {leaf} is in both {owner[leaf]} and {run.path}; submit one run per task"
                )
            _suite_task(leaf, run, suite)  # the version, before anything is loaded
            if built is None:
                built = _suite_tasks(runs, tasks_dir)
            checked[leaf] = check_task(leaf, run, suite, biobench, built[leaf], built)
            owner[leaf] = run.path
    if not checked:
        raise SubmissionError("the results files contain no tasks")
    return checked


def _uses_remote_code(config: dict[str, Any]) -> bool:
    """Any spelling the loader takes as true (:func:`leaderboard.evalspec.is_on`)."""
    return evalspec.uses_remote_code(_model_args(config))


def _model_info(merged: Metadata, remote_code: bool = False) -> ModelInfo:
    adapter = (
        Adapter(id=merged.adapter, revision=merged.adapter_revision or "")
        if merged.adapter
        else None
    )
    try:
        return ModelInfo(
            id=merged.model_id,
            revision=merged.revision or "main",
            sha=merged.sha or "",
            base_model=merged.base_model or "",
            adapter=adapter,
            n_parameters=merged.n_parameters,
            precision=merged.precision,
            license=merged.license,
            model_type=merged.model_type,
            training_data=merged.training_data,
            contamination_notes=merged.contamination_notes or "",
            trust_remote_code=remote_code,
        )
    except ValidationError as exc:
        raise SubmissionError(_explain_model(exc)) from exc


def _device(config: dict[str, Any], env_info: str) -> str:
    """The device the run used: lm-eval records its default ``cuda:0`` even when CUDA was absent
    and the model ran on the CPU, which its environment report (``Is CUDA available: False``) shows."""
    device = str(config.get("device") or "")
    if device.startswith("cuda") and "Is CUDA available: False" in env_info:
        return "cpu"
    return device


def _run_info(runs: Sequence[RunFile], evaluated: datetime | None) -> RunInfo:
    first, config = runs[0].data, runs[0].data["config"]
    seeds = {k: config.get(k) for k in ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed")}
    limits = {run.data["config"].get("limit") for run in runs}
    forms = {run.path.name: bool(run.data.get("chat_template")) for run in runs}
    if len(set(forms.values())) > 1:
        chat = sorted(name for name, wrapped in forms.items() if wrapped)
        raise SubmissionError(
            f"results files mix prompt forms: {', '.join(chat)} used the chat template "
            "(--apply_chat_template), the others did not; submit each form as its own run"
        )
    matmul = {run.path.name: _matmul_precision(run.data) for run in runs}
    if len(set(matmul.values())) > 1:
        listed = ", ".join(f"{name}: {value or 'not recorded'}" for name, value in matmul.items())
        raise SubmissionError(
            f"results files mix float32 matmul precisions ({listed}); submit each precision as "
            "its own run"
        )
    return RunInfo(
        lm_eval_version=str(first["lm_eval_version"]),
        transformers_version=str(first.get("transformers_version") or ""),
        model_source=str(first.get("model_source") or ""),
        model_args=json.dumps(_model_args(config), sort_keys=True)[:2000],
        model_dtype=str(config.get("model_dtype") or ""),
        model_num_parameters=config.get("model_num_parameters"),
        batch_size=str(config.get("batch_size") or ""),
        device=_device(config, str(first.get("pretty_env_info") or "")),
        seeds={k: (int(v) if isinstance(v, int | float) else None) for k, v in seeds.items()},
        limit=limits.pop() if len(limits) == 1 else None,  # per task: tasks[].data.limit
        evaluated_at=evaluated,
        chat_template=any(forms.values()),
        matmul_precision=next(iter(matmul.values())),
        results_files=[run.path.name for run in runs],
    )


def _matmul_precision(results: dict) -> str:
    """The ``biobench eval --matmul-precision`` a results file records ('' where none; a value
    the suite does not know is refused)."""
    block = results.get("biobench")
    value = block.get("matmul_precision", "") if isinstance(block, dict) else ""
    if value not in ("", *MATMUL_PRECISIONS):
        raise SubmissionError(
            f"biobench.matmul_precision {str(value)[:40]!r} is not "
            f"{' or '.join(MATMUL_PRECISIONS)}; rerun biobench eval, which writes it"
        )
    return value


def prepare(
    paths: Sequence[Path],
    meta: Metadata | None = None,
    *,
    now: datetime | None = None,
    tasks_dir: Path | None = None,
) -> Prepared:
    """Check an lm-eval output (see the module docstring) and build the submission to store."""
    runs = find_runs(paths)
    _same_model(runs)
    suite = load_suite(tasks_dir)
    checked = _check_runs(runs, suite, tasks_dir or registry.TASKS_DIR)
    groups = check_groups(runs, checked, suite)
    config = runs[0].data["config"]
    merged = derived_metadata(config).updated(meta or Metadata())
    if merged.model_id is None:
        pretrained = _model_args(config).get("pretrained")
        raise SubmissionError(
            f"cannot tell the model id from the run (pretrained={pretrained!r}); "
            "pass --model-id org/name"
        )
    remote_code = _uses_remote_code(config)
    if remote_code and not merged.trust_remote_code:
        raise SubmissionError(
            f"{runs[0].path.name}:$.config.model_args.trust_remote_code: the run loaded the model "
            "with trust_remote_code=True, so code from the model repository ran — declare it with "
            "--declare-remote-code (or trust_remote_code: true in --meta) after reviewing that "
            "code, or rerun without it"
        )
    model = _model_info(merged, remote_code)
    items = sorted(
        (it for task in checked.values() for it in task.items),
        key=lambda it: (it.task, it.filter, it.doc_id),
    )
    for run in runs:
        _withhold_echoes(run)
    files: dict[str, bytes] = {run.path.name: _scrubbed(run.data) for run in runs}
    files[itemlib.ITEMS_FILE] = itemlib.write_items(items)
    digest = hashlib.sha256(files[itemlib.ITEMS_FILE]).hexdigest()
    dates = [float(r.data["date"]) for r in runs if isinstance(r.data.get("date"), int | float)]
    evaluated = datetime.fromtimestamp(min(dates), UTC) if dates else None
    stamp = evaluated or now or datetime.now(UTC)
    run_id = merged.run_id or f"{stamp:%Y%m%dT%H%M%S}-{digest[:8]}"
    refs = [
        FileRef(
            role="items" if name == itemlib.ITEMS_FILE else "results",
            name=name,
            sha256=hashlib.sha256(blob).hexdigest(),
            bytes=len(blob),
        )
        for name, blob in files.items()
    ]
    try:
        submission = Submission(
            schema_version=SCHEMA_VERSION,
            submission_id=f"{model_folder(model.id)}/{run_id}",
            run_id=run_id,
            model=model,
            submitter=merged.submitter or "anonymous",
            submitted_at=now or datetime.now(UTC),
            suite_version=registry.SUITE_VERSION,
            run=_run_info(runs, evaluated),
            tasks=[c.result for c in checked.values()],
            groups=groups,
            files=refs,
            notes=merged.notes or "",
        )
    except ValidationError as exc:
        raise SubmissionError(_explain(exc)) from exc
    return Prepared(submission, files)


def _explain_model(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ("model", *(str(x) for x in err["loc"]))
    flag = FLAGS.get(loc[:2])
    fix = f"pass {flag} (or set it in the --meta file)" if flag else "fix the field"
    value = err.get("input")
    got = "it is missing" if value is None else f"got {value!r}"
    return f"submission.json field {'.'.join(loc)}: {err['msg']} ({got}); {fix}"
