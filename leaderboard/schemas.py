"""Typed contracts of the leaderboard: submissions, per-item records, requests, references, comparisons.

``Submission`` is versioned (``SCHEMA_VERSION``); its JSON Schema is exported to
``leaderboard/submission.schema.json`` (``python -m leaderboard.schemas`` rewrites it, and a test
checks that the file and the model agree).

Every model forbids unknown fields: a typo in a submission is a rejection, not a silent default.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from tasks.ground.precision import MATMUL_PRECISIONS
from tasks.ground.strictjson import loads_strict

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = Path(__file__).with_name("submission.schema.json")

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_model_id(value: str) -> str:
    """``org/name`` made of letters, digits, ``.``, ``_``, ``-``; no ``__`` and no ``..``.

    The store folder of a model is ``org__name``, so ``__`` inside a part would be ambiguous.
    """
    parts = value.split("/")
    ok = len(parts) == 2 and all(_SEGMENT.fullmatch(p) for p in parts)
    if not ok or "__" in value or ".." in value:
        raise ValueError(
            f"model id {value!r} must look like 'org/name' (letters, digits, '.', '_', '-'; "
            "at most 96 characters per part; no '__' or '..'), e.g. 'HuggingFaceTB/SmolLM2-135M'"
        )
    return value


def check_run_id(value: str) -> str:
    if not _RUN_ID.fullmatch(value) or ".." in value:
        raise ValueError(
            f"run id {value!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit, without '..'"
        )
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_plain_text(value: str) -> str:
    """Refuse NUL and other control characters (tab and newlines are fine) and lone surrogates."""
    bad = _CONTROL.search(value)
    if bad:
        raise ValueError(
            f"contains the control character {bad.group()!r} at position {bad.start()}; "
            "use plain text"
        )
    return value


PlainText = Annotated[str, AfterValidator(check_plain_text)]
MAX_PARAMETERS = 10**14  # 100 trillion: anything larger is a typo or a forgery
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


def check_revision(value: str) -> str:
    """A git branch, tag or commit: letters, digits, ``.``, ``_``, ``-``, ``/``; no ``..``."""
    if not _REVISION.fullmatch(value) or ".." in value or value.endswith("/"):
        raise ValueError(
            f"revision {value!r} must be a branch, tag or commit (letters, digits, '.', '_', '-', "
            "'/'; at most 100 characters; no '..'), e.g. 'main' or a 40-character sha"
        )
    return value


def model_folder(model_id: str) -> str:
    """Store folder name of a model id: ``org/name`` -> ``org__name``."""
    return check_model_id(model_id).replace("/", "__")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), frozen=False)


def _finite(value: float, name: str) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


# --- submissions ------------------------------------------------------------------------------


class ModelType(StrEnum):
    BASE = "base"
    INSTRUCTION_TUNED = "instruction-tuned"
    DOMAIN_ADAPTED = "domain-adapted"
    PROPRIETARY_API = "proprietary-api"


class Precision(StrEnum):
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    INT8 = "8bit"
    INT4 = "4bit"
    API = "api"


class Adapter(Strict):
    """A PEFT adapter evaluated on top of ``ModelInfo.base_model``."""

    kind: Literal["lora"] = "lora"
    id: PlainText = Field(
        min_length=1, max_length=300, description="hub id or local path of the adapter"
    )
    revision: str = Field(default="", max_length=100)


class ModelInfo(Strict):
    id: str = Field(description="org/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct")
    revision: str = Field(default="main", min_length=1, max_length=100)
    sha: str = Field(
        default="", pattern=r"^[0-9a-f]{0,64}$", description="commit sha of the weights, if known"
    )
    base_model: PlainText = Field(default="", max_length=200)
    adapter: Adapter | None = None
    n_parameters: int | None = Field(default=None, ge=0, le=MAX_PARAMETERS)
    precision: Precision
    license: PlainText = Field(min_length=1, max_length=100)
    model_type: ModelType
    training_data: list[Annotated[PlainText, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=50,
        description="declared training data, e.g. BioInstruct 25k",
    )
    contamination_notes: PlainText = Field(default="", max_length=2000)
    trust_remote_code: bool = Field(
        default=False,
        description="the submitter declared that loading the model runs the repository's code",
    )

    @field_validator("revision")
    @classmethod
    def _check_revision(cls, value: str) -> str:
        return check_revision(value)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return check_model_id(value)


class DataProvenance(Strict):
    """Which test data a task ran on, checked against the suite's own loader at submit time."""

    source: Literal["local", "hub", "sample"]
    full_sha256: Sha256 = Field(description="records_sha256 of the complete test split")
    full_sha256_from: Literal["results", "recomputed"] = Field(
        description="'results': the biobench block of the lm-eval results; 'recomputed': at submit"
    )
    logged_sha256: Sha256 = Field(
        description="records_sha256 of the logged documents' canonical records, in doc_id order"
    )
    n_total: int = Field(ge=1, description="records in the complete test split")
    n_logged: int = Field(ge=1, description="records evaluated and logged")
    limit: float | None = Field(default=None, description="lm-eval --limit, if any")
    complete: bool = Field(description="every record of the test split was evaluated")
    subset: str = Field(
        default="",
        max_length=40,
        description="full, lite-<n>-<version> (tasks/common/subsets.py), first-<n>, or "
        "custom-<first 12 hex digits of logged_sha256> (other items: a pool of their own)",
    )


class Interval(Strict):
    low: float
    high: float
    level: float = 0.95
    method: str = "percentile bootstrap over items"
    n_resamples: int = Field(ge=1)
    seed: int


AnswerLabel = Annotated[str, Field(min_length=1, max_length=60)]


class TaskBaselines(Strict):
    """Constant-answer baselines of one task on the items the run evaluated, the run's answer
    distribution, and whether the run can be told apart from answering one option throughout
    (``leaderboard/baselines.py``).

    Classification tasks (multiple-choice QA, relation extraction; ``applicable``) are scored
    with the suite's own scorer (``task.process_results``) for every constant answer, on the
    run's doc ids: the generative variant of a dataset with the documents of its log-likelihood
    sibling (``scored_with``). Free-text tasks (NER, HoC, ROUGE) have no constant option; they
    get trivial answers instead (``trivial``: all / majority labels, lead-k copy of the input,
    the empty answer; :mod:`leaderboard.trivial`), scored the same way, and generation tasks
    record output lengths beside them. Only the share of the most frequent response is kept
    (never its text).
    """

    applicable: bool = Field(
        description="baseline answers were scored: constant options, or trivial answers"
    )
    method: PlainText = Field(max_length=2000, description="how every number below was computed")
    note: PlainText = Field(default="", max_length=500)
    metric: str = Field(max_length=40, description="the primary metric the numbers are in")
    n_items: int = Field(ge=1, description="items of the run the numbers are computed on")
    scored_with: str = Field(
        default="", max_length=150, description="lm-eval task whose scorer gave the baselines"
    )
    scorer_version: str = Field(default="", max_length=40, description="that task's version")
    majority: Unit | None = Field(
        default=None,
        description="best constant answer (accuracy: the most frequent gold option)",
    )
    majority_answer: AnswerLabel | None = None
    first_option: Unit | None = Field(default=None, description="always the first option")
    first_option_answer: AnswerLabel | None = None
    random: Unit | None = Field(
        default=None,
        description="uniform random answer: expected accuracy (mean of 1/options), or the F1 "
        "of the expected summed tp/fp/fn",
    )
    constants: dict[AnswerLabel, Unit] = Field(
        default_factory=dict, max_length=40, description="score of each constant answer"
    )
    answers: dict[AnswerLabel, StrictInt] = Field(
        default_factory=dict,
        max_length=45,
        description="the run's answers: option -> items ('[invalid]': no option extracted; "
        "'[withheld]': a stored response withheld and its option not recoverable; "
        "'[unresolved]': the stored counts fit several options)",
    )
    n_distinct: int = Field(ge=0, description="distinct answers (free text: distinct responses)")
    top_answer: AnswerLabel | None = Field(
        default=None, description="the most frequent answer (classification tasks only)"
    )
    top_share: Unit = Field(description="share of items given the most frequent answer")
    tested_answer: AnswerLabel | None = Field(
        default=None, description="the constant the run is tested against: its most frequent option"
    )
    tested_score: Unit | None = None
    test: Literal["mcnemar", "permutation"] | None = None
    p_value: Unit | None = Field(
        default=None, description="paired two-sided test of the run against tested_answer"
    )
    at_baseline: bool | None = Field(
        default=None,
        description="true: the run is not distinguishable (p >= 0.05) from always giving its "
        "most frequent answer (trivial: from the best trivial answer)",
    )
    trivial: bool = Field(
        default=False,
        description="free-text task: the baselines are trivial answers fixed on training data "
        "(leaderboard/trivial.py: all / majority labels, lead-k copy, the empty answer), "
        "majority = the best of them and the run is tested against it",
    )
    response_words: float | None = Field(
        default=None, ge=0.0, description="generation: mean words of the run's stored responses"
    )
    n_response_words: int | None = Field(
        default=None, ge=0, description="responses that mean is over (withheld ones are not)"
    )
    reference_words: float | None = Field(
        default=None, ge=0.0, description="generation: mean words of the references"
    )
    baseline_words: float | None = Field(
        default=None, ge=0.0, description="generation: mean words of the tested trivial answer"
    )

    @field_validator("answers")
    @classmethod
    def _counts(cls, value: dict[str, int]) -> dict[str, int]:
        if any(n < 0 for n in value.values()):
            raise ValueError("answer counts must be non-negative")
        return value


class TaskResult(Strict):
    """One lm-eval leaf task of a submission, every aggregate recomputed from its item records."""

    task: str = Field(description="lm-eval leaf task name")
    column: str = Field(description="registry entry (leaderboard column) the task belongs to")
    is_detail: bool = Field(default=False, description="a per-subset breakdown, not a column")
    version: str
    n_shot: int = Field(ge=0)
    output_type: str
    generation_kwargs: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(description="reported aggregates, e.g. {'acc,none': 0.41}")
    primary: str = Field(description="result key of the registry's primary metric")
    score: Unit
    ci: Interval
    stderr: float = Field(ge=0.0, description="i.i.d. standard error from the item records")
    n_items: int = Field(ge=1)
    n_clusters: int | None = Field(default=None, ge=1)
    data: DataProvenance
    baselines: TaskBaselines | None = Field(
        default=None, description="constant-answer baselines on the run's items (absent: older)"
    )

    @field_validator("metrics")
    @classmethod
    def _finite_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            _finite(number, f"metrics[{key!r}]")
            if not 0.0 <= number <= 1.0:  # accuracy, exact match, F1, P, R, ROUGE
                raise ValueError(f"metrics[{key!r}] = {number} is outside [0, 1]")
        return value

    @property
    def item_subset(self) -> str:
        """Which items of the test set the task ran on: the provenance's ``subset`` (``full``,
        ``lite-<n>-<version>``, ``first-<n>``, ...) or, for submissions stored before it existed,
        ``full`` when every record was evaluated and ``first-<n>`` otherwise (``--limit``)."""
        if self.data.subset == "custom":  # stored before custom subsets were named by items
            return f"custom-{self.data.logged_sha256[:12]}"
        if self.data.subset:
            return self.data.subset
        return "full" if self.data.complete else f"first-{self.data.n_logged}"

    @property
    def measurement(self) -> tuple[str, str, str]:
        """What a score measures: (task, version, item subset). Two runs of one model that share
        one are duplicates; a rerun under a new version or on other items is not."""
        return (self.task, self.version, self.item_subset)


class FileRef(Strict):
    role: Literal["results", "items"]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
    sha256: Sha256
    bytes: int = Field(ge=0)


class RunInfo(Strict):
    lm_eval_version: str
    transformers_version: str = ""
    model_source: str = ""
    model_args: str = Field(default="", max_length=2000)
    model_dtype: str = ""
    model_num_parameters: int | None = Field(default=None, ge=0, le=MAX_PARAMETERS)
    batch_size: str = ""
    device: str = ""
    seeds: dict[str, int | None] = Field(default_factory=dict)
    limit: float | None = Field(
        default=None, description="lm-eval --limit shared by all results files (else per task)"
    )
    evaluated_at: datetime | None = None
    chat_template: bool = Field(
        default=False,
        description="prompts wrapped in the model's chat template (lm-eval --apply_chat_template)",
    )
    matmul_precision: Literal["", *MATMUL_PRECISIONS] = Field(
        default="",
        description="float32 matrix products on the CPU: ieee (plain float32) or bf16 (on the "
        "CPU's bf16 units, biobench eval --matmul-precision); empty: not recorded (other runs)",
    )
    results_files: list[str] = Field(description="original names of the lm-eval results files")


class Submission(Strict):
    """``submission.json`` of one stored run: model metadata, run settings and per-task results."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    submission_id: str = Field(description="<org>__<model>/<run-id>: the store path")
    run_id: str
    model: ModelInfo
    submitter: PlainText = Field(min_length=1, max_length=100)
    submitted_at: datetime
    suite_version: str
    run: RunInfo
    tasks: list[TaskResult] = Field(min_length=1)
    groups: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="reported group aggregates, recomputed and verified"
    )
    files: list[FileRef]
    notes: PlainText = Field(default="", max_length=4000)

    @field_validator("run_id")
    @classmethod
    def _check_run(cls, value: str) -> str:
        return check_run_id(value)

    @property
    def folder(self) -> str:
        return model_folder(self.model.id)

    def task(self, name: str) -> TaskResult:
        for result in self.tasks:
            if result.task == name:
                return result
        raise KeyError(f"submission {self.submission_id} has no task {name!r}")


# --- per-item records ---------------------------------------------------------------------------


class Counts(Strict):
    """Per-item counts of a corpus-level F1: true positives, false positives, false negatives."""

    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    fn: int = Field(ge=0)


class ItemRecord(Strict):
    """One logged lm-eval sample, without any dataset text.

    ``response`` is the filtered response of a generative task (e.g. the extracted letter);
    ``raw_response`` the text the model generated before any filter (absent in records stored
    before extraction rule v3), so a later answer-extraction rule can be re-applied to a stored
    run; ``choice`` the option a multiple-choice task picked (highest log-likelihood). ``metrics`` are
    the per-item values lm-eval logged; ``counts`` the tp/fp/fn of count-based metrics.
    ``cluster`` (optional) is a hash of the document's shared context, e.g. the abstract of a
    sentence, used for clustered standard errors.
    """

    task: str
    doc_id: StrictInt = Field(ge=0)
    filter: str = "none"
    doc_hash: Sha256
    prompt_hash: Sha256
    target_hash: Sha256
    response: str | None = Field(default=None, max_length=100_000)
    raw_response: str | None = Field(default=None, max_length=100_000)
    choice: int | None = Field(default=None, ge=0)
    metrics: dict[str, float] = Field(default_factory=dict)
    counts: dict[str, Counts] = Field(default_factory=dict)
    cluster: str | None = Field(default=None, max_length=64)

    @field_validator("metrics")
    @classmethod
    def _finite_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            _finite(number, f"metrics[{key!r}]")
        return value


# --- lm-eval output, as submitted ------------------------------------------------------------

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
MetricValue = float | StrictInt | str | None  # numbers; "N/A" where lm-eval has no stderr
EPOCH_MAX = 4_102_444_800.0  # 2100-01-01: later evaluation dates are typos or forgeries


class Loose(BaseModel):
    """lm-eval writes many more fields than the suite reads: those are kept, unchecked."""

    model_config = ConfigDict(extra="allow", protected_namespaces=(), populate_by_name=True)


class LmEvalCounts(Loose):
    original: StrictInt = Field(ge=0, le=10**8)
    effective: StrictInt = Field(ge=0, le=10**8)


class LmEvalConfig(Loose):
    model: str | None = Field(default=None, max_length=200)
    model_args: str | dict[str, Any] | None = None
    model_num_parameters: StrictInt | None = Field(default=None, ge=0, le=MAX_PARAMETERS)
    model_dtype: str | None = Field(default=None, max_length=100)
    model_revision: str | None = Field(default=None, max_length=200)
    model_sha: str | None = Field(default=None, max_length=200)
    batch_size: str | StrictInt | None = None
    device: str | None = Field(default=None, max_length=100)
    limit: float | StrictInt | None = Field(default=None, ge=0)
    random_seed: Int64 | None = None
    numpy_seed: Int64 | None = None
    torch_seed: Int64 | None = None
    fewshot_seed: Int64 | None = None

    @field_validator("model_args")
    @classmethod
    def _short_args(cls, value: Any) -> Any:
        if value is not None and len(json.dumps(value)) > 20_000:
            raise ValueError("model_args longer than 20,000 characters")
        return value


# The top-level fields of lm-eval's results file the store keeps (lm-eval 0.4.13 writes these);
# any other field is dropped at submit, never stored (it could carry dataset text).
RESULTS_FIELDS = frozenset({
    "results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
    "n-samples", "config", "git_hash", "date", "pretty_env_info", "transformers_version",
    "lm_eval_version", "upper_git_hash", "tokenizer_pad_token", "tokenizer_eos_token",
    "tokenizer_bos_token", "eot_token_id", "max_length", "task_hashes", "model_source",
    "model_name", "model_name_sanitized", "system_instruction", "system_instruction_sha",
    "fewshot_as_multiturn", "chat_template", "chat_template_sha", "start_time", "end_time",
    "total_evaluation_time_seconds", "biobench",
})  # fmt: skip
# ... and the keys of its ``config`` block
RESULTS_CONFIG_FIELDS = frozenset({
    "model", "model_args", "model_num_parameters", "model_dtype", "model_revision", "model_sha",
    "batch_size", "batch_sizes", "device", "use_cache", "limit", "bootstrap_iters", "gen_kwargs",
    "random_seed", "numpy_seed", "torch_seed", "fewshot_seed",
})  # fmt: skip


class LmEvalResults(Loose):
    """The fields of lm-eval's ``results_<time>.json`` the suite reads, typed and bounded."""

    results: dict[str, dict[str, MetricValue | list | dict]]
    configs: dict[str, dict[str, Any]]
    versions: dict[str, str | float | StrictInt | None]
    n_samples: dict[str, LmEvalCounts] = Field(alias="n-samples")
    n_shot: dict[str, Annotated[StrictInt, Field(ge=0, le=10_000)] | None] = Field(
        default_factory=dict, alias="n-shot"
    )
    config: LmEvalConfig
    lm_eval_version: str = Field(max_length=100)
    transformers_version: str | None = Field(default=None, max_length=100)
    model_source: str | None = Field(default=None, max_length=200)
    date: float | StrictInt | None = Field(default=None, ge=0, le=EPOCH_MAX)
    chat_template: str | None = None
    system_instruction: str | None = None
    biobench: dict[str, Any] | None = None

    @field_validator("results")
    @classmethod
    def _metric_values(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for task, scores in value.items():
            for key, number in scores.items():
                if "," not in key:
                    continue
                ok = number == "N/A" or (
                    isinstance(number, int | float) and not isinstance(number, bool)
                )
                if not ok:
                    raise ValueError(f"results[{task!r}][{key!r}] = {number!r} is not a number")
        return value


# --- evaluation requests ------------------------------------------------------------------------


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class EvalBackend(StrEnum):
    """The lm-eval model a request is evaluated with (``runners/backends.py``)."""

    HF = "hf"
    VLLM = "vllm"


MAX_TENSOR_PARALLEL = 8  # GPUs of one machine per model replica
MAX_DATA_PARALLEL = 64  # model replicas (hf: processes on one machine; vllm: Ray tasks)
TensorParallel = Annotated[StrictInt, Field(ge=1, le=MAX_TENSOR_PARALLEL)]
DataParallel = Annotated[StrictInt, Field(ge=1, le=MAX_DATA_PARALLEL)]


def check_model_ref(value: str) -> str:
    """A model or adapter as a request names it: a hub id ``org/name``, or an absolute,
    normalised local path (no ``.``/``..`` parts, no trailing slash, no control characters)."""
    check_plain_text(value)
    if value.startswith("/"):
        if os.path.normpath(value) != value or "/../" in f"{value}/":
            raise ValueError(
                f"path {value!r} is not normalised; give the resolved absolute path "
                f"({os.path.normpath(value)!r})"
            )
        return value
    return check_model_id(value)


class EvalRequest(Strict):
    """A queued evaluation (``biobench request``), picked up by ``biobench worker``.

    Every field is a validated value, never an argument string: the worker builds lm-eval's
    model arguments from them as a JSON object and names only suite tasks (``tasks/registry.py``).
    """

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    request_id: str
    model: str = Field(min_length=1, max_length=500, description="hub id or resolved local path")
    model_id: str = Field(description="org/name the submission is stored under")
    revision: str = Field(default="main", min_length=1, max_length=100)
    sha: str = Field(default="", pattern=r"^[0-9a-f]{0,64}$", description="resolved commit")
    precision: Precision
    peft_adapter: str | None = Field(default=None, max_length=500)
    allow_remote_code: bool = False
    license: PlainText = Field(min_length=1, max_length=100)
    model_type: ModelType
    base_model: PlainText = Field(default="", max_length=500)
    n_parameters: int | None = Field(default=None, ge=0, le=MAX_PARAMETERS)
    architectures: list[Annotated[PlainText, Field(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    tasks: str = Field(default="bio_qa", min_length=1, max_length=1000)
    limit: int | None = Field(default=None, ge=1, le=10**7)
    max_gen_toks: int | None = Field(
        default=None, ge=1, le=8192, description="cap on generated tokens (smoke runs)"
    )
    submitter: PlainText = Field(default="anonymous", min_length=1, max_length=100)
    backend: EvalBackend = EvalBackend.HF
    tensor_parallel_size: TensorParallel = 1
    data_parallel_size: DataParallel = 1
    status: RequestStatus = RequestStatus.PENDING
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str | None = Field(default=None, description="host:pid of the worker running it")
    attempts: int = Field(default=0, ge=0)
    error: str | None = Field(default=None, max_length=8000)
    submission_id: str | None = None

    @field_validator("model_id")
    @classmethod
    def _check_model_id(cls, value: str) -> str:
        return check_model_id(value)

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        return check_model_ref(value)

    @field_validator("peft_adapter")
    @classmethod
    def _check_adapter(cls, value: str | None) -> str | None:
        return None if value is None else check_model_ref(value)

    @field_validator("revision")
    @classmethod
    def _check_revision(cls, value: str) -> str:
        return check_revision(value)

    @field_validator("tasks")
    @classmethod
    def _check_tasks(cls, value: str) -> str:
        from tasks.registry import check_task_list

        return ",".join(check_task_list(value))

    @field_validator("request_id")
    @classmethod
    def _check_request_id(cls, value: str) -> str:
        return check_run_id(value)

    @model_validator(mode="after")
    def _check_parallelism(self) -> EvalRequest:
        if self.backend == EvalBackend.HF and self.tensor_parallel_size != 1:
            raise ValueError(
                "tensor_parallel_size > 1 needs backend 'vllm' (the hf backend runs one model "
                "copy per GPU)"
            )
        return self


# --- reported reference rows --------------------------------------------------------------------


class ReferenceSource(Strict):
    title: str
    url: str
    table: str = Field(description="which table or section of the source")
    version: str = Field(default="", description="commit, revision or date of the source read")
    verified: str = Field(description="how and where the numbers were checked")


class ReferenceSetup(Strict):
    shots: int | None = Field(default=None, ge=0)
    fine_tuned_per_task: bool | None = None
    options: str = Field(default="", description="e.g. 'MedQA 4 options'")
    description: str


class ReferenceScore(Strict):
    benchmark: str = Field(description="benchmark name as the source prints it")
    column: str | None = Field(description="registry task it corresponds to, or null if none")
    value: float = Field(ge=0.0, le=100.0, description="accuracy in percent, as printed")
    note: str = ""


class ReferenceRow(Strict):
    model: str = Field(description="model name as the source prints it")
    model_id: str = Field(default="", description="hub id, when one is known")
    n_parameters: int | None = Field(default=None, ge=0)
    model_type: ModelType | None = Field(
        default=None, description="as the source describes the model (None: it does not say)"
    )
    base_model: str = Field(default="", description="the model it was trained from, if stated")
    scores: list[ReferenceScore] = Field(min_length=1)


class ReferenceFile(Strict):
    """Published numbers: shown on the leaderboard, never used in significance tests."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    status: Literal["reported"] = "reported"
    source: ReferenceSource
    setup: ReferenceSetup
    rows: list[ReferenceRow] = Field(min_length=1)


# --- comparisons --------------------------------------------------------------------------------


# Bootstrap resamples and permutations of every statistic the suite reports (submission CIs,
# baselines' tests, comparisons, the ablation): the one default, said here.
N_RESAMPLES = 10_000


class StatsSettings(Strict):
    n_resamples: int = Field(default=N_RESAMPLES, ge=100)
    n_permutations: int = Field(default=N_RESAMPLES, ge=100)
    seed: int = 0
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    power: float = Field(default=0.8, gt=0.0, lt=1.0)
    ci_level: float = Field(default=0.95, gt=0.0, lt=1.0)
    min_paired: int = Field(
        default=10, ge=2, description="fewer paired items: no test is reported as significant"
    )
    bca_below: int = Field(default=200, ge=0, description="BCa intervals when n is below this")


class ScoreEstimate(Strict):
    submission_id: str
    label: str
    column: str
    kind: Literal["task", "group"]
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n_items: int
    complete: bool = True
    baselines: TaskBaselines | None = Field(
        default=None, description="the task's stored constant-answer baselines (tasks only)"
    )
    collapsed: str = Field(
        default="",
        max_length=300,
        description="the run answered every item identically (leaderboard/collapse.py): "
        "what it answered; empty when not collapsed",
    )


class PairedTest(Strict):
    """One paired comparison A - B on one task (or group) and its statistics."""

    kind: Literal["task", "group"]
    column: str = Field(description="task (registry entry of A) or group name")
    column_b: str = Field(description="the matching task of B (differs when matched by dataset)")
    category: str
    metric: str
    a: str
    b: str
    n_paired: int
    n_only_a: int
    n_only_b: int
    n_conflicting: int = Field(description="same doc_id but different doc or prompt hash")
    score_a: float
    score_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_bootstrap: float
    test: Literal["mcnemar", "permutation", "bootstrap"]
    p_value: float
    p_holm: float | None = None
    p_bh: float | None = None
    significant: bool | None = Field(default=None, description="Holm-adjusted p < alpha")
    se_iid: float
    se_cluster: float | None = None
    n_clusters: int | None = None
    mde: float = Field(description="minimum detectable difference at the settings' power")
    discordant: tuple[int, int] | None = Field(default=None, description="McNemar (b, c)")
    ci_bca_low: float | None = Field(default=None, description="BCa interval (small n)")
    ci_bca_high: float | None = None
    supported: bool = Field(
        default=True,
        description="false: too few paired items or a degenerate bootstrap; never significant",
    )
    unsupported_reason: str = ""
    at_baseline_a: bool | None = Field(
        default=None, description="A's score is at a constant-answer baseline (None: unknown)"
    )
    at_baseline_b: bool | None = None
    both_at_baseline: bool = Field(
        default=False,
        description="both runs are at a constant-answer baseline: the difference is one between "
        "two ways of answering (nearly) one option throughout, not between abilities",
    )


class Comparison(Strict):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    created_at: datetime
    submissions: list[str]
    labels: dict[str, str]
    match: Literal["task", "dataset"]
    settings: StatsSettings
    scores: list[ScoreEstimate]
    tests: list[PairedTest]
    notes: list[str] = Field(default_factory=list)


def submission_json_schema() -> dict[str, Any]:
    schema = Submission.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"bioinstruct-bench/submission.schema.json#v{SCHEMA_VERSION}"
    schema["title"] = f"BioInstruct Bench submission (schema {SCHEMA_VERSION})"
    return schema


def write_schema(path: Path = SCHEMA_FILE) -> Path:
    text = json.dumps(submission_json_schema(), indent=2, sort_keys=True) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    print(write_schema())


# --- submission contracts (what validate produces and the store consumes) ---------------------


class SubmissionError(ValueError):
    """A rejected submission: the message names the file or field and says how to fix it."""


# --- metadata -----------------------------------------------------------------------------------


@dataclass
class Metadata:
    """What the submitter declares (flags or ``--meta`` file); unset fields come from the run."""

    model_id: str | None = None
    revision: str | None = None
    sha: str | None = None
    base_model: str | None = None
    adapter: str | None = None
    adapter_revision: str | None = None
    n_parameters: int | None = None
    precision: str | None = None
    license: str | None = None
    model_type: str | None = None
    training_data: list[str] = field(default_factory=list)
    contamination_notes: str | None = None
    submitter: str | None = None
    notes: str | None = None
    run_id: str | None = None
    trust_remote_code: bool | None = None  # declared: the model's repository code may run

    @classmethod
    def from_json(cls, path: Path) -> Metadata:
        try:
            data = loads_strict(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SubmissionError(f"--meta {path}: cannot read it as JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise SubmissionError(f"--meta {path}: expected a JSON object of metadata fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SubmissionError(
                f"--meta {path}: unknown field(s) {unknown}; known fields: {sorted(known)}"
            )
        try:
            return TypeAdapter(cls).validate_json(json.dumps(data), strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise SubmissionError(
                f"{path.name}:$.{where}: {err['msg']} — fix the field in the --meta file"
            ) from exc

    def updated(self, other: Metadata) -> Metadata:
        """These values, overridden by every field ``other`` sets."""
        merged = asdict(self)
        for key, value in asdict(other).items():
            if value not in (None, []):
                merged[key] = value
        return Metadata(**merged)


@dataclass
class Prepared:
    """A checked submission and the bytes of every file it stores (submission.json last)."""

    submission: Submission
    files: dict[str, bytes]

    @property
    def submission_id(self) -> str:
        return self.submission.submission_id

    def submission_bytes(self) -> bytes:
        return (self.submission.model_dump_json(indent=2) + "\n").encode("utf-8")
