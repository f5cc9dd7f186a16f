"""The vocabulary of float32 matrix-product precisions on the CPU, said once.

``biobench eval --matmul-precision`` (resolved by ``runners/hardware.py``) and the submission's
``run.matmul_precision`` (``leaderboard/schemas.py``) both use it: ``ieee`` is plain float32,
``bf16`` computes the products on the CPU's bf16 units.
"""

from __future__ import annotations

MATMUL_PRECISIONS = ("ieee", "bf16")
