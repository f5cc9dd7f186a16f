"""The one typed registry of the suite: task -> category, primary metric, display name, direction.

Leaderboard columns, category averages, submission validation and reports all derive from
``TASKS`` and ``GROUPS``; nothing else lists tasks by hand. A test checks that this registry and
the lm-eval YAMLs under ``tasks/`` agree (every task here exists there and vice versa).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

TASKS_DIR = Path(__file__).parent
SUITE_VERSION = "0.1.0"


class Category(StrEnum):
    QA = "qa"
    IE = "ie"
    GEN = "gen"


# The suite's (and the instruction recipe's) categories, in display order; the recipe's seed
# tasks add "other" (instructions that fit none of them).
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
CATEGORY_LABELS: dict[Category, str] = {Category.QA: "QA", Category.IE: "IE", Category.GEN: "GEN"}
CATEGORY_NAMES: dict[Category, str] = {
    Category.QA: "question answering",
    Category.IE: "information extraction",
    Category.GEN: "text generation",
}


class Variant(StrEnum):
    LOGLIK = "loglik"  # multiple choice scored by log-likelihood (default, base models)
    GEN = "gen"  # free generation + answer extraction (chat / API models)


@dataclass(frozen=True)
class MetricSpec:
    """A primary metric of the suite: what it is and which way is better (as in the YAMLs)."""

    name: str  # metric key in lm-eval results and in the task YAMLs' metric_list
    label: str  # what the number is, for readers
    higher_is_better: bool = True


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("acc", "accuracy (highest log-likelihood option)"),
        MetricSpec("exact_match", "exact match of the extracted answer"),
        MetricSpec("rougeL", "ROUGE-L F-measure (Porter stemming)"),
        MetricSpec("f1", "micro F1 from summed tp / fp / fn"),
    )
}


def metric_label(metric: str) -> str:
    """What a metric's number is; an unknown metric is shown by its name."""
    spec = METRICS.get(metric)
    return spec.label if spec is not None else metric


def metric_direction(metric: str) -> bool:
    """True when higher is better for ``metric`` (KeyError for a metric the suite lacks)."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    return METRICS[metric].higher_is_better


@dataclass(frozen=True)
class TaskSpec:
    """One leaderboard column: one lm-eval task (one dataset)."""

    name: str  # lm-eval task or group name
    dataset: str  # task folder under tasks/
    category: Category
    variant: Variant
    display: str
    metric: str  # primary metric key in lm-eval results
    filter: str = "none"  # lm-eval filter name the metric is reported under
    higher_is_better: bool = True
    source_module: str = ""  # module with SOURCE (or source(subset)) for data hashes
    details: tuple[str, ...] = ()  # optional per-subset lm-eval tasks (breakdown, not in groups)
    detail_group: str = ""  # lm-eval group running ``details``

    @property
    def result_key(self) -> str:
        """Key of the primary metric in lm-eval's results JSON, e.g. ``acc,none``."""
        return f"{self.metric},{self.filter}"

    @property
    def caveat(self) -> str:
        """What a reader must know to read this score exactly (empty when nothing)."""
        return CAVEATS.get(self.dataset, "")

    @property
    def leaves(self) -> tuple[str, ...]:
        """Every lm-eval task of this entry: itself and its per-subset breakdown."""
        return (self.name, *self.details)


@dataclass(frozen=True)
class GroupSpec:
    name: str
    category: Category
    variant: Variant
    display: str
    metric: str
    filter: str = "none"

    @property
    def result_key(self) -> str:
        return f"{self.metric},{self.filter}"


_MMLU_SUBJECTS = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)

# (dataset folder, display name)
_QA = (
    ("bio_pubmedqa", "PubMedQA"),
    ("bio_medqa", "MedQA (USMLE, 4 opt)"),
    ("bio_medmcqa", "MedMCQA"),
    ("bio_bioasq_yesno", "BioASQ yes/no"),
    ("bio_mmlu_medical", "MMLU-medical"),
    ("bio_headqa_en", "HEAD-QA (en)"),
)


# What each score is, exactly, where it differs from what its name suggests (from the task
# READMEs, which give the details); shown on the leaderboard's about and model pages.
CAVEATS: dict[str, str] = {
    "bio_bioasq_yesno": "The context is the expert's ideal answer, not retrieved snippets: "
    "reading comprehension, easier than the BioASQ challenge setting.",
    "bio_medmcqa": "2,816 of the 4,183 dev questions (the local MedAgents-benchmark subset); "
    "not comparable with scores on the full dev set.",
    "bio_ddi": "Drug names are not masked (BLURB masks them as @DRUG$); the pairs of one "
    "sentence share its text.",
    "bio_headqa_en": "67 of the 2,742 test questions refer to an image the model cannot see; "
    "they are kept, as in lm-eval's headqa_en.",
    "bio_hoc": "The project's own hash split of 371 test abstracts (BLURB's PMID list is not "
    "available offline): not comparable with BLURB's table. Primary score: micro F1 over "
    "(abstract, hallmark) decisions, sentence labels pooled per abstract; BLUE's eval_hoc F1 "
    "(means of per-abstract precision and recall) is reported beside it as f1_blue.",
}


def _qa_specs() -> list[TaskSpec]:
    specs = []
    for dataset, display in _QA:
        for variant in Variant:
            suffix = "_gen" if variant is Variant.GEN else ""
            mmlu = dataset == "bio_mmlu_medical"
            details = tuple(f"{dataset}_{s}{suffix}" for s in _MMLU_SUBJECTS) if mmlu else ()
            specs.append(
                TaskSpec(
                    name=f"{dataset}{suffix}",
                    dataset=dataset,
                    category=Category.QA,
                    variant=variant,
                    display=display + (" (gen)" if suffix else ""),
                    metric="exact_match" if suffix else "acc",
                    filter="extract" if suffix else "none",
                    source_module=f"tasks.{dataset}.utils",
                    details=details,
                    detail_group=f"{dataset}_subjects{suffix}" if mmlu else "",
                )
            )
    return specs


# (dataset folder = task name, display name); scored by ROUGE-L, free generation
_GEN = (
    ("bio_meqsum", "MeQSum"),
    ("bio_mediqa_qs", "MEDIQA 2021 QS"),
    ("bio_mts_dialog", "MTS-Dialog"),
    ("bio_aci_bench", "ACI-Bench"),
    ("bio_mediqa_qa", "MEDIQA 2019 QA"),
)


def _gen_specs() -> list[TaskSpec]:
    return [
        TaskSpec(
            name=dataset,
            dataset=dataset,
            category=Category.GEN,
            variant=Variant.GEN,
            display=display,
            metric="rougeL",
            source_module=f"tasks.{dataset}.utils",
        )
        for dataset, display in _GEN
    ]


# (dataset folder, display name, has a log-likelihood variant); scored by corpus-level micro F1.
# NER and HoC are generative only (listing mentions / labels has no multiple-choice form) and
# belong to both bio_ie and bio_ie_gen; relation extraction has both variants.
_IE = (
    ("bio_ner_bc5cdr_chem", "BC5CDR-chemical NER", False),
    ("bio_ner_bc5cdr_disease", "BC5CDR-disease NER", False),
    ("bio_ner_ncbi_disease", "NCBI-disease NER", False),
    ("bio_ner_bc2gm", "BC2GM NER", False),
    ("bio_ner_jnlpba", "JNLPBA NER", False),
    ("bio_chemprot", "ChemProt", True),
    ("bio_ddi", "DDI 2013", True),
    ("bio_gad", "GAD", True),
    ("bio_hoc", "HoC", False),
)


def _ie_specs() -> list[TaskSpec]:
    specs = []
    for dataset, display, has_loglik in _IE:
        variants = (Variant.LOGLIK, Variant.GEN) if has_loglik else (Variant.GEN,)
        for variant in variants:
            suffix = "_gen" if has_loglik and variant is Variant.GEN else ""
            specs.append(
                TaskSpec(
                    name=f"{dataset}{suffix}",
                    dataset=dataset,
                    category=Category.IE,
                    variant=variant,
                    display=display + (" (gen)" if suffix else ""),
                    metric="f1",
                    source_module=f"tasks.{dataset}.utils",
                )
            )
    return specs


TASKS: tuple[TaskSpec, ...] = tuple(_qa_specs() + _gen_specs() + _ie_specs())

GROUPS: tuple[GroupSpec, ...] = (
    GroupSpec("bio_qa", Category.QA, Variant.LOGLIK, "QA", "acc"),
    GroupSpec("bio_qa_gen", Category.QA, Variant.GEN, "QA (gen)", "exact_match", "extract"),
    GroupSpec("bio_gen", Category.GEN, Variant.GEN, "Generation", "rougeL"),
    GroupSpec("bio_ie", Category.IE, Variant.LOGLIK, "IE", "f1"),
    GroupSpec("bio_ie_gen", Category.IE, Variant.GEN, "IE (gen)", "f1"),
)


def task(name: str) -> TaskSpec:
    for spec in TASKS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown task {name!r}; known: {', '.join(s.name for s in TASKS)}")


def display_name(name: str) -> str:
    """How a task or group is named on pages and in reports (the name itself when unknown)."""
    for spec in TASKS:
        if spec.name == name:
            return spec.display
    for group in GROUPS:
        if group.name == name:
            return f"{group.display} (group)"
    return name


def suite_names() -> frozenset[str]:
    """Every name ``lm_eval --tasks`` may be given for the suite: tasks, their per-subset
    breakdowns and breakdown groups, and the groups."""
    names = {g.name for g in GROUPS}
    for spec in TASKS:
        names.update(spec.leaves)
        if spec.detail_group:
            names.add(spec.detail_group)
    return frozenset(names)


def check_task_list(value: str) -> list[str]:
    """A comma-separated list of suite task or group names (nothing else: no paths, no YAML)."""
    names = [part.strip() for part in value.split(",")]
    known = suite_names()
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise ValueError(
            f"tasks {unknown or value!r} are not suite tasks or groups; name only tasks and "
            f"groups of tasks/registry.py, e.g. 'bio_qa' or 'bio_pubmedqa,bio_medqa'"
        )
    return names


def spec_of_leaf(leaf: str) -> TaskSpec | None:
    """The registry entry a leaf lm-eval task belongs to (itself, or its group)."""
    for spec in TASKS:
        if leaf in spec.leaves:
            return spec
    return None


def tasks_of(group: str) -> tuple[TaskSpec, ...]:
    g = next((g for g in GROUPS if g.name == group), None)
    if g is None:
        raise KeyError(f"unknown group {group!r}; known: {', '.join(x.name for x in GROUPS)}")
    variants: dict[str, set[Variant]] = {}
    for spec in TASKS:
        variants.setdefault(spec.dataset, set()).add(spec.variant)
    # A dataset with a single variant (NER, HoC: generative only) serves both groups of its
    # category; otherwise each group takes the variant it is named for.
    return tuple(
        s
        for s in TASKS
        if s.category is g.category and (s.variant is g.variant or len(variants[s.dataset]) == 1)
    )


def sibling_leaf(leaf: str) -> str | None:
    """The log-likelihood task of ``leaf``'s dataset (its "sibling"): ``leaf`` itself for a
    log-likelihood task, ``<name>`` for a generative ``<name>_gen`` of the same dataset, None for
    tasks with no option list (NER, HoC, ROUGE). Siblings share options, baselines and lite
    subsets."""
    spec = spec_of_leaf(leaf)
    if spec is None:
        return None
    if spec.variant is Variant.LOGLIK:
        return leaf
    if not leaf.endswith("_gen"):
        return None
    base = leaf.removesuffix("_gen")
    other = spec_of_leaf(base)
    if other is not None and other.dataset == spec.dataset and other.variant is Variant.LOGLIK:
        return base
    return None


def leaf_source(leaf: str):
    """The DatasetSource behind a leaf task (imports the task's loader module on demand)."""
    spec = spec_of_leaf(leaf)
    if spec is None or not spec.source_module:
        raise KeyError(f"no data source registered for task {leaf!r}")
    module = importlib.import_module(spec.source_module)
    if hasattr(module, "SOURCE"):
        return module.SOURCE
    subset = "" if leaf == spec.name else leaf.removeprefix(f"{spec.dataset}_").removesuffix("_gen")
    return module.source(subset)
