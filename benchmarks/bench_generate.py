"""Generation speed of the embedded model: useful tokens per second and wasted decoding steps.

Side by side in one process on the same ``N_PROMPTS`` real ``bio_meqsum`` prompts (lm-eval's own
``doc_to_text``), greedy, at most ``MAX_NEW`` new tokens, each variant timed with wall and CPU
seconds:

1. ``lmeval-fp32``: what lm-eval's ``hf`` model does today — prompts sorted by length, batches of
   ``BATCH``, left-padded, one ``generate`` call per batch that runs every row until the last one
   stops (the anchor);
2. ``lmeval-bf16``: the same in bfloat16 (the CPU's AMX units);
3. ``alone-fp32``: one prompt at a time (no padding, no waste; the reference outputs);
4. ``continuous-fp32``: transformers' continuous batching (``generate_batch``), on the first
   ``N_CB`` prompts only, next to ``lmeval-fp32`` on the same prompts;
5. ``llamacpp-q4_1``: llama.cpp (``llama-cpp-python``, the user's obvious CPU alternative) on the
   very GGUF file the embedded model is prepared from, its Q4_1 weights as they are, one prompt at
   a time on all cores, greedy from the same prompt token ids. The suite's own models run the
   dequantised float32 weights, so llama.cpp's outputs are compared but not expected to be equal.
   When ``llama_cpp`` cannot be imported, the report says so and why (``llamacpp_skipped``):
   PyPI has only its source release, built with CMake and a C++ compiler
   (``pip install ".[llamacpp]"``, about 9 CPU-minutes).

6. ``static-fp32`` and ``static-compile-fp32``: lm-eval's batches with a static KV cache, the
   second with the decoding step compiled by ``torch.compile`` (timed on a second pass; the
   first, with the compilation, is ``first_run_s``).

``prefill_fp32`` times the prompts' forward passes alone: a change on the decoding side (no
wasted steps, a static cache, a compiled step) can make generation at most ``1 / share`` faster
while the prompts cost what they cost. bfloat16 variants are skipped, with the reason, on a CPU
without bf16 matrix units (:func:`runners.hardware.slow_bf16`).

Useful tokens are those a row generated up to and including its end-of-text token (or the cap);
computed tokens are rows x decoding steps of each batch; the wasted fraction is 1 - useful /
computed. Outputs are compared token for token with ``alone-fp32``.

Goal (issue "Evaluation at the speed of the hardware"): >= 3x the useful tokens/s of
``lmeval-fp32``, with identical greedy outputs in float32.
"""

from __future__ import annotations

import time

GOAL_SPEEDUP = 3.0
N_PROMPTS = 32
N_CB = 8
BATCH = 16
MAX_NEW = 64


def meqsum_prompts(n: int) -> list[str]:
    from lm_eval.tasks import TaskManager

    from runners.eval import _registered
    from tasks import registry

    # registered with lm-eval (make setup): found without include_path, which would re-index
    # them and warn once per task that it overrides the registered copy
    manager = TaskManager() if _registered() else TaskManager(include_path=str(registry.TASKS_DIR))
    task = manager.load_task_or_group(["bio_meqsum"])["bio_meqsum"]
    docs = list(task.test_docs())[:n]
    return [task.doc_to_text(doc) for doc in docs]


def _useful(row: list[int], eos: int) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


def _padded_batches(tokenizer, prompts: list[list[int]], batch: int):
    """lm-eval's batches: longest first, left-padded; (row indices, ids, mask) per batch."""
    import torch

    pad = tokenizer.pad_token_id or tokenizer.eos_token_id
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        width = max(len(prompts[i]) for i in rows)
        ids = torch.tensor([[pad] * (width - len(prompts[i])) + prompts[i] for i in rows])
        mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in rows])
        yield rows, ids, mask


def batched(
    model, tokenizer, prompts: list[list[int]], batch: int, **generate_kwargs
) -> tuple[list, int, float]:
    """lm-eval's way: longest first, left-padded batches; (outputs, computed tokens, CPU s).
    ``generate_kwargs`` go to ``generate`` (e.g. a static cache)."""
    import torch

    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id or tokenizer.eos_token_id
    outputs: list[list[int]] = [[] for _ in prompts]
    computed, cpu = 0, time.process_time()
    for rows, ids, mask in _padded_batches(tokenizer, prompts, batch):
        width = ids.shape[1]
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=MAX_NEW,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=pad,
                **generate_kwargs,
            )
        new = out[:, width:].tolist()
        computed += len(rows) * len(new[0])
        for i, row in zip(rows, new, strict=True):
            outputs[i] = _useful(row, eos)
    return outputs, computed, time.process_time() - cpu


def prefill_seconds(model, tokenizer, prompts: list[list[int]], batch: int) -> float:
    """Wall seconds of the prompt forward passes alone (lm-eval's batches, one forward each):
    the part of generation no decoding-side change removes."""
    import torch

    wall = time.perf_counter()
    for _, ids, mask in _padded_batches(tokenizer, prompts, batch):
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, logits_to_keep=1)
    return time.perf_counter() - wall


def static_cache_kwargs(compile_: bool) -> dict:
    """``generate`` options for a static KV cache, and with ``compile_`` its decoding step
    compiled by ``torch.compile`` (transformers compiles it by itself only on accelerators)."""
    from transformers.generation.configuration_utils import CompileConfig

    kwargs: dict = {"cache_implementation": "static"}
    if compile_:
        config = CompileConfig(fullgraph=False, dynamic=False, mode="default")
        config._compile_all_devices = True  # transformers' switch for CPUs (private)
        kwargs["compile_config"] = config
    else:
        kwargs["disable_compile"] = True
    return kwargs


def continuous(model, tokenizer, prompts: list[list[int]]) -> list[list[int]]:
    from transformers import GenerationConfig

    eos = tokenizer.eos_token_id
    config = GenerationConfig(
        max_new_tokens=MAX_NEW,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id or eos,
    )
    result = model.generate_batch(prompts, generation_config=config, progress_bar=False)
    ordered = [result[k] for k in sorted(result, key=lambda k: int(k.rsplit("_", 1)[-1]))]
    return [_useful(list(r.generated_tokens), eos) for r in ordered]


def llamacpp(gguf: str, prompts: list[list[int]], eos: int) -> tuple[list[list[int]], float]:
    """Greedy generations of llama.cpp over the same prompt ids; (outputs, CPU s)."""
    import os

    from llama_cpp import Llama

    llm = Llama(
        model_path=gguf,
        n_ctx=max(map(len, prompts)) + MAX_NEW + 8,
        n_threads=os.cpu_count() or 1,
        n_batch=512,
        verbose=False,
    )
    outputs, cpu = [], time.process_time()
    for ids in prompts:
        llm.reset()
        out: list[int] = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0):
            out.append(int(token))
            if token == eos or len(out) >= MAX_NEW:
                break
        outputs.append(out)
    return outputs, time.process_time() - cpu


def _figures(outputs: list[list[int]], computed: int, wall: float, cpu: float) -> dict:
    useful = sum(map(len, outputs))
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "useful_tokens": useful,
        "computed_tokens": computed,
        "wasted_fraction": round(1 - useful / max(computed, 1), 3),
        "useful_tokens_per_s": round(useful / wall, 2),
    }


def run() -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runners import hardware
    from runners.model import prepare_default_model

    path = str(prepare_default_model())
    tokenizer = AutoTokenizer.from_pretrained(path)
    prompts = [tokenizer(p).input_ids for p in meqsum_prompts(N_PROMPTS)]
    slow = hardware.slow_bf16()  # bf16 without its units: hours, not seconds
    dtypes = ("float32",) if slow else ("float32", "bfloat16")
    models = {
        name: AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, name)).eval()
        for name in dtypes
    }
    report: dict = {
        "machine": hardware.describe(),
        "prompts": len(prompts),
        "mean_prompt_tokens": round(sum(map(len, prompts)) / len(prompts), 1),
        "max_new_tokens": MAX_NEW,
        "batch": BATCH,
    }
    if slow:
        report["bf16_skipped"] = slow
    variants: dict[str, dict] = {}
    outputs: dict[str, list] = {}
    batched(models["float32"], tokenizer, prompts[:2], 2)  # warm-up
    from runners.hardware import matmul_precision

    for label, dtype, precision in (("lmeval-fp32", "float32", "ieee"),
                                    ("lmeval-fp32-bf16-matmul", "float32", "bf16"),
                                    ("lmeval-bf16", "bfloat16", "ieee")):  # fmt: skip
        if dtype not in models or (precision == "bf16" and slow):
            continue
        with matmul_precision(precision):
            wall = time.perf_counter()
            outs, computed, cpu = batched(models[dtype], tokenizer, prompts, BATCH)
            variants[label] = _figures(outs, computed, time.perf_counter() - wall, cpu)
        outputs[label] = outs
    # how much of lm-eval's time is the prompts' forward: decoding-side changes (no wasted
    # steps, a static cache, a compiled step) can at most remove the rest
    prefill = prefill_seconds(models["float32"], tokenizer, prompts, BATCH)
    share = prefill / variants["lmeval-fp32"]["wall_s"]
    report["prefill_fp32"] = {
        "wall_s": round(prefill, 2),
        "share_of_lmeval_fp32": round(share, 3),
        "max_speedup_without_faster_prefill": round(1 / share, 2),
    }
    for label, compile_ in (("static-fp32", False), ("static-compile-fp32", True)):
        try:
            kwargs = static_cache_kwargs(compile_)
            wall = time.perf_counter()
            batched(models["float32"], tokenizer, prompts, BATCH, **kwargs)  # + compilation
            first = time.perf_counter() - wall
            wall = time.perf_counter()
            outs, computed, cpu = batched(models["float32"], tokenizer, prompts, BATCH, **kwargs)
            variants[label] = _figures(outs, computed, time.perf_counter() - wall, cpu)
            variants[label]["first_run_s"] = round(first, 2)
            outputs[label] = outs
        except Exception as exc:  # one candidate among several: report it, go on
            report[f"{label}_error"] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
    wall, cpu = time.perf_counter(), time.process_time()
    alone = [batched(models["float32"], tokenizer, [p], 1)[0][0] for p in prompts]
    useful = sum(map(len, alone))
    variants["alone-fp32"] = _figures(
        alone, useful, time.perf_counter() - wall, time.process_time() - cpu
    )
    outputs["alone-fp32"] = alone
    # continuous batching next to lm-eval's batches on the same (fewer) prompts
    few = prompts[:N_CB]
    wall = time.perf_counter()
    outs, computed, cpu = batched(models["float32"], tokenizer, few, BATCH)
    variants[f"lmeval-fp32-first{N_CB}"] = _figures(outs, computed, time.perf_counter() - wall, cpu)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        cb = continuous(models["float32"], tokenizer, few)
        figures = _figures(cb, sum(map(len, cb)), time.perf_counter() - wall, 0.0)
        figures["cpu_s"] = round(time.process_time() - cpu, 2)
        variants[f"continuous-fp32-first{N_CB}"] = figures
        report["continuous_same_as_alone"] = sum(
            a == b for a, b in zip(cb, alone[:N_CB], strict=True)
        )
    except Exception as exc:  # report, not crash: it is one candidate among several
        report["continuous_error"] = f"{type(exc).__name__}: {exc}"
    try:
        import llama_cpp

        from runners.model import gguf_path

        wall = time.perf_counter()
        outs, cpu = llamacpp(str(gguf_path()), prompts, tokenizer.eos_token_id)
        variants["llamacpp-q4_1"] = _figures(
            outs, sum(map(len, outs)), time.perf_counter() - wall, cpu
        )
        report["llamacpp_version"] = llama_cpp.__version__
        outputs["llamacpp-q4_1"] = outs
    except ImportError as exc:
        report["llamacpp_skipped"] = (
            f"llama_cpp not importable ({exc}); PyPI has only the source release of "
            "llama-cpp-python: `pip install llama-cpp-python` builds it with CMake and a C++ "
            "compiler"
        )
    report["variants"] = variants
    report["same_as_alone"] = {
        k: sum(a == b for a, b in zip(v, alone, strict=True)) for k, v in outputs.items()
    }
    anchor = variants["lmeval-fp32"]["useful_tokens_per_s"]
    best = max(
        (k for k in variants if not k.endswith(f"first{N_CB}") and not k.startswith("llamacpp")),
        key=lambda k: variants[k]["useful_tokens_per_s"],
    )
    speedup = variants[best]["useful_tokens_per_s"] / anchor
    report["summary"] = [
        {
            "figure": f"generation useful tokens/s, best variant ({best}) vs lmeval-fp32",
            "goal": f">= {GOAL_SPEEDUP}x, fp32 outputs identical",
            "anchor": f"lmeval-fp32 {anchor} tokens/s, "
            f"{variants['lmeval-fp32']['wasted_fraction']:.0%} of computed tokens wasted",
            "ratio": round(speedup, 2),
            "met": speedup >= GOAL_SPEEDUP
            and "fp32" in best
            and report["same_as_alone"].get(best) == len(prompts),
        },
        *[
            {
                "figure": f"generation {label} vs lmeval-fp32, useful tokens/s",
                "goal": f">= {GOAL_SPEEDUP}x, fp32 outputs identical",
                "anchor": f"same output as fp32 alone on {report['same_as_alone'][label]}/"
                f"{len(prompts)} prompts",
                "ratio": round(variants[label]["useful_tokens_per_s"] / anchor, 2),
                "met": variants[label]["useful_tokens_per_s"] / anchor >= GOAL_SPEEDUP
                and report["same_as_alone"][label] == len(prompts),
            }
            for label in ("lmeval-fp32-bf16-matmul",)
            if label in variants and label != best
        ],
        {
            "figure": "generation: fp32 prompt forward share of lm-eval's time (the bound on "
            "any decoding-side speed-up)",
            "goal": f"bound >= {GOAL_SPEEDUP}x for the fp32 goal to be reachable",
            "anchor": f"prefill {report['prefill_fp32']['wall_s']} s of "
            f"{variants['lmeval-fp32']['wall_s']} s",
            "ratio": report["prefill_fp32"]["max_speedup_without_faster_prefill"],
            "met": report["prefill_fp32"]["max_speedup_without_faster_prefill"] >= GOAL_SPEEDUP,
        },
    ]
    if "llamacpp-q4_1" in variants:
        ratio = variants["llamacpp-q4_1"]["useful_tokens_per_s"] / anchor
        report["summary"].append(
            {
                "figure": "llama.cpp on the same GGUF (Q4_1, one prompt at a time) vs lmeval-fp32",
                "goal": "comparison (no goal)",
                "anchor": f"lmeval-fp32 {anchor} tokens/s",
                "ratio": round(ratio, 2),
                "met": None,
            }
        )
    elif "llamacpp_skipped" in report:
        report["summary"].append(
            {
                "figure": "llama.cpp on the same GGUF: not measured",
                "goal": "comparison (no goal)",
                "anchor": report["llamacpp_skipped"],
                "ratio": "",
                "met": None,
            }
        )
    return report
