"""``biobench finetune``: response-only loss mask, config validation, a real LoRA run on the tiny
LLaMA (the adapter loads and changes the logits; merged weights equal base + adapter), resume
after a kill, and outputs (loss log, plot, model card)."""

from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runners import finetune as finetune_cmd
from runners import finetuning as ft
from runners.finetuning import data as fd
from tasks.common.prompting import load_template

ROOT = Path(__file__).resolve().parents[1]

RECORDS = [
    {
        "instruction": "Does aspirin inhibit cyclooxygenase? Reply with yes or no.",
        "input": "",
        "output": "yes",
        "category": "qa",
    },
    {
        "instruction": "Extract every chemical mention from the biomedical sentence.",
        "input": "aspirin inhibits cyclooxygenase; metformin lowers hepatic glucose output.",
        "output": "aspirin; metformin",
        "category": "ie",
    },
    {
        "instruction": "Summarise the finding.",
        "input": "The patient presents with fever, cough and dyspnea.",
        "output": "Fever, cough and dyspnea.",
        "category": "gen",
    },
]


def write_data(path: Path, n: int = 48) -> Path:
    lines = []
    for i in range(n):
        r = dict(RECORDS[i % len(RECORDS)])
        r["instruction"] = f"{r['instruction']} ({i})"
        r["source"] = "test"
        lines.append(json.dumps(r))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(tmp_path: Path, base: Path, **over) -> Path:
    cfg = {
        "base_model": str(base),
        "output_dir": str(tmp_path / "out"),
        "data": str(write_data(tmp_path / "data.jsonl")),
        "val_size": 6,
        "cutoff_len": 256,
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "learning_rate": 0.02,
        "max_steps": 8,
        "batch_size": 4,
        "micro_batch_size": 2,
        "warmup_steps": 0,
        "logging_steps": 2,
        "eval_steps": 4,
        "save_steps": 4,
        "seed": 3,
    }
    cfg.update(over)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- loss mask


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_llama):
    return ft.load_tokenizer(str(tiny_llama))


def test_labels_mask_exactly_the_prompt(tiny_tokenizer):
    template = load_template()
    record = {"instruction": "Name the drug.", "input": "aspirin 100 mg daily", "output": "aspirin"}
    enc = fd.Encoder(tiny_tokenizer, template, cutoff_len=512)(record)
    prompt = template.render(record["instruction"], record["input"])
    n_prompt = len(tiny_tokenizer(prompt)["input_ids"])
    response = tiny_tokenizer("aspirin", add_special_tokens=False)["input_ids"]
    eos = tiny_tokenizer.eos_token_id
    assert enc["labels"][:n_prompt] == [fd.IGNORE_INDEX] * n_prompt
    assert enc["labels"][n_prompt:] == response + [eos]
    assert enc["input_ids"][n_prompt:] == response + [eos]
    assert tiny_tokenizer.decode(enc["input_ids"][:n_prompt]) == prompt
    assert tiny_tokenizer.decode(enc["input_ids"][n_prompt:-1]) == "aspirin"
    assert enc["attention_mask"] == [1] * len(enc["input_ids"])


def test_mask_options_and_cutoff(tiny_tokenizer):
    template = load_template()
    record = {"instruction": "Name the drug.", "input": "", "output": "aspirin and metformin"}
    full = fd.Encoder(tiny_tokenizer, template, 512, train_on_inputs=True)(record)
    assert full["labels"] == full["input_ids"]
    no_eos = fd.Encoder(tiny_tokenizer, template, 512, add_eos_token=False)(record)
    assert no_eos["input_ids"][-1] != tiny_tokenizer.eos_token_id
    n_prompt = len(tiny_tokenizer(template.render("Name the drug."))["input_ids"])
    cut = fd.Encoder(tiny_tokenizer, template, n_prompt + 2)(record)
    assert len(cut["input_ids"]) == n_prompt + 2
    assert sum(label != fd.IGNORE_INDEX for label in cut["labels"]) == 2
    assert fd.Encoder(tiny_tokenizer, template, n_prompt)(record) is None


def test_collator_pads_labels_with_ignore_index():
    collate = fd.PadCollator(pad_id=7, pad_to_multiple_of=4)
    batch = collate(
        [
            {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [-100, 2, 3]},
            {"input_ids": [4], "attention_mask": [1], "labels": [4]},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3, 7], [4, 7, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3, -100], [4, -100, -100, -100]]


def test_split_and_select_are_seeded(tmp_path):
    records = fd.read_instructions(write_data(tmp_path / "d.jsonl", n=30))
    qa = fd.select(records, ["qa"], None, seed=0)
    assert len(qa) == 10 and {r["category"] for r in qa} == {"qa"}
    assert fd.select(records, [], 7, seed=1) == fd.select(records, [], 7, seed=1)
    train, val = fd.split(records, 5, seed=2)
    assert len(val) == 5 and len(train) == 25
    assert fd.split(records, 5, seed=2) == (train, val)
    assert fd.split(records, 5, seed=3)[1] != val
    with pytest.raises(fd.InstructionDataError, match="no records of categories"):
        fd.select([r for r in records if r["category"] != "gen"], ["gen"], None, 0)
    with pytest.raises(fd.InstructionDataError, match="leaves no training records"):
        fd.split(records, 30, 0)


def test_balanced_selection_gives_every_category_the_smallest_ones_size(tmp_path):
    records = fd.read_instructions(write_data(tmp_path / "d.jsonl", n=30))
    skewed = [r for r in records if r["category"] != "gen"] + [
        r for r in records if r["category"] == "gen"
    ][:4]  # 10 qa, 10 ie, 4 gen
    kept = fd.select(skewed, [], None, seed=5, balance=True)
    from collections import Counter

    assert Counter(r["category"] for r in kept) == {"qa": 4, "ie": 4, "gen": 4}
    assert kept == [r for r in skewed if r in kept]  # original order kept
    assert kept == fd.select(skewed, [], None, seed=5, balance=True)
    assert kept != fd.select(skewed, [], None, seed=6, balance=True)
    assert len(fd.select(skewed, ["qa", "ie"], None, seed=5, balance=True)) == 20


def test_bad_instruction_file_is_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "output": "y"}\n{"instruction": "x"}\n')
    with pytest.raises(fd.InstructionDataError, match=r"bad.jsonl:2: missing or empty .*output"):
        fd.read_instructions(bad)
    bad.write_text("{not json\n")
    with pytest.raises(fd.InstructionDataError, match="bad.jsonl:1: not valid JSON"):
        fd.read_instructions(bad)


# --------------------------------------------------------------------------- config


def test_shipped_configs_load_and_cite_their_sources():
    names = {p.stem for p in ft.CONFIG_DIR.glob("*.yaml")}
    assert {"llama1-7b", "llama1-13b", "llama2-7b", "llama2-13b", "smollm2-135m"} <= names
    for name in names:
        cfg = ft.load_config(name)
        text = (ft.CONFIG_DIR / f"{name}.yaml").read_text()
        assert "alpaca-lora" in text and "not available" in text, name
        assert cfg.train_on_inputs is False and cfg.template == "alpaca"
        keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
        assert set(keys) <= set(ft.FinetuneConfig.model_fields), name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"lora_rank": 8}, r"unknown key 'lora_rank'\. Did you mean 'lora_r'\?"),
        ({"lora_r": "big"}, r"'lora_r': expected int, got 'big'"),
        ({"lora_r": 0}, r"'lora_r': must be > 0"),
        ({"batch_size": 6, "micro_batch_size": 4}, r"'batch_size': must be a multiple"),
        ({"categories": ["qa", "mcq"]}, r"'categories': each must be one of"),
        ({"base_model": ""}, r"'base_model': set a hub id"),
        ({"precision": "fp8"}, r"'precision': must be one of"),
        ({"train_on_inputs": "no"}, r"'train_on_inputs': expected bool"),
    ],
)
def test_config_errors_name_the_key(tmp_path, override, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"base_model": "x", "output_dir": "o", **override}))
    with pytest.raises(ft.ConfigError, match=message):
        ft.load_config(str(path))


def test_config_accepts_yaml_float_strings_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base_model: x\noutput_dir: o\nlearning_rate: 3e-4\n")  # PyYAML: a string
    cfg = ft.load_config(str(path), ft.parse_overrides(["lora_r=32", "categories=[qa, ie]"]))
    assert cfg.learning_rate == pytest.approx(3e-4)
    assert cfg.lora_r == 32 and cfg.categories == ["qa", "ie"]
    with pytest.raises(ft.ConfigError, match="write key=value"):
        ft.parse_overrides(["lora_r"])
    with pytest.raises(ft.ConfigError, match="no config 'nope'"):
        ft.load_config("nope")


def test_qlora_without_gpu_is_a_clear_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    cfg = ft.config_from_dict({"base_model": "x", "output_dir": "o", "load_in_4bit": True})
    with pytest.raises(ft.ConfigError, match="QLoRA needs a CUDA GPU and the bitsandbytes"):
        ft.quantization_config(cfg)


def test_cli_reports_config_errors(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("base_model: x\noutput_dir: o\nlora_dropout: 1.5\n")
    assert finetune_cmd.main(["--config", str(path)]) == 2
    assert "'lora_dropout': must be in [0, 1)" in capsys.readouterr().err


def test_offline_data_needs_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty data folder; offline (conftest)
    cfg = ft.config_from_dict({"base_model": "x", "output_dir": "o", "data": "offline"})
    with pytest.raises(ft.ConfigError, match=r"data: 'offline'.*biobench data fetch all"):
        ft.resolve_data(cfg)


# --------------------------------------------------------------------------- checkpoints


def test_incomplete_checkpoints_are_skipped(tmp_path):
    ckpts = tmp_path / "checkpoints"
    for step, complete in ((2, True), (4, True), (6, False)):
        d = ckpts / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "adapter_model.safetensors").write_bytes(b"x")
        if complete:
            (d / "trainer_state.json").write_text("{}")
        else:
            (d / "trainer_state.json").write_text('{"global_st')  # cut mid-write
    assert ft.last_checkpoint(ckpts) == ckpts / "checkpoint-4"
    assert ft.last_checkpoint(tmp_path / "none") is None


def test_resume_refuses_a_different_config(tmp_path):
    cfg = ft.config_from_dict({"base_model": "x", "output_dir": "o", "learning_rate": 1e-3})
    saved = dict(ft.config_from_dict({"base_model": "x", "output_dir": "o"}).__dict__)
    with pytest.raises(ft.ConfigError, match=r"learning_rate: 0\.0003 -> 0\.001.*--overwrite"):
        ft.check_same_run(saved, cfg, tmp_path)
    saved["save_steps"] = 7  # bookkeeping keys may change
    saved["learning_rate"] = 1e-3
    ft.check_same_run(saved, cfg, tmp_path)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tiny_run(tiny_llama, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    cfg = ft.load_config(str(tiny_config(tmp, tiny_llama)), {"merge": True})
    summary = ft.train(cfg)
    return cfg, summary, Path(cfg.output_dir)


@pytest.mark.slow  # trains (and loads) the tiny model
def test_tiny_run_learns_and_writes_outputs(tiny_run):
    cfg, summary, out = tiny_run
    assert summary["global_step"] == 8 and summary["resumed_from_step"] == 0
    assert summary["val_loss"] < summary["val_loss_first"]  # the adapter learned something
    assert summary["data"]["n_train"] == 42 and summary["data"]["n_val"] == 6
    assert summary["data"]["sha256"] == fd.file_sha256(Path(cfg.data))
    rows = [json.loads(line) for line in (out / "loss_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "validation"] == [0, 4, 8]
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 4, 6, 8]
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    card = (out / "adapter" / "README.md").read_text()
    assert summary["data"]["sha256"] in card and "lora_r: 4" in card
    assert "git commit" in card and str(cfg.base_model) in card
    assert json.loads((out / "run.json").read_text())["global_step"] == 8


@pytest.mark.slow  # trains (and loads) the tiny model
def test_adapter_loads_and_changes_logits_and_merge_matches(tiny_run, tiny_llama):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, _, out = tiny_run
    tok = ft.load_tokenizer(str(tiny_llama))
    ids = tok(
        load_template().render("Summarise the finding.", "fever and cough"), return_tensors="pt"
    )["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    with torch.no_grad():
        base_logits = base(ids).logits
        tuned = PeftModel.from_pretrained(base, out / "adapter").eval()
        tuned_logits = tuned(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged").eval()
        merged_logits = merged(ids).logits
    assert (tuned_logits - base_logits).abs().max() > 1e-3
    torch.testing.assert_close(merged_logits, tuned_logits, atol=1e-4, rtol=1e-4)


@pytest.mark.slow  # trains (and loads) the tiny model
def test_same_seed_same_adapter(tiny_run, tiny_llama, tmp_path):
    from safetensors.torch import load_file

    cfg, _, out = tiny_run
    again = ft.load_config(str(tiny_config(tmp_path, tiny_llama)))
    ft.train(again)
    a = load_file(out / "adapter" / "adapter_model.safetensors")
    b = load_file(Path(again.output_dir) / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max() < 1e-6, key


@pytest.mark.slow
def test_resume_after_kill(tiny_llama, tmp_path, subprocess_env):
    config = tiny_config(
        tmp_path,
        tiny_llama,
        max_steps=12,
        save_steps=2,
        val_size=0,
        save_total_limit=50,
        logging_steps=1,
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "runners.finetune", "--config", str(config)]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    try:
        while ft.last_checkpoint(out / "checkpoints") is None:
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    killed_at = int(ft.last_checkpoint(out / "checkpoints").name.split("-")[1])
    assert killed_at < 12 and not (out / "run.json").exists()

    done = subprocess.run(
        command, cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "run.json").read_text())
    assert summary["resumed_from_step"] >= killed_at >= 2
    assert summary["global_step"] == 12
    steps = [json.loads(line)["step"] for line in (out / "loss_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))  # history restored from the checkpoint, no gap, no repeat


@pytest.mark.slow
def test_ddp_launch_trains_with_two_processes(tiny_llama, tmp_path, subprocess_env):
    """The multi-GPU path, smoke-checked on CPU: two DDP ranks (gloo) started by
    ``torch.distributed.run``, the launcher ``accelerate launch --multi_gpu`` uses (accelerate
    itself starts several CPU processes only through MPI). Each rank takes half of every batch;
    rank 0 alone writes the outputs."""
    config = tiny_config(tmp_path, tiny_llama, max_steps=4, val_size=0, save_steps=4)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "runners.finetune", "--config", str(config),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 4
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_lm_eval_loads_the_adapter_with_peft_argument(tiny_run, tiny_llama, monkeypatch):
    """lm-eval's hf model with ``peft=<adapter>`` scores our bio_* task with the tuned weights."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from tasks import registry

    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    manager = TaskManager(include_path=str(registry.TASKS_DIR))
    _, _, out = tiny_run

    def loglikelihoods(model_args: str) -> list[float]:
        res = simple_evaluate(
            model="hf",
            model_args=model_args,
            tasks=["bio_pubmedqa"],
            limit=3,
            device="cpu",
            task_manager=manager,
            log_samples=True,
            bootstrap_iters=0,
        )
        assert "acc,none" in res["results"]["bio_pubmedqa"]
        return [float(r[0][0]) for s in res["samples"]["bio_pubmedqa"] for r in s["resps"]]

    base = loglikelihoods(f"pretrained={tiny_llama},dtype=float32")
    tuned = loglikelihoods(f"pretrained={tiny_llama},peft={out / 'adapter'},dtype=float32")
    assert len(base) == len(tuned) == 9  # 3 documents x yes/no/maybe
    assert max(abs(a - b) for a, b in zip(base, tuned, strict=True)) > 1e-3


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    cfg = ft.config_from_dict({"base_model": "x", "output_dir": str(precious)})
    with pytest.raises(ft.ConfigError, match="not the output folder of a finetune run"):
        ft.train(cfg, overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_bf16_matmul_precision_is_a_float32_run_on_the_cpus_bf16_units(monkeypatch):
    """``precision: bf16-matmul`` loads float32 weights, trains without autocast, and sets the
    float32 products to bf16; on a GPU or a CPU without bf16 units it is one config error."""
    import torch

    from runners import hardware

    ft_train = importlib.import_module("runners.finetuning.train")
    from runners.finetuning.model import torch_dtype

    cfg = ft.load_config("smollm2-135m", {"precision": "bf16-matmul"})
    assert cfg.precision == "bf16-matmul" and torch_dtype(cfg.precision) == torch.float32
    args = ft_train.training_arguments(cfg, Path("unused"), has_val=False, resuming=False)
    assert not args.bf16 and not args.fp16
    before = torch.backends.mkldnn.matmul.fp32_precision
    try:
        monkeypatch.setattr(hardware, "bf16_units", lambda: ("AVX512-BF16",))
        monkeypatch.setattr(ft_train, "cuda_available", lambda: False)
        ft_train.use_bf16_matmuls()
        assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
        monkeypatch.setattr(hardware, "bf16_units", lambda: ())
        with pytest.raises(
            ft.ConfigError, match="no AMX-BF16 or AVX512-BF16 units; use precision fp32"
        ):
            ft_train.use_bf16_matmuls()
        monkeypatch.setattr(ft_train, "cuda_available", lambda: True)
        with pytest.raises(ft.ConfigError, match="is a CPU setting"):
            ft_train.use_bf16_matmuls()
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before
    with pytest.raises(ft.ConfigError, match="precision"):
        ft.load_config("smollm2-135m", {"precision": "bf32"})
