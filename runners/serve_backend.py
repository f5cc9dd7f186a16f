"""The local model behind ``biobench serve``: scoring (log-probabilities) and generation.

One causal LM from a local folder or a hub id, loaded with ``transformers`` without remote code.
Model calls are serialised by a lock (one CPU/GPU model; FastAPI runs requests in a thread
pool). Generation requests that wait for the model meanwhile are batched: the thread that gets
the model next takes every waiting request with the same decoding parameters (up to
``max_batch``, and while rows x (longest prompt + max_tokens) stays within ``max_batch_tokens``, so
that long prompts are not batched into minutes-long calls), left-pads them into one ``generate``
call and hands each its own result. Requests that arrive together (a client's burst of
concurrent calls) reach the model a few milliseconds apart: a free model waits up to
``batch_window`` seconds (default 20 ms) after the oldest waiting request arrived, or until
``max_batch`` like it wait, before it starts, so that the burst shares one batch instead of
running as 1 + 7. A lone request runs exactly as before (after the window); batching only changes throughput (several times more tokens per
second on a CPU, where decoding one sequence leaves the cores idle) and, in float arithmetic, may
change a near-tie in the last digits. Sampling (temperature > 0) seeds torch's generator with the
request's ``seed`` (``transformers`` ``generate`` draws from the global generator); a sampled
batch is seeded with its first request's seed, so a seed reproduces a completion exactly when
requests are sent one at a time (OpenAI documents ``seed`` as best-effort too).

A caller may pass a ``cancel`` event (the server sets it when the client disconnects, e.g. after a
client-side timeout): a cancelled request still waiting is dropped, and a cancelled row of a
running batch stops at the next decoding step, so nobody's abandoned request holds the model for
minutes; ``generate`` then raises :class:`GenerationCancelled`.

Bad inputs raise :class:`RequestError` (HTTP 400 in the server) naming the parameter, before the
model runs: token ids outside the vocabulary, a prompt + ``max_new_tokens`` beyond the context,
a ``seed`` outside the signed 64-bit range, a non-finite or negative ``temperature``, a ``top_p``
outside (0, 1]. A temperature below :data:`MIN_TEMPERATURE` decodes greedily (dividing the logits
by, say, 1e-300 would overflow them to inf and make sampling fail).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MIN_TEMPERATURE = 1e-3  # lower temperatures decode greedily
# defaults of the server's per-request limits (``biobench serve`` flags, runners/openai_server.py)
DEFAULT_MAX_PROMPTS = 64
DEFAULT_MAX_REQUEST_TOKENS = 65_536


class GenerationCancelled(Exception):
    """The caller gave up (its ``cancel`` event was set) before the generation finished."""


class RequestError(ValueError):
    """A request the model cannot serve (too long, bad token ids, ...); becomes HTTP 400.

    ``param`` names the offending parameter where there is one (``seed``, ``temperature``)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class TokenScores:
    """Per-position log-probabilities of a token sequence (position 0 has none)."""

    ids: list[int]
    logprobs: list[float | None]
    top: list[dict[int, float] | None]
    next_top: dict[int, float]  # the best tokens after the last one (greedy continuation)


@dataclass(frozen=True)
class Generation:
    ids: list[int]  # generated ids: up to the stop string, or up to and including end-of-text
    text: str
    finish_reason: str  # "stop" or "length"


@dataclass
class _Job:
    """One generate() call waiting for the model."""

    ids: list[int]
    key: tuple  # requests with equal keys can share one batched generate call
    seed: int | None
    cancel: threading.Event | None = None
    arrived: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    result: Generation | None = None
    error: BaseException | None = None


def check_sampling(temperature: float, top_p: float, seed: int | None) -> None:
    """Decoding parameters ``generate`` can use; :class:`RequestError` naming the one that is not."""
    if not (isinstance(temperature, int | float) and math.isfinite(temperature)) or temperature < 0:
        raise RequestError(f"temperature must be a finite number >= 0, got {temperature!r}",
                           "temperature")  # fmt: skip
    if not (isinstance(top_p, int | float) and math.isfinite(top_p)) or not 0 < top_p <= 1:
        raise RequestError(f"top_p must be in (0, 1], got {top_p!r}", "top_p")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not INT64_MIN <= seed <= INT64_MAX
    ):
        raise RequestError(
            f"seed must be an integer in {INT64_MIN}..{INT64_MAX} (64 bits), got {seed!r}", "seed"
        )


DEFAULT_BATCH_WINDOW = 0.02  # seconds a free model waits for requests arriving together


class LocalLM:
    """A causal language model with the two operations the OpenAI endpoints need."""

    def __init__(
        self,
        model: str,
        dtype: str = "float32",
        device: str = "cpu",
        max_batch: int = 8,
        max_batch_tokens: int = 16384,
        batch_window: float = DEFAULT_BATCH_WINDOW,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not hasattr(torch, dtype):
            raise ValueError(f"unknown torch dtype {dtype!r}; use float32, bfloat16 or float16")
        self.path = model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=False)
            self.model = AutoModelForCausalLM.from_pretrained(
                model, dtype=getattr(torch, dtype), trust_remote_code=False
            )
        except OSError as exc:
            hint = (
                "a local folder with config.json, weights and tokenizer files"
                if Path(model).exists()
                else "a local model folder, or a hub id while the hub is reachable (HF_HUB_OFFLINE)"
            )
            raise ValueError(f"cannot load model {model!r}: {exc}\nPass {hint}.") from exc
        self.model.to(device).eval()
        self.device = device
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 2048)
        self._lock = threading.Lock()
        self._torch = torch
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if batch_window < 0:
            raise ValueError(f"batch_window must be >= 0 seconds, got {batch_window}")
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.batch_window = batch_window
        self._waiting: list[_Job] = []  # guarded by _waiting_lock
        self._waiting_lock = threading.Lock()
        self._arrival = threading.Condition(self._waiting_lock)  # notified on every new job
        self.batch_sizes: list[int] = []  # size of every generate batch run (for tests and logs)
        # (new tokens generated, max_new_tokens) of every request cancelled by its caller;
        # 0 generated = dropped while waiting
        self.cancelled: list[tuple[int, int]] = []

    # --- tokens -------------------------------------------------------------------------

    @property
    def eos_token_id(self) -> int | None:
        return self.tokenizer.eos_token_id

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special_tokens).input_ids)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def token_strings(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.decode([i], skip_special_tokens=False) for i in ids]

    def check_ids(self, ids: list[int], max_new_tokens: int) -> None:
        vocab = len(self.tokenizer)
        size = max(vocab, int(getattr(self.model.config, "vocab_size", vocab)))
        bad = [i for i in ids if not 0 <= i < size]
        if bad:
            raise RequestError(f"token ids outside the vocabulary (0..{size - 1}): {bad[:5]}")
        if not ids:
            raise RequestError("empty prompt: send at least one token")
        if len(ids) + max_new_tokens > self.max_positions:
            raise RequestError(
                f"prompt of {len(ids)} tokens + max_tokens {max_new_tokens} exceeds the model's "
                f"context of {self.max_positions} tokens; shorten the prompt or lower max_tokens"
            )

    # --- scoring ------------------------------------------------------------------------

    def score(self, ids: list[int], top_k: int = 1) -> TokenScores:
        """log P(token_i | tokens_<i) for i >= 1, and the ``top_k`` best tokens at each position."""
        torch = self._torch
        with self._lock, torch.inference_mode():
            x = torch.tensor([ids], device=self.device)
            logp = torch.log_softmax(self.model(input_ids=x).logits[0].float(), dim=-1)
            target = torch.tensor(ids[1:], device=self.device)
            chosen = logp[:-1].gather(1, target[:, None])[:, 0].tolist()
            values, indices = logp.topk(max(1, top_k), dim=-1)
        top = [
            {int(i): float(v) for i, v in zip(row_i, row_v, strict=True)}
            for row_i, row_v in zip(indices.tolist(), values.tolist(), strict=True)
        ]
        return TokenScores(
            ids=list(ids), logprobs=[None, *chosen], top=[None, *top[:-1]], next_top=top[-1]
        )

    def extend(self, scores: TokenScores, token: int) -> TokenScores:
        """``scores`` with the greedy next token appended (no further model call)."""
        if token not in scores.next_top:
            raise ValueError("extend() takes a token of scores.next_top")
        return TokenScores(
            ids=[*scores.ids, token],
            logprobs=[*scores.logprobs, scores.next_top[token]],
            top=[*scores.top, scores.next_top],
            next_top={},
        )

    # --- generation ---------------------------------------------------------------------

    def generate(
        self,
        ids: list[int],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Greedy (temperature 0) or sampled continuation, cut at the first stop string.

        Batched with the other calls waiting for the model (see the module docstring). Setting
        ``cancel`` ends the call early with :class:`GenerationCancelled`.
        """
        check_sampling(temperature, top_p, seed)
        stop = [s for s in (stop or []) if s]
        if max_new_tokens <= 0:
            return Generation([], "", "length")
        sample = temperature >= MIN_TEMPERATURE
        key = (
            max_new_tokens,
            sample,
            temperature if sample else None,
            top_p if sample else None,
            tuple(stop),
        )
        job = _Job(list(ids), key, seed, cancel)
        with self._waiting_lock:
            self._waiting.append(job)
            self._arrival.notify_all()
        while not job.done.is_set():
            with self._lock:
                if job.done.is_set():
                    break
                with self._waiting_lock:
                    self._wait_for_company()
                    self._drop_cancelled()
                    if job.done.is_set():
                        break
                    # the oldest waiting request decides the batch: FIFO across parameter sets
                    first = self._waiting[0]
                    batch = self._take_batch(first)
                    for j in batch:
                        self._waiting.remove(j)
                try:
                    results = self._generate_batch(batch)
                except BaseException as exc:  # every waiting caller gets the error
                    for j in batch:
                        j.error = exc
                        j.done.set()
                else:
                    for j, r in zip(batch, results, strict=True):
                        if isinstance(r, GenerationCancelled):
                            j.error = r
                        else:
                            j.result = r
                        j.done.set()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _wait_for_company(self) -> None:
        """Hold the free model up to ``batch_window`` seconds after the oldest waiting request
        arrived, or until ``max_batch`` requests like it wait, so that requests arriving
        together share one batch (caller holds ``_waiting_lock``; waiting releases it)."""
        while self.batch_window > 0 and self._waiting:
            first = self._waiting[0]
            alike = sum(1 for j in self._waiting if j.key == first.key)
            left = first.arrived + self.batch_window - time.monotonic()
            if alike >= self.max_batch or left <= 0:
                return
            self._arrival.wait(left)

    def _drop_cancelled(self) -> None:
        """Finish the waiting jobs whose callers gave up (caller holds ``_waiting_lock``)."""
        for j in [j for j in self._waiting if j.cancel is not None and j.cancel.is_set()]:
            self._waiting.remove(j)
            self.cancelled.append((0, j.key[0]))
            log.warning("dropped a waiting generation request: its client went away")
            j.error = GenerationCancelled("cancelled before generation started")
            j.done.set()

    def _take_batch(self, first: _Job) -> list[_Job]:
        """Waiting jobs sharing ``first``'s parameters, oldest first, within both limits."""
        max_new_tokens = first.key[0]
        batch: list[_Job] = []
        width = 0
        for job in self._waiting:
            if job.key != first.key:
                continue
            wider = max(width, len(job.ids))
            if batch and (
                len(batch) >= self.max_batch
                or (len(batch) + 1) * (wider + max_new_tokens) > self.max_batch_tokens
            ):
                break
            batch.append(job)
            width = wider
        return batch

    def _generate_batch(self, batch: list[_Job]) -> list[Generation | GenerationCancelled]:
        """One left-padded ``generate`` call for requests sharing decoding parameters; a row
        whose caller cancels stops at the next step and gets :class:`GenerationCancelled`."""
        torch = self._torch
        from transformers import GenerationConfig

        max_new_tokens, sample, temperature, top_p, stop_t = batch[0].key
        stop = list(stop_t)
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (self.eos_token_id or 0)
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sample,
            temperature=temperature,
            top_p=top_p,
            top_k=None,
            eos_token_id=self.eos_token_id,
            pad_token_id=pad,
        )
        width = max(len(j.ids) for j in batch)
        rows = [[pad] * (width - len(j.ids)) + j.ids for j in batch]
        mask = [[0] * (width - len(j.ids)) + [1] * len(j.ids) for j in batch]
        cancels = [j.cancel for j in batch]
        criteria, stopped_at, cancelled = self._stop_criteria(width, stop, cancels)
        with torch.inference_mode():
            if sample and batch[0].seed is not None:
                torch.manual_seed(int(batch[0].seed))
            out = self.model.generate(
                input_ids=torch.tensor(rows, device=self.device),
                attention_mask=torch.tensor(mask, device=self.device),
                generation_config=config,
                stopping_criteria=criteria,
            )
        self.batch_sizes.append(len(batch))
        results: list[Generation | GenerationCancelled] = []
        for i in range(len(batch)):
            if cancelled[i]:
                self.cancelled.append((stopped_at[i] or 0, max_new_tokens))
                log.warning(
                    "stopped a generation after %d of %d new tokens: its client went away",
                    stopped_at[i] or 0,
                    max_new_tokens,
                )
                results.append(GenerationCancelled(f"cancelled after {stopped_at[i]} tokens"))
                continue
            new = out[i, width:].tolist()
            if stopped_at[i] is not None:  # a stop string ended this row; later ids are padding
                new = new[: stopped_at[i]]
            results.append(self._finish(new, max_new_tokens, stop))
        return results

    def _stop_criteria(
        self, prompt_len: int, stop: list[str], cancels: list[threading.Event | None]
    ):
        """Per row: stop once its *generated* text (not prompt + text) holds a stop string, or
        once its caller has cancelled.

        Returns the criteria, a list that records per row how many tokens it had generated when
        it stopped (None while it runs or when it ended otherwise), and per row whether it was
        cancelled.
        """
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch = self._torch
        decode = self.decode
        rows = len(cancels)
        stopped_at: list[int | None] = [None] * rows
        cancelled = [False] * rows

        class _RowStop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                done = []
                for i in range(input_ids.shape[0]):
                    if stopped_at[i] is None:
                        generated = input_ids.shape[1] - prompt_len
                        if cancels[i] is not None and cancels[i].is_set():
                            cancelled[i] = True
                            stopped_at[i] = generated
                        elif stop:
                            text = decode(input_ids[i, prompt_len:].tolist())
                            if any(s in text for s in stop):
                                stopped_at[i] = generated
                    done.append(stopped_at[i] is not None)
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        needed = bool(stop) or any(c is not None for c in cancels)
        return StoppingCriteriaList([_RowStop()] if needed else []), stopped_at, cancelled

    def greedy_step(self, scores: TokenScores, max_new_tokens: int, stop: list[str]) -> Generation:
        """At most one greedy token from ``scores.next_top`` (no model call)."""
        if max_new_tokens <= 0:
            return Generation([], "", "length")
        best = max(scores.next_top, key=scores.next_top.__getitem__)
        done = self._finish([best], max_new_tokens, stop)
        # the one token is always reported (lm-eval drops exactly one trailing token of the
        # echoed log-probabilities); only its text is cut by a stop string
        return Generation([best], done.text, done.finish_reason)

    def _finish(self, new: list[int], max_new_tokens: int, stop: list[str]) -> Generation:
        eos = self.eos_token_id
        if eos is not None and eos in new:
            # the end-of-text token counts as generated (and is scored) but adds no text
            end = new.index(eos)
            return Generation(new[: end + 1], self.decode(new[:end]), "stop")
        text = self.decode(new)
        cuts = [text.find(s) for s in stop if s in text]
        if cuts:
            cut = min(cuts)
            text = text[:cut]
            # keep the tokens whose text lies before the stop string
            kept = 0
            while kept < len(new) and len(self.decode(new[: kept + 1])) <= cut:
                kept += 1
            return Generation(new[:kept], text, "stop")
        reason = "length" if len(new) >= max_new_tokens else "stop"
        return Generation(new, text, reason)
