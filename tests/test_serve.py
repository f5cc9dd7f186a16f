"""``biobench serve``: the OpenAI-compatible endpoints over real HTTP, checked against the model.

The server runs as the real CLI (``python -m runners.cli serve``) on 127.0.0.1 with the tiny
random LLaMA; expected values come from the same weights loaded here with ``transformers``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # every test loads the tiny model (server or LocalLM)

SERVED = "tiny-llama"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"server at {url} did not come up in {timeout} s")


@contextlib.contextmanager
def serve_cli(model, log_dir, *extra: str):
    """``biobench serve`` (the real CLI) on 127.0.0.1 in a subprocess; yields its base URL."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    log = log_dir / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runners.cli",
                "serve",
                "--model",
                str(model),
                "--port",
                str(port),
                "--name",
                SERVED,
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tiny_llama, tmp_path_factory):
    with serve_cli(tiny_llama, tmp_path_factory.mktemp("serve")) as url:
        yield url


@pytest.fixture(scope="module")
def local_model(tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    return tok, model


def post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=60)


def test_models_lists_the_served_model(server):
    data = httpx.get(f"{server}/v1/models", timeout=10).json()
    assert [m["id"] for m in data["data"]] == [SERVED]
    assert data["object"] == "list"


def test_echo_logprobs_equal_the_models_own(server, local_model):
    import torch

    tok, model = local_model
    prompt = "The patient presents with fever, cough and dyspnea."
    ids = tok(prompt).input_ids
    body = {
        "model": SERVED,
        "prompt": prompt,
        "max_tokens": 1,
        "temperature": 0,
        "echo": True,
        "logprobs": 2,
    }
    choice = post(server, "/v1/completions", body).json()["choices"][0]
    lp = choice["logprobs"]
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
    expected = [logp[i - 1, ids[i]].item() for i in range(1, len(ids))]
    greedy = int(logp[-1].argmax())

    assert len(lp["tokens"]) == len(ids) + 1  # prompt + the one generated token
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    assert lp["token_logprobs"][1:-1] == pytest.approx(expected, abs=1e-5)
    assert lp["token_logprobs"][-1] == pytest.approx(logp[-1, greedy].item(), abs=1e-5)
    assert choice["text"] == prompt + tok.decode([greedy])
    for top, got in zip(lp["top_logprobs"][1:], lp["token_logprobs"][1:], strict=True):
        assert len(top) <= 2 and max(top.values()) >= got - 1e-6
    assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0


def test_token_id_prompts_and_echo_without_generation(server, local_model):
    tok, _ = local_model
    ids = [tok("aspirin inhibits cyclooxygenase").input_ids, tok("BRCA1 mutations").input_ids]
    body = {
        "model": SERVED,
        "prompt": ids,
        "max_tokens": 0,
        "temperature": 0,
        "echo": True,
        "logprobs": 1,
    }
    out = post(server, "/v1/completions", body).json()
    assert [len(c["logprobs"]["token_logprobs"]) for c in out["choices"]] == [len(x) for x in ids]
    assert out["usage"]["prompt_tokens"] == sum(map(len, ids))
    assert out["usage"]["completion_tokens"] == 0


def test_generation_is_greedy_and_cut_at_stop(server, local_model):
    import torch

    tok, model = local_model
    prompt = "Question: Context: Options:"
    ids = tok(prompt).input_ids
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id
        )
    new = out[0, len(ids) :].tolist()
    if tok.eos_token_id in new:
        new = new[: new.index(tok.eos_token_id)]
    greedy = tok.decode(new)
    body = {"model": SERVED, "prompt": prompt, "max_tokens": 8, "temperature": 0}
    assert post(server, "/v1/completions", body).json()["choices"][0]["text"] == greedy

    stop = greedy[3:5]
    assert stop, "the greedy continuation is too short to test stop strings"
    cut = post(server, "/v1/completions", dict(body, stop=[stop])).json()["choices"][0]
    assert cut["text"] == greedy[: greedy.find(stop)]
    assert cut["finish_reason"] == "stop"


def test_chat_completion_without_template_uses_the_instruction_template(server, local_model):
    from tasks.common.prompting import render_prompt

    tok, _ = local_model
    body = {
        "model": SERVED,
        "messages": [{"role": "user", "content": "Name one antibiotic."}],
        "max_tokens": 4,
        "temperature": 0,
    }
    out = post(server, "/v1/chat/completions", body).json()
    assert out["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(out["choices"][0]["message"]["content"], str)
    assert out["usage"]["prompt_tokens"] == len(
        tok(render_prompt("Name one antibiotic.")).input_ids
    )
    assert 1 <= out["usage"]["completion_tokens"] <= 4


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v1/completions", {"model": "gpt-4o", "prompt": "hi"}, 404, [SERVED]),
        ("/v1/completions", {"model": SERVED, "prompt": {"a": 1}}, 400, ["prompt"]),
        ("/v1/completions", {"model": SERVED, "prompt": []}, 400, ["empty"]),
        (
            "/v1/completions",
            {"model": SERVED, "prompt": [[1, 2]], "n": 2},
            400,
            ["n: Input should be less than or equal to 1"],
        ),
        ("/v1/completions", {"model": SERVED, "prompt": [10**7]}, 400, ["vocabulary"]),
        (
            "/v1/completions",
            {"model": SERVED, "prompt": "x " * 3000, "max_tokens": 1},
            400,
            ["context", "max_tokens"],
        ),
        ("/v1/chat/completions", {"model": SERVED, "messages": []}, 400, ["messages"]),
        (
            "/v1/chat/completions",
            {"model": SERVED, "messages": [{"role": "user", "content": "hi"}], "stream": True},
            400,
            ["stream"],
        ),
    ],
)
def test_bad_requests_get_openai_style_errors(server, path, body, status, words):
    response = post(server, path, body)
    assert response.status_code == status
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message, message


# --- every bad request is a 400 naming the field (real HTTP, the CLI with small limits) ----------

MAX_PROMPTS, MAX_TOKENS = 3, 200  # the limits the limited server runs with
C, CHAT = "/v1/completions", "/v1/chat/completions"


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def comp(**fields) -> dict:
    return {"model": SERVED, "prompt": "Question:", "max_tokens": 2, "temperature": 0, **fields}


def chat_body(content="Name one antibiotic.", **fields) -> dict:
    return {"model": SERVED, "messages": [{"role": "user", "content": content}],
            "max_tokens": 2, "temperature": 0, **fields}  # fmt: skip


def raw(text: str) -> bytes:
    return text.encode("utf-8")


MODEL = f'"model": "{SERVED}"'
# (id, path, body: a dict sent as JSON, or raw bytes, expected status, expected param, words)
# fmt: off
BAD_REQUESTS = [
    # numbers out of range
    ("seed 2**64", C, comp(seed=2**64), 400, "seed", ["64-bit"]),
    ("seed 2**63", C, comp(seed=2**63), 400, "seed", ["64-bit"]),
    ("seed -2**63-1", C, comp(seed=-(2**63) - 1), 400, "seed", ["64-bit"]),
    ("seed 10**40 (chat)", CHAT, chat_body(seed=10**40), 400, "seed", ["64-bit"]),
    ("max_tokens -1", C, comp(max_tokens=-1), 400, "max_tokens", ["greater than or equal"]),
    ("max_tokens 10**30", C, comp(max_tokens=10**30), 400, "max_tokens", ["64-bit"]),
    ("max_tokens 0 (chat)", CHAT, chat_body(max_tokens=0), 400, "max_tokens", []),
    ("max_completion_tokens 0", CHAT, chat_body(max_completion_tokens=0), 400,
     "max_completion_tokens", []),
    ("temperature -0.5", C, comp(temperature=-0.5), 400, "temperature", []),
    ("temperature 2.5", CHAT, chat_body(temperature=2.5), 400, "temperature", []),
    ("temperature NaN", C, raw(f'{{{MODEL}, "prompt": "a", "temperature": NaN}}'), 400,
     "temperature", ["not a finite number"]),
    ("temperature 1e999", C, raw(f'{{{MODEL}, "prompt": "a", "temperature": 1e999}}'), 400,
     "temperature", ["finite"]),
    ("top_p 0", C, comp(top_p=0), 400, "top_p", []),
    ("top_p 1.5", CHAT, chat_body(top_p=1.5), 400, "top_p", []),
    ("top_p -Infinity", C, raw(f'{{{MODEL}, "prompt": "a", "top_p": -Infinity}}'), 400,
     "top_p", ["finite"]),
    ("n 2", C, comp(n=2), 400, "n", ["less than or equal to 1"]),
    ("n 10**20", CHAT, chat_body(n=10**20), 400, "n", ["64-bit"]),
    ("best_of 3", C, comp(best_of=3), 400, "best_of", []),
    ("logprobs 21", C, comp(logprobs=21), 400, "logprobs", []),
    ("logprobs -1", C, comp(logprobs=-1), 400, "logprobs", []),
    ("top_logprobs 50", CHAT, chat_body(top_logprobs=50), 400, "top_logprobs", []),
    ("presence_penalty 3", C, comp(presence_penalty=3), 400, "presence_penalty", []),
    ("frequency_penalty -9", CHAT, chat_body(frequency_penalty=-9), 400, "frequency_penalty",
     []),
    ("token id 2**63", C, comp(prompt=[2**63]), 400, "prompt[0]", ["64-bit"]),
    ("token id 10**20 in a list", C, comp(prompt=[[1, 2], [3, 10**20]]), 400, "prompt[1][1]",
     ["64-bit"]),
    ("token id -1", C, comp(prompt=[[1, -1]]), 400, "prompt", ["vocabulary"]),
    # text that is not text
    ("lone surrogate prompt", C, comp(prompt="\ud800"), 400, "prompt", ["surrogate"]),
    ("lone surrogate in a prompt list", C, comp(prompt=["ok", "bad \udfff"]), 400, "prompt[1]",
     ["surrogate"]),
    ("NUL in the prompt", C, comp(prompt="a\x00b"), 400, "prompt", ["NUL"]),
    ("lone surrogate stop", C, comp(stop="\udbff"), 400, "stop", ["surrogate"]),
    ("NUL in a stop list", C, comp(stop=["x", "\x00"]), 400, "stop[1]", ["NUL"]),
    ("lone surrogate model", C, comp(model="m\ud800"), 400, "model", ["surrogate"]),
    ("lone surrogate in an extra field", C, comp(user="\ud800"), 400, "user", ["surrogate"]),
    ("lone surrogate in a key", C, comp(**{"x\ud800": 1}), 400, "x\\ud800", ["surrogate"]),
    ("lone surrogate content", CHAT, chat_body("hi \ud800"), 400, "messages[0].content",
     ["surrogate"]),
    ("NUL in content", CHAT, chat_body("a\x00"), 400, "messages[0].content", ["NUL"]),
    ("raw UTF-8 of a surrogate", C, b'{"model": "m", "prompt": "\xed\xa0\x80"}', 400, None,
     ["not UTF-8"]),
    ("latin-1 body", C, b'{"model": "m", "prompt": "caf\xe9"}', 400, None, ["not UTF-8"]),
    # wrong types and malformed bodies
    ("seed text", C, comp(seed="1"), 400, "seed", ["valid integer"]),
    ("max_tokens text", C, comp(max_tokens="16"), 400, "max_tokens", ["valid integer"]),
    ("max_tokens true", CHAT, chat_body(max_tokens=True), 400, "max_tokens", ["valid integer"]),
    ("max_tokens 1.5", C, comp(max_tokens=1.5), 400, "max_tokens", ["valid integer"]),
    ("temperature text", CHAT, chat_body(temperature="hot"), 400, "temperature", ["number"]),
    ("echo 1", C, comp(echo=1), 400, "echo", ["boolean"]),
    ("prompt object", C, comp(prompt={"a": 1}), 400, "prompt", ["token-id lists"]),
    ("prompt mixed list", C, comp(prompt=[1, "a"]), 400, "prompt", ["token-id lists"]),
    ("stop number", C, comp(stop=5), 400, "stop", ["list of at most"]),
    ("17 stop strings", C, comp(stop=[f"s{i}" for i in range(17)]), 400, "stop", []),
    ("content list", CHAT, chat_body(["a"]), 400, "messages[0].content", ["valid string"]),
    ("role robot", CHAT, {**chat_body(), "messages": [{"role": "robot", "content": "hi"}]},
     400, "messages[0].role", []),
    ("messages missing", CHAT, {"model": SERVED}, 400, "messages", ["required"]),
    ("model missing", C, {"prompt": "hi"}, 400, "model", ["required"]),
    ("nested 17 deep", C, comp(prompt=nested(20)), 400, "prompt" + "[0]" * 16, ["nested"]),
    ("nested 100000 deep", C, raw('{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}"), 400,
     None, ["nested"]),
    ("malformed JSON", C, raw(f'{{{MODEL}, "prompt": '), 400, None, ["not valid JSON"]),
    ("empty body", CHAT, b"", 400, None, ["not valid JSON"]),
    ("a JSON list", C, raw("[1, 2]"), 400, None, ["JSON object"]),
    ("an integer of 5000 digits", C, raw('{"seed": ' + "9" * 5000 + "}"), 400, None, []),
    # one request may not monopolise the model
    ("4 prompts", C, comp(prompt=["a", "b", "c", "d"]), 400, "prompt",
     ["--max-prompts-per-request", f"at most {MAX_PROMPTS}"]),
    ("4 token-id prompts", C, comp(prompt=[[1], [2], [3], [4]]), 400, "prompt",
     ["--max-prompts-per-request"]),
    ("max_tokens over the budget", C, comp(prompt="hi", max_tokens=MAX_TOKENS), 400,
     "max_tokens", ["--max-request-tokens", f"limit of {MAX_TOKENS}"]),
    ("3 prompts x max_tokens over the budget", C, comp(prompt=["a", "b", "c"], max_tokens=70),
     400, "max_tokens", ["--max-request-tokens", "x 3 prompts"]),
    ("prompt tokens over the budget", C, comp(prompt=[[5] * (MAX_TOKENS + 1)], max_tokens=0),
     400, "prompt", ["--max-request-tokens"]),
    ("chat max_tokens over the budget", CHAT, chat_body(max_tokens=MAX_TOKENS), 400,
     "max_tokens", ["--max-request-tokens"]),
    ("chat max_completion_tokens over the budget", CHAT,
     chat_body(max_completion_tokens=MAX_TOKENS), 400, "max_completion_tokens",
     ["--max-request-tokens"]),
    ("chat prompt over the budget", CHAT, chat_body("x y " * MAX_TOKENS, max_tokens=None), 400,
     "messages", ["--max-request-tokens"]),
    ("unknown model", C, comp(model="gpt-4o"), 404, "model", [SERVED]),
    ("unknown route", "/v1/embeddings", comp(), 404, None, ["Not Found"]),
]
# fmt: on


@pytest.fixture(scope="module")
def limited(tiny_llama, tmp_path_factory):
    with serve_cli(
        tiny_llama, tmp_path_factory.mktemp("serve-limited"),
        "--max-prompts-per-request", str(MAX_PROMPTS), "--max-request-tokens", str(MAX_TOKENS),
    ) as url:  # fmt: skip
        yield url


def send(url: str, path: str, body: dict | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode("ascii")
    headers = {"content-type": "application/json"}
    return httpx.post(f"{url}{path}", content=content, headers=headers, timeout=60)


@pytest.mark.parametrize(
    ("path", "body", "status", "param", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_every_bad_request_is_a_4xx_naming_the_field(limited, path, body, status, param, words):
    response = send(limited, path, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    for word in words:
        assert word in error["message"], error["message"]
    assert httpx.get(f"{limited}/health", timeout=10).status_code == 200  # still serving


# fmt: off
VALID_REQUESTS = [
    ("seed 2**63-1 sampled", C, comp(seed=2**63 - 1, temperature=0.7), 1),
    ("seed -2**63 sampled (chat)", CHAT, chat_body(seed=-(2**63), temperature=0.7), 1),
    ("temperature 1e-300 decodes greedily", C, comp(temperature=1e-300, seed=1), 1),
    ("temperature 2 and top_p 1e-9", C, comp(temperature=2, top_p=1e-9), 1),
    ("prompts at the limit", C, comp(prompt=["a", "b", "c"], max_tokens=2), MAX_PROMPTS),
    ("tokens at the limit", C, comp(prompt=[[5] * (MAX_TOKENS - 4)], max_tokens=4), 1),
    ("a surrogate pair and accents", C, comp(prompt="caf\u00e9 \U0001f600 \u2713"), 1),
    ("stop strings at the limit", C, comp(stop=[f"s{i}" for i in range(16)]), 1),
    ("penalties and an extra field", C, comp(presence_penalty=1.5, user="me", logit_bias={}), 1),
    ("echo logprobs of token ids", C, comp(prompt=[[1, 2, 3]], max_tokens=0, echo=True,
                                           logprobs=2), 1),
    ("chat, default max_tokens fits the budget", CHAT, chat_body(max_tokens=None), 1),
]
# fmt: on


@pytest.mark.parametrize(
    ("path", "body", "n_choices"),
    [case[1:] for case in VALID_REQUESTS],
    ids=[case[0] for case in VALID_REQUESTS],
)
def test_valid_requests_at_the_edges_are_served(limited, path, body, n_choices):
    response = send(limited, path, body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert len(out["choices"]) == n_choices
    assert out["usage"]["total_tokens"] <= MAX_TOKENS
    for choice in out["choices"]:
        text = choice["message"]["content"] if path == CHAT else choice["text"]
        assert isinstance(text, str)


def test_the_limit_flags_are_documented_and_checked(capsys):
    from runners import serve

    help_text = serve.build_parser().format_help()
    for flag in ("--max-prompts-per-request", "--max-request-tokens"):
        assert flag in help_text and flag in (serve.__doc__ or "")
        assert flag in (ROOT / "docs" / "serve.md").read_text()
        with pytest.raises(SystemExit, match=f"{flag} must be >= 1"):
            serve.main([flag, "0"])


@pytest.mark.slow
def test_lm_eval_local_completions_equals_hf_loglikelihoods(server, tiny_llama, monkeypatch):
    """lm-eval through ``biobench serve`` gives the same per-choice log-likelihoods as ``hf``."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from tasks.registry import TASKS_DIR

    monkeypatch.setenv("BIOBENCH_SOURCE", "sample")
    tasks = ["bio_pubmedqa", "bio_medqa"]

    def run(model: str, model_args: str) -> dict[str, list]:
        manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
        out = lm_eval.simple_evaluate(
            model=model,
            model_args=model_args,
            tasks=tasks,
            limit=3,
            batch_size=1,
            task_manager=manager,
            log_samples=True,
            bootstrap_iters=0,
            device="cpu",
        )
        return {t: sorted(out["samples"][t], key=lambda s: s["doc_id"]) for t in tasks}

    hf = run("hf", f"pretrained={tiny_llama},dtype=float32")
    api = run(
        "local-completions",
        f"model={SERVED},base_url={server}/v1/completions,tokenizer_backend=huggingface,"
        f"tokenizer={tiny_llama},max_length=2048",
    )
    compared = 0
    for task in tasks:
        assert [s["doc_id"] for s in hf[task]] == [s["doc_id"] for s in api[task]]
        for a, b in zip(hf[task], api[task], strict=True):
            assert a["arguments"] == b["arguments"]  # same prompts and choices
            # resps: one [(loglikelihood, is_greedy)] per choice
            for r_hf, r_api in zip(a["resps"], b["resps"], strict=True):
                ll_hf, ll_api = float(r_hf[0][0]), float(r_api[0][0])
                assert abs(ll_hf - ll_api) < 1e-4, (task, a["doc_id"], ll_hf, ll_api)
                assert bool(r_hf[0][1]) == bool(r_api[0][1])  # is_greedy agrees too
                compared += 1
    assert compared >= 18  # 3 pubmedqa docs x 3 choices + 3 medqa docs x 4 choices (at least)


def test_concurrent_generations_are_batched_and_match_one_at_a_time(tiny_llama):
    """Requests that wait for the model are decoded in one left-padded batch, and each gets
    what it gets alone: greedy text, its own stop string, its own finish reason."""
    from concurrent.futures import ThreadPoolExecutor

    from runners.serve_backend import LocalLM

    lm = LocalLM(str(tiny_llama), max_batch=4)
    prompts = ["Question:", "Context: the patient has a fever and", "Options: A B C", "Answer"]
    ids = [lm.encode(p) for p in prompts]
    alone = [lm.generate(i, 12) for i in ids]
    assert lm.batch_sizes == [1, 1, 1, 1]
    # a stop string taken from one row's text must end that row only
    stop = alone[1].text[4:7]
    assert stop, "the greedy continuation is too short to test stop strings"
    alone_stop = [lm.generate(i, 12, stop=[stop]) for i in ids]

    pool = ThreadPoolExecutor(4)
    lm.batch_sizes.clear()
    with lm._lock:  # hold the model so that all four requests are waiting when it frees
        futures = [pool.submit(lm.generate, i, 12, 0.0, 1.0, [stop]) for i in ids]
        while len(lm._waiting) < 4:
            time.sleep(0.01)
    batched = [f.result(timeout=120) for f in futures]
    assert lm.batch_sizes == [4]
    assert batched == alone_stop
    assert batched[1].finish_reason == "stop"
    assert batched[1].text == alone[1].text[: alone[1].text.find(stop)]

    # different decoding parameters are never mixed in one batch
    lm.batch_sizes.clear()
    with lm._lock:
        futures = [
            pool.submit(lm.generate, ids[0], 12),
            pool.submit(lm.generate, ids[1], 5),
            pool.submit(lm.generate, ids[2], 12),
        ]
        while len(lm._waiting) < 3:
            time.sleep(0.01)
    results = [f.result(timeout=120) for f in futures]
    pool.shutdown()
    assert results[0] == alone[0] and results[2] == alone[2]
    assert sorted(lm.batch_sizes) == [1, 2]


def test_a_burst_shares_one_batch_within_the_window(tiny_llama):
    """Eight requests started together, none held back by hand, run as one batch when the
    model waits for company; the wait ends as soon as max_batch requests are there."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from runners.serve_backend import LocalLM

    ids = [[5 + i, 7, 11 + i] for i in range(8)]
    alone = LocalLM(str(tiny_llama), batch_window=0)
    expected = [alone.generate(i, 6) for i in ids]
    # a window far longer than the burst takes to arrive: it must end at max_batch = 8 requests
    lm = LocalLM(str(tiny_llama), max_batch=8, batch_window=600)
    start = threading.Barrier(8)

    def call(i):
        start.wait()
        return lm.generate(i, 6)

    with ThreadPoolExecutor(8) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(call, i) for i in ids]]
    assert lm.batch_sizes == [8]
    assert results == expected
    with pytest.raises(ValueError, match="batch_window must be >= 0"):
        LocalLM(str(tiny_llama), batch_window=-1)


def test_batches_stay_within_the_token_budget(tiny_llama):
    """Long prompts are not batched into one huge call: rows x (longest prompt + max_tokens)
    stays within max_batch_tokens (a single request always runs)."""
    from concurrent.futures import ThreadPoolExecutor

    from runners.serve_backend import LocalLM

    lm = LocalLM(str(tiny_llama), max_batch=8, max_batch_tokens=3 * (40 + 4))
    prompts = [lm.encode("word " * 39)[:40] for _ in range(5)]
    assert all(len(p) == 40 for p in prompts)
    pool = ThreadPoolExecutor(5)
    with lm._lock:
        futures = [pool.submit(lm.generate, p, 4) for p in prompts]
        while len(lm._waiting) < 5:
            time.sleep(0.01)
    for f in futures:
        f.result(timeout=120)
    pool.shutdown()
    assert lm.batch_sizes == [3, 2]
    lone = LocalLM(str(tiny_llama), max_batch_tokens=10)
    assert lone.generate(prompts[0], 4).ids  # over the budget alone: still served


class _SetAfter(threading.Event):
    """An event that reports itself set from its ``calls``-th check on (a deterministic
    stand-in for a client that disconnects while its generation is running)."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls_left = calls

    def is_set(self) -> bool:
        self.calls_left -= 1
        return self.calls_left <= 0 or super().is_set()


def test_a_cancelled_request_stops_its_row_and_spares_the_batch(tiny_llama):
    from concurrent.futures import ThreadPoolExecutor

    from runners.serve_backend import GenerationCancelled, LocalLM

    lm = LocalLM(str(tiny_llama), max_batch=4)
    ids = [lm.encode("Question:"), lm.encode("Answer")]
    alone = lm.generate(ids[1], 12)

    # cancelled before it reaches the model: dropped, the model never runs it
    gone = threading.Event()
    gone.set()
    with pytest.raises(GenerationCancelled):
        lm.generate(ids[0], 12, cancel=gone)
    assert lm.cancelled == [(0, 12)] and lm.batch_sizes == [1]

    # cancelled while decoding in a batch: that row stops, the other row is unchanged
    pool = ThreadPoolExecutor(2)
    with lm._lock:
        doomed = pool.submit(lm.generate, ids[0], 12, 0.0, 1.0, None, None, _SetAfter(4))
        kept = pool.submit(lm.generate, ids[1], 12)
        while len(lm._waiting) < 2:
            time.sleep(0.01)
    with pytest.raises(GenerationCancelled):
        doomed.result(timeout=120)
    assert kept.result(timeout=120) == alone
    pool.shutdown()
    assert lm.batch_sizes[-1] == 2
    generated, wanted = lm.cancelled[-1]
    assert wanted == 12 and 0 < generated < 12


def test_a_client_that_disconnects_is_dropped_before_it_runs(tiny_llama):
    """Real HTTP to an in-process server whose model is held busy: the client times out and
    disconnects while its request waits, and the request is dropped instead of generating.
    (A row cancelled mid-generation: the backend test above.)"""
    import uvicorn

    from runners.openai_server import create_app
    from runners.serve_backend import LocalLM

    lm = LocalLM(str(tiny_llama))
    port = free_port()
    config = uvicorn.Config(
        create_app(lm, SERVED), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        body = {"model": SERVED, "prompt": "Question:", "max_tokens": 50, "temperature": 0}
        with lm._lock:  # the model is busy with someone else: the request waits
            with pytest.raises(httpx.TimeoutException):
                httpx.post(f"{url}/v1/completions", json=body, timeout=0.3)
            time.sleep(2)  # far longer than the server's disconnect poll (0.1 s)
        deadline = time.monotonic() + 30
        while not lm.cancelled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lm.cancelled == [(0, 50)]  # dropped while waiting: nothing generated
        assert lm.batch_sizes == []
        answer = post(url, "/v1/completions", dict(body, max_tokens=3))
        assert answer.status_code == 200 and lm.batch_sizes == [1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
