"""Fast unit tests of the submission pieces: suite reading, item records, metric recomputation,
schema, metadata and the store's recovery (no lm-eval run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from leaderboard import items as itemlib
from leaderboard.schemas import SCHEMA_FILE, ModelInfo, Submission, submission_json_schema
from leaderboard.store import Store
from leaderboard.suite import load_suite
from leaderboard.validate import Metadata, SubmissionError
from tasks import registry
from tasks.ground import strictjson

H = "ab" * 32


def sample(**extra):
    base = {
        "doc_id": 0,
        "doc": {"id": "x", "question": "q?"},
        "target": "1",
        "filtered_resps": [["-2.0", "False"], ["-0.5", "False"], ["-3.1", "False"]],
        "filter": "none",
        "metrics": ["acc"],
        "doc_hash": H,
        "prompt_hash": H,
        "target_hash": H,
        "acc": 1.0,
    }
    base.update(extra)
    return base


def test_every_registry_task_has_a_suite_yaml_with_a_version():
    suite = load_suite()
    for spec in registry.TASKS:
        for leaf in spec.leaves:
            assert suite.tasks[leaf].version, leaf
    for group in registry.GROUPS:
        assert suite.groups[group.name].children


def test_multiple_choice_item_keeps_the_choice_not_the_text():
    item = itemlib.item_from_sample("t", sample(), "multiple_choice", "line 1")
    assert item.choice == 1 and item.response is None and item.metrics == {"acc": 1.0}
    assert "q?" not in item.model_dump_json()


def test_tampered_accuracy_is_caught_per_item():
    with pytest.raises(itemlib.ItemError, match="samples file was modified"):
        itemlib.item_from_sample("t", sample(acc=0.0), "multiple_choice", "line 3")


def test_generation_item_keeps_the_filtered_response():
    s = sample(filtered_resps=["B"], metrics=["exact_match"], exact_match=True)
    item = itemlib.item_from_sample("t", s, "generate_until", "line 1")
    assert item.response == "B" and item.metrics == {"exact_match": 1.0}


def test_generation_item_keeps_the_raw_response_beside_the_extracted_answer():
    """Rule v3 (tasks/CHANGELOG.md): a later extraction rule can be re-applied to the stored run."""
    raw = "Definitely not A; I'd go with (b)."
    s = sample(resps=[[raw]], filtered_resps=["B"], metrics=["exact_match"], exact_match=True)
    item = itemlib.item_from_sample("t", s, "generate_until", "line 1")
    assert (item.response, item.raw_response) == ("B", raw)
    stored = itemlib.parse_items(itemlib.write_items([item]))[0]
    assert stored.raw_response == raw
    # a multiple-choice item keeps its choice and no text; a line without resps keeps None
    assert itemlib.item_from_sample("t", sample(), "multiple_choice", "l").raw_response is None
    bare = sample(filtered_resps=["B"], metrics=["exact_match"], exact_match=True)
    assert itemlib.item_from_sample("t", bare, "generate_until", "l").raw_response is None
    # a data-parallel run pads a request's generations; the filters read the first, so is kept
    padded = {**s, "resps": [[raw, ""]]}
    assert itemlib.item_from_sample("t", padded, "generate_until", "l").raw_response == raw
    with pytest.raises(itemlib.ItemError, match="a generated string"):
        itemlib.item_from_sample("t", {**s, "resps": [[1, 2]]}, "generate_until", "l")


def test_a_response_that_copies_its_item_is_withheld():
    """A model that repeats its input would smuggle dataset text into the store."""
    question = "I need to know who manufactures the allergy tablets sold at my local pharmacy."
    prompt = (
        f"### Instruction:\nSummarise the question.\n\n### Input:\n{question}\n\n### Response:\n"
    )
    base = {"metrics": ["rougeL"], "rougeL": 0.4, "doc": {"question": question},
            "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["###"]}}}}  # fmt: skip
    copied = sample(
        filtered_resps=["Question: I need to know who manufactures the allergy tablets"], **base
    )
    copied["resps"] = [copied["filtered_resps"]]
    item = itemlib.item_from_sample("t", copied, "generate_until", "line 1")
    assert itemlib.is_withheld(item.response) and item.metrics == {"rougeL": 0.4}
    assert item.raw_response == item.response  # the raw text is withheld too
    assert "manufactures" not in item.model_dump_json()
    own = sample(filtered_resps=["Who makes the allergy tablets my pharmacy sells?"], **base)
    assert itemlib.item_from_sample("t", own, "generate_until", "l").response == own[
        "filtered_resps"][0]  # fmt: skip
    # seven shared words are allowed (short names, phrases), eight are not
    assert not itemlib.echoes_item("x who manufactures the allergy tablets sold at y", copied)
    assert itemlib.echoes_item("who manufactures the allergy tablets sold at my", copied)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"tp": 1, "fp": 0}, "missing \\['fn'\\]"),
        ({"tp": -1, "fp": 0, "fn": 0}, "non-negative integer"),
        ({"tp": 1.5, "fp": 0, "fn": 0}, "must be an integer"),
        ([1, 2], "expected a number"),
    ],
)
def test_bad_per_item_values_are_rejected(value, message):
    s = sample(filtered_resps=["x"], metrics=["f1"], f1=value)
    with pytest.raises(itemlib.ItemError, match=message):
        itemlib.item_from_sample("t", s, "generate_until", "line 2")


def test_nan_is_rejected_when_reading_json():
    with pytest.raises(ValueError, match="NaN"):
        strictjson.loads_strict('{"acc": NaN}')


def _count_items(gold, pred):
    """Binary classification items as per-item tp/fp/fn counts of the positive class."""
    out = []
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        counts = {"tp": int(g and p), "fp": int(p and not g), "fn": int(g and not p), "pred": p}
        s = sample(doc_id=i, filtered_resps=["x"], metrics=["f1", "precision", "recall"])
        s.update(f1=counts, precision=counts, recall=counts)
        out.append(itemlib.item_from_sample("t", s, "generate_until", f"line {i}"))
    return out


def test_count_metrics_recompute_like_scikit_learn():
    gold = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    pred = [1, 1, 0, 1, 0, 1, 1, 0, 0, 1]
    items = _count_items(gold, pred)
    assert itemlib.recompute(items, "f1") == pytest.approx(f1_score(gold, pred), abs=1e-12)
    assert itemlib.recompute(items, "precision") == pytest.approx(precision_score(gold, pred))
    assert itemlib.recompute(items, "recall") == pytest.approx(recall_score(gold, pred))
    assert itemlib.recompute(_count_items([0, 0], [0, 0]), "f1") == 0.0  # zero_division=0


def test_blue_hoc_f1_recomputes_from_per_abstract_counts():
    """f1_blue (BLUE's eval_hoc: means of per-abstract P and R, abstracts without gold left
    out) is recomputed by its own aggregation, not as a pooled micro F1 of the same counts."""
    rows = [(2, 0, 1), (0, 1, 2), (1, 2, 0), (0, 2, 0), (3, 1, 1)]  # (tp, fp, fn) per abstract
    items = []
    for i, (tp, fp, fn) in enumerate(rows):
        s = sample(doc_id=i, filtered_resps=["x"], metrics=["f1_blue"])
        s.update(f1_blue={"tp": tp, "fp": fp, "fn": fn, "pred": []})
        items.append(itemlib.item_from_sample("t", s, "generate_until", f"line {i}"))
    scored = [(tp, fp, fn) for tp, fp, fn in rows if tp + fn]  # BLUE cannot score the 4th
    p = sum(tp / (tp + fp) if tp + fp else 0.0 for tp, fp, _ in scored) / len(scored)
    r = sum(tp / (tp + fn) for tp, _, fn in scored) / len(scored)
    marker = "!function tasks.common.ie_metrics.f1_blue_aggregate"
    assert itemlib.recompute(items, "f1_blue", marker) == pytest.approx(2 * p * r / (p + r))
    assert itemlib.recompute(items, "f1_blue", marker) != pytest.approx(
        itemlib.recompute(items, "f1_blue")
    )


def test_means_need_mean_aggregation():
    items = [
        itemlib.item_from_sample("t", sample(doc_id=i), "multiple_choice", "l") for i in range(3)
    ]
    assert itemlib.recompute(items, "acc") == 1.0
    with pytest.raises(ValueError, match="recomputes only means"):
        itemlib.recompute(items, "acc", "median")


def test_items_round_trip_through_the_gzip_file():
    items = [
        itemlib.item_from_sample("t", sample(doc_id=i), "multiple_choice", "l") for i in range(4)
    ]
    blob = itemlib.write_items(items)
    assert blob == itemlib.write_items(items)  # reproducible bytes
    assert itemlib.parse_items(blob) == items


def test_schema_file_matches_the_model():
    assert json.loads(SCHEMA_FILE.read_text()) == submission_json_schema()
    assert submission_json_schema()["properties"]["schema_version"]["const"] == "1.0"
    with pytest.raises(ValueError, match="extra"):
        Submission.model_validate({"schema_version": "1.0", "surprise": 1})


def test_model_ids_cannot_escape_the_store():
    for bad in ["../evil", "a/b/c", "org__x/name", "org/..", "org/na me", "org/"]:
        with pytest.raises(ValueError):
            ModelInfo(id=bad, precision="float32", license="mit", model_type="base")


def test_meta_file_errors_name_the_file(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text("[1, 2]")
    with pytest.raises(SubmissionError, match="meta.json: expected a JSON object"):
        Metadata.from_json(path)
    path.write_text(json.dumps({"license": "mit"}))
    merged = Metadata.from_json(path).updated(Metadata(license="apache-2.0", model_type="base"))
    assert (merged.license, merged.model_type) == ("apache-2.0", "base")


def test_recover_rolls_back_an_uncommitted_replace(tmp_path):
    root = tmp_path / "store"
    old = root / "org__m" / "old"
    old.mkdir(parents=True)
    (old / "submission.json").write_text("{}")
    # a writer died after moving the old run to trash, before renaming the new one in
    trash = root / ".trash-t-0"
    old.rename(trash)
    tmp = root / ".tmp-t"
    tmp.mkdir()
    txn = {"tmp": tmp.name, "target": "org__m/new", "trash": [["org__m/old", trash.name]]}
    (root / ".txn-t.json").write_text(json.dumps(txn))
    store = Store(root)
    with store.lock():
        assert store.recover() == ["rolled back org__m/new"]
    assert (old / "submission.json").is_file() and not tmp.exists() and not trash.exists()
    assert not list(root.glob(".txn-*"))


@pytest.mark.parametrize(
    ("device", "env", "recorded"),
    [
        ("cuda:0", "PyTorch version: 2.13.0\nIs CUDA available: False\n", "cpu"),
        ("cuda:0", "Is CUDA available: True\n", "cuda:0"),
        ("cpu", "Is CUDA available: False\n", "cpu"),
        ("mps", "", "mps"),
        (None, "", ""),
    ],
)
def test_run_device_is_where_the_model_ran(device, env, recorded):
    from leaderboard.validate import _device

    assert _device({"device": device}, env) == recorded


def test_items_cluster_by_the_document_their_id_names():
    """DDI pairs and JNLPBA sentences cluster by document (clustered SEs); a doc naming none
    has no cluster, and an explicit cluster field wins over the id."""
    same = [itemlib.cluster_of({"id": i}) for i in ("DDI-MedLine.d7.s0.p0", "DDI-MedLine.d7.s3.p2")]
    assert same[0] is not None and same[0] == same[1]
    assert itemlib.cluster_of({"id": "DDI-MedLine.d8.s0.p0"}) != same[0]
    assert itemlib.cluster_of({"id": "d3.s10"}) == itemlib.cluster_of({"id": "d3.s11"})
    assert itemlib.cluster_of({"id": "d3.s10"}) != itemlib.cluster_of({"id": "d4.s12"})
    assert itemlib.cluster_of({"id": "17"}) is None
    assert itemlib.cluster_of({"id": "d3.s10", "abstract_id": "x"}) == itemlib.cluster_of(
        {"id": "d9.s1", "abstract_id": "x"}
    )


def test_a_rerun_under_a_new_task_version_or_other_items_is_not_a_duplicate(tmp_path):
    """Duplicates share a measurement (task, version, item subset), not just a task name: the
    stored 1.0 NER run and its 1.1 lite rerun are two measurements, and --replace of one must
    not delete the other."""
    import shutil

    src = (
        Path(__file__).resolve().parents[1] / "submissions" / "HuggingFaceTB__SmolLM2-135M-Instruct"
    )
    run = src / "20261121-default"
    shutil.copytree(run, tmp_path / src.name / run.name)
    store = Store(tmp_path)
    stored = store.read(f"{src.name}/{run.name}")
    again = stored.model_copy(update={"run_id": "again"})
    assert store.duplicates_of(again) and store.duplicates_of(again)[0][0] == stored.submission_id
    ner = stored.task("bio_ner_bc2gm")
    newer = ner.model_copy(update={"version": ner.version + ".1"})
    other_items = ner.model_copy(
        update={"data": ner.data.model_copy(update={"subset": "lite-200-v1"})}
    )
    for task in (newer, other_items):
        assert task.measurement != ner.measurement
        assert store.duplicates_of(again.model_copy(update={"tasks": [task]})) == []
    same = again.model_copy(update={"tasks": [ner]})
    assert store.duplicates_of(same) == [(stored.submission_id, ["bio_ner_bc2gm"])]
