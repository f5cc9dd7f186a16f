"""``benchmarks.suite_tokens``: the suite's size in tokens, counted from lm-eval's own requests."""

from __future__ import annotations

import json

import pytest

from benchmarks import suite_tokens
from tasks import registry
from tests.conftest import ROOT


@pytest.mark.slow  # lm-eval indexes its ~10k task files per TaskManager: ~20 s here
def test_counts_match_lm_evals_requests_and_the_tokenizer(tiny_llama, monkeypatch):
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    from transformers import AutoTokenizer

    report = suite_tokens.count(("bio_pubmedqa", "bio_meqsum"), str(tiny_llama), limit=3)
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    pubmed, meqsum = report["tasks"]["bio_pubmedqa"], report["tasks"]["bio_meqsum"]
    assert pubmed["request_type"] == "loglikelihood" and pubmed["docs"] == 3
    assert pubmed["requests"] == 9  # one request per option: yes / no / maybe
    assert pubmed["generated_tokens_cap"] == 0
    assert pubmed["unique_prompt_tokens"] < pubmed["prompt_tokens"]  # the prompt, once per doc
    assert meqsum["request_type"] == "generate_until" and meqsum["requests"] == 3
    assert meqsum["max_gen_toks"] == 64  # the task YAML's cap
    assert meqsum["generated_tokens_cap"] == 3 * 64
    # recount by hand from the same lm-eval requests
    from lm_eval.tasks import TaskManager

    task = TaskManager(include_path=str(ROOT / "tasks")).load(["bio_pubmedqa"])["tasks"]
    task = task["bio_pubmedqa"]
    task.build_all_requests(limit=3)

    def n(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])

    by_hand = sum(n(i.args[0]) + n(i.args[1]) for i in task.instances)
    assert pubmed["prompt_tokens"] == by_hand
    total = report["all_groups"]
    assert total["requests"] == 12 and total["generated_tokens_cap"] == 192
    capped = suite_tokens.count(("bio_meqsum",), str(tiny_llama), limit=3, max_gen_toks=8)
    assert capped["tasks"]["bio_meqsum"]["generated_tokens_cap"] == 24


def test_the_committed_report_adds_up():
    report = json.loads((ROOT / "benchmarks/reports/suite_tokens_smollm2.json").read_text())
    tasks = report["tasks"]
    assert report["data_source"] == "local" and report["limit"] is None
    full = report["full_run"]
    for key in ("requests", "prompt_tokens", "unique_prompt_tokens", "generated_tokens_cap"):
        assert full[key] == sum(tasks[t][key] for t in full["tasks"]), key
    assert set(tasks) == {spec.name for spec in registry.TASKS}  # all five groups
    full_run = {
        s.name for group in ("bio_qa", "bio_ie", "bio_gen") for s in registry.tasks_of(group)
    }
    assert set(full["tasks"]) == full_run
    assert tasks["bio_chemprot"]["requests"] == 6 * tasks["bio_chemprot"]["docs"]
    for row in tasks.values():
        if row["request_type"] == "generate_until":
            assert row["generated_tokens_cap"] == row["requests"] * row["max_gen_toks"]
