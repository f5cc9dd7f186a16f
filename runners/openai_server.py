"""OpenAI-compatible HTTP API (FastAPI) over a :class:`runners.serve_backend.LocalLM`.

Endpoints, with the fields lm-eval's ``local-completions`` / ``local-chat-completions`` and the
``openai`` client use:

* ``GET /v1/models`` — the one served model.
* ``POST /v1/completions`` — ``prompt`` as a string, list of strings, token ids, or list of
  token-id lists; ``max_tokens`` (0 allowed with ``echo``), ``temperature``, ``top_p``, ``stop``,
  ``seed``, ``echo``, ``logprobs`` (top-k per token). With ``echo`` and ``logprobs`` the choice
  carries ``tokens``, ``token_logprobs`` (``null`` for the first token), ``top_logprobs`` and
  ``text_offset`` for the prompt and the generated tokens — what lm-eval reads for
  log-likelihoods.
* ``POST /v1/chat/completions`` — ``messages`` rendered with the tokenizer's chat template, or,
  for models without one, with the project's Alpaca template (system + user text as the
  instruction).
* ``GET /health``.

Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.

The two completion endpoints run the model in a worker thread while watching the connection: a
client that disconnects (say, after its own timeout) cancels its generation (see
:mod:`runners.serve_backend`), so an abandoned request does not keep the model busy.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from runners.serve_backend import GenerationCancelled, LocalLM, RequestError

MAX_TOP_LOGPROBS = 20
DISCONNECT_POLL_S = 0.1  # how often a running request checks that its client is still there

T = TypeVar("T")


async def run_until_disconnect(request: Request, work: Callable[[threading.Event], T]) -> T:
    """``work(cancel)`` in a worker thread; ``cancel`` is set if the client disconnects first."""
    cancel = threading.Event()
    task = asyncio.ensure_future(run_in_threadpool(work, cancel))
    while not task.done():
        await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
        if not task.done() and await request.is_disconnected():
            cancel.set()
            break
    return await task


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    add_special_tokens: bool = True
    stream: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "developer"]
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False


class APIError(Exception):
    def __init__(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def _error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return JSONResponse(status_code=status, content=body)


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def _prompts(lm: LocalLM, req: CompletionRequest) -> list[tuple[list[int], str | None]]:
    """(token ids, original text or None) per prompt of the request."""
    p = req.prompt
    if isinstance(p, str):
        return [(lm.encode(p, req.add_special_tokens), p)]
    if not p:
        raise APIError(400, "prompt is an empty list", "invalid_request_error", "prompt")
    if all(isinstance(x, int) for x in p):
        return [(list(p), None)]
    if all(isinstance(x, str) for x in p):
        return [(lm.encode(x, req.add_special_tokens), x) for x in p]
    return [(list(x), None) for x in p]


def _logprobs_block(
    lm: LocalLM, ids: list[int], scores, first: int, k: int, prefix_len: int = 0
) -> dict[str, Any]:
    """OpenAI legacy logprobs for tokens ``ids[first:]`` (offsets start at ``prefix_len``)."""
    strings = lm.token_strings(ids)
    offsets, pos = [], prefix_len
    for s in strings[first:]:
        offsets.append(pos)
        pos += len(s)
    top = []
    for entry in scores.top[first:]:
        if entry is None:
            top.append(None)
            continue
        ranked = sorted(entry.items(), key=lambda kv: -kv[1])[:k]
        top.append({lm.token_strings([i])[0]: v for i, v in ranked})
    return {
        "tokens": strings[first:],
        "token_logprobs": scores.logprobs[first:],
        "top_logprobs": top,
        "text_offset": offsets,
    }


def create_app(lm: LocalLM, served_name: str) -> FastAPI:
    """The ASGI app serving ``lm`` under the model name ``served_name``."""
    app = FastAPI(title="biobench serve", version="1")
    created = int(time.time())

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind, exc.param)

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return _error(400, str(exc), "invalid_request_error")

    @app.exception_handler(GenerationCancelled)
    async def _cancelled(_: Request, exc: GenerationCancelled) -> JSONResponse:
        # nobody reads this: the client has gone (499 is nginx's "client closed request")
        return _error(499, f"client disconnected: {exc}", "cancelled")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where or 'body'}: {e.get('msg')}")
        return _error(400, "invalid request: " + "; ".join(parts), "invalid_request_error")

    def check_request(name: str, stream: bool) -> None:
        if stream:
            raise APIError(
                400,
                "stream=true is not supported by biobench serve; send stream=false",
                "invalid_request_error",
                "stream",
            )
        if name not in {served_name, lm.path}:
            raise APIError(
                404,
                f"model {name!r} is not served here; this server serves {served_name!r}",
                "invalid_request_error",
                "model",
            )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": served_name}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        entry = {"id": served_name, "object": "model", "created": created, "owned_by": "biobench"}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest, request: Request) -> dict[str, Any]:
        return await run_until_disconnect(request, lambda cancel: complete(req, cancel))

    def complete(req: CompletionRequest, cancel: threading.Event) -> dict[str, Any]:
        check_request(req.model, req.stream)
        stops = _stops(req.stop)
        choices, n_prompt, n_completion = [], 0, 0
        k = max(1, req.logprobs or 0)
        for index, (ids, text) in enumerate(_prompts(lm, req)):
            lm.check_ids(ids, req.max_tokens)
            scores = None
            if req.logprobs is not None and req.temperature == 0 and req.max_tokens <= 1:
                # lm-eval's log-likelihood call (echo, max_tokens 1): one forward pass suffices
                scores = lm.score(ids, top_k=k)
                gen = lm.greedy_step(scores, req.max_tokens, stops)
                scores = lm.extend(scores, gen.ids[0]) if gen.ids else scores
            else:
                gen = lm.generate(
                    ids, req.max_tokens, req.temperature, req.top_p, stops, req.seed, cancel
                )
            n_prompt += len(ids)
            n_completion += len(gen.ids)
            prompt_text = text if text is not None else lm.decode(ids)
            logprobs = None
            if req.logprobs is not None:
                full = ids + gen.ids
                if scores is None or scores.ids != full:
                    scores = lm.score(full, top_k=k)
                first = 0 if req.echo else len(ids)
                prefix = 0 if req.echo else len(prompt_text)
                logprobs = _logprobs_block(lm, full, scores, first, k, prefix)
            choices.append(
                {
                    "index": index,
                    "text": (prompt_text if req.echo else "") + gen.text,
                    "logprobs": logprobs,
                    "finish_reason": gen.finish_reason,
                }
            )
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": n_prompt,
                "completion_tokens": n_completion,
                "total_tokens": n_prompt + n_completion,
            },
        }

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest, request: Request) -> dict[str, Any]:
        return await run_until_disconnect(request, lambda cancel: chat_complete(req, cancel))

    def chat_complete(req: ChatRequest, cancel: threading.Event) -> dict[str, Any]:
        check_request(req.model, req.stream)
        ids = chat_prompt_ids(lm, req.messages)
        limit = req.max_completion_tokens or req.max_tokens
        max_new = limit if limit is not None else max(1, min(512, lm.max_positions - len(ids)))
        lm.check_ids(ids, max_new)
        stops = _stops(req.stop)
        gen = lm.generate(ids, max_new, req.temperature, req.top_p, stops, req.seed, cancel)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": gen.text},
                    "finish_reason": gen.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": len(gen.ids),
                "total_tokens": len(ids) + len(gen.ids),
            },
        }

    return app


def chat_prompt_ids(lm: LocalLM, messages: list[ChatMessage]) -> list[int]:
    """Token ids of a chat: the model's chat template, else the Alpaca template."""
    turns = [{"role": m.role, "content": m.content} for m in messages]
    if getattr(lm.tokenizer, "chat_template", None):
        text = lm.tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
        return lm.encode(text, add_special_tokens=False)
    from bioinstruct_data.prompting import render_prompt

    if any(t["role"] == "assistant" for t in turns):
        raise APIError(
            400,
            "this model has no chat template, so only system and user messages can be sent "
            "(they are joined into one Alpaca-style instruction)",
            "invalid_request_error",
            "messages",
        )
    instruction = "\n\n".join(t["content"] for t in turns)
    return lm.encode(render_prompt(instruction), add_special_tokens=True)
