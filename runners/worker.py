"""``biobench worker``: evaluate queued requests and store their submissions.

    biobench worker                 # poll the queue forever
    biobench worker --until-empty   # work through the queue, then exit

For each request (oldest PENDING first, or a RUNNING one whose worker died): take its lease, mark
it RUNNING, inspect the model again (the weights that will load, custom code asked for by any
of its configs, the adapter; a mismatch with the request fails it), run ``biobench eval`` once per task or group of the request into
``<work-dir>/<request-id>/<task>/`` with the request's backend (``hf`` or ``vllm``) and
parallelism, check and store the results as a submission, and mark the request FINISHED (with
the submission id) or FAILED (with the error). A task whose output folder is complete is not run
again, so a killed worker's request resumes where it stopped (when ``--work-dir`` is shared too).

Any number of workers, on one machine or many, can share one store (``--store`` on a shared
file system): each request is leased to one worker at a time (``leaderboard/leases.py``), the
lease is renewed by a heartbeat every ``--lease-seconds / 4`` while the evaluation runs, and a
dead worker's request is taken over once its lease expires (at once on the same machine). A
worker that loses its lease stops that evaluation and writes nothing.

Remote code: a model whose configs ask for their own code (``auto_map``) is evaluated only by a
worker started with ``--allow-remote-code`` (its operator's decision; never a request's).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from leaderboard.evalspec import EvalSpec, SpecError
from leaderboard.leases import DEFAULT_LEASE_SECONDS, Heartbeat, Lease, WorkerId
from leaderboard.request_queue import (
    MAX_CONFIG_BYTES,
    Claim,
    LeaseLost,
    RequestError,
    RequestQueue,
    recheck,
)
from leaderboard.schemas import EvalBackend, EvalRequest
from leaderboard.store import Store
from leaderboard.validate import Metadata, SubmissionError, prepare
from runners.cli import Parser, runs_dir
from tasks import registry
from tasks.ground.atomic import read_bounded

log = logging.getLogger(__name__)

DEFAULT_WORK_DIR = runs_dir("requests")
LOG_TAIL_LINES = 40


class WorkerError(RuntimeError):
    pass


def spec_of(req: EvalRequest, task: str, trust_remote_code: bool = False) -> EvalSpec:
    """The evaluation of one task of a request (:meth:`EvalSpec.from_request`): validated
    fields only, model arguments as one JSON object (a folder named ``m,trust_remote_code=True``
    stays one path); remote code only when this worker's operator allowed it and the model's
    re-inspection found that it needs it (:func:`leaderboard.request_queue.recheck`)."""
    if task not in registry.suite_names():
        raise WorkerError(f"task {task!r} is not a suite task or group; refusing to run it")
    rank = None
    if req.peft_adapter and req.backend != EvalBackend.HF:
        rank = _adapter_rank(req.peft_adapter)
    try:
        return EvalSpec.from_request(
            req, tasks=[task], trust_remote_code=trust_remote_code, lora_rank=rank
        )
    except SpecError as exc:
        raise WorkerError(str(exc)) from exc


def model_args(req: EvalRequest, trust_remote_code: bool = False) -> dict[str, object]:
    """lm-eval's model arguments of a request (parallelism is added by ``biobench eval``)."""
    return spec_of(req, "bio_qa", trust_remote_code).lm_eval_model_args()


def _adapter_rank(adapter: str) -> int:
    from runners.backends import BackendError, lora_rank

    try:
        raw = read_bounded(Path(adapter) / "adapter_config.json", MAX_CONFIG_BYTES)
        config = json.loads(raw)
        return lora_rank(config if isinstance(config, dict) else {})
    except (OSError, ValueError, BackendError) as exc:
        raise WorkerError(f"adapter {adapter}: cannot read its LoRA rank for vLLM ({exc})") from exc


def eval_command(
    req: EvalRequest, task: str, out: Path, trust_remote_code: bool = False
) -> list[str]:
    """The ``biobench eval`` command of one task of a request: validated values only."""
    return spec_of(req, task, trust_remote_code).command(str(out))


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _stop(proc: subprocess.Popen) -> None:
    """End the evaluation's process group (it runs in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _wait(proc: subprocess.Popen, lease: Lease | None, poll: float = 1.0) -> int:
    """The exit code of ``proc``; if ``lease`` is lost meanwhile, stop it and raise LeaseLost."""
    try:
        while True:
            try:
                return proc.wait(timeout=poll)
            except subprocess.TimeoutExpired:
                if lease is not None and lease.lost.is_set():
                    raise LeaseLost(
                        "the lease was lost during the evaluation; stopped it"
                    ) from None
    except BaseException:
        _stop(proc)
        raise


def run_eval(
    req: EvalRequest,
    task: str,
    out: Path,
    env: dict[str, str] | None = None,
    lease: Lease | None = None,
    trust_remote_code: bool = False,
) -> Path:
    """``biobench eval`` of one task into ``out`` (written under a .partial name, then renamed).

    The partial folder is named after the lease generation, so a worker that lost its lease
    never writes into (or deletes) the folder of the worker that took over."""
    if any(out.rglob("results_*.json")):
        log.info("%s: %s already evaluated, skipping", req.request_id, task)
        return out
    suffix = f".partial-{lease.generation}" if lease is not None else ".partial"
    partial = out.with_name(out.name + suffix)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cmd = eval_command(req, task, partial, trust_remote_code)
    log_path = partial / "eval.log"
    log.info("%s: running %s", req.request_id, " ".join(cmd))
    with open(log_path, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(
            cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        code = _wait(proc, lease)
    if code != 0:
        raise WorkerError(f"biobench eval --tasks {task} failed (exit {code}):\n{_tail(log_path)}")
    if lease is not None and lease.lost.is_set():
        raise LeaseLost("the lease was lost during the evaluation")
    partial.rename(out)
    return out


def process(
    req: EvalRequest,
    store: Store,
    work_dir: Path,
    env: dict[str, str] | None = None,
    lease: Lease | None = None,
    allow_remote_code: bool = False,
) -> str:
    """Evaluate one request and store its submission; returns the submission id.

    The model is inspected again first (:func:`leaderboard.request_queue.recheck`): a request
    whose model does not pass, or asks for its own code without this worker's
    ``allow_remote_code``, fails before anything is loaded."""
    try:
        facts = recheck(req, allow_remote_code)
    except RequestError as exc:
        raise WorkerError(f"refused at claim time: {exc}") from exc
    remote = bool(facts.needs_remote_code and allow_remote_code)
    outputs = []
    for task in registry.check_task_list(req.tasks):
        out = work_dir / req.request_id / task
        outputs.append(run_eval(req, task, out, env, lease, remote))
    meta = Metadata(
        model_id=req.model_id,
        revision=req.revision,
        precision=str(req.precision),
        license=req.license,
        model_type=str(req.model_type),
        base_model=req.base_model or None,
        adapter=req.peft_adapter,
        n_parameters=req.n_parameters,
        submitter=req.submitter,
        trust_remote_code=remote,
        notes=f"evaluated by biobench worker from request {req.request_id}",
    )
    prepared = prepare(outputs, meta)
    if lease is not None and not lease.is_current():
        raise LeaseLost("the lease was lost before the submission was stored")
    store.add(prepared)
    return prepared.submission_id


def work(
    store: Store,
    work_dir: Path,
    *,
    max_requests: int | None = None,
    until_empty: bool = False,
    poll: float = 30.0,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    heartbeat: float | None = None,
    reclaim_dead_local: bool = True,
    backends: frozenset[str] | None = None,
    gpus: int | None = None,
    env: dict[str, str] | None = None,
    allow_remote_code: bool = False,
) -> int:
    """Process requests; returns how many were processed (finished or failed).

    ``backends``: claim only requests for these backends (default: all), so a machine without
    vLLM leaves vLLM requests to the machines that have it instead of failing them; ``gpus``:
    leave hf requests with more data-parallel processes than this machine has GPUs to others."""
    queue = RequestQueue(store.root)
    worker = WorkerId.current()

    def accept(req: EvalRequest) -> bool:
        if backends is not None and str(req.backend) not in backends:
            return False
        hf_processes = req.data_parallel_size if req.backend == EvalBackend.HF else 1
        return gpus is None or hf_processes == 1 or hf_processes <= gpus

    done = 0
    while max_requests is None or done < max_requests:
        claim = queue.claim(
            worker, lease_seconds, reclaim_dead_local=reclaim_dead_local, accept=accept
        )
        if claim is None:
            if until_empty or max_requests is not None:
                break
            time.sleep(poll)
            continue
        if run_claim(queue, claim, store, work_dir, env, heartbeat, allow_remote_code):
            done += 1
    return done


def run_claim(
    queue: RequestQueue,
    claim: Claim,
    store: Store,
    work_dir: Path,
    env: dict[str, str] | None = None,
    heartbeat: float | None = None,
    allow_remote_code: bool = False,
) -> bool:
    """Evaluate one claimed request under its lease's heartbeat; False if the lease was lost."""
    req, lease = claim.request, claim.lease
    log.info("%s: %s (%s) RUNNING, lease %s", req.request_id, req.model_id, req.tasks, lease.path)
    try:
        with Heartbeat(lease, heartbeat):
            try:
                submission_id = process(req, store, work_dir, env, lease, allow_remote_code)
            except LeaseLost:
                raise
            except (WorkerError, SubmissionError, OSError, ValueError) as exc:
                queue.fail(claim.path, req, str(exc), lease)
                log.error("%s: FAILED: %s", req.request_id, exc)
            except Exception as exc:  # a bug: fail the request (not retried in a loop) and say so
                queue.fail(claim.path, req, f"{type(exc).__name__}: {exc}", lease)
                log.exception("%s: FAILED", req.request_id)
            else:
                queue.finish(claim.path, req, submission_id, lease)
                log.info("%s: FINISHED as %s", req.request_id, submission_id)
    except LeaseLost as exc:
        log.error("%s: %s", req.request_id, exc)
        return False
    except (KeyboardInterrupt, SystemExit):  # stopped (Ctrl-C, SIGTERM): give the request back
        queue.abandon(claim)
        raise
    return True


def installed_backends() -> set[str]:
    """The backends this machine can run: hf always, vllm when the package is installed."""
    import importlib.util

    found = {EvalBackend.HF.value}
    if importlib.util.find_spec("vllm") is not None:
        found.add(EvalBackend.VLLM.value)
    return found


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench worker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--store", type=Path, help="submissions root (default: submissions/)")
    parser.add_argument(
        "--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="evaluation outputs"
    )
    parser.add_argument("--max-requests", type=int, help="stop after this many requests")
    parser.add_argument("--until-empty", action="store_true", help="exit when nothing is runnable")
    parser.add_argument("--poll", type=float, default=30.0, help="seconds between queue checks")
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=DEFAULT_LEASE_SECONDS,
        help="a request whose worker has not renewed its lease for this long is taken over "
        "(renewed every lease-seconds / 4)",
    )
    parser.add_argument(
        "--backend",
        dest="backends",
        action="append",
        choices=[b.value for b in EvalBackend],
        help="claim only requests for this backend (repeatable; default: hf, and vllm when it "
        "is installed here); hf requests needing more GPUs than this machine has are left alone",
    )
    parser.add_argument(
        "--allow-remote-code",
        dest="allow_remote_code",
        action="store_true",
        help="evaluate models whose configs ask for their own code (auto_map) with "
        "trust_remote_code=True: that code runs as this worker's user. Off by default; a "
        "request file cannot turn it on",
    )
    args = parser.parse_args(argv)
    if args.lease_seconds < 4:
        parser.error("--lease-seconds must be at least 4")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # abandon the current request, then exit
    count = work(
        Store(args.store),
        args.work_dir,
        max_requests=args.max_requests,
        until_empty=args.until_empty,
        poll=args.poll,
        lease_seconds=args.lease_seconds,
        backends=frozenset(args.backends or installed_backends()),
        gpus=_cuda_devices(),
        allow_remote_code=args.allow_remote_code,
    )
    print(f"processed {count} request(s)")
    return 0
