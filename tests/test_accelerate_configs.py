"""The shipped accelerate configs (DDP, FSDP, DeepSpeed ZeRO-3) for LoRA tuning, dry-run on CPU.

Each YAML is read by accelerate's own config class, passed through ``accelerate launch``'s own
argument validation and environment preparation (what the launched processes would receive),
and the FSDP / DeepSpeed plugin is built from that environment as the training processes would
build it. No process group is started and nothing is trained; DeepSpeed itself is not needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from runners import finetuning
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # AppTest / accelerate / worker processes: make test, not test-fast

CONFIGS = ROOT / "runners" / "configs" / "accelerate"
LLAMA = ["llama1-7b", "llama1-13b", "llama2-7b", "llama2-13b"]
EXPECTED = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}


def launch(config: Path, *extra: str):
    """``accelerate launch --config_file config [extra] -m runners.finetune``: (args, env)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    argv = ["--config_file", str(config), *extra, "-m", "runners.finetune", "--config", "x"]
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return args, env


def test_every_distributed_type_is_shipped():
    assert {p.stem for p in CONFIGS.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_parses_and_launches_eight_processes(name):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    cfg = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert isinstance(cfg, ClusterConfig)
    assert str(cfg.distributed_type).rsplit(".", 1)[-1] == EXPECTED[name]
    assert cfg.mixed_precision == "bf16"  # finetune `precision: auto` = bf16 on A100/H100
    args, env = launch(CONFIGS / f"{name}.yaml")
    assert (args.multi_gpu, args.use_fsdp, args.use_deepspeed) == (
        name == "ddp",
        name == "fsdp",
        name == "deepspeed_zero3",
    )
    world = int(args.num_processes)
    assert world == 8 and int(args.num_machines) == 1 and args.nproc_per_node == "8"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_two_machines_split_the_world(name):
    args, _ = launch(
        CONFIGS / f"{name}.yaml",
        "--num_machines", "2", "--num_processes", "16", "--machine_rank", "1",
        "--main_process_ip", "10.0.0.1",
    )  # fmt: skip
    assert args.nproc_per_node == "8" and int(args.machine_rank) == 1


def test_fsdp_shards_everything_and_wraps_decoder_layers(tiny_llama):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import ShardingStrategy, StateDictType

    args, env = launch(CONFIGS / "fsdp.yaml")
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
    # the plugin as each training process builds it; sync_module_states needs a device to
    # initialise on, which this CPU machine lacks, so that one value is read from the env
    assert env["FSDP_SYNC_MODULE_STATES"] == "true"
    with mock.patch.dict(os.environ, {**env, "FSDP_SYNC_MODULE_STATES": "false"}):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.sharding_strategy == ShardingStrategy.FULL_SHARD
    assert plugin.state_dict_type == StateDictType.FULL_STATE_DICT  # checkpoints hold the adapter
    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
    assert plugin.use_orig_params is False and plugin.cpu_offload.offload_params is False
    # the wrap policy resolves on a LLaMA with LoRA: the layer class exists, and peft's policy
    # (which the Trainer installs for peft models) wraps decoder layers and LoRA layers
    from peft import LoraConfig, get_peft_model
    from peft.utils.other import fsdp_auto_wrap_policy
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    with mock.patch.dict(os.environ, {**env, "FSDP_SYNC_MODULE_STATES": "false"}):
        plugin.set_auto_wrap_policy(model)  # raises if LlamaDecoderLayer is not in the model
        policy = fsdp_auto_wrap_policy(model)
    wrapped = sorted(
        name
        for name, m in model.named_modules()
        if policy(module=m, recurse=False, nonwrapped_numel=0)
    )
    layers = [n for n in wrapped if n.endswith(tuple(f"layers.{i}" for i in range(2)))]
    lora = [n for n in wrapped if ".lora_A." in n or ".lora_B." in n]
    assert len(layers) == 2 and len(lora) == 8 and len(wrapped) == 10  # 2 layers x q,v x A,B
    assert all(n.endswith(".default") for n in lora)


def test_deepspeed_is_zero3_with_the_batch_left_to_the_trainer():
    from accelerate.utils import DeepSpeedPlugin

    args, env = launch(CONFIGS / "deepspeed_zero3.yaml")
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true"
    with mock.patch.dict(os.environ, env):
        plugin = DeepSpeedPlugin()
    ds = plugin.deepspeed_config
    assert plugin.zero_stage == 3 and ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert ds["zero_optimization"]["offload_param"]["device"] == "none"
    # the Trainer fills these from the finetune config, so the effective batch is unchanged
    for key in (
        "gradient_accumulation_steps",
        "train_micro_batch_size_per_gpu",
        "train_batch_size",
    ):
        assert ds[key] == "auto", key
    assert plugin.zero3_init_flag is True


@pytest.mark.parametrize("config", LLAMA)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_llama_recipes_divide_over_the_world(config, name):
    """runners/finetuning/train.py refuses a batch_size that is not a multiple of micro x processes."""
    cfg = finetuning.load_config(config)
    args, _ = launch(CONFIGS / f"{name}.yaml")
    per_step = cfg.micro_batch_size * int(args.num_processes)
    assert cfg.batch_size % per_step == 0, (config, name, cfg.batch_size, per_step)
    assert cfg.lora_r >= 1 and not cfg.load_in_4bit  # LoRA in bf16, as the configs assume
