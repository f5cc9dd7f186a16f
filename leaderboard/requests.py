"""The evaluation request queue, as on the Open LLM Leaderboard: PENDING -> RUNNING -> FINISHED/FAILED.

One JSON file per request (schema :class:`~leaderboard.schemas.EvalRequest`) under
``<store>/requests/<org>__<model>/<request-id>.json``, rewritten atomically (temp file +
``os.replace``) under an exclusive lock on ``<store>/requests/.lock``.

Before a request is queued, :func:`inspect_model` checks what can be checked without loading
the weights: the model folder (or hub repository) exists and has a ``config.json``; its weights
are safetensors (pickle checkpoints are refused: loading them can run code); it needs no custom
code (``auto_map``) unless remote code is explicitly allowed; a license is declared; a PEFT
adapter names this model as its base. A request that duplicates a PENDING, RUNNING or FINISHED
one (same model, revision, precision, adapter) is refused.

A worker claims the oldest PENDING request, or a RUNNING one whose worker died (same host, pid
gone) or went silent for longer than ``stale_after`` seconds, so a killed worker's job resumes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from leaderboard.schemas import (
    EvalRequest,
    Precision,
    RequestStatus,
    check_model_id,
    check_revision,
    model_folder,
)
from leaderboard.store import write_json_atomic

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RequestQueue:
    def __init__(self, store_root: Path):
        self.dir = Path(store_root) / REQUESTS_DIR

    @contextmanager
    def lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

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

    def claim(
        self, worker: str, stale_after: float = 6 * 3600.0
    ) -> tuple[Path, EvalRequest] | None:
        """Mark the next runnable request RUNNING for ``worker`` ("host:pid") and return it."""
        host = socket.gethostname()
        now = datetime.now(UTC)
        with self.lock():
            valid, invalid = self.scan()
            for path, why in invalid:
                log.warning("refused request file %s: %s (moved aside as .rejected)", path, why)
                self.reject(path, why)
            for path, req in valid:
                runnable = req.status == RequestStatus.PENDING
                if req.status == RequestStatus.RUNNING and req.worker:
                    w_host, _, w_pid = req.worker.rpartition(":")
                    dead = w_host == host and w_pid.isdigit() and not _pid_alive(int(w_pid))
                    age = (now - req.started_at).total_seconds() if req.started_at else 0.0
                    runnable = dead or age > stale_after
                if not runnable:
                    continue
                claimed = req.model_copy(
                    update={
                        "status": RequestStatus.RUNNING,
                        "started_at": now,
                        "worker": worker,
                        "attempts": req.attempts + 1,
                        "error": None,
                    }
                )
                self.write(path, claimed)
                return path, claimed
        return None

    def finish(self, path: Path, request: EvalRequest, submission_id: str) -> EvalRequest:
        done = request.model_copy(
            update={
                "status": RequestStatus.FINISHED,
                "finished_at": datetime.now(UTC),
                "submission_id": submission_id,
                "error": None,
            }
        )
        with self.lock():
            self.write(path, done)
        return done

    def fail(self, path: Path, request: EvalRequest, error: str) -> EvalRequest:
        failed = request.model_copy(
            update={
                "status": RequestStatus.FAILED,
                "finished_at": datetime.now(UTC),
                "error": error[-8000:],
            }
        )
        with self.lock():
            self.write(path, failed)
        return failed


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
            submitted_at=when,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise RequestError(f"request for {model}: field {where}: {err['msg']}") from exc
