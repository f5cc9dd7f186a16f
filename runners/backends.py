"""Evaluation backends: lm-eval's ``hf`` and ``vllm`` models, on one GPU or many.

The engines are lm-eval's own; this module only builds their arguments, as structured values:

* ``hf``, one process: ``python -m lm_eval run --model hf --model_args <JSON>``;
* ``hf``, data parallel over N GPUs of one machine: the same under ``accelerate launch
  --multi_gpu --num_processes N`` (one model copy per GPU; lm-eval splits the requests by rank
  and gathers the results on rank 0). lm-eval 0.4.13 takes accelerate's *local* process index
  as its rank, so this is one machine only (EleutherAI/lm-evaluation-harness issue #1081), and it
  splits the work only when CUDA devices are present (without them every process evaluates
  everything), so N is checked against the GPUs present;
* ``vllm``: ``--model vllm`` with ``tensor_parallel_size`` (one replica split over that many GPUs
  of a machine) and ``data_parallel_size`` (that many replicas; lm-eval runs them as Ray tasks
  and joins the running Ray cluster when there is one: ``ray start`` / ``RAY_ADDRESS``).

Model arguments reach lm-eval as one JSON object (``--model_args '{"pretrained": ...}'``), so no
value can smuggle in another argument: a folder named ``m,trust_remote_code=True`` stays a path.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from leaderboard import evalspec
from leaderboard.schemas import MAX_DATA_PARALLEL, MAX_TENSOR_PARALLEL, EvalBackend

Backend = EvalBackend
BACKENDS = tuple(b.value for b in Backend)
# vLLM's LoRAConfig accepts these max_lora_rank values
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
PARALLEL_KEYS = ("tensor_parallel_size", "data_parallel_size")


class BackendError(ValueError):
    """Arguments a backend cannot run with; the message names the fix."""


@dataclass(frozen=True)
class Parallelism:
    """GPUs per model replica (tensor) and replicas (data); both bounded."""

    tensor: int = 1
    data: int = 1

    def __post_init__(self) -> None:
        for name, value, most in (
            ("tensor_parallel_size", self.tensor, MAX_TENSOR_PARALLEL),
            ("data_parallel_size", self.data, MAX_DATA_PARALLEL),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise BackendError(f"{name} must be an integer from 1 to {most}, got {value!r}")

    @property
    def gpus(self) -> int:
        return self.tensor * self.data


def parse_model_args(value: str | dict[str, Any] | None) -> dict[str, Any]:
    """``--model_args`` parsed exactly as ``lm_eval run`` does (:mod:`leaderboard.evalspec`)."""
    try:
        return evalspec.parse_model_args(value)
    except evalspec.SpecError as exc:
        raise BackendError(str(exc)) from exc


def check(backend: Backend, parallel: Parallelism) -> None:
    if backend is Backend.HF and parallel.tensor > 1:
        raise BackendError(
            "the hf backend runs one model copy per GPU (data parallelism); for tensor "
            "parallelism use --backend vllm --tensor-parallel-size N"
        )


def model_args(backend: Backend, base: dict[str, Any], parallel: Parallelism) -> dict[str, Any]:
    """lm-eval model arguments of ``backend``: ``base`` plus the parallelism it needs."""
    check(backend, parallel)
    args = dict(base)
    clash = [k for k in PARALLEL_KEYS if k in args]
    if clash:
        raise BackendError(
            f"--model_args sets {', '.join(clash)}; use --tensor-parallel-size / "
            "--data-parallel-size instead"
        )
    if backend is Backend.VLLM:
        args["tensor_parallel_size"] = parallel.tensor
        args["data_parallel_size"] = parallel.data
    return args


LM_EVAL_MODULE = "runners.lm_eval_main"  # lm-eval's CLI, repeated warnings shown once


def launcher(backend: Backend, parallel: Parallelism, python: str = sys.executable) -> list[str]:
    """The command that runs lm-eval's CLI (arguments follow): plain, or under accelerate."""
    check(backend, parallel)
    if backend is Backend.HF and parallel.data > 1:
        return [
            python, "-m", "accelerate.commands.launch",
            "--multi_gpu", "--num_processes", str(parallel.data), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no",
            "-m", LM_EVAL_MODULE,
        ]  # fmt: skip
    return [python, "-m", LM_EVAL_MODULE]


def preflight(backend: Backend, parallel: Parallelism) -> None:
    """Refuse, before anything starts, what cannot run on this machine."""
    check(backend, parallel)
    if backend is Backend.VLLM:
        if importlib.util.find_spec("vllm") is None:
            raise BackendError(
                "--backend vllm needs the vllm package (`pip install vllm` on a CUDA machine)"
            )
        if parallel.data > 1 and importlib.util.find_spec("ray") is None:
            raise BackendError(
                "--data-parallel-size > 1 with vllm runs its replicas on Ray: `pip install ray`"
            )
    elif parallel.data > 1:
        import torch

        found = torch.cuda.device_count()
        if found < parallel.data:
            raise BackendError(
                f"--backend hf --data-parallel-size {parallel.data} runs one process per GPU, "
                f"but this machine has {found} CUDA device(s); lm-eval splits the work across "
                "processes only on GPUs"
            )


def lora_rank(adapter_config: dict[str, Any]) -> int:
    """vLLM's ``max_lora_rank`` for a peft adapter: the smallest allowed value >= its ``r``."""
    rank = adapter_config.get("r")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise BackendError(f"adapter_config.json: 'r' must be a positive integer, got {rank!r}")
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise BackendError(f"adapter rank {rank} exceeds vLLM's largest max_lora_rank (512)")
