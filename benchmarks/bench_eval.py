"""Log-likelihood evaluation speed of the embedded model: float32 vs bfloat16, side by side.

Measured in one process, alternating the two precisions so that machine noise hits both:

1. matrix-multiply throughput of this CPU (2048 x 2048 ``torch.mm``) in float32 and bfloat16
   — the anchor for "how much of the hardware does the forward pass use";
2. a plain forward pass of the embedded SmolLM2-135M-Instruct over 8 x 384 tokens, in each
   precision (and, with ``BIOBENCH_BENCH_COMPILE=1``, after ``torch.compile``), as tokens/s and
   the fraction of the measured matmul throughput it reaches (2 x parameters FLOPs per token);
3. lm-eval's own log-likelihood scoring of the first ``N_ITEMS`` items of ``bio_pubmedqa``
   (``simple_evaluate``, batch 8) in each precision: items/s, lm-eval's overhead over the raw
   forward, and the per-item choice agreement between the two.

Every figure is reported with wall and CPU seconds. Goal (issue "Evaluation at the speed of the
hardware"): bfloat16 scoring >= 3x float32 items/s. The full-test-set agreement check that
decides the default dtype is ``python -m benchmarks.dtype_agreement`` (see its docstring).
"""

from __future__ import annotations

import os
import statistics
import time

GOAL_SPEEDUP = 3.0
N_ITEMS = 48
BATCH, SEQ = 8, 384
REPEATS = 3


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


def forward_figures(path: str, dtypes: list[str], compile_: bool) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    out: dict[str, dict] = {}
    models = {}
    for name in dtypes:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, name)).eval()
        models[name] = model
    n_params = sum(p.numel() for p in models[dtypes[0]].parameters())
    vocab = models[dtypes[0]].config.vocab_size
    ids = torch.randint(0, vocab, (BATCH, SEQ))
    variants = [(name, models[name]) for name in dtypes]
    if compile_:
        variants += [(f"{name}+compile", torch.compile(models[name])) for name in dtypes]
    for label, model in variants:
        with torch.inference_mode():
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


def lm_eval_figures(path: str, dtypes: list[str]) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from tasks import registry

    manager = TaskManager(include_path=str(registry.TASKS_DIR))
    out: dict[str, dict] = {}
    choices: dict[str, list[int]] = {}
    for name in dtypes:
        w, c = time.perf_counter(), time.process_time()
        result = simple_evaluate(
            model="hf",
            model_args={"pretrained": path, "dtype": name},
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
        samples = result["samples"]["bio_pubmedqa"]
        picked = []
        for s in sorted(samples, key=lambda s: s["doc_id"]):
            lls = [float(pair[0]) for pair in s["filtered_resps"]]
            picked.append(lls.index(max(lls)))
        choices[name] = picked
        out[name] = {
            "items": len(picked),
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "items_per_s": round(len(picked) / wall, 3),
            "acc": result["results"]["bio_pubmedqa"]["acc,none"],
        }
    if len(dtypes) == 2:
        a, b = (choices[d] for d in dtypes)
        out["choice_agreement"] = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    return out


def run() -> dict:
    import torch

    from runners import hardware
    from runners.model import prepare_default_model

    path = str(prepare_default_model())
    slow = hardware.slow_bf16()
    # without bf16 units a bf16 forward of 8 x 384 tokens would take most of an hour: only the
    # matmul is measured in bf16 (small, to show the gap), and the report says why
    dtypes = ["float32"] if slow else ["float32", "bfloat16"]
    compile_ = os.environ.get("BIOBENCH_BENCH_COMPILE", "") == "1"
    load = os.getloadavg()
    peak = {name: round(matmul_gflops(getattr(torch, name)), 1) for name in dtypes}
    if slow:
        peak["bfloat16 (512², no bf16 units)"] = round(matmul_gflops(torch.bfloat16, 512), 2)
    forward = forward_figures(path, dtypes, compile_)
    for label, fig in forward["variants"].items():
        fig["fraction_of_matmul"] = round(fig["gflops"] / peak[label.split("+")[0]], 3)
    scoring = lm_eval_figures(path, dtypes)
    for name in dtypes:
        raw = forward["variants"][name]["wall_s"]
        scoring[name]["raw_forward_8x384_s"] = raw
    report = {
        "machine": hardware.describe(),
        "load_average_at_start": [round(x, 2) for x in load],
        "matmul_gflops": peak,
        "forward": forward,
        "lm_eval_bio_pubmedqa": scoring,
        "goal": f"bfloat16 log-likelihood scoring >= {GOAL_SPEEDUP}x float32 items/s",
        "summary": [],
    }
    fp32 = forward["variants"]["float32"]["wall_s"]
    if "float32+compile" in forward["variants"]:
        ratio = fp32 / forward["variants"]["float32+compile"]["wall_s"]
        report["summary"].append(
            {
                "figure": "torch.compile vs eager fp32 forward, 8 x 384 tokens",
                "goal": f">= {GOAL_SPEEDUP}x",
                "anchor": f"eager fp32 {fp32:.2f} s",
                "ratio": round(ratio, 2),
                "met": ratio >= GOAL_SPEEDUP,
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
    speedup = scoring["bfloat16"]["items_per_s"] / scoring["float32"]["items_per_s"]
    report["bf16_forward_speedup"] = round(fp32 / forward["variants"]["bfloat16"]["wall_s"], 2)
    report["bf16_scoring_speedup"] = round(speedup, 2)
    report["goal_met"] = speedup >= GOAL_SPEEDUP
    report["summary"].insert(
        0,
        {
            "figure": "bf16 vs fp32 lm-eval scoring, bio_pubmedqa items/s",
            "goal": f">= {GOAL_SPEEDUP}x",
            "anchor": f"fp32 {scoring['float32']['items_per_s']} items/s",
            "ratio": round(speedup, 2),
            "met": speedup >= GOAL_SPEEDUP,
        },
    )
    return report
