"""``biobench ablation``: the transfer matrix on constructed per-item records (hand-worked gains,
independent references for the tests), and the whole wiring on tiny models with sample data."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from leaderboard.schemas import Counts, ItemRecord
from runners import ablation
from tests.test_finetune import write_data


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def acc_items(task: str, correct: list[int], salt: str = "") -> list[ItemRecord]:
    return [
        ItemRecord(
            task=task,
            doc_id=i,
            doc_hash=h(f"{task}{i}"),
            prompt_hash=h(f"p{task}{i}{salt}"),
            target_hash=h("t"),
            choice=0,
            metrics={"acc": float(c), "acc_norm": float(c)},
        )
        for i, c in enumerate(correct)
    ]


def f1_items(task: str, counts: list[tuple[int, int, int]]) -> list[ItemRecord]:
    return [
        ItemRecord(
            task=task,
            doc_id=i,
            doc_hash=h(f"{task}{i}"),
            prompt_hash=h(f"p{task}{i}"),
            target_hash=h("t"),
            choice=0,
            counts={k: Counts(tp=tp, fp=fp, fn=fn) for k in ("f1", "precision", "recall")},
        )
        for i, (tp, fp, fn) in enumerate(counts)
    ]


def plan(tmp_path: Path, **kw) -> ablation.Plan:
    return ablation.Plan(
        config="smollm2-135m", output_dir=tmp_path, max_steps=1, limit=None, n_resamples=2000, **kw
    )


def test_transfer_matrix_gains_tests_and_correction(tmp_path):
    n = 40
    base = (
        acc_items("bio_pubmedqa", [0] * n)
        + acc_items("bio_medqa", [1] * 20 + [0] * 20)
        + f1_items("bio_gad", [(1, 0, 0)] * 10 + [(0, 1, 1)] * 10)
    )
    tuned = (
        acc_items("bio_pubmedqa", [1] * 36 + [0] * 4)
        + acc_items("bio_medqa", [1] * 20 + [0] * 20)
        + f1_items("bio_gad", [(1, 0, 0)] * 10 + [(0, 1, 1)] * 10)
    )
    p = plan(tmp_path, subsets=("qa",), groups=("bio_qa", "bio_ie"))
    matrix = ablation.transfer_matrix(p, ["base", "qa"], [base, tuned])
    cells = {(c["subset"], c["group"]): c for c in matrix["cells"]}
    qa = cells["qa", "bio_qa"]
    # pubmedqa 0 -> 0.9, medqa 0.5 -> 0.5: group mean of the two tasks 0.25 -> 0.70
    assert qa["base"] == pytest.approx(0.25) and qa["tuned"] == pytest.approx(0.70)
    assert qa["gain"] == pytest.approx(0.45)
    assert qa["ci"][0] > 0.3 and qa["ci"][1] < 0.6 and qa["ci"][0] <= 0.45 <= qa["ci"][1]
    assert qa["n_tasks"] == 2 and "bio_headqa_en" in qa["tasks_left_out"]
    ie = cells["qa", "bio_ie"]  # identical F1 items: no gain, p = 1
    assert ie["base"] == pytest.approx(0.5) and ie["gain"] == 0 and ie["p_value"] == 1.0
    holm = multipletests([c["p_value"] for c in matrix["cells"]], method="holm")[1]
    assert [c["p_holm"] for c in matrix["cells"]] == pytest.approx(list(holm))
    assert qa["significant"] and not ie["significant"]
    pubmed = next(t for t in matrix["tasks"] if t["task"] == "bio_pubmedqa")
    assert pubmed["test"] == "mcnemar"  # 36 discordant pairs, all favouring the adapter
    assert pubmed["p_value"] == pytest.approx(binomtest(0, 36, 0.5).pvalue)
    gad = next(t for t in matrix["tasks"] if t["task"] == "bio_gad")
    assert gad["test"] == "permutation" and gad["gain"] == 0


def test_items_with_different_prompts_are_not_paired(tmp_path):
    base = acc_items("bio_pubmedqa", [0, 1, 0, 1])
    tuned = acc_items("bio_pubmedqa", [1, 1, 1, 1])
    for i in (2, 3):  # same doc ids, but the adapter run saw other prompts for them
        tuned[i] = tuned[i].model_copy(update={"prompt_hash": h(f"other{i}")})
    tables = ablation.task_tables([base, tuned], ["bio_pubmedqa"])
    assert tables["bio_pubmedqa"].num.tolist() == [[0.0, 1.0], [1.0, 1.0]]


def test_cli_rejects_bad_arguments(capsys):
    assert ablation.main(["--max-steps", "5", "--subsets", "qa,mcq"]) == 2
    assert "--subsets must name some of" in capsys.readouterr().err
    assert ablation.main(["--max-steps", "5", "--groups", "bio_nope"]) == 2
    assert "unknown lm-eval group(s) ['bio_nope']" in capsys.readouterr().err


def tiny_config(tmp_path: Path, tiny_llama: Path, **over) -> Path:
    """A finetune config for the tiny LLaMA: 36 records, 2-record steps, checkpoints every 2."""
    config = tmp_path / "tiny.yaml"
    values = {
        "base_model": str(tiny_llama),
        "output_dir": "unused",
        "data": str(write_data(tmp_path / "data.jsonl", n=36)),
        "val_size": 3,
        "cutoff_len": 256,
        "lora_r": 4,
        "lora_alpha": 8,
        "batch_size": 2,
        "micro_batch_size": 2,
        "warmup_steps": 0,
        "logging_steps": 1,
        "eval_steps": 2,
        "save_steps": 2,
    }
    config.write_text(yaml.safe_dump({**values, **over}))
    return config


@pytest.mark.slow
def test_ablation_wiring_on_tiny_models(tiny_llama, tmp_path, monkeypatch):
    """Adapters per subset, evaluation via biobench eval + peft, submissions, matrix, reuse."""
    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads only add contention
    config = tiny_config(tmp_path, tiny_llama, learning_rate=0.02)
    out = tmp_path / "ablation"
    # --gen_kwargs is not an ablation option: it goes through biobench eval to lm-eval
    argv = [
        "--config",
        str(config),
        "--output-dir",
        str(out),
        "--max-steps",
        "2",
        "--limit",
        "2",
        "--subsets",
        "qa",
        "--groups",
        "bio_qa,bio_ie",
        "--n-resamples",
        "200",
        "--gen_kwargs",
        "max_gen_toks=4",
    ]
    assert ablation.main(argv) == 0
    report = json.loads((out / "transfer.json").read_text())
    assert {(c["subset"], c["group"]) for c in report["cells"]} == {
        ("qa", g) for g in ("bio_qa", "bio_ie")
    }
    assert set(report["submissions"]) == {"base", "qa"}
    run = json.loads((out / "adapters" / "qa" / "run.json").read_text())
    assert run["data"]["selected_by_category"] == {"qa": 12} and run["global_step"] == 2
    results = next((out / "eval" / "qa").rglob("results_*.json"))  # the adapter was loaded
    model_args = json.loads(results.read_text())["config"]["model_args"]
    assert model_args["peft"] == str(out / "adapters" / "qa" / "adapter")
    for cell in report["cells"]:  # 2 items (--limit) of each of the group's tasks
        assert cell["n_items"] == 2 * (6 if cell["group"] == "bio_qa" else 9)
        assert abs(cell["gain"] - (cell["tuned"] - cell["base"])) < 1e-12
    assert (out / "transfer.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "transfer.md").read_text()
    assert "| qa |" in md and "SAMPLE data" in md
    # a rerun reuses adapters and evaluations
    stamp = (out / "adapters" / "qa" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    evals = sorted(p.name for p in (out / "eval" / "qa").rglob("results_*.json"))
    assert ablation.main(argv) == 0
    assert (
        out / "adapters" / "qa" / "adapter" / "adapter_model.safetensors"
    ).stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (out / "eval" / "qa").rglob("results_*.json")) == evals
    assert np.isfinite([c["p_holm"] for c in report["cells"]]).all()
    # a fresh machine has only what is committed (store, manifest, reports): nothing is redone
    shutil.rmtree(out / "adapters")
    shutil.rmtree(out / "eval")
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["steps"]) == {"base", "qa"}
    assert len(manifest["steps"]["qa"]["train"]["adapter_sha256"]) == 64
    assert ablation.main(argv) == 0
    assert not (out / "adapters").exists() and not (out / "eval").exists()
    again = json.loads((out / "transfer.json").read_text())
    assert again["cells"] == report["cells"]
    assert (out / "training" / "qa" / "run.json").is_file()
    assert (out / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_lite_per_group_and_generation_caps(capsys):
    groups = ("bio_qa", "bio_gen")
    assert ablation.parse_lite(["7"], groups) == {"bio_qa": 7, "bio_gen": 7}
    assert ablation.parse_lite(["5", "bio_gen=2"], groups) == {"bio_qa": 5, "bio_gen": 2}
    for bad in ("x", "bio_qa=0", "bio_ie=3"):
        with pytest.raises(ablation.ft.ConfigError, match="--lite"):
            ablation.parse_lite([bad], groups)
    assert ablation.main(["--max-steps", "5", "--lite", "bio_qa=-1"]) == 2
    assert "--lite 'bio_qa=-1'" in capsys.readouterr().err
    plan = ablation.Plan("smollm2-135m", Path("x"), 5, None, max_gen_toks=100)
    # only generative tasks whose own cap is above 100 run apart, with the smaller cap
    assert ablation.eval_units(plan, "bio_qa") == [("bio_qa", ["bio_qa"], None)]
    assert ablation.eval_units(plan, "bio_gen") == [
        ("bio_gen", ["bio_meqsum", "bio_mediqa_qs"], None),
        ("bio_gen-capped", ["bio_mts_dialog", "bio_aci_bench", "bio_mediqa_qa"], 100),
    ]
    uncapped = ablation.Plan("smollm2-135m", Path("x"), 5, None)
    assert ablation.eval_units(uncapped, "bio_gen") == [("bio_gen", ["bio_gen"], None)]
    # what decides a stored row is fingerprinted: another item count is another row
    lite = ablation.Plan("smollm2-135m", Path("x"), 5, None, lite={"bio_qa": 3})
    assert lite.fingerprint("base") != uncapped.fingerprint("base")
    assert lite.fingerprint("qa") != lite.fingerprint("ie")


@pytest.mark.slow
def test_adapters_train_in_parallel_processes_as_they_would_one_by_one(
    tiny_llama, tmp_path, monkeypatch
):
    """--train-jobs 2: two spawned processes train two adapters; each is byte for byte the
    adapter the same config trains alone (config + seed + data decide it, not the schedule).
    The parent's ``__main__`` is a script that fails when run, as Streamlit leaves its page
    script there in the same process: the spawned workers must not run it."""
    import sys
    import types

    config = tiny_config(tmp_path, tiny_llama)
    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('a spawned worker ran the parent __main__')\n")
    foreign = types.ModuleType("__main__")
    foreign.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", foreign)

    def plan_at(folder: str, jobs: int) -> ablation.Plan:
        return ablation.Plan(
            str(config), tmp_path / folder, 2, None, subsets=("qa", "ie"), train_jobs=jobs
        )

    parallel = plan_at("parallel", 2)
    ablation.train_in_parallel(parallel, ["qa", "ie"])
    assert sys.modules["__main__"] is foreign  # put back
    alone = plan_at("alone", 1)
    for subset in ("qa", "ie"):
        ablation.train_adapter(alone, subset)
        a, b = (
            p.output_dir / "adapters" / subset / "adapter" / "adapter_model.safetensors"
            for p in (parallel, alone)
        )
        assert ablation.finished(parallel.finetune_config(subset))
        assert a.read_bytes() == b.read_bytes()
    with pytest.raises(SystemExit):
        ablation.build_parser().parse_args(["--max-steps", "1", "--train-jobs", "x"])
    assert ablation.main(["--max-steps", "1", "--train-jobs", "0"]) == 2


def test_bf16_work_is_refused_where_the_cpu_would_run_it_in_software(monkeypatch):
    """A bf16 evaluation or adapter still to compute on a machine without bf16 units stops
    before any work with the float32 override named; stored steps (nothing to compute) and
    float32 plans pass, and so does every plan on a machine with the units."""
    from runners import hardware

    bf16 = ablation.Plan(
        "smollm2-135m", Path("x"), 5, None, dtype="bfloat16", overrides={"precision": "bf16"}
    )
    fp32 = ablation.Plan("smollm2-135m", Path("x"), 5, None)
    monkeypatch.setattr(hardware, "slow_bf16", lambda: "CPU X (AVX2) has no bf16 units")
    with pytest.raises(ablation.ft.ConfigError) as caught:
        ablation.check_bf16(bf16, ["base", "qa"], ["qa"])
    message = str(caught.value)
    assert "--dtype bfloat16 (2 evaluations to run)" in message
    assert "precision=bf16 (1 adapters to train)" in message
    assert "CPU X (AVX2)" in message and "--dtype float32 --set precision=fp32" in message
    ablation.check_bf16(bf16, [], [])  # all stored: nothing runs in bf16
    ablation.check_bf16(fp32, ["base", "qa"], ["qa"])
    monkeypatch.setattr(hardware, "slow_bf16", lambda: None)
    ablation.check_bf16(bf16, ["base", "qa"], ["qa"])


def test_hardware_facts_name_the_cpu_and_its_bf16_units():
    """What every timing is recorded with; a CPU without bf16 units says why bf16 is slow."""
    import torch

    from runners import hardware

    facts = hardware.describe()
    assert facts["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""
    assert set(facts["bf16_units"]) <= {"AMX-BF16", "AVX512-BF16"}
    why = hardware.slow_bf16()
    if not torch.cuda.is_available():
        assert (why is None) == bool(facts["bf16_units"])
        if why:
            assert "no AMX-BF16 or AVX512-BF16 units" in why


def test_a_float32_plan_records_and_passes_its_matmul_precision(monkeypatch):
    """float32 evaluations run with bf16 matmuls on a CPU with bf16 units (biobench eval's
    default): the plan says so in its settings and fingerprint, so plain-float32 steps of
    another machine are not taken for them; a bf16 plan (the stored reproduction) is unchanged."""
    from runners import hardware

    fp32 = ablation.Plan("smollm2-135m", Path("x"), 5, None, dtype="float32")
    bf16 = ablation.Plan("smollm2-135m", Path("x"), 5, None, dtype="bfloat16")
    monkeypatch.setattr(hardware, "bf16_units", lambda: ("AVX512-BF16",))
    assert fp32.eval_settings("bio_qa")["matmul_precision"] == "bf16"
    with_units = fp32.fingerprint("base")
    assert "matmul_precision" not in bf16.eval_settings("bio_qa")
    bf16_print = bf16.fingerprint("base")
    monkeypatch.setattr(hardware, "bf16_units", lambda: ())
    assert fp32.eval_settings("bio_qa")["matmul_precision"] == "ieee"
    assert fp32.fingerprint("base") != with_units
    assert bf16.fingerprint("base") == bf16_print
