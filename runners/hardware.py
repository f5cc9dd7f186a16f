"""What this machine's processor can do for the model's arithmetic, asked once, said the same way
by every command and benchmark.

bfloat16 is fast on a CPU only with matrix units for it (Intel AMX-BF16, AVX512-BF16); elsewhere
PyTorch computes bf16 products in a generic path. Measured on an AVX2-only AMD EPYC (2 cores,
torch 2.13): a 2048² ``torch.mm`` ran at 113 GFLOP/s in float32 and 0.3 GFLOP/s in bfloat16,
about 380 times slower, while an AMX machine ran 173 and 940 (``benchmarks/bench_eval.py``). A
bf16 default that pays off on one machine therefore hangs on another: long jobs ask
:func:`slow_bf16` first.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.ground.precision import MATMUL_PRECISIONS


@functools.cache
def bf16_units() -> tuple[str, ...]:
    """The CPU's bfloat16 matrix units PyTorch can use: ``("AMX-BF16", "AVX512-BF16")``, one of
    them, or ``()``."""
    import torch

    checks = (
        ("AMX-BF16", getattr(torch.cpu, "_is_amx_tile_supported", None)),
        ("AVX512-BF16", getattr(torch.cpu, "_is_avx512_bf16_supported", None)),
    )
    return tuple(name for name, check in checks if check is not None and check())


def cpu_model() -> str:
    """The processor's name as the OS reports it ('' where it does not)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


@functools.cache
def describe() -> dict:
    """Facts recorded beside every timing: the CPU, PyTorch's vector level, its bf16 units."""
    import torch

    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_units": list(bf16_units()),
        "torch_threads": torch.get_num_threads(),
    }


def slow_bf16() -> str | None:
    """Why bfloat16 would be slow here (one phrase), or None where it runs on real units: a
    CUDA device with bf16, or a CPU with AMX-BF16 / AVX512-BF16."""
    import torch

    if torch.cuda.is_available():
        return None if torch.cuda.is_bf16_supported() else "this GPU has no bfloat16 support"
    if bf16_units():
        return None
    name = cpu_model() or "this CPU"
    level = torch.backends.cpu.get_cpu_capability()
    return (
        f"{name} ({level}) has no AMX-BF16 or AVX512-BF16 units, so PyTorch runs bfloat16 "
        "matrix products in software, two orders of magnitude slower than float32"
    )


# float32 matrix products on the bf16 units: oneDNN's bf16 "fpmath mode" for float32 tensors.
# Weights, activations, norms, softmax and the residual stream stay float32; only inside a
# matrix product may oneDNN compute on the bf16 units (the counterpart of TF32 on GPUs).
MATMUL_ENV = "BIOBENCH_MATMUL_PRECISION"


def default_matmul_precision() -> str:
    """``bf16`` where the CPU has bf16 matrix units (float32 products run on them, measured in
    ``benchmarks/bench_eval.py`` and checked for agreement by ``benchmarks.dtype_agreement``),
    else ``ieee`` (plain float32)."""
    return "bf16" if bf16_units() else "ieee"


def resolve_matmul_precision(value: str, instead: str = "ieee") -> str:
    """``auto`` -> :func:`default_matmul_precision`; ``ieee`` or ``bf16`` as given. ValueError for
    another value, and for ``bf16`` on a CPU without bf16 units (oneDNN would fall back to float32
    silently and a run would record a precision it did not use); ``instead`` is the fix the
    message names, in the caller's words."""
    if value == "auto":
        return default_matmul_precision()
    if value not in MATMUL_PRECISIONS:
        raise ValueError(
            f"matmul precision {value!r}: use one of auto, {', '.join(MATMUL_PRECISIONS)}"
        )
    if value == "bf16" and not bf16_units():
        raise ValueError(
            f"matmul precision bf16: {cpu_model() or 'this CPU'} has no AMX-BF16 or AVX512-BF16 "
            f"units; use {instead}"
        )
    return value


def add_matmul_precision_argument(parser) -> None:
    """``--matmul-precision auto|ieee|bf16`` (default auto), as every command that runs a model
    on the CPU spells it."""
    parser.add_argument(
        "--matmul-precision",
        dest="matmul_precision",
        choices=("auto", *MATMUL_PRECISIONS),
        default="auto",
        help="CPU float32 matrix products: ieee (plain float32) or bf16 (on the CPU's bf16 "
        "units, everything else float32); auto: bf16 where the CPU has the units (default)",
    )


def apply_matmul_precision(value: str, instead: str = "ieee") -> str:
    """Set PyTorch's float32 matrix-product precision on the CPU (``auto``, ``ieee`` or ``bf16``,
    :func:`resolve_matmul_precision`); the value in force."""
    import torch

    value = resolve_matmul_precision(value, instead)
    torch.backends.mkldnn.matmul.fp32_precision = value
    return value


@contextmanager
def matmul_precision(value: str) -> Iterator[str]:
    """PyTorch's float32 matrix-product precision set to ``value`` inside the block (benchmarks
    and tests that compare precisions in one process)."""
    import torch

    before = torch.backends.mkldnn.matmul.fp32_precision
    try:
        yield apply_matmul_precision(value)
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before
