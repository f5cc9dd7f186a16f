"""The five NER corpora of ``bio_ie``: one reader for the IOB files.

Local files: the BLURB NER releases as distributed by Crichton et al. (2017)
(cambridgeltl/MTL-Bioinformatics-2016, ``data/<corpus>/test.tsv``): one ``token<TAB>tag`` line
per token, a blank line between sentences, tags ``B-<Type>``/``I-<Type>``/``O``.

No hub copy: ``bigbio/blurb``'s parquet conversion reads the same files, but no SHA-256 of it
could be pinned.

Each file becomes one :class:`~tasks.common.ie_records.NerRecord` per sentence, ``id`` = the sentence's
position in the test file (0-based), prefixed ``d<N>.`` with its document's number where the file
marks documents: JNLPBA's ``-DOCSTART-`` lines are boundaries between its 404 abstracts, not
sentences (releases up to task version 1.1 scored them as 404 extra sentences). JNLPBA's five types (protein, DNA, RNA, cell line,
cell type) are collapsed into one entity type, as BLURB does (its loader keeps only the B/I/O
letter); the other corpora have a single type each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tasks.common.ie_records import NerRecord, ner_record_from_dict, spans_from_iob
from tasks.common.sources import DatasetSource

DOCSTART = "-DOCSTART-"  # CoNLL document boundary (JNLPBA's test file has 404 of them)
Sentence = tuple[list[str], list[str], int | None]  # tokens, tags, document number (or None)


def with_documents(sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[Sentence]:
    """Drop the ``-DOCSTART-`` pseudo-sentences, numbering the documents they open (0-based).

    Sentences before the first boundary, and all sentences of a file without boundaries, get
    ``None``.
    """
    out: list[Sentence] = []
    document: int | None = None
    for tokens, tags in sentences:
        if list(tokens) == [DOCSTART]:
            document = 0 if document is None else document + 1
            continue
        out.append((list(tokens), list(tags), document))
    return out


def read_iob(path: Path) -> list[Sentence]:
    """Sentences of a ``token<TAB>tag`` file as (tokens, tags, document), ``-DOCSTART-`` lines
    read as document boundaries (:func:`with_documents`); a clear error on a bad line."""
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    sentences.append((tokens, tags))
                    tokens, tags = [], []
                continue
            parts = line.split("\t")
            if parts[0] == DOCSTART:  # its own sentence, whatever follows it on the line
                if tokens:
                    sentences.append((tokens, tags))
                sentences.append(([DOCSTART], ["O"]))
                tokens, tags = [], []
                continue
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise ValueError(
                    f"{path}:{lineno}: expected 'token<TAB>IOB-tag', got {line!r}; "
                    "is this a BLURB NER test.tsv file?"
                )
            tokens.append(parts[0])
            tags.append(parts[1])
    if tokens:
        sentences.append((tokens, tags))
    return with_documents(sentences)


def sentence_id(index: int, document: int | None) -> str:
    """A record id: the sentence's position among the file's sentences, ``d<doc>.s<pos>`` where
    the file marks documents (``tasks.common.subsets.document`` reads the document back)."""
    return str(index) if document is None else f"d{document}.s{index}"


def collapse_types(tags: Sequence[str]) -> list[str]:
    """``B-DNA`` -> ``B``, ``I-protein`` -> ``I``: one entity type, as in BLURB's JNLPBA."""
    return [tag[0] for tag in tags]


def records_from_iob(
    sentences: Sequence[tuple[Sequence[str], Sequence[str], int | None]],
    entity_type: str,
    collapse: bool,
) -> list[NerRecord]:
    records = []
    for i, (tokens, tags, document) in enumerate(sentences):
        tags = collapse_types(tags) if collapse else list(tags)
        records.append(
            NerRecord(
                id=sentence_id(i, document),
                tokens=list(tokens),
                entity_type=entity_type,
                spans=spans_from_iob(tags),
            )
        )
    return records


def ner_source(
    name: str, folder: str, entity_type: str, collapse: bool, sample_file: Path
) -> DatasetSource:
    """The test split of one BLURB NER corpus: ``ner/<folder>/test.tsv``."""
    local = f"ner/{folder}/test.tsv"

    def parse_local(root: Path) -> list[NerRecord]:
        return records_from_iob(read_iob(root / local), entity_type, collapse)

    return DatasetSource(
        name=f"{name} (test)",
        local_files=(local,),
        parse_local=parse_local,
        sample_file=sample_file,
        from_record=ner_record_from_dict,
    )
