"""IE loaders on fixtures written here: IOB files, ChemProt/GAD TSV,
DDI XML in a zip, HoC text/label folders; shipped samples; folder, README and registry agreement."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path

import pytest
import yaml
from seqeval.metrics.sequence_labeling import get_entities

from tasks import registry
from tasks.bio_chemprot import utils as chemprot
from tasks.bio_ddi import utils as ddi
from tasks.bio_gad import utils as gad
from tasks.bio_hoc import utils as hoc
from tasks.common import ie_data, subsets
from tasks.common.ie_records import (
    MultiLabelRecord,
    NerRecord,
    RelationRecord,
    spans_from_iob,
)
from tasks.common.sources import DataUnavailableError, load

TASKS_DIR = registry.TASKS_DIR
IE_FOLDERS = sorted({s.dataset for s in registry.TASKS if s.category is registry.Category.IE})
NER_FOLDERS = [f for f in IE_FOLDERS if f.startswith("bio_ner_")]


def _utils(folder: str):
    import importlib

    return importlib.import_module(f"tasks.{folder}.utils")


# --- IOB and spans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["O", "B-C", "I-C", "O", "B-C"], [[1, 3], [4, 5]]),
        (["B", "B", "I", "I"], [[0, 1], [1, 4]]),
        (["O", "I-C", "I-C", "O"], [[1, 3]]),  # I after O opens an entity (seqeval default)
        (["B-DNA", "I-protein", "O"], [[0, 1], [1, 2]]),  # a type change opens a new one
        (["O", "O"], []),
        (["I-X"], [[0, 1]]),
    ],
)
def test_spans_from_iob(tags, spans):
    assert spans_from_iob(tags) == spans


def test_spans_from_iob_agrees_with_seqeval_on_random_tags():
    rng = random.Random(5)
    tagset = ["O", "O", "O", "B-A", "I-A", "B-B", "I-B"]
    for _ in range(2000):
        tags = [rng.choice(tagset) for _ in range(rng.randint(1, 12))]
        expected = [[s, e + 1] for _, s, e in get_entities(tags)]
        assert spans_from_iob(tags) == expected, tags


def test_spans_from_iob_rejects_non_iob():
    with pytest.raises(ValueError, match="not an IOB tag"):
        spans_from_iob(["O", "X-Chemical"])


IOB_TEXT = (
    "Aspirin\tB-Chemical\nreduces\tO\nfever\tO\n.\tO\n\n"
    "No\tO\ndrugs\tO\n\n\n"
    "IL\tB-Chemical\n-\tI-Chemical\n2\tI-Chemical\n"
)


def test_read_iob_and_records(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text(IOB_TEXT, encoding="utf-8")
    sentences = ie_data.read_iob(path)
    assert [len(t) for t, _, _ in sentences] == [4, 2, 3]
    records = ie_data.records_from_iob(sentences, "chemical", collapse=False)
    assert [r.id for r in records] == ["0", "1", "2"]
    assert records[0].spans == [[0, 1]] and records[1].spans == [] and records[2].spans == [[0, 3]]
    assert records[2].mentions == ["IL - 2"]


def test_read_iob_reports_bad_line(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("Aspirin B-Chemical\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test.tsv:1: expected 'token<TAB>IOB-tag'"):
        ie_data.read_iob(path)


# --- ChemProt / GAD TSV ---------------------------------------------------------------------


def test_chemprot_tsv():
    text = (
        "sentence\tlabel\n"
        'BC6ENTC inhibits "BC6ENTG" strongly.\tCPR:4\n'
        "BC6ENTC and BC6ENTG were measured.\tFalse\n"
    )
    records = chemprot.parse_tsv(text, "fixture")
    assert [(r.id, r.label) for r in records] == [("0", "CPR:4"), ("1", "False")]
    assert records[0].text == 'BC6ENTC inhibits "BC6ENTG" strongly.'  # quotes are data, not CSV
    assert records[0].negative == "False" and records[0].labels == chemprot.LABELS
    with pytest.raises(ValueError, match="fixture:2: expected"):
        chemprot.parse_tsv("sentence\tlabel\nBC6ENTC x\tCPR:7\n", "fixture")
    with pytest.raises(ValueError, match="header"):
        chemprot.parse_tsv("BC6ENTC x\tCPR:4\n", "fixture")


def test_gad_tsv():
    text = (
        "index\tsentence\tlabel\n"
        "7\t@GENE$ is linked to @DISEASE$.\t1\n"
        "8\tno link of @GENE$ to @DISEASE$.\t0\n"
    )
    records = gad.parse_tsv(text, "fixture")
    assert [(r.id, r.label, r.entity1, r.entity2) for r in records] == [
        ("7", "1", "@GENE$", "@DISEASE$"),
        ("8", "0", "@GENE$", "@DISEASE$"),
    ]
    with pytest.raises(ValueError, match="fixture:2"):
        gad.parse_tsv("index\tsentence\tlabel\n7\tx\tyes\n", "fixture")


def test_gad_local_order_is_the_fixed_hash_order(tmp_path, monkeypatch):
    lines = ["index\tsentence\tlabel"]
    lines += [f"{i}\t@GENE$ and @DISEASE$ ({i}).\t{int(i < 10)}" for i in range(20)]
    (tmp_path / "gad").mkdir()
    (tmp_path / gad.LOCAL_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")
    records = load(gad.SOURCE).records
    expected = sorted(
        range(20), key=lambda i: hashlib.sha256(f"bio_gad/order/v1:{i}".encode()).hexdigest()
    )
    assert [int(r.id) for r in records] == expected
    assert {r.label for r in records[:6]} == {"0", "1"}


# --- DDI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first", "second", "marked"),
    [
        ("aspirin and warfarin", [(0, 7)], [(12, 20)], "<<aspirin>> and [[warfarin]]"),
        ("ab", [(0, 1)], [(1, 2)], "<<a>>[[b]]"),
        # nested: the second mention inside the first
        ("heme iron salts", [(0, 15)], [(0, 9)], "<<[[heme iron]] salts>>"),
        ("heme iron", [(0, 9)], [(0, 9)], "<<[[heme iron]]>>"),  # same extent: first is outer
        # discontinuous first mention sharing text with the second
        (
            "ganglionic or peripheral adrenergic blocking drugs",
            [(0, 10), (25, 50)],
            [(14, 50)],
            "<<ganglionic>> or [[peripheral <<adrenergic blocking drugs>>]]",
        ),
        ("a\r\n b  c ", [(0, 1)], [(4, 5)], "<<a>> [[b]] c"),  # whitespace normalised
    ],
)
def test_mark_pair(text, first, second, marked):
    assert ddi.mark_pair(text, first, second) == marked


def test_parse_offsets():
    assert ddi.parse_offsets("54-68") == [(54, 69)]
    assert ddi.parse_offsets("0-9;32-45") == [(0, 10), (32, 46)]
    with pytest.raises(ValueError, match="charOffset"):
        ddi.parse_offsets("a-b")


DDI_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<document id="DDI-DrugBank.d1">
  <sentence id="DDI-DrugBank.d1.s0" text="Ketoconazole raises midazolam levels.&#xd;&#xa;">
    <entity id="DDI-DrugBank.d1.s0.e0" charOffset="0-11" type="drug" text="Ketoconazole"/>
    <entity id="DDI-DrugBank.d1.s0.e1" charOffset="20-28" type="drug" text="midazolam"/>
    <pair id="DDI-DrugBank.d1.s0.p0" e1="DDI-DrugBank.d1.s0.e0" e2="DDI-DrugBank.d1.s0.e1"
          ddi="true" type="mechanism"/>
  </sentence>
  <sentence id="DDI-DrugBank.d1.s1" text="No pairs here."/>
  <sentence id="DDI-DrugBank.d1.s2" text="beta- and alpha-blockers with digoxin">
    <entity id="DDI-DrugBank.d1.s2.e0" charOffset="0-4;16-23" type="group" text="beta- blockers"/>
    <entity id="DDI-DrugBank.d1.s2.e1" charOffset="30-36" type="drug" text="digoxin"/>
    <pair id="DDI-DrugBank.d1.s2.p0" e1="DDI-DrugBank.d1.s2.e0" e2="DDI-DrugBank.d1.s2.e1"
          ddi="false"/>
  </sentence>
</document>
"""


def test_ddi_document_records():
    records = ddi.records_from_document(DDI_XML, "fixture")
    assert [r.id for r in records] == ["DDI-DrugBank.d1.s0.p0", "DDI-DrugBank.d1.s2.p0"]
    first, second = records
    assert first.text == "<<Ketoconazole>> raises [[midazolam]] levels."
    assert (first.entity1, first.entity2, first.label) == ("Ketoconazole", "midazolam", "mechanism")
    assert second.text == "<<beta->> and alpha-<<blockers>> with [[digoxin]]"
    assert second.label == "false" and second.labels == ddi.LABELS


def test_ddi_zip_reads_only_the_extraction_test_set(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(ddi.TEST_DIR + "DrugBank/b.xml", DDI_XML)
        archive.writestr(ddi.TEST_DIR + "MedLine/.DS_Store", b"junk")
        archive.writestr("DDICorpus/Train/DrugBank/a.xml", DDI_XML.replace(b"d1", b"d9"))
    (tmp_path / "ddi").mkdir()
    (tmp_path / ddi.LOCAL_FILE).write_bytes(buffer.getvalue())
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")
    split = load(ddi.SOURCE)
    assert split.source == "local" and len(split.records) == 2
    assert all(".d1." in r.id for r in split.records)


def test_ddi_unknown_entity_is_reported():
    xml = DDI_XML.replace(b'e2="DDI-DrugBank.d1.s0.e1"', b'e2="nope"')
    with pytest.raises(ValueError, match="unknown entity"):
        ddi.records_from_document(xml, "fixture")


# --- HoC --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "labels"),
    [
        ("", set()),
        (" ", set()),
        ("NULL", set()),
        ("Resisting cell death--Apoptosis", {"resisting cell death"}),
        (
            "Sustaining proliferative signaling--Receptors ANDSustaining proliferative "
            "signaling--Downstream signaling AND Inducing angiogenesis",
            {"sustaining proliferative signaling", "inducing angiogenesis"},
        ),
        ("Activating invasion and metastasis--", {"activating invasion and metastasis"}),
    ],
)
def test_hoc_sentence_labels(field, labels):
    assert hoc.sentence_labels(field, "fixture") == labels


def test_hoc_unknown_hallmark_is_reported():
    with pytest.raises(ValueError, match="unknown hallmark 'cosmic rays'"):
        hoc.sentence_labels("Cosmic rays--X", "fixture")


def _write_abstract(root: Path, pmid: str, sentences: list[str], fields: list[str]) -> None:
    (root / hoc.TEXT_DIR).mkdir(parents=True, exist_ok=True)
    (root / hoc.LABEL_DIR).mkdir(parents=True, exist_ok=True)
    (root / hoc.TEXT_DIR / f"{pmid}.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    (root / hoc.LABEL_DIR / f"{pmid}.txt").write_text(
        "".join(f"<{f}" for f in fields), encoding="utf-8"
    )


def test_hoc_abstract_and_split(tmp_path, monkeypatch):
    for i in range(12):
        fields = (
            [" ", "Inducing angiogenesis--x AND Resisting cell death--y"] if i % 2 else [" ", " "]
        )
        _write_abstract(tmp_path, str(1000 + i), ["First sentence .", "Second one ."], fields)
    record = hoc.read_abstract(
        tmp_path / hoc.TEXT_DIR / "1001.txt", tmp_path / hoc.LABEL_DIR / "1001.txt"
    )
    assert record == MultiLabelRecord(
        id="1001",
        text="First sentence . Second one .",
        label_set=hoc.HALLMARKS,
        labels=["inducing angiogenesis", "resisting cell death"],
    )
    monkeypatch.setattr(hoc, "TEST_SIZE", 4)
    pmids = [str(1000 + i) for i in range(12)]
    chosen = hoc.split_test_pmids(pmids)
    assert len(chosen) == 4 and chosen == sorted(chosen, key=int)
    assert chosen == hoc.split_test_pmids(list(reversed(pmids)))  # order-independent
    expected = sorted(sorted(pmids, key=hoc.split_rank)[:4], key=int)
    assert chosen == expected
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")
    assert [r.id for r in load(hoc.SOURCE).records] == chosen


def test_hoc_misaligned_files_are_reported(tmp_path):
    _write_abstract(tmp_path, "1", ["One .", "Two ."], [" "])
    with pytest.raises(ValueError, match="1 label fields for 2 sentences"):
        hoc.read_abstract(tmp_path / hoc.TEXT_DIR / "1.txt", tmp_path / hoc.LABEL_DIR / "1.txt")


# --- records, samples, missing data ----------------------------------------------------------


def test_record_validation():
    with pytest.raises(ValueError, match="not a sorted, non-overlapping"):
        NerRecord(id="x", tokens=["a", "b"], entity_type="t", spans=[[0, 2], [1, 2]])
    with pytest.raises(ValueError, match="not a sorted"):
        NerRecord(id="x", tokens=["a"], entity_type="t", spans=[[0, 3]])
    with pytest.raises(ValueError, match="label 'x' not in"):
        RelationRecord(
            id="r", text="t", entity1="a", entity2="b", labels=["y", "n"], label="x", negative="n"
        )
    with pytest.raises(ValueError, match="not in the label set"):
        MultiLabelRecord(id="m", text="t", label_set=["a"], labels=["b"])


@pytest.mark.parametrize("folder", IE_FOLDERS)
def test_shipped_sample_loads(folder, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    split = load(_utils(folder).SOURCE)
    assert split.source == "sample" and len(split.records) >= 3
    assert all(r.id.startswith("sample-") for r in split.records)
    dataset = _utils(folder).load_test()["test"]
    assert len(dataset) == len(split.records)


@pytest.mark.parametrize("folder", IE_FOLDERS)
def test_missing_local_data_says_what_to_do(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIOBENCH_SOURCE", "local")
    source = _utils(folder).SOURCE
    with pytest.raises(DataUnavailableError) as excinfo:
        load(source)
    message = str(excinfo.value)
    assert source.local_files[0] in message and f"biobench data fetch {source.dataset}" in message


# --- folders, READMEs, registry ----------------------------------------------------------------


def _task_yamls(folder: str) -> dict[str, dict]:
    out = {}
    for path in sorted((TASKS_DIR / folder).glob("*.yaml")):
        # the !function tag needs lm-eval's loader; only the task name matters here
        text = path.read_text(encoding="utf-8").replace("!function", "")
        out[path.name] = yaml.safe_load(text)
    return out


@pytest.mark.parametrize("folder", IE_FOLDERS)
def test_folder_task_names_readme_and_registry_agree(folder):
    yamls = _task_yamls(folder)
    names = {cfg["task"] for cfg in yamls.values()}
    assert names <= {folder, f"{folder}_gen"} and names
    for file, cfg in yamls.items():
        assert file == f"{cfg['task']}.yaml"
    readme = (TASKS_DIR / folder / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# ")
    for name in names:
        assert f"`{name}`" in readme, f"{folder}/README.md does not name task {name}"
        spec = registry.task(name)
        assert spec.category is registry.Category.IE and spec.metric == "f1"
        assert spec.dataset == folder and spec.source_module == f"tasks.{folder}.utils"
    for heading in ("## Data", "## Prompt", "## Metric", "## Changelog", "## Citation"):
        assert heading in readme, f"{folder}/README.md lacks {heading}"
    assert "version 1.0" in readme


def test_ie_groups_list_registered_tasks():
    for group in ("bio_ie", "bio_ie_gen"):
        cfg = yaml.safe_load((TASKS_DIR / "_groups" / f"{group}.yaml").read_text(encoding="utf-8"))
        members = cfg["task"]
        assert len(set(members)) == len(members)
        assert sorted(members) == sorted(s.name for s in registry.tasks_of(group))
        for name in members:
            assert registry.task(name).category is registry.Category.IE
        aggregates = cfg["aggregate_metric_list"]
        assert aggregates[0] == {"metric": "f1", "filter_list": ["none"], "weight_by_size": False}
        # besides F1, only the unparsed-answer rate of the generative members (rule v2)
        assert all(a["metric"] == "unparsed" for a in aggregates[1:])
    ie_names = {s.name for s in registry.TASKS if s.category is registry.Category.IE}
    default = yaml.safe_load((TASKS_DIR / "_groups" / "bio_ie.yaml").read_text())["task"]
    generative = yaml.safe_load((TASKS_DIR / "_groups" / "bio_ie_gen.yaml").read_text())["task"]
    assert set(default) | set(generative) == ie_names
    assert {n for n in generative if registry.task(n).variant is registry.Variant.LOGLIK} == set()


def test_docstart_lines_are_document_boundaries_not_sentences(tmp_path):
    """CoNLL ``-DOCSTART-`` lines (404 in JNLPBA's test file) open documents: they are never
    scored as sentences, and each sentence's id names its document."""
    path = tmp_path / "test.tsv"
    path.write_text(
        "-DOCSTART-\tO\n\nIL-2\tB-DNA\ngene\tI-DNA\n\nT\tO\n\n-DOCSTART-\tO\n\nNF-kB\tB-protein\n",
        encoding="utf-8",
    )
    sentences = ie_data.read_iob(path)
    assert [(t, d) for t, _, d in sentences] == [(["IL-2", "gene"], 0), (["T"], 0), (["NF-kB"], 1)]
    records = ie_data.records_from_iob(sentences, "bio-entity", collapse=True)
    assert [r.id for r in records] == ["d0.s0", "d0.s1", "d1.s2"]
    assert [subsets.document(r) for r in records] == ["d0", "d0", "d1"]
