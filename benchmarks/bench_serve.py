"""``biobench serve`` overhead: log-likelihood scoring through HTTP vs calling the model directly.

Side by side in one process, on the embedded SmolLM2-135M-Instruct: the same prompts are scored
(a) by ``LocalLM.score`` directly and (b) through ``POST /v1/completions`` with ``echo`` and
``logprobs`` exactly as lm-eval's ``local-completions`` sends them (token ids, max_tokens 1), via
the FastAPI app served by uvicorn on 127.0.0.1 in a thread. The figures: seconds per request
each way, the HTTP overhead ratio, and the largest log-probability difference (should be 0).

Goal: HTTP adds at most 25% to the scoring time.

Second figure, generation: a burst of 8 concurrent ``/v1/completions`` requests (greedy, 32 new
tokens, each from its own client thread) with the batching window off (0 ms) and at the
default; the batch sizes the model ran and the wall time of the burst, side by side on the same
server. The prompts are the first 8 real ``bio_meqsum`` prompts (lm-eval's ``doc_to_text``, as
``bench_generate`` uses), which the model answers at length: a made-up prompt the model ends
after two tokens would make the lone first batch of the windowless server free, and the figure
would measure that luck, not batching. Goal: the window makes the burst one batch and at least
1.5x faster.
"""

from __future__ import annotations

import socket
import threading
import time

GOAL_OVERHEAD = 0.25
GOAL_BURST_SPEEDUP = 1.5
N_PROMPTS = 24
BURST = 8
BURST_TOKENS = 32


def _prompts(tokenizer) -> list[list[int]]:
    from tasks.common.prompting import render_prompt

    texts = [
        render_prompt(
            "Answer the biomedical research question using the abstract given as context.",
            f"Question: Does drug {i} lower blood pressure in adults with stage {i % 3 + 1} "
            f"hypertension? Context: In a randomised trial of {100 + 7 * i} adults, systolic "
            "pressure fell by a mean of 8 mmHg compared with placebo over twelve weeks.",
        )
        + ("yes" if i % 2 else "no")
        for i in range(N_PROMPTS)
    ]
    return [tokenizer(t).input_ids for t in texts]


def run() -> dict:
    import httpx
    import uvicorn
    from tqdm import tqdm

    from benchmarks.bench_generate import meqsum_prompts
    from runners.model import DEFAULT_MODEL_NAME, prepare_default_model
    from runners.openai_server import create_app
    from runners.serve_backend import DEFAULT_BATCH_WINDOW, LocalLM

    lm = LocalLM(str(prepare_default_model()))
    prompts = _prompts(lm.tokenizer)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(lm, DEFAULT_MODEL_NAME), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/v1/completions"
    while not server.started:
        time.sleep(0.05)
    try:
        lm.score(prompts[0])  # warm-up
        start = time.perf_counter()
        direct = [lm.score(p).logprobs[1:] for p in tqdm(prompts, desc="direct")]
        t_direct = time.perf_counter() - start

        start = time.perf_counter()
        served = []
        with httpx.Client(timeout=120) as client:
            for p in tqdm(prompts, desc="http"):
                body = {
                    "model": DEFAULT_MODEL_NAME,
                    "prompt": [p],
                    "max_tokens": 1,
                    "temperature": 0,
                    "logprobs": 1,
                    "echo": True,
                    "seed": 1234,
                }
                choice = client.post(url, json=body).json()["choices"][0]
                served.append(choice["logprobs"]["token_logprobs"][1:-1])
        t_http = time.perf_counter() - start
        texts = meqsum_prompts(BURST)
        burst = {ms: _burst(url, lm, ms / 1000, texts) for ms in (0, DEFAULT_BATCH_WINDOW * 1000)}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    max_diff = max(
        abs(a - b) for d, s in zip(direct, served, strict=True) for a, b in zip(d, s, strict=True)
    )
    overhead = t_http / t_direct - 1
    off, on = burst[0], burst[DEFAULT_BATCH_WINDOW * 1000]
    burst_speedup = off["wall_s"] / on["wall_s"]
    burst_met = burst_speedup >= GOAL_BURST_SPEEDUP and on["batch_sizes"] == [BURST]
    return {
        "model": DEFAULT_MODEL_NAME,
        "prompts": len(prompts),
        "mean_prompt_tokens": sum(map(len, prompts)) / len(prompts),
        "direct_s_per_request": t_direct / len(prompts),
        "http_s_per_request": t_http / len(prompts),
        "http_overhead": overhead,
        "max_abs_logprob_diff": max_diff,
        "goal": f"HTTP overhead <= {GOAL_OVERHEAD:.0%} of direct scoring",
        "goal_met": overhead <= GOAL_OVERHEAD and max_diff < 1e-4,
        "burst": {f"window_{ms:g}ms": b for ms, b in burst.items()},
        "burst_same_texts": off["texts"] == on["texts"],
        "summary": [
            {
                "figure": "serve: HTTP log-likelihood scoring vs direct",
                "goal": f"overhead <= {GOAL_OVERHEAD:.0%}",
                "anchor": f"direct {t_direct / len(prompts):.3f} s/request",
                "ratio": round(t_http / t_direct, 3),
                "met": overhead <= GOAL_OVERHEAD and max_diff < 1e-4,
            },
            {
                "figure": f"serve: burst of {BURST} generations, window "
                f"{DEFAULT_BATCH_WINDOW * 1000:g} ms vs 0",
                "goal": f">= {GOAL_BURST_SPEEDUP}x and one batch",
                "anchor": f"window 0: {off['wall_s']:.2f} s, batches {off['batch_sizes']}",
                "ratio": round(burst_speedup, 2),
                "met": burst_met,
            },
        ],
    }


def _burst(url: str, lm, window: float, prompts: list[str]) -> dict:
    """``BURST`` concurrent greedy completions of ``prompts``, each from its own thread and
    client."""
    import httpx

    from runners.model import DEFAULT_MODEL_NAME

    lm.batch_window = window
    lm.batch_sizes.clear()
    go = threading.Barrier(BURST)
    texts: list[str | None] = [None] * BURST
    tokens = [0] * BURST
    cpu = time.process_time()

    def one(i: int) -> None:
        body = {
            "model": DEFAULT_MODEL_NAME,
            "prompt": prompts[i],
            "max_tokens": BURST_TOKENS,
            "temperature": 0,
        }
        with httpx.Client(timeout=300) as client:
            go.wait()
            reply = client.post(url, json=body).json()
            texts[i] = reply["choices"][0]["text"]
            tokens[i] = reply["usage"]["completion_tokens"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(BURST)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "wall_s": round(time.perf_counter() - start, 3),
        "cpu_s": round(time.process_time() - cpu, 2),
        "batch_sizes": list(lm.batch_sizes),
        "completion_tokens": tokens,
        "texts": texts,
    }
