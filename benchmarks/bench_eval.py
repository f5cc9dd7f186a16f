"""Log-likelihood evaluation speed of the embedded model in each precision, side by side.

Measured in one process, alternating the precisions so that machine noise hits all of them:

* ``float32``: plain float32 (``--matmul-precision ieee``);
* ``float32+bf16-matmul``: float32 weights and activations, the matrix products on the CPU's
  bf16 units (oneDNN's bf16 fpmath mode; ``biobench eval --matmul-precision bf16``, the default
  where the units exist);
* ``bfloat16``: the model loaded in bfloat16 (``dtype=bfloat16``);
* with ``BIOBENCH_BENCH_COMPILE=1`` also ``+compile`` (``torch.compile`` of the forward) of the
  float32 variants, forward pass only.

Figures:

1. matrix-multiply throughput of this CPU (2048 x 2048 ``torch.mm``) in each precision — the
   anchor for "how much of the hardware does the forward pass use";
2. a plain forward pass of the embedded SmolLM2-135M-Instruct over 8 x 384 tokens, as tokens/s
   and the fraction of the measured matmul throughput it reaches (2 x parameters FLOPs per
   token);
3. lm-eval's own log-likelihood scoring of the first ``N_ITEMS`` items of ``bio_pubmedqa``
   (``simple_evaluate``, batch 8): items/s, and against float32 the per-item choice agreement
   and the mean / max absolute log-likelihood difference.

bfloat16 variants run only on a CPU with bf16 units (:func:`runners.hardware.slow_bf16` says
why not elsewhere). Every figure is reported with wall and CPU seconds. Goal (issue "Evaluation
at the speed of the hardware"): log-likelihood scoring >= 3x float32 items/s with the same
choices. The full-test-set agreement check that decides the default is ``python -m
benchmarks.dtype_agreement`` (see its docstring).
"""

from __future__ import annotations

import os
import statistics
import time

from runners.hardware import matmul_precision

GOAL_SPEEDUP = 3.0
N_ITEMS = 48
BATCH, SEQ = 8, 384
REPEATS = 3
FP32, BF16_MATMUL, BF16 = "float32", "float32+bf16-matmul", "bfloat16"
# label -> (torch dtype of the weights, float32 matmul precision)
VARIANTS = {FP32: ("float32", "ieee"), BF16_MATMUL: ("float32", "bf16"), BF16: ("bfloat16", "ieee")}


def _timed(fn, repeats: int = REPEATS) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of ``fn()`` after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def matmul_gflops(dtype, n: int = 2048) -> float:
    import torch

    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    wall, _ = _timed(lambda: torch.mm(a, b))
    return 2 * n**3 / wall / 1e9


def forward_figures(path: str, labels: list[str], compile_: bool) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    out: dict[str, dict] = {}
    models = {}
    for name in dict.fromkeys(VARIANTS[label][0] for label in labels):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, name)).eval()
        models[name] = model
    first_model = next(iter(models.values()))
    n_params = sum(p.numel() for p in first_model.parameters())
    ids = torch.randint(0, first_model.config.vocab_size, (BATCH, SEQ))
    runs = [(label, models[VARIANTS[label][0]], VARIANTS[label][1]) for label in labels]
    if compile_:
        runs += [
            (f"{label}+compile", torch.compile(models[VARIANTS[label][0]]), VARIANTS[label][1])
            for label in labels
            if VARIANTS[label][0] == "float32"
        ]
    for label, model, precision in runs:
        with torch.inference_mode(), matmul_precision(precision):
            started = time.perf_counter()
            model(ids)  # warm-up (and, compiled, the compilation)
            first = time.perf_counter() - started
            wall, cpu = _timed(lambda m=model: m(ids))
        tokens = BATCH * SEQ
        out[label] = {
            "first_call_s": round(first, 2),
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "tokens_per_s": round(tokens / wall, 1),
            "gflops": round(2 * n_params * tokens / wall / 1e9, 1),
        }
    return {"n_parameters": n_params, "batch": BATCH, "seq": SEQ, "variants": out}


def lm_eval_figures(path: str, labels: list[str]) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from tasks import registry

    manager = TaskManager(include_path=str(registry.TASKS_DIR))
    out: dict[str, dict] = {}
    lls: dict[str, list[list[float]]] = {}
    for label in labels:
        dtype, precision = VARIANTS[label]
        with matmul_precision(precision):
            w, c = time.perf_counter(), time.process_time()
            result = simple_evaluate(
                model="hf",
                model_args={"pretrained": path, "dtype": dtype},
                tasks=["bio_pubmedqa"],
                limit=N_ITEMS,
                batch_size=BATCH,
                device="cpu",
                task_manager=manager,
                log_samples=True,
                random_seed=0,
                numpy_random_seed=1234,
                torch_random_seed=1234,
            )
            wall, cpu = time.perf_counter() - w, time.process_time() - c
        samples = sorted(result["samples"]["bio_pubmedqa"], key=lambda s: s["doc_id"])
        lls[label] = [[float(pair[0]) for pair in s["filtered_resps"]] for s in samples]
        out[label] = {
            "items": len(samples),
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "items_per_s": round(len(samples) / wall, 3),
            "acc": result["results"]["bio_pubmedqa"]["acc,none"],
        }
    for label in labels[1:]:
        out[label].update(agreement(lls[labels[0]], lls[label]))
    return out


def agreement(reference: list[list[float]], other: list[list[float]]) -> dict:
    """Per-item choice agreement and absolute log-likelihood differences against ``reference``."""
    same = sum(a.index(max(a)) == b.index(max(b)) for a, b in zip(reference, other, strict=True))
    diffs = [
        abs(x - y) for a, b in zip(reference, other, strict=True) for x, y in zip(a, b, strict=True)
    ]
    return {
        "choice_agreement": round(same / len(reference), 4),
        "mean_abs_ll_diff": round(statistics.fmean(diffs), 5),
        "max_abs_ll_diff": round(max(diffs), 5),
    }


def run() -> dict:
    import torch

    from runners import hardware
    from runners.model import prepare_default_model

    path = str(prepare_default_model())
    slow = hardware.slow_bf16()
    # without bf16 units a bf16 forward of 8 x 384 tokens would take most of an hour: only the
    # matmul is measured in bf16 (small, to show the gap), and the report says why
    labels = [FP32] if slow else [FP32, BF16_MATMUL, BF16]
    compile_ = os.environ.get("BIOBENCH_BENCH_COMPILE", "") == "1"
    load = os.getloadavg()
    peak = {}
    for label in labels:
        dtype, precision = VARIANTS[label]
        with matmul_precision(precision):
            peak[label] = round(matmul_gflops(getattr(torch, dtype)), 1)
    if slow:
        peak["bfloat16 (512², no bf16 units)"] = round(matmul_gflops(torch.bfloat16, 512), 2)
    forward = forward_figures(path, labels, compile_)
    for label, fig in forward["variants"].items():
        fig["fraction_of_matmul"] = round(fig["gflops"] / peak[label.removesuffix("+compile")], 3)
    scoring = lm_eval_figures(path, labels)
    for label in labels:
        scoring[label]["raw_forward_8x384_s"] = forward["variants"][label]["wall_s"]
    report = {
        "machine": hardware.describe(),
        "load_average_at_start": [round(x, 2) for x in load],
        "matmul_gflops": peak,
        "forward": forward,
        "lm_eval_bio_pubmedqa": scoring,
        "goal": f"log-likelihood scoring >= {GOAL_SPEEDUP}x float32 items/s, same choices",
        "summary": [],
    }
    fp32 = forward["variants"][FP32]["wall_s"]
    for label, fig in forward["variants"].items():
        if label.endswith("+compile"):
            eager = forward["variants"][label.removesuffix("+compile")]["wall_s"]
            ratio = eager / fig["wall_s"]
            report["summary"].append(
                {
                    "figure": f"torch.compile vs eager {label.removesuffix('+compile')} forward, "
                    f"{BATCH} x {SEQ} tokens",
                    "goal": "measured (no goal of its own)",
                    "anchor": f"eager {eager:.2f} s, compiled {fig['wall_s']:.2f} s (first call "
                    f"{fig['first_call_s']:.0f} s)",
                    "ratio": round(ratio, 2),
                    "met": None,
                }
            )
    if slow:
        report["bf16_skipped"] = slow
        report["goal_met"] = None
        report["summary"].insert(
            0,
            {
                "figure": "bf16 vs fp32 lm-eval scoring: not measured on this machine",
                "goal": f">= {GOAL_SPEEDUP}x",
                "anchor": slow,
                "ratio": "",
                "met": None,
            },
        )
        return report
    base = scoring[FP32]["items_per_s"]
    rows = []
    for label in labels[1:]:
        fig = scoring[label]
        speedup = fig["items_per_s"] / base
        fig["speedup"] = round(speedup, 2)
        fig["forward_speedup"] = round(fp32 / forward["variants"][label]["wall_s"], 2)
        rows.append(
            {
                "figure": f"{label} vs float32 lm-eval scoring, bio_pubmedqa items/s",
                "goal": f">= {GOAL_SPEEDUP}x, same choices",
                "anchor": f"fp32 {base} items/s; same choice on {fig['choice_agreement']:.0%} "
                f"of {fig['items']}, max |d ll| {fig['max_abs_ll_diff']:.4f}",
                "ratio": round(speedup, 2),
                "met": speedup >= GOAL_SPEEDUP and fig["choice_agreement"] == 1.0,
            }
        )
    report["goal_met"] = any(row["met"] for row in rows)
    report["summary"][:0] = rows
    return report
