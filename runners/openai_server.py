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

Every request is checked before the model sees it, and a bad one gets HTTP 400 (413 for a body
over :data:`MAX_BODY_BYTES`) with ``type: invalid_request_error`` and ``param`` naming the field
(``prompt[1]``, ``messages[0].content``, ``seed``; ``null`` when the body itself is not JSON):

* the body: at most :data:`MAX_BODY_BYTES`, UTF-8, one JSON object, nested at most
  :data:`MAX_JSON_DEPTH` deep;
* every string anywhere in it (prompts, message contents, stop strings, the model name, unknown
  extra fields too): encodable as UTF-8 (no lone surrogates such as a JSON ``"\\ud800"``), no
  NUL; every integer within 64 bits (signed), every number finite (no ``NaN``, ``Infinity``,
  ``1e999``);
* fields of the wrong type (``"max_tokens": "16"``, ``"echo": 1``) are refused, not coerced;
* ranges: ``max_tokens`` >= 0 (chat: >= 1), ``temperature`` 0..2 (below
  :data:`MIN_TEMPERATURE` decodes greedily), ``top_p`` in (0, 1], ``n`` and ``best_of`` 1,
  ``seed`` a signed 64-bit integer, ``logprobs`` 0..20 (chat ``top_logprobs`` too),
  ``presence_penalty`` / ``frequency_penalty`` -2..2 (accepted, not applied), ``stop`` at most
  :data:`MAX_STOP` strings of at most :data:`MAX_STOP_CHARS` characters;
* no request monopolises the model (:class:`Limits`, ``biobench serve`` flags): at most
  ``--max-prompts-per-request`` prompts (default 64), and at most ``--max-request-tokens`` tokens
  (default 65,536) counted as prompt tokens + ``max_tokens`` x prompts; token ids inside the
  vocabulary, and each prompt + ``max_tokens`` within the model's context.

The two completion endpoints run the model in a worker thread while watching the connection: a
client that disconnects (say, after its own timeout) cancels its generation (see
:mod:`runners.serve_backend`), so an abandoned request does not keep the model busy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from runners.serve_backend import (
    DEFAULT_MAX_PROMPTS,
    DEFAULT_MAX_REQUEST_TOKENS,
    INT64_MAX,
    INT64_MIN,
    MIN_TEMPERATURE,
    GenerationCancelled,
    LocalLM,
    RequestError,
)

log = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20
DISCONNECT_POLL_S = 0.1  # how often a running request checks that its client is still there
MAX_BODY_BYTES = 32 * 2**20  # a request body larger than this gets 413 before it is parsed
MAX_JSON_DEPTH = 16  # messages[i].content is 3 deep; token-id lists 2
MAX_STOP = 16
MAX_STOP_CHARS = 1000


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the model (``biobench serve`` flags of the same names)."""

    max_prompts_per_request: int = DEFAULT_MAX_PROMPTS
    max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS  # prompt tokens + max_tokens x prompts
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name in ("max_prompts_per_request", "max_request_tokens", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


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


Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
TopP = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
StopText = Annotated[str, Field(max_length=MAX_STOP_CHARS)]
Stop = StopText | Annotated[list[StopText], Field(max_length=MAX_STOP)] | None
# types are strict: JSON 16 is no bool, "16" no number (a wrong type is refused, not coerced)
_STRICT = ConfigDict(extra="allow", strict=True)


class CompletionRequest(BaseModel):
    model_config = _STRICT

    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int = Field(16, ge=0, le=INT64_MAX)
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    n: int = Field(1, ge=1, le=1)
    best_of: int = Field(1, ge=1, le=1)
    stop: Stop = None
    seed: Seed | None = None
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    presence_penalty: Penalty = 0.0
    frequency_penalty: Penalty = 0.0
    add_special_tokens: bool = True
    stream: bool = False


class ChatMessage(BaseModel):
    model_config = _STRICT

    role: Literal["system", "user", "assistant", "developer"]
    content: str


class ChatRequest(BaseModel):
    model_config = _STRICT

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=INT64_MAX)
    max_completion_tokens: int | None = Field(None, ge=1, le=INT64_MAX)
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    n: int = Field(1, ge=1, le=1)
    stop: Stop = None
    seed: Seed | None = None
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    presence_penalty: Penalty = 0.0
    frequency_penalty: Penalty = 0.0
    stream: bool = False


_FIELDS = set(CompletionRequest.model_fields) | set(ChatRequest.model_fields)
_FIELDS |= set(ChatMessage.model_fields)
_UNION_HINTS = {
    "prompt": "must be a string, a list of strings, a list of token ids or a list of token-id "
    "lists",
    "stop": f"must be a string or a list of at most {MAX_STOP} strings, each at most "
    f"{MAX_STOP_CHARS} characters",
}


class APIError(Exception):
    def __init__(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def _bad(message: str, param: str | None, status: int = 400) -> APIError:
    return APIError(status, message, "invalid_request_error", param)


def _printable(text: str) -> str:
    """``text`` safe to put in a JSON response (lone surrogates written as ``\\udXXX``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(
    status: int, message: str, kind: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    param = _printable(param) if param is not None else None
    body = {"error": {"message": _printable(message), "type": kind, "param": param, "code": code}}
    return JSONResponse(status_code=status, content=body)


# --- reading and checking a request body ---------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once it grows past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _bad(
            f"request body of {declared} bytes is over the limit of {limit} bytes", None, 413
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _bad(f"request body is over the limit of {limit} bytes", None, 413)
    return bytes(body)


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object whose every value passes :func:`check_values`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"request body is not UTF-8 (invalid byte at offset {exc.start})", None) from exc
    try:
        data = json.loads(text)  # NaN / Infinity / 1e999 parse, and check_values names them
    except RecursionError as exc:
        raise _bad("request body is nested too deeply", None) from exc
    except ValueError as exc:  # JSONDecodeError; an integer of over 4300 digits
        raise _bad(f"request body is not valid JSON: {exc}", None) from exc
    if not isinstance(data, dict):
        raise _bad(f"request body must be a JSON object, got {type(data).__name__}", None)
    check_values(data)
    return data


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _check_text(text: str, where: str) -> None:
    nul = text.find("\x00")
    if nul >= 0:
        raise _bad(f"{where}: contains a NUL character at position {nul}; send plain text", where)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise _bad(
            f"{where}: contains a lone surrogate (U+{ord(char):04X}) at position {exc.start}, "
            "which is not text; send valid UTF-8 (a \\ud800-\\udbff escape must be followed by "
            "a \\udc00-\\udfff one)",
            where,
        ) from None


def check_values(data: dict[str, Any]) -> None:
    """Every value of the parsed body, whatever its field: strings encodable as UTF-8 without
    NUL, integers within 64 bits, numbers finite, nesting at most :data:`MAX_JSON_DEPTH`."""
    stack: list[tuple[object, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _bad(f"{where}: nested more than {MAX_JSON_DEPTH} levels deep", where)
        if isinstance(value, dict):
            for key, item in value.items():
                path = _join(where, key)
                _check_text(key, path)
                stack.append((item, path, depth + 1))
        elif isinstance(value, list):
            stack += [(item, _join(where, i), depth + 1) for i, item in enumerate(value)]
        elif isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                digits = len(str(abs(value)))
                raise _bad(
                    f"{where}: an integer of {digits} digits is outside the 64-bit range "
                    f"({INT64_MIN}..{INT64_MAX})",
                    where,
                )
        elif isinstance(value, float) and not math.isfinite(value):
            raise _bad(f"{where}: {value} is not a finite number", where)


def _param(loc: tuple) -> str:
    """``prompt[1]`` / ``messages[0].content`` from a pydantic error location (union member
    tags such as ``list[int]`` left out)."""
    out = ""
    for part in loc:
        if isinstance(part, int) or part in _FIELDS:
            out = _join(out, part)
    return out


M = TypeVar("M", bound=BaseModel)


def validate_request(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``; a wrong type or a value out of range is 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        param = _param(errors[0]["loc"])
        top = _top(param)
        if top in _UNION_HINTS and sum(_top(_param(e["loc"])) == top for e in errors) > 1:
            param, message = top, f"{top}: {_UNION_HINTS[top]}"  # every member of a union failed
        else:
            message = f"{param or 'body'}: {errors[0]['msg']}"
        more = len({_top(_param(e["loc"])) for e in errors} - {top})
        if more:
            message += f" (and {more} more field{'s' if more > 1 else ''})"
        raise _bad(f"invalid request: {message}", param or None) from None


def _top(param: str) -> str:
    return param.split("[")[0].split(".")[0]


async def read_request(request: Request, model: type[M], limits: Limits) -> M:
    return validate_request(model, parse_body(await read_body(request, limits.max_body_bytes)))


def _greedy_below_minimum(temperature: float) -> float:
    return temperature if temperature >= MIN_TEMPERATURE else 0.0


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def _prompts(
    lm: LocalLM, req: CompletionRequest, limits: Limits
) -> list[tuple[list[int], str | None]]:
    """(token ids, original text or None) per prompt of the request (counted before any is
    tokenised: at most ``limits.max_prompts_per_request``)."""
    p = req.prompt
    if isinstance(p, str):
        return [(lm.encode(p, req.add_special_tokens), p)]
    if not p:
        raise APIError(400, "prompt is an empty list", "invalid_request_error", "prompt")
    if all(isinstance(x, int) for x in p):
        return [(list(p), None)]
    if len(p) > limits.max_prompts_per_request:
        raise _bad(
            f"prompt: {len(p)} prompts in one request; this server takes at most "
            f"{limits.max_prompts_per_request} per request (biobench serve "
            "--max-prompts-per-request); send them in several requests",
            "prompt",
        )
    if all(isinstance(x, str) for x in p):
        return [(lm.encode(x, req.add_special_tokens), x) for x in p]
    return [(list(x), None) for x in p]


def _check_budget(
    n_prompt_tokens: int,
    max_tokens: int,
    n: int,
    limits: Limits,
    prompt_field: str,
    max_field: str = "max_tokens",
) -> None:
    """Prompt tokens + max_tokens x prompts within ``limits.max_request_tokens``."""
    total = n_prompt_tokens + max_tokens * n
    if total <= limits.max_request_tokens:
        return
    param = prompt_field if n_prompt_tokens > limits.max_request_tokens else max_field
    raise _bad(
        f"{param}: this request needs {total} tokens ({n_prompt_tokens} prompt tokens + "
        f"{max_field} {max_tokens} x {n} prompt{'s' if n > 1 else ''}), over this server's limit "
        f"of {limits.max_request_tokens} tokens per request (biobench serve "
        "--max-request-tokens); send fewer or shorter prompts, or lower max_tokens",
        param,
    )


def _check_ids(lm: LocalLM, ids: list[int], max_new_tokens: int, field: str) -> None:
    try:
        lm.check_ids(ids, max_new_tokens)
    except RequestError as exc:
        raise _bad(str(exc), exc.param or field) from exc


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


def create_app(lm: LocalLM, served_name: str, limits: Limits | None = None) -> FastAPI:
    """The ASGI app serving ``lm`` under the model name ``served_name``, every request held to
    ``limits`` (default :class:`Limits`)."""
    limits = limits or Limits()
    app = FastAPI(title="biobench serve", version="1")
    created = int(time.time())

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind, exc.param)

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return _error(400, str(exc), "invalid_request_error", exc.param)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), "invalid_request_error")

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error while serving a request")
        return _error(500, f"internal error: {type(exc).__name__}", "server_error")

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
    async def completions(request: Request) -> dict[str, Any]:
        req = await read_request(request, CompletionRequest, limits)
        return await run_until_disconnect(request, lambda cancel: complete(req, cancel))

    def complete(req: CompletionRequest, cancel: threading.Event) -> dict[str, Any]:
        check_request(req.model, req.stream)
        stops = _stops(req.stop)
        temperature = _greedy_below_minimum(req.temperature)
        prompts = _prompts(lm, req, limits)
        _check_budget(sum(len(ids) for ids, _ in prompts), req.max_tokens, len(prompts), limits,
                      "prompt")  # fmt: skip
        for ids, _ in prompts:  # every prompt is checked before any runs
            _check_ids(lm, ids, req.max_tokens, "prompt")
        choices, n_prompt, n_completion = [], 0, 0
        k = max(1, req.logprobs or 0)
        for index, (ids, text) in enumerate(prompts):
            scores = None
            if req.logprobs is not None and temperature == 0 and req.max_tokens <= 1:
                # lm-eval's log-likelihood call (echo, max_tokens 1): one forward pass suffices
                scores = lm.score(ids, top_k=k)
                gen = lm.greedy_step(scores, req.max_tokens, stops)
                scores = lm.extend(scores, gen.ids[0]) if gen.ids else scores
            else:
                gen = lm.generate(
                    ids, req.max_tokens, temperature, req.top_p, stops, req.seed, cancel
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
    async def chat(request: Request) -> dict[str, Any]:
        req = await read_request(request, ChatRequest, limits)
        return await run_until_disconnect(request, lambda cancel: chat_complete(req, cancel))

    def chat_complete(req: ChatRequest, cancel: threading.Event) -> dict[str, Any]:
        check_request(req.model, req.stream)
        ids = chat_prompt_ids(lm, req.messages)
        limit = req.max_completion_tokens or req.max_tokens
        if limit is None:  # the default fits the context and the request budget
            room = min(lm.max_positions, limits.max_request_tokens) - len(ids)
            max_new = max(1, min(512, room))
        else:
            max_new = limit
        field = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
        _check_budget(len(ids), max_new, 1, limits, "messages", field)
        _check_ids(lm, ids, max_new, "messages")
        stops = _stops(req.stop)
        temperature = _greedy_below_minimum(req.temperature)
        gen = lm.generate(ids, max_new, temperature, req.top_p, stops, req.seed, cancel)
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
    from tasks.common.prompting import render_prompt

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
