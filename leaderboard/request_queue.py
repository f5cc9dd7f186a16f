"""The evaluation request queue, as on the Open LLM Leaderboard: PENDING -> RUNNING -> FINISHED/FAILED.

One JSON file per request (schema :class:`~leaderboard.schemas.EvalRequest`) under
``<store>/requests/<org>__<model>/<request-id>.json``, rewritten atomically (temp file +
``os.replace``). Queuing (:meth:`RequestQueue.add`, which refuses duplicates) holds an exclusive
``flock`` on ``<store>/requests/.lock``; running does not need any lock.

Before a request is queued, :func:`inspect_model` checks what can be checked without loading
the weights: the model folder (or hub repository) exists and has a ``config.json``; its weights
are safetensors (pickle checkpoints are refused: loading them can run code); it needs no custom
code (``auto_map``) unless remote code is explicitly allowed; a license is declared; a PEFT
adapter names this model as its base. A request that duplicates a PENDING, RUNNING or FINISHED
one (same model, revision, precision, adapter) is refused.

Workers on any number of machines sharing the store claim requests with leases
(:mod:`leaderboard.leases`, ``<store>/requests/.leases/<request-id>/<generation>.lease``): a
worker claims the oldest PENDING request, or a RUNNING one whose lease expired (its worker died
or went silent) or whose worker process is gone from this machine, by creating the lease's next
generation exclusively — of several workers trying at once exactly one succeeds, so no request
runs twice. Only the lease holder rewrites a request's file (RUNNING, then FINISHED or FAILED,
each checked against the lease first); a FINISHED or FAILED request's lease is marked ``done``
and never claimed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from leaderboard import leases
from leaderboard.leases import DEFAULT_LEASE_SECONDS, Lease, WorkerId
from leaderboard.schemas import (
    EvalBackend,
    EvalRequest,
    Precision,
    RequestStatus,
    check_model_id,
    check_revision,
    model_folder,
)
from tasks.ground import atomic, filelock
from tasks.ground.atomic import open_regular, read_bounded
from tasks.ground.atomic import write_json as write_json_atomic

log = logging.getLogger(__name__)

REQUESTS_DIR = "requests"
MAX_HEADER_BYTES = 100 * 2**20
MAX_REQUEST_BYTES = 64 * 2**10  # a request file: a few hundred bytes of validated fields
MAX_REASON_BYTES = 16 * 2**10
MAX_CONFIG_BYTES = 16 * 2**20  # config.json, tokenizer_config.json, adapter_config.json, README
MAX_CONFIG_FILES = 64
SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


class RequestError(ValueError):
    """A request that cannot be queued; the message names the problem and the fix. ``field``
    names the request field at fault where one is (the web form words its own message)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- model inspection ---------------------------------------------------------------------------


@dataclass
class ModelFacts:
    model_id: str | None
    revision: str
    sha: str = ""
    license: str | None = None
    n_parameters: int | None = None
    precision: str | None = None
    architectures: list[str] = field(default_factory=list)
    needs_remote_code: bool = False
    base_model: str = ""


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(read_bounded(path, MAX_CONFIG_BYTES, follow_links=True))
    except (OSError, ValueError) as exc:
        raise RequestError(f"{path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RequestError(f"{path}: expected a JSON object")
    return data


def safetensors_parameters(path: Path) -> int:
    """Number of parameters in a .safetensors file, from its JSON header only."""
    try:
        with open_regular(path, follow_links=True) as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > MAX_HEADER_BYTES:
                raise RequestError(f"{path}: safetensors header of {size} bytes is implausible")
            header = json.loads(handle.read(size))
    except (OSError, ValueError, struct.error) as exc:
        raise RequestError(f"{path}: not a readable safetensors file ({exc})") from exc
    if not isinstance(header, dict):
        raise RequestError(f"{path}: not a safetensors header")
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            count = 1
            for dim in info["shape"]:
                count *= int(dim)
        except (TypeError, KeyError, ValueError) as exc:
            raise RequestError(f"{path}: tensor {name[:80]!r} has no valid shape") from exc
        total += count
    return total


def readme_license(folder: Path) -> str | None:
    try:
        raw = read_bounded(folder / "README.md", MAX_CONFIG_BYTES, follow_links=True)
    except OSError:
        return None
    text = raw.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        front = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError:
        return None
    value = front.get("license") if isinstance(front, dict) else None
    return str(value) if value else None


def _files(path: Path) -> list[Path]:
    """The entries of a model or adapter folder (not recursive), sorted."""
    try:
        return sorted(path.iterdir())
    except OSError as exc:
        raise RequestError(f"{path}: cannot list the folder ({exc})") from exc


def loaded_weights(path: Path) -> list[Path]:
    """The weight files transformers (and vLLM) will load from a local model folder: its
    ``model.safetensors``, or the shards its ``model.safetensors.index.json`` names. Refused
    (RequestError): pickle checkpoints anywhere in the folder (a loader falls back to them, and
    loading them can run code), no safetensors weights, shards missing or outside the folder,
    and ``.safetensors`` files the load would not use (a dummy beside the real weights)."""
    names = {p.name for p in _files(path)}
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES) or ".bin." in n)
    if pickles:
        raise RequestError(
            f"{path}: found {', '.join(pickles[:5])}: pickle checkpoints can execute code when "
            "loaded and are not accepted, even beside safetensors weights (a loader may fall "
            "back to them) - save the model with safe_serialization=True and remove them"
        )
    if SAFETENSORS_SINGLE in names:
        weights = [path / SAFETENSORS_SINGLE]
    elif SAFETENSORS_INDEX in names:
        index = _read_json(path / SAFETENSORS_INDEX).get("weight_map")
        shards = sorted({str(v) for v in index.values()}) if isinstance(index, dict) else []
        bad = [s for s in shards if "/" in s or not s.endswith(".safetensors") or s not in names]
        if not shards or bad:
            raise RequestError(
                f"{path}: {SAFETENSORS_INDEX} names no shards or shards that are not .safetensors "
                f"files of this folder ({', '.join(bad[:3]) or 'none listed'})"
            )
        weights = [path / s for s in shards]
    else:
        raise RequestError(
            f"{path}: no {SAFETENSORS_SINGLE} or {SAFETENSORS_INDEX}; pass a transformers model "
            "folder saved with safe_serialization=True"
        )
    stray = sorted(n for n in names if n.endswith(".safetensors") and path / n not in weights)
    if stray:
        raise RequestError(
            f"{path}: {', '.join(stray[:5])} would not be loaded as the model's weights (the "
            f"loader reads {weights[0].name}); remove the extra .safetensors files"
        )
    return weights


def needs_remote_code(path: Path) -> list[str]:
    """The config files of a model or adapter folder that ask for the repository's own code:
    an ``auto_map`` or a PEFT ``auto_mapping`` in any ``*config.json`` the loaders read
    (config.json, tokenizer_config.json, preprocessor/processor configs, adapter_config.json),
    each read bounded."""
    found = []
    jsons = [p for p in _files(path) if p.name.endswith("config.json")]
    if len(jsons) > MAX_CONFIG_FILES:
        raise RequestError(f"{path}: {len(jsons)} JSON files; a model folder has a handful")
    for json_path in jsons:
        data = _read_json(json_path)
        if data.get("auto_map") or data.get("auto_mapping"):
            found.append(json_path.name)
    return found


def inspect_local(path: Path) -> ModelFacts:
    config_path = path / "config.json"
    if not config_path.exists():
        raise RequestError(f"{path}: no config.json; pass a transformers model folder")
    config = _read_json(config_path)
    weights = loaded_weights(path)
    license_ = readme_license(path)
    if license_ is None and any(path.glob("LICENSE*")):
        license_ = "see LICENSE file"
    marker = path / "biobench_model.json"
    model_id = None
    if marker.exists():
        model_id = _read_json(marker).get("upstream")
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "")
    n_parameters = sum(safetensors_parameters(w) for w in weights)
    if n_parameters < 1:
        raise RequestError(f"{path}: {weights[0].name} holds no tensors; pass the real weights")
    return ModelFacts(
        model_id=model_id,
        revision="main",
        license=license_,
        n_parameters=n_parameters,
        precision=_DTYPES.get(dtype),
        architectures=[str(a) for a in config.get("architectures") or []],
        needs_remote_code=bool(needs_remote_code(path)),
    )


def inspect_hub(repo: str, revision: str) -> ModelFacts:
    """Facts from the hub API (needs network; refuses clearly when offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip() in {"1", "true", "yes"}:
        raise RequestError(
            f"{repo}: cannot reach the Hugging Face hub to check the model (HF_HUB_OFFLINE is "
            "set); pass a local model folder, or request it from a machine with hub access",
            field="hub",
        )
    from huggingface_hub import HfApi, hf_hub_download

    def hub_json(name: str) -> Any:
        path = hf_hub_download(repo, name, revision=revision)
        return json.loads(read_bounded(path, MAX_CONFIG_BYTES, follow_links=True))

    try:
        info = HfApi().model_info(repo, revision=revision)
        config = hub_json("config.json")
    except Exception as exc:  # noqa: BLE001 - any hub failure is reported the same way
        raise RequestError(
            f"{repo}@{revision}: not reachable or not a model repository ({exc})", field="hub"
        ) from exc
    files = [s.rfilename for s in info.siblings or []]
    if SAFETENSORS_SINGLE not in files and SAFETENSORS_INDEX not in files:
        raise RequestError(
            f"{repo}@{revision}: no {SAFETENSORS_SINGLE} or {SAFETENSORS_INDEX} (the weights "
            "transformers loads first); pickle checkpoints are not accepted"
        )
    remote = bool(config.get("auto_map"))
    if "tokenizer_config.json" in files:
        try:
            tok = hub_json("tokenizer_config.json")
        except Exception as exc:  # noqa: BLE001 - any hub failure is reported the same way
            raise RequestError(
                f"{repo}@{revision}: tokenizer_config.json unreadable ({exc})"
            ) from exc
        remote = remote or bool(isinstance(tok, dict) and tok.get("auto_map"))
    card = info.card_data.to_dict() if info.card_data else {}
    n_params = info.safetensors.total if info.safetensors else None
    return ModelFacts(
        model_id=repo,
        revision=revision,
        sha=info.sha or "",
        license=str(card.get("license")) if card.get("license") else None,
        n_parameters=n_params,
        precision=_DTYPES.get(str(config.get("torch_dtype") or "")),
        architectures=[str(a) for a in config.get("architectures") or []],
        needs_remote_code=remote,
        base_model=str(card.get("base_model") or ""),
    )


def inspect_model(model: str, revision: str = "main") -> ModelFacts:
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise RequestError(f"{model}: not a folder; pass a transformers model folder")
        return inspect_local(path)
    try:
        check_model_id(model)
    except ValueError as exc:
        raise RequestError(f"{model}: neither an existing folder nor a hub id 'org/name'") from exc
    return inspect_hub(model, revision)


def inspect_adapter(adapter: str, model: str, facts: ModelFacts) -> str:
    """Check a local PEFT adapter folder against the model; returns its declared base."""
    path = Path(adapter).expanduser()
    config_path = path / "adapter_config.json"
    if not path.is_dir() or not config_path.exists():
        raise RequestError(f"--peft-adapter {adapter}: no adapter_config.json in that folder")
    names = {p.name for p in _files(path)}
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if pickles or ADAPTER_WEIGHTS not in names:
        raise RequestError(
            f"--peft-adapter {adapter}: needs {ADAPTER_WEIGHTS} and no pickle weights "
            f"(found {', '.join(pickles[:3]) or 'no ' + ADAPTER_WEIGHTS}); save the adapter with "
            "safe_serialization=True"
        )
    if safetensors_parameters(path / ADAPTER_WEIGHTS) < 1:
        raise RequestError(f"--peft-adapter {adapter}: {ADAPTER_WEIGHTS} holds no tensors")
    custom = needs_remote_code(path)
    if custom:
        raise RequestError(
            f"--peft-adapter {adapter}: {', '.join(custom)} asks for custom code (auto_map / "
            "auto_mapping); adapters must load with PEFT's own classes"
        )
    base = str(_read_json(config_path).get("base_model_name_or_path") or "")
    known = {model, str(Path(model).expanduser().resolve()), facts.model_id or ""}
    if base and base not in known and str(Path(base).expanduser().resolve()) not in known:
        raise RequestError(
            f"--peft-adapter {adapter}: trained on {base!r}, but the request names {model!r}; "
            "request the adapter on its own base model"
        )
    return base


def recheck(req: EvalRequest, allow_remote_code: bool) -> ModelFacts:
    """Inspect a claimed request's model again, as the worker is about to load it (a request
    file may have been planted or edited, and a folder changed since it was queued), and raise
    RequestError on any mismatch: the weights that will load (:func:`loaded_weights`), custom
    code asked for by any config (refused unless *this worker's* operator passed
    ``--allow-remote-code``; the request's own ``allow_remote_code`` is not read), the parameter
    count and architectures recorded at request time, and the adapter's files and base model."""
    ref = req.model
    if not ref.startswith("/") and os.environ.get("HF_HUB_OFFLINE", "").strip() in {"1", "true"}:
        ref = _cached_snapshot(req.model, req.sha or req.revision)
    facts = inspect_model(ref, req.revision)
    if facts.needs_remote_code and not allow_remote_code:
        raise RequestError(
            f"{req.model}: a config of the model asks for its own code (auto_map), which runs "
            "when it loads; this worker was not started with --allow-remote-code, so it is not "
            "evaluated (review the code, then run a worker with --allow-remote-code)"
        )
    changed = []
    if req.n_parameters is not None and facts.n_parameters != req.n_parameters:
        changed.append(f"{facts.n_parameters} parameters, {req.n_parameters} when requested")
    if req.architectures and facts.architectures != req.architectures:
        changed.append(f"architectures {facts.architectures}, {req.architectures} when requested")
    if changed:
        raise RequestError(
            f"{req.model}: the model is not the one requested ({'; '.join(changed)}); "
            "request it again"
        )
    if req.peft_adapter:
        inspect_adapter(req.peft_adapter, req.model, facts)
    return facts


def _cached_snapshot(repo: str, revision: str) -> str:
    """The local snapshot folder of a hub model in this machine's cache (offline workers)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo, revision=revision, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - not cached, or the cache is damaged
        raise RequestError(
            f"{repo}@{revision}: not in this machine's hub cache and HF_HUB_OFFLINE is set, so "
            "its files cannot be checked before loading; download it first"
        ) from exc


# --- the queue ----------------------------------------------------------------------------------


class RateLimit:
    """At most ``count`` events per ``window`` seconds for each key (a web visitor), in this
    process; thread-safe. ``allow(key)`` records the event when it is allowed."""

    def __init__(self, count: int, window: float) -> None:
        import threading

        self.count, self.window = count, window
        self._events: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        import time

        now = time.time() if now is None else now
        with self._lock:
            recent = [t for t in self._events.get(key, []) if t > now - self.window]
            if len(recent) >= self.count:
                self._events[key] = recent
                return False
            self._events[key] = [*recent, now]
            if len(self._events) > 10_000:  # forget the stalest visitors
                for stale in sorted(self._events, key=lambda k: max(self._events[k]))[:5_000]:
                    del self._events[stale]
            return True


def resolved(ref: str) -> str:
    """A model or adapter reference in one spelling: a local path resolved (symlinks, ``/./``,
    ``..``, trailing slash), a hub id unchanged."""
    path = Path(ref).expanduser()
    if path.exists() or ref.startswith(("/", ".", "~")):
        return str(path.resolve())
    return ref


def request_key(
    model: str, revision: str, precision: str, adapter: str | None, sha: str = ""
) -> str:
    """Same weights, same key: resolved paths, hub ids in any case (the hub's ids are
    case-insensitive), and a hub model's resolved commit when known."""

    def one(ref: str) -> str:
        ref = resolved(ref)
        return ref if ref.startswith("/") else ref.casefold()

    text = json.dumps([one(model), sha or revision, precision, one(adapter or "")])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _key_of(req: EvalRequest) -> str:
    return request_key(req.model, req.revision, str(req.precision), req.peft_adapter, req.sha)


LEASES_DIR = ".leases"


class LeaseLost(RuntimeError):
    """This worker's lease on a request was reclaimed by another worker: stop, write nothing."""


@dataclass
class Claim:
    """A request this worker holds the lease of: its file, its record, the lease."""

    path: Path
    request: EvalRequest
    lease: Lease


def _worker_id(worker: WorkerId | str) -> WorkerId:
    if isinstance(worker, WorkerId):
        return worker
    host, _, pid = worker.rpartition(":")
    return WorkerId(host or worker, int(pid) if pid.isdigit() else 0)


def parse_request(raw: bytes) -> EvalRequest:
    """A request file's bytes as a validated request (ValidationError / ValueError if not)."""
    return EvalRequest.model_validate_json(raw)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class RequestQueue:
    def __init__(self, store_root: Path):
        self.dir = Path(store_root) / REQUESTS_DIR

    def lease_dir(self, request_id: str) -> Path:
        return self.dir / LEASES_DIR / request_id

    def lock(self) -> AbstractContextManager[None]:
        return filelock.locked(self.dir / ".lock")

    def _files(self, suffix: str) -> Iterator[Path]:
        """``<requests>/<folder>/<name><suffix>`` entries, sorted, without following links: a
        folder that is a symbolic link is not entered (its files are listed by nobody)."""
        if not self.dir.is_dir() or self.dir.is_symlink():
            return
        for folder in sorted(os.scandir(self.dir), key=lambda e: e.name):
            if folder.name.startswith(".") or not folder.is_dir(follow_symlinks=False):
                continue
            try:
                entries = sorted(os.scandir(folder.path), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.endswith(suffix) and not entry.name.startswith("."):
                    yield Path(entry.path)

    def scan(self) -> tuple[list[tuple[Path, EvalRequest]], list[tuple[Path, str]]]:
        """(valid requests oldest first, [(file, why it is invalid)]); nothing is imported or
        run, and only regular files are read (bounded; a link, FIFO or device is invalid)."""
        out, invalid = [], []
        for path in self._files(".json"):
            try:
                out.append((path, parse_request(read_bounded(path, MAX_REQUEST_BYTES))))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(x) for x in err["loc"]) or "$"
                invalid.append((path, f"{where}: {err['msg']}"))
            except FileNotFoundError:
                continue  # moved aside by another worker meanwhile
            except (OSError, ValueError) as exc:
                invalid.append((path, _first_line(exc)))
        return sorted(out, key=lambda e: (e[1].submitted_at, e[1].request_id)), invalid

    def entries(self) -> list[tuple[Path, EvalRequest]]:
        """Every valid request, oldest first (invalid files: :meth:`scan` and :meth:`reject`)."""
        return self.scan()[0]

    def rejected(self) -> list[tuple[Path, str]]:
        """Request files a worker refused: ``<name>.rejected`` with the reason next to it."""
        out = []
        for path in self._files(".rejected"):
            try:
                why = read_bounded(path.with_suffix(".reason"), MAX_REASON_BYTES)
                text = why.decode("utf-8", errors="replace")
            except OSError as exc:
                text = "" if isinstance(exc, FileNotFoundError) else f"(reason unreadable: {exc})"
            out.append((path, text.strip()))
        return out

    def reject(self, path: Path, why: str) -> Path:
        """Move an invalid request file (or link, FIFO...) out of the queue, never parsed as a
        request again. The reason is written atomically (a temporary file in the queue folder,
        renamed over ``<name>.reason``): a planted link of that name is replaced, never
        written through."""
        target = path.with_suffix(".rejected")
        atomic.write_text(path.with_suffix(".reason"), why + "\n")
        os.replace(path, target)
        return target

    def write(self, path: Path, request: EvalRequest) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, request.model_dump(mode="json"))

    def add(self, request: EvalRequest, max_pending: int | None = None) -> Path:
        """Queue ``request`` (RequestError for a duplicate, or when ``max_pending`` requests are
        already waiting)."""
        key = _key_of(request)
        with self.lock():
            for path, other in self.entries():
                if _key_of(other) == key and other.status != RequestStatus.FAILED:
                    raise RequestError(
                        f"{request.model} (revision {request.revision}, precision "
                        f"{request.precision}) is already requested: {path.name} is "
                        f"{other.status}; wait for it, or delete that file to request again"
                    )
            if max_pending is not None:
                waiting = sum(1 for _, r in self.entries() if r.status == RequestStatus.PENDING)
                if waiting >= max_pending:
                    raise RequestError(
                        f"the queue holds {waiting} pending requests, its limit; try again "
                        "once some have been evaluated",
                        field="queue",
                    )
            path = self.dir / model_folder(request.model_id) / f"{request.request_id}.json"
            if path.exists():
                raise RequestError(f"request {request.request_id} exists already ({path})")
            self.write(path, request)
        return path

    def read(self, path: Path) -> EvalRequest | None:
        try:
            return parse_request(read_bounded(path, MAX_REQUEST_BYTES))
        except (OSError, ValueError):
            return None

    def claim(
        self,
        worker: WorkerId | str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        *,
        reclaim_dead_local: bool = True,
        accept: Callable[[EvalRequest], bool] | None = None,
    ) -> Claim | None:
        """Lease the next runnable request for ``worker``, mark it RUNNING and return it.

        Runnable: PENDING, or RUNNING with a lease that is free (:func:`leases.acquire`), and
        ``accept(request)`` when given (e.g. only backends this worker can run). No lock is
        taken: the exclusive creation of the lease decides, and the request file is read again
        once the lease is held, so a request finished meanwhile is not run again.
        """
        holder = _worker_id(worker)
        valid, invalid = self.scan()
        for path, why in invalid:
            log.warning("refused request file %s: %s (moved aside as .rejected)", path, why)
            try:
                self.reject(path, why)
            except FileNotFoundError:  # another worker moved it first
                pass
        for path, req in valid:
            if req.status not in (RequestStatus.PENDING, RequestStatus.RUNNING):
                continue
            if accept is not None and not accept(req):
                continue
            lease = leases.acquire(
                self.lease_dir(req.request_id),
                holder,
                lease_seconds,
                reclaim_dead_local=reclaim_dead_local,
            )
            if lease is None:
                continue
            current = self.read(path)
            if current is None or current.status not in (
                RequestStatus.PENDING,
                RequestStatus.RUNNING,
            ):
                lease.release(leases.DONE, "not runnable")
                continue
            claimed = current.model_copy(
                update={
                    "status": RequestStatus.RUNNING,
                    "started_at": datetime.now(UTC),
                    "worker": holder.label,
                    "attempts": current.attempts + 1,
                    "error": None,
                }
            )
            self.write(path, claimed)
            return Claim(path, claimed, lease)
        return None

    def _conclude(
        self, path: Path, updated: EvalRequest, lease: Lease | None, outcome: str
    ) -> EvalRequest:
        if lease is not None and not lease.is_current():
            lease.lost.set()
            raise LeaseLost(
                f"request {updated.request_id}: another worker reclaimed the lease; not writing "
                f"{outcome}"
            )
        self.write(path, updated)
        if lease is not None:
            lease.release(leases.DONE, outcome)
        return updated

    def finish(
        self, path: Path, request: EvalRequest, submission_id: str, lease: Lease | None = None
    ) -> EvalRequest:
        done = request.model_copy(
            update={
                "status": RequestStatus.FINISHED,
                "finished_at": datetime.now(UTC),
                "submission_id": submission_id,
                "error": None,
            }
        )
        return self._conclude(path, done, lease, "FINISHED")

    def fail(
        self, path: Path, request: EvalRequest, error: str, lease: Lease | None = None
    ) -> EvalRequest:
        failed = request.model_copy(
            update={
                "status": RequestStatus.FAILED,
                "finished_at": datetime.now(UTC),
                "error": error[-8000:],
            }
        )
        return self._conclude(path, failed, lease, "FAILED")

    def abandon(self, claim: Claim) -> None:
        """Give a claimed request back (this worker is stopping): PENDING, claimable at once."""
        if not claim.lease.is_current():
            return
        back = claim.request.model_copy(
            update={"status": RequestStatus.PENDING, "worker": None, "started_at": None}
        )
        self.write(claim.path, back)
        claim.lease.release(leases.ABANDONED, "worker stopped")


def new_request(
    model: str,
    *,
    revision: str = "main",
    precision: str | None = None,
    peft_adapter: str | None = None,
    allow_remote_code: bool = False,
    license: str | None = None,  # noqa: A002 - the field's name
    model_type: str,
    model_id: str | None = None,
    tasks: str = "bio_qa",
    limit: int | None = None,
    max_gen_toks: int | None = None,
    submitter: str = "anonymous",
    backend: str = EvalBackend.HF.value,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    now: datetime | None = None,
    hub_only: bool = False,
) -> EvalRequest:
    """Inspect the model (see module docstring) and build a PENDING request, or raise RequestError.

    Every field is validated before anything is inspected; local paths are stored resolved.
    ``hub_only`` (the web form): the model must be a hub id and is looked up on the hub only —
    no file of this machine is looked at, so the answer never tells which paths exist here.
    """
    from tasks.registry import check_task_list

    for name, check in (("revision", lambda: check_revision(revision)),
                        ("tasks", lambda: check_task_list(tasks))):  # fmt: skip
        try:
            check()
        except ValueError as exc:
            raise RequestError(str(exc), field=name) from exc
    if hub_only:
        try:
            check_model_id(model)
        except ValueError as exc:
            raise RequestError(str(exc), field="model") from exc
        if peft_adapter:
            raise RequestError("adapters are requested with biobench request", field="adapter")
        facts = inspect_hub(model, revision)
    else:
        facts = inspect_model(model, revision)
        model = resolved(model)
    peft_adapter = resolved(peft_adapter) if peft_adapter else None
    if facts.needs_remote_code and not allow_remote_code:
        raise RequestError(
            f"{model}: its config.json has auto_map, i.e. it needs trust_remote_code to load; "
            "such models run code from the repository and are refused unless you pass "
            "--allow-remote-code after reviewing that code",
            field="remote_code",
        )
    base_model = facts.base_model
    if peft_adapter:
        base_model = inspect_adapter(peft_adapter, model, facts) or model
    license_ = license or facts.license
    if not license_:
        raise RequestError(
            f"{model}: no license found (README.md front matter 'license:' or a LICENSE file); "
            "pass --license with the model's license",
            field="license",
        )
    chosen_id = model_id or facts.model_id
    if not chosen_id:
        raise RequestError(f"{model}: a local folder needs --model-id org/name to be listed under")
    precision_ = precision or facts.precision or Precision.FLOAT32.value
    when = now or datetime.now(UTC)
    key = request_key(model, revision, precision_, peft_adapter, facts.sha)
    try:
        return EvalRequest(
            request_id=f"{when:%Y%m%dT%H%M%S%f}-{key[:8]}",
            model=model,
            model_id=chosen_id,
            revision=revision,
            sha=facts.sha if re.fullmatch(r"[0-9a-f]{0,64}", facts.sha) else "",
            precision=precision_,
            peft_adapter=peft_adapter,
            allow_remote_code=allow_remote_code,
            license=license_,
            model_type=model_type,
            base_model=base_model,
            n_parameters=facts.n_parameters,
            architectures=facts.architectures,
            tasks=tasks,
            limit=limit,
            max_gen_toks=max_gen_toks,
            submitter=submitter,
            backend=backend,
            tensor_parallel_size=tensor_parallel_size,
            data_parallel_size=data_parallel_size,
            submitted_at=when,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise RequestError(
            f"request for {model}: field {where}: {err['msg']}", field=where
        ) from exc
