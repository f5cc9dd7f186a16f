"""Where ``biobench eval`` asks lm-eval to write: ``runs/<model>/``, short for local models."""

from __future__ import annotations

from pathlib import Path

from runners import eval as eval_cmd


def test_a_local_model_is_named_after_its_folder(tmp_path):
    model = tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    model.mkdir(parents=True)
    target = eval_cmd.results_target("runs", {"pretrained": str(model), "dtype": "float32"})
    assert Path(target) == Path("runs") / "smollm2-135m-instruct" / "results.json"


def test_a_local_adapter_is_appended_and_named_after_its_run(tmp_path):
    model = tmp_path / "base-model"
    adapter = tmp_path / "runs" / "finetune" / "adapter"
    model.mkdir()
    adapter.mkdir(parents=True)
    args = f"pretrained={model},peft={adapter}"  # lm-eval's k=v form parses the same way
    assert eval_cmd.run_folder_name(args) == "base-model+finetune"
    other = tmp_path / "lora-qa"
    other.mkdir()
    assert eval_cmd.run_folder_name({"pretrained": str(model), "peft": str(other)}) == (
        "base-model+lora-qa"
    )


def test_hub_ids_and_json_paths_are_left_to_lm_eval(tmp_path):
    hub = {"pretrained": "HuggingFaceTB/SmolLM2-135M-Instruct"}
    assert eval_cmd.results_target("runs", hub) == "runs"  # lm-eval writes runs/org__name/
    model = tmp_path / "m"
    model.mkdir()
    local = {"pretrained": str(model)}
    assert eval_cmd.results_target("out/x.json", local) == "out/x.json"
    assert eval_cmd.results_target("runs", "not a valid=,,=arg") == "runs"


def test_lm_eval_receives_the_short_target(tmp_path, monkeypatch):
    monkeypatch.setattr(eval_cmd, "_cuda_available", lambda: False)
    model = tmp_path / "tiny"
    model.mkdir()
    args, extra = eval_cmd.build_parser().parse_known_args(
        ["--model", "hf", "--model_args", f"pretrained={model}", "--tasks", "bio_pubmedqa",
         "--output_path", str(tmp_path / "runs")]
    )  # fmt: skip
    argv = eval_cmd.lm_eval_argv(args, extra)
    assert argv[argv.index("--output_path") + 1] == str(tmp_path / "runs" / "tiny" / "results.json")
