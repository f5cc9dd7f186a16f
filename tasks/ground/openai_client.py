"""The project's one wrapper around ``openai.AsyncOpenAI``: retries with backoff, timeouts, usage
and a cost budget. Both callers of an OpenAI-compatible endpoint use it: the instruction recipe
(``bioinstruct_data.generate`` / ``classify`` / ``batch``) and the LLM judge
(``runners.judging.client``); it lives on the ground floor (:mod:`tasks.ground`) so both may.

* Retries: the ``openai`` client's own are switched off (``max_retries=0``) so that every attempt
  is visible here. 408, 409, 429 and 5xx, timeouts, connection errors and malformed bodies are
  retried up to ``max_retries`` further attempts with exponential backoff
  (``backoff_base_s * 2**attempt``, capped at ``backoff_max_s``, jittered by the caller's seeded
  ``random.Random``); a server's ``Retry-After`` wins, capped. Any other 4xx is final; the
  caller decides whether it is fatal for the run (the judge stops on 401/403/404).
* Budget: before a request is sent, its worst-case cost (every byte of the messages a token,
  plus a per-message overhead, and ``max_tokens`` of output) is reserved; a request that does
  not fit is not sent. Actual cost comes from the response's ``usage`` and the price table
  (:mod:`tasks.ground.prices`), so the budget is never exceeded as long as the tokenizer
  spends at least one byte per token (true of byte-level BPE tokenizers).

Settings are read from any config with the fields of :class:`Transport` (``InstructConfig`` and
``JudgeConfig`` both have them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import openai

from tasks.ground.errors import ConfigError

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
LOCAL_KEY = "local-no-key"  # what a local server (``biobench serve``) is sent instead of a key
REQUEST_HEADER = "X-Biobench-Request"
MESSAGE_OVERHEAD_TOKENS = 16  # chat-format tokens per message in the worst-case bound


class Transport(Protocol):
    """The settings this module reads from a caller's config."""

    base_url: str
    api_key_env: str
    max_retries: int
    timeout_s: float
    backoff_base_s: float
    backoff_max_s: float


class MalformedResponse(ValueError):
    """A 200 response without a usable chat completion."""


class RequestFailed(RuntimeError):
    """A request that failed for good (retries exhausted or a non-retryable error).

    ``reason`` is the message without the request's label; the original exception is the
    ``__cause__``, its HTTP status (if any) ``status_code``.
    """

    def __init__(
        self,
        label: str,
        reason: str,
        *,
        attempts: int,
        possibly_billed: int = 0,
        status_code: int | None = None,
    ) -> None:
        super().__init__(f"{label}: {reason}" if label else reason)
        self.label, self.reason, self.attempts = label, reason, attempts
        self.possibly_billed = possibly_billed  # attempts that timed out (may have been billed)
        self.status_code = status_code


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str
    response_id: str
    prompt_tokens: int | None  # None: the response reported no usage
    completion_tokens: int | None
    attempts: int
    possibly_billed: int  # earlier attempts of this request that timed out


@dataclass
class Counters:
    """Attempts sent, retries and failures by kind ("429", "timeout", ...) of one client."""

    requests: int = 0
    retries: int = 0
    by_error: dict[str, int] = field(default_factory=dict)

    def failed(self, kind: str) -> None:
        self.by_error[kind] = self.by_error.get(kind, 0) + 1


def resolve_api_key(api_key_env: str, base_url: str) -> str:
    """The key in ``$api_key_env``; a placeholder for a local server; else ConfigError."""
    key = os.environ.get(api_key_env, "").strip()
    if key:
        return key
    if (urlparse(base_url).hostname or "") in LOCAL_HOSTS:
        return LOCAL_KEY
    raise ConfigError(
        f"no API key: set the environment variable {api_key_env} "
        f"(or --api-key-env NAME) to the API key of {base_url}"
    )


def make_client(
    settings: Transport, base_url: str | None = None, api_key: str | None = None
) -> openai.AsyncOpenAI:
    url = base_url or settings.base_url
    key = api_key or resolve_api_key(settings.api_key_env, url)
    return openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=settings.timeout_s)


def prompt_token_bound(messages: list[dict[str, str]]) -> int:
    """Upper bound on the prompt tokens: every BPE token covers >= 1 byte, plus chat framing."""
    per_message = (len(m["content"].encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS for m in messages)
    return sum(per_message) + MESSAGE_OVERHEAD_TOKENS


def retry_kind(exc: BaseException) -> str | None:
    """A short name of the transient failure, or None when retrying cannot help."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return str(status) if status in RETRY_STATUS or status >= 500 else None
    if isinstance(exc, ValueError | openai.APIResponseValidationError):
        return "malformed"  # MalformedResponse, a body that is not JSON, one of another schema
    return None


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def backoff_delay(settings: Transport, attempt: int, rng: random.Random, hint: float | None):
    """Exponential backoff with jitter; a server's Retry-After wins (capped)."""
    if hint is not None:
        return min(max(hint, 0.0), settings.backoff_max_s)
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2**attempt)
    return ceiling * (0.5 + 0.5 * rng.random())


def describe(exc: BaseException | None) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}: {text[:300]}"


def _params(**maybe: Any) -> dict[str, Any]:
    return {k: v for k, v in maybe.items() if v is not None}


async def chat(
    client: openai.AsyncOpenAI,
    settings: Transport,
    messages: list[dict[str, str]],
    *,
    model: str,
    max_tokens: int,
    rng: random.Random,
    label: str,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    counters: Counters | None = None,
) -> ChatResult:
    """One chat completion with retries; raises RequestFailed when it cannot be had.

    Sampling parameters left None are not sent. ``label`` names the request in logs, errors and
    the ``X-Biobench-Request`` header.
    """
    counters = counters if counters is not None else Counters()
    sampling = _params(temperature=temperature, top_p=top_p, seed=seed)
    timeouts = 0
    for attempt in range(settings.max_retries + 1):
        counters.requests += 1
        try:
            response = await client.chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                timeout=settings.timeout_s,
                extra_headers={REQUEST_HEADER: label},
                **sampling,
            )
            return _result(response, attempt + 1, timeouts)
        except Exception as exc:  # noqa: BLE001 - classified just below
            kind = retry_kind(exc)
            counters.failed(kind or type(exc).__name__)
            timeouts += kind == "timeout"
            if kind is None or attempt == settings.max_retries:
                raise _failure(label, exc, attempt + 1, timeouts, final=kind is None) from exc
            delay = backoff_delay(settings, attempt, rng, retry_after(exc))
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.1fs",
                label,
                attempt + 1,
                describe(exc)[:200],
                delay,
            )
            counters.retries += 1
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _failure(label: str, exc: Exception, attempts: int, timeouts: int, final: bool):
    reason = describe(exc) if final else f"gave up after {attempts} attempts: {describe(exc)}"
    status = getattr(exc, "status_code", None)
    return RequestFailed(
        label, reason, attempts=attempts, possibly_billed=timeouts, status_code=status
    )


def _result(response: Any, attempts: int, timeouts: int) -> ChatResult:
    try:
        choice = response.choices[0]
        text = choice.message.content
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        raise MalformedResponse(f"no choices[0].message.content in {response!r:.200}") from exc
    if text is None:  # e.g. a refusal: an empty answer, not a transport failure
        text = ""
    if not isinstance(text, str):
        raise MalformedResponse(f"message content is {type(text).__name__}, not text")
    usage = getattr(response, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None) if usage is not None else None
    completion = getattr(usage, "completion_tokens", None) if usage is not None else None
    return ChatResult(
        text=text,
        finish_reason=str(getattr(choice, "finish_reason", "") or ""),
        response_id=str(getattr(response, "id", "") or ""),
        prompt_tokens=int(prompt) if prompt is not None else None,
        completion_tokens=int(completion) if completion is not None else None,
        attempts=attempts,
        possibly_billed=timeouts,
    )


class Budget:
    """Money spent + reserved for requests in flight, against ``limit`` USD (None = no limit).

    ``try_reserve`` answers at once (the recipe stops at the first request that does not fit);
    ``reserve`` lets a request that does not fit while others are in flight wait for them to
    settle (their actual cost is usually far below their bound), and stops everything when it
    cannot fit even then (the judge).
    """

    def __init__(self, limit: float | None, spent: float = 0.0) -> None:
        self.limit = limit
        self.spent = spent
        self.reserved = 0.0
        self.in_flight = 0
        self.stopped = False
        self._waiters: list[asyncio.Future] = []

    def fits(self, bound: float) -> bool:
        return self.limit is None or self.spent + self.reserved + bound <= self.limit

    def try_reserve(self, bound: float) -> bool:
        if not self.fits(bound):
            return False
        self.reserved += bound
        self.in_flight += 1
        return True

    async def reserve(self, bound: float) -> bool:
        while not self.stopped:
            if self.try_reserve(bound):
                return True
            if self.in_flight == 0 or self.spent + bound > self.limit:  # type: ignore[operator]
                self.stopped = True
                self._wake()
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return False

    def settle(self, bound: float, actual: float) -> None:
        self.reserved -= bound
        self.spent += actual
        self.in_flight -= 1
        self._wake()

    def release(self, bound: float) -> None:
        self.settle(bound, 0.0)

    def charge(self, amount: float) -> None:
        """Money spent outside a reservation (attempts that timed out and may have been billed)."""
        self.spent += amount

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def describe(self) -> str:
        if self.limit is None:
            return f"spent ${self.spent:.4f} (no --max-cost)"
        return f"spent ${self.spent:.4f} of --max-cost ${self.limit:.4f}"
