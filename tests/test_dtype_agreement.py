"""``benchmarks.dtype_agreement`` on real lm-eval outputs of the tiny LLaMA (shared test runs)."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks import dtype_agreement

pytestmark = pytest.mark.slow  # the shared fixture runs lm-eval twice


def test_a_run_agrees_with_itself(runs):
    report = dtype_agreement.compare(runs.a, runs.a)
    assert set(report["tasks"]) == {"bio_pubmedqa", "bio_chemprot"}  # run A's log-lik tasks
    t = report["tasks"]["bio_pubmedqa"]
    assert t["items"] == 4 and report["tasks"]["bio_chemprot"]["items"] == 6
    assert t["choice_agreement"] == 1.0 and t["max_abs_ll_diff"] == 0.0
    assert t["mcnemar_p"] == 1.0 and t["passes"] and report["all_pass"]


def test_a_changed_choice_and_log_likelihood_are_seen(runs, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(runs.a, other)
    (path,) = other.rglob("samples_bio_pubmedqa_*.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    lls = [float(p[0]) for p in rows[0]["filtered_resps"]]
    worst = lls.index(min(lls))
    rows[0]["filtered_resps"][worst][0] = str(max(lls) + 1.5)  # now the top option
    rows[0]["acc"] = 1.0 - rows[0]["acc"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = dtype_agreement.compare(runs.a, other)
    t = report["tasks"]["bio_pubmedqa"]
    assert t["choice_agreement"] == 0.75 and not t["passes"]
    assert t["max_abs_ll_diff"] == pytest.approx(max(lls) + 1.5 - min(lls), abs=1e-4)
    assert sum(t["discordant"]) == 1
    assert dtype_agreement.main([str(runs.a), str(other), "--out", str(tmp_path / "r.json")]) == 1
    assert "| bio_pubmedqa | 4 | 0.7500 |" in (tmp_path / "r.md").read_text()
    assert dtype_agreement.main([str(tmp_path / "missing"), str(other)]) == 2
