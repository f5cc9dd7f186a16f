"""lm-eval's ``hf`` model on the tiny LLaMA: batching and precision must not change answers.

* greedy generation in batches of 4 (left-padded, rows of different lengths) equals generation
  one request at a time, token for token, in float32;
* bfloat16 log-likelihoods stay within bf16 rounding of float32, and a multiple-choice decision
  with a clear margin is the same in both precisions;
* float32 with its matrix products on the CPU's bf16 units (``--matmul-precision bf16``) stays
  far closer to plain float32 than a bfloat16 model, and decides every item the same way.
"""

from __future__ import annotations

import pytest

PROMPTS = [
    "Question: which drug lowers blood pressure?\nAnswer:",
    "Summarize: the patient reports chest pain radiating to the left arm for two hours, "
    "with sweating and nausea.\nSummary:",
    "List the diseases:",
    "Context: aspirin inhibits cyclooxygenase. Question: does aspirin reduce platelet "
    "aggregation? Answer yes or no.\nAnswer:",
    "Entities:",
]


def _hflm(path, dtype: str, batch_size: int):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=str(path), dtype=dtype, batch_size=batch_size, device="cpu")


def _generate(lm, prompts: list[str]) -> list[str]:
    from lm_eval.api.instance import Instance

    kwargs = {"until": ["\n\n"], "max_gen_toks": 12, "do_sample": False}
    requests = [
        Instance("generate_until", doc={}, arguments=(p, dict(kwargs)), idx=i)
        for i, p in enumerate(prompts)
    ]
    return lm.generate_until(requests)


def _loglikelihoods(lm, pairs: list[tuple[str, str]]) -> list[float]:
    from lm_eval.api.instance import Instance

    requests = [
        Instance("loglikelihood", doc={}, arguments=pair, idx=i) for i, pair in enumerate(pairs)
    ]
    return [ll for ll, _ in lm.loglikelihood(requests)]


@pytest.mark.slow
def test_batched_generation_equals_one_at_a_time(tiny_llama):
    batched = _generate(_hflm(tiny_llama, "float32", 4), PROMPTS)
    alone = _generate(_hflm(tiny_llama, "float32", 1), PROMPTS)
    assert batched == alone
    assert any(text.strip() for text in alone), "the tiny model generated nothing to compare"


@pytest.mark.slow
def test_bfloat16_log_likelihoods_agree_with_float32(tiny_llama):
    # options of different token lengths, so that some decisions have clear margins on a
    # random model (whose next-token distribution is nearly flat)
    options = [" yes", " no blood", " maybe not at all", " aspirin and warfarin", " the heart"]
    pairs = [(p, o) for p in PROMPTS for o in options]
    fp32 = _loglikelihoods(_hflm(tiny_llama, "float32", 8), pairs)
    bf16 = _loglikelihoods(_hflm(tiny_llama, "bfloat16", 8), pairs)
    for (prompt, option), a, b in zip(pairs, fp32, bf16, strict=True):
        # bf16 keeps 8 bits of mantissa: ~0.4% relative error per operation
        assert abs(a - b) <= 0.03 * abs(a) + 0.05, (prompt[:30], option, a, b)
    clear = 0
    for k in range(len(PROMPTS)):
        a = fp32[k * len(options) : (k + 1) * len(options)]
        b = bf16[k * len(options) : (k + 1) * len(options)]
        ranked = sorted(a, reverse=True)
        if ranked[0] - ranked[1] > 0.2:  # a decision bf16 rounding cannot flip
            clear += 1
            assert a.index(max(a)) == b.index(max(b))
    assert clear >= 2, "too few clear decisions to test"


@pytest.mark.slow
def test_a_static_kv_cache_generates_what_the_dynamic_one_does(tiny_llama):
    """``benchmarks/bench_generate``'s static-cache variant is a speed option, not another
    model: on left-padded batches of rows of different lengths its greedy tokens equal the
    default cache's, token for token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from benchmarks import bench_generate

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_llama))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama), dtype=torch.float32).eval()
    prompts = [tokenizer(p).input_ids for p in PROMPTS]
    dynamic, computed, _ = bench_generate.batched(model, tokenizer, prompts, 3)
    static, _, _ = bench_generate.batched(
        model, tokenizer, prompts, 3, **bench_generate.static_cache_kwargs(False)
    )
    assert static == dynamic
    assert computed > 0 and any(len(row) > 1 for row in dynamic)


@pytest.mark.slow
def test_bf16_matmuls_in_a_float32_model_agree_with_plain_float32(tmp_path):
    """The default where the CPU has bf16 units: every log-likelihood within 0.01 of plain
    float32 (a bfloat16 model is allowed 3% + 0.05 above) and the same choice on every prompt
    whose margin exceeds that bound twice over. The tiny LLaMA is 256 wide here: oneDNN keeps
    narrower products in float32."""

    from runners import hardware
    from tests.support.tiny_llama import build_tiny_llama

    if not hardware.bf16_units():
        pytest.skip(f"no bf16 units on this CPU: {hardware.slow_bf16()}")
    tiny_llama = build_tiny_llama(tmp_path / "wide", hidden_size=256)
    options = [" yes", " no blood", " maybe not at all", " aspirin and warfarin", " the heart"]
    pairs = [(p, o) for p in PROMPTS for o in options]
    with hardware.matmul_precision("ieee"):
        ieee = _loglikelihoods(_hflm(tiny_llama, "float32", 8), pairs)
    with hardware.matmul_precision("bf16"):
        bf16 = _loglikelihoods(_hflm(tiny_llama, "float32", 8), pairs)
    assert ieee != bf16, "the setting changed nothing: the products did not run on bf16 units"
    worst = max(abs(a - b) for a, b in zip(ieee, bf16, strict=True))
    assert worst <= 0.01, worst
    for k in range(len(PROMPTS)):
        a, b = (x[k * len(options) : (k + 1) * len(options)] for x in (ieee, bf16))
        ranked = sorted(a, reverse=True)
        if ranked[0] - ranked[1] > 2 * worst:
            assert a.index(max(a)) == b.index(max(b)), PROMPTS[k]
