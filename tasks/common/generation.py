"""Free-text generation tasks (the ``bio_gen`` group): canonical record, prompts, ROUGE.

Every ``bio_gen`` dataset is normalised into :class:`GenerationRecord` (what the model reads and
the reference text(s) it is compared with). The lm-eval document adds the fields the prompt
needs: the task's instruction, the input as shown to the model (long inputs cut to a documented
character budget, with a visible marker) and whether it was cut, so every logged sample says
exactly what the model saw.

Scoring: ROUGE-1, ROUGE-2 and ROUGE-L F-measures from ``rouge_score`` with Porter stemming
(no download at run time), per item (logged with each sample) and their mean over the corpus.
With several references an item scores against the best-matching one (``score_multi``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import datasets

from tasks.common.prompting import render_prompt
from tasks.common.records import LoadedSplit


@dataclass(frozen=True)
class GenerationRecord:
    """One input text and the reference output(s) a model's generation is compared with.

    Example::

        GenerationRecord(id="meqsum-14348", input="who makes bromocriptine\\ni am wondering ...",
                         references=["Who manufactures bromocriptine?"], subset="")
    """

    id: str
    input: str
    references: list[str]
    subset: str = ""

    def __post_init__(self) -> None:
        if not self.input.strip():
            raise ValueError(f"record {self.id!r}: empty input text")
        if not self.references or not all(r.strip() for r in self.references):
            raise ValueError(f"record {self.id!r}: needs at least one non-empty reference")


def record_from_dict(row: dict[str, Any]) -> GenerationRecord:
    return GenerationRecord(
        id=str(row["id"]),
        input=row["input"],
        references=[str(r) for r in row["references"]],
        subset=row.get("subset", "") or "",
    )


@dataclass(frozen=True)
class Truncation:
    text: str
    omitted_chars: int

    @property
    def truncated(self) -> bool:
        return self.omitted_chars > 0


def truncate_middle(text: str, max_chars: int | None) -> Truncation:
    """Keep the beginning and the end of ``text`` within ``max_chars``, cutting whole lines.

    The omitted middle is replaced by one line ``[... N characters omitted ...]`` (not counted in
    the budget). A text within the budget is returned unchanged.
    """
    if max_chars is None or len(text) <= max_chars:
        return Truncation(text, 0)
    if max_chars < 2:
        raise ValueError(f"max_chars must be at least 2, got {max_chars}")
    half = max_chars // 2
    head, tail = text[:half], text[len(text) - half :]
    # cut on line boundaries when the halves contain any, so no utterance is split mid-line
    if "\n" in head:
        head = head[: head.rfind("\n")]
    if "\n" in tail:
        tail = tail[tail.find("\n") + 1 :]
    omitted = len(text) - len(head) - len(tail)
    marker = f"[... {omitted} characters omitted ...]"
    return Truncation(f"{head.rstrip()}\n{marker}\n{tail.lstrip()}", omitted)


def to_dataset_dict(
    split: LoadedSplit,
    instruction: str | Callable[[GenerationRecord], str],
    max_input_chars: int | None = None,
    name: str = "test",
) -> datasets.DatasetDict:
    """lm-eval documents: the canonical record plus instruction, shown input and truncation."""
    rows = []
    for record in split.records:
        cut = truncate_middle(record.input, max_input_chars)
        text = instruction if isinstance(instruction, str) else instruction(record)
        row = asdict(record)
        row.update(
            instruction=text,
            prompt_input=cut.text,
            input_truncated=cut.truncated,
            omitted_chars=cut.omitted_chars,
        )
        rows.append(row)
    return datasets.DatasetDict({name: datasets.Dataset.from_list(rows)})


def doc_to_text(doc: dict[str, Any]) -> str:
    return render_prompt(doc["instruction"], doc["prompt_input"])


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["references"][0]


# --- metric -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool
    description: str


ROUGE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("rouge1", True, "ROUGE-1 F-measure (unigram overlap), Porter stemming"),
    MetricSpec("rouge2", True, "ROUGE-2 F-measure (bigram overlap), Porter stemming"),
    MetricSpec("rougeL", True, "ROUGE-L F-measure (longest common subsequence), Porter stemming"),
)


@cache
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([m.name for m in ROUGE_METRICS], use_stemmer=True)


def rouge(prediction: str, references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measures of one prediction; the best reference per metric when several."""
    if isinstance(references, str) or not references:
        raise ValueError("references must be a non-empty list of strings")
    scores = _scorer().score_multi(list(references), prediction)
    return {m.name: float(scores[m.name].fmeasure) for m in ROUGE_METRICS}


def process_results(doc: dict[str, Any], results: Sequence[str]) -> dict[str, float]:
    """lm-eval hook: the first (filtered) generation against the document's references."""
    return rouge(results[0], doc["references"])


# --- reading original files -----------------------------------------------------------------


def read_xlsx(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of the first sheet of an .xlsx file as dicts of the named header columns.

    Rows whose named cells are all empty are skipped; a missing column is an error naming the
    file and the columns it does have.
    """
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {missing}; the first row has {[h for h in header if h]}"
            )
        index = {c: header.index(c) for c in columns}
        out = []
        for values in rows:
            row = {c: values[i] if i < len(values) else None for c, i in index.items()}
            if all(v is None or str(v).strip() == "" for v in row.values()):
                continue
            out.append(row)
        return out
    finally:
        workbook.close()


def read_summaries(path: Path, id_column: str, input_column: str, summary_column: str):
    """One ``GenerationRecord`` per row of an .xlsx of (id, text, reference summary) columns;
    ids must be unique (an error names the file and the column)."""
    records = [
        GenerationRecord(
            id=str(row[id_column]).strip(),
            input=str(row[input_column]).strip(),
            references=[str(row[summary_column]).strip()],
        )
        for row in read_xlsx(path, [id_column, input_column, summary_column])
    ]
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: {id_column} values are not unique")
    return records
