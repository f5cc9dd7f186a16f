"""Lite subsets: seeded, stratified, nested, spread over documents; recorded with submissions."""

from __future__ import annotations

import json
import math
from collections import Counter
from types import SimpleNamespace

import pytest

from runners import eval as eval_cmd
from tasks import registry
from tasks.common import subsets
from tasks.common.sources import load
from tests.support.submission_runs import META, biobench, run

REAL = ["bio_pubmedqa", "bio_medqa", "bio_chemprot", "bio_ddi", "bio_ner_bc2gm", "bio_hoc"]


@pytest.mark.parametrize("leaf", REAL)
def test_lite_subsets_are_stratified_nested_and_stable(shared_data, leaf):
    records = load(registry.leaf_source(leaf)).records
    full = Counter(subsets.stratum(r) for r in records)
    for size in (s for s in subsets.LITE_SIZES if s < len(records)):
        ids = subsets.lite_indices(leaf, size)
        assert len(ids) == len(set(ids)) == size and ids == sorted(ids)
        got = Counter(subsets.stratum(records[i]) for i in ids)
        for label, count in full.items():  # proportional allocation, within 2 items
            assert abs(got[label] - size * count / len(records)) <= 2, (label, got, full)
    assert set(subsets.lite_indices(leaf, 200)) <= set(subsets.lite_indices(leaf, 500))
    subsets._cached_order.cache_clear()
    assert subsets.lite_indices(leaf, 200) == subsets.lite_indices(leaf, 200)


def test_ddi_lite_subset_spreads_over_documents(shared_data):
    records = load(registry.leaf_source("bio_ddi")).records
    lite = {subsets.document(records[i]) for i in subsets.lite_indices("bio_ddi", 200)}
    first = {subsets.document(records[i]) for i in range(200)}
    assert len(first) <= 5 and len(lite) >= 100


def test_jnlpba_lite_subset_spreads_over_abstracts(shared_data):
    records = load(registry.leaf_source("bio_ner_jnlpba")).records
    lite = [subsets.document(records[i]) for i in subsets.lite_indices("bio_ner_jnlpba", 200)]
    assert all(d.startswith("d") for d in lite) and len(set(lite)) >= 150


@pytest.mark.parametrize("leaf", ["bio_medqa", "bio_pubmedqa", "bio_gad", "bio_ddi"])
def test_both_forms_of_a_dataset_run_the_same_lite_items(shared_data, leaf):
    """A generative variant's lite subset is its log-likelihood sibling's, so the two pair."""
    assert registry.sibling_leaf(f"{leaf}_gen") == leaf
    for size in subsets.LITE_SIZES:
        assert subsets.lite_indices(f"{leaf}_gen", size) == subsets.lite_indices(leaf, size)


def test_subset_names(shared_data):
    n = len(load(registry.leaf_source("bio_pubmedqa")).records)
    lite = subsets.lite_indices("bio_pubmedqa", 200)
    assert subsets.subset_name("bio_pubmedqa", lite, n) == "lite-200-v1"
    assert subsets.subset_name("bio_pubmedqa", list(range(200)), n) == "first-200"
    assert subsets.subset_name("bio_pubmedqa", list(range(n)), n) == "full"
    assert subsets.subset_name("bio_pubmedqa", [1, 5, 9], n) == "custom"


def test_stratum_and_document_rules():
    assert subsets.stratum({"answer": "2"}) == "answer=2"
    assert subsets.stratum({"label": "CPR:3", "text": "x"}) == "label=CPR:3"
    assert subsets.stratum({"spans": []}) == "entities=False"
    assert subsets.stratum({"labels": ["x"], "label_set": ["x", "y"]}) == "hallmarks=True"
    assert subsets.stratum({"input": "q", "subset": ""}) == "subset="
    assert subsets.document({"id": "DDI-MedLine.d42.s3.p1"}) == "DDI-MedLine.d42"
    assert subsets.document({"id": "d7.s120"}) == "d7"
    assert subsets.document({"id": "120"}) == "120" and subsets.document_of({"id": "120"}) is None
    with pytest.raises(ValueError):
        subsets.lite_indices("bio_pubmedqa", 0)


def test_eval_lite_passes_lm_eval_samples(monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    monkeypatch.setattr(eval_cmd, "_cuda_available", lambda: False)
    args = SimpleNamespace(
        model="hf", model_args="pretrained=x", tasks="bio_qa", output_path="out",
        no_log_samples=False, lite=2,
    )  # fmt: skip
    argv = eval_cmd.lm_eval_argv(args, [])
    samples = json.loads(argv[argv.index("--samples") + 1])
    names = {s.name for s in registry.tasks_of("bio_qa")}
    assert set(samples) == names and all(len(v) == 2 for v in samples.values())
    assert "--limit" not in argv


@pytest.mark.slow
def test_a_lite_run_is_stored_with_its_subset(tiny_llama, tmp_path):
    store = tmp_path / "store"
    run(
        biobench(
            "eval", "--model", "hf", "--model_args", f"pretrained={tiny_llama},dtype=float32",
            "--tasks", "bio_chemprot", "--lite", "3", "--batch_size", "4",
            "--output_path", str(tmp_path / "out"), "--submit", "--store", str(store),
            "--model-id", "test/lite", *META,
        )
    )  # fmt: skip
    (path,) = store.rglob("submission.json")
    task = json.loads(path.read_text())["tasks"][0]
    assert task["data"]["subset"] == "lite-3-v1" and task["n_items"] == 3
    assert not task["data"]["complete"] and math.isclose(task["score"], task["score"])
