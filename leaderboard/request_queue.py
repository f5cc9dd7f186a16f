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
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
from tasks.ground import filelock
from tasks.ground.atomic import write_json as write_json_atomic

log = logging.getLogger(__name__)

REQUESTS_DIR = "requests"
MAX_HEADER_BYTES = 100 * 2**20
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


class RequestError(ValueError):
    """A request that cannot be queued; the message names the problem and the fix."""


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RequestError(f"{path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RequestError(f"{path}: expected a JSON object")
    return data


def safetensors_parameters(path: Path) -> int:
    """Number of parameters in a .safetensors file, from its JSON header only."""
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        if size > MAX_HEADER_BYTES:
            raise RequestError(f"{path}: safetensors header of {size} bytes is implausible")
        header = json.loads(handle.read(size))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in info["shape"]:
            count *= int(dim)
        total += count
    return total


def readme_license(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
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


def inspect_local(path: Path) -> ModelFacts:
    config_path = path / "config.json"
    if not config_path.is_file():
        raise RequestError(f"{path}: no config.json; pass a transformers model folder")
    config = _read_json(config_path)
    weights = sorted(path.glob("*.safetensors"))
    pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if not weights:
        found = f" (found {', '.join(pickles)})" if pickles else ""
        raise RequestError(
            f"{path}: no *.safetensors weights{found}; pickle checkpoints can execute code when "
            "loaded and are not accepted - save the model with safe_serialization=True"
        )
    license_ = readme_license(path)
    if license_ is None and any(path.glob("LICENSE*")):
        license_ = "see LICENSE file"
    marker = path / "biobench_model.json"
    model_id = None
    if marker.is_file():
        model_id = _read_json(marker).get("upstream")
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "")
    return ModelFacts(
        model_id=model_id,
        revision="main",
        license=license_,
        n_parameters=sum(safetensors_parameters(w) for w in weights),
        precision=_DTYPES.get(dtype),
        architectures=[str(a) for a in config.get("architectures") or []],
        needs_remote_code="auto_map" in config,
    )


def inspect_hub(repo: str, revision: str) -> ModelFacts:
    """Facts from the hub API (needs network; refuses clearly when offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip() in {"1", "true", "yes"}:
        raise RequestError(
            f"{repo}: cannot reach the Hugging Face hub to check the model (HF_HUB_OFFLINE is "
            "set); pass a local model folder, or request it from a machine with hub access"
        )
    from huggingface_hub import HfApi, hf_hub_download

    try:
        info = HfApi().model_info(repo, revision=revision)
        config = json.loads(
            Path(hf_hub_download(repo, "config.json", revision=revision)).read_text()
        )
    except Exception as exc:  # noqa: BLE001 - any hub failure is reported the same way
        raise RequestError(
            f"{repo}@{revision}: not reachable or not a model repository ({exc})"
        ) from exc
    files = [s.rfilename for s in info.siblings or []]
    if not any(f.endswith(".safetensors") for f in files):
        raise RequestError(
            f"{repo}@{revision}: no safetensors weights; pickle checkpoints are not accepted"
        )
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
        needs_remote_code="auto_map" in config,
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
    if not config_path.is_file():
        raise RequestError(f"--peft-adapter {adapter}: no adapter_config.json in that folder")
    if not any(path.glob("*.safetensors")):
        raise RequestError(f"--peft-adapter {adapter}: no safetensors adapter weights")
    base = str(_read_json(config_path).get("base_model_name_or_path") or "")
    known = {model, str(Path(model).expanduser().resolve()), facts.model_id or ""}
    if base and base not in known and str(Path(base).expanduser().resolve()) not in known:
        raise RequestError(
            f"--peft-adapter {adapter}: trained on {base!r}, but the request names {model!r}; "
            "request the adapter on its own base model"
        )
    return base


# --- the queue ----------------------------------------------------------------------------------


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
    """Same weights, same key: resolved paths, and a hub model's resolved commit when known."""
    text = json.dumps([resolved(model), sha or revision, precision, resolved(adapter or "")])
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


class RequestQueue:
    def __init__(self, store_root: Path):
        self.dir = Path(store_root) / REQUESTS_DIR

    def lease_dir(self, request_id: str) -> Path:
        return self.dir / LEASES_DIR / request_id

    def lock(self) -> AbstractContextManager[None]:
        return filelock.locked(self.dir / ".lock")

    def scan(self) -> tuple[list[tuple[Path, EvalRequest]], list[tuple[Path, str]]]:
        """(valid requests oldest first, [(file, why it is invalid)]); nothing is imported or run."""
        out, invalid = [], []
        if not self.dir.is_dir():
            return out, invalid
        for path in sorted(self.dir.glob("*/*.json")):
            if path.name.startswith("."):
                continue
            try:
                out.append((path, EvalRequest.model_validate_json(path.read_bytes())))
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(x) for x in err["loc"]) or "$"
                invalid.append((path, f"{where}: {err['msg']}"))
            except (OSError, ValueError) as exc:
                invalid.append((path, str(exc).splitlines()[0] if str(exc) else "unreadable"))
        return sorted(out, key=lambda e: (e[1].submitted_at, e[1].request_id)), invalid

    def entries(self) -> list[tuple[Path, EvalRequest]]:
        """Every valid request, oldest first (invalid files: :meth:`scan` and :meth:`reject`)."""
        return self.scan()[0]

    def rejected(self) -> list[tuple[Path, str]]:
        """Request files a worker refused: ``<name>.rejected`` with the reason next to it."""
        out = []
        for path in sorted(self.dir.glob("*/*.rejected")) if self.dir.is_dir() else []:
            reason = path.with_suffix(".reason")
            why = reason.read_text(encoding="utf-8", errors="replace") if reason.is_file() else ""
            out.append((path, why.strip()))
        return out

    def reject(self, path: Path, why: str) -> Path:
        """Move an invalid request file out of the queue (never parsed as a request again)."""
        target = path.with_suffix(".rejected")
        path.with_suffix(".reason").write_text(why + "\n", encoding="utf-8")
        os.replace(path, target)
        return target

    def write(self, path: Path, request: EvalRequest) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, request.model_dump(mode="json"))

    def add(self, request: EvalRequest) -> Path:
        key = _key_of(request)
        with self.lock():
            for path, other in self.entries():
                if _key_of(other) == key and other.status != RequestStatus.FAILED:
                    raise RequestError(
                        f"{request.model} (revision {request.revision}, precision "
                        f"{request.precision}) is already requested: {path.name} is "
                        f"{other.status}; wait for it, or delete that file to request again"
                    )
            path = self.dir / model_folder(request.model_id) / f"{request.request_id}.json"
            if path.exists():
                raise RequestError(f"request {request.request_id} exists already ({path})")
            self.write(path, request)
        return path

    def read(self, path: Path) -> EvalRequest | None:
        try:
            return EvalRequest.model_validate_json(path.read_bytes())
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
) -> EvalRequest:
    """Inspect the model (see module docstring) and build a PENDING request, or raise RequestError.

    Every field is validated before anything is inspected; local paths are stored resolved.
    """
    from tasks.registry import check_task_list

    try:
        check_revision(revision)
        check_task_list(tasks)
    except ValueError as exc:
        raise RequestError(str(exc)) from exc
    facts = inspect_model(model, revision)
    model = resolved(model)
    peft_adapter = resolved(peft_adapter) if peft_adapter else None
    if facts.needs_remote_code and not allow_remote_code:
        raise RequestError(
            f"{model}: its config.json has auto_map, i.e. it needs trust_remote_code to load; "
            "such models run code from the repository and are refused unless you pass "
            "--allow-remote-code after reviewing that code"
        )
    base_model = facts.base_model
    if peft_adapter:
        base_model = inspect_adapter(peft_adapter, model, facts) or model
    license_ = license or facts.license
    if not license_:
        raise RequestError(
            f"{model}: no license found (README.md front matter 'license:' or a LICENSE file); "
            "pass --license with the model's license"
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
        raise RequestError(f"request for {model}: field {where}: {err['msg']}") from exc
