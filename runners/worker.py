"""``biobench worker``: evaluate queued requests and store their submissions.

    biobench worker                 # poll the queue forever
    biobench worker --until-empty   # work through the queue, then exit

For each request (oldest PENDING first, or a RUNNING one whose worker died): mark it RUNNING,
run ``biobench eval`` once per task or group of the request into
``<work-dir>/<request-id>/<task>/``, check and store the results as a submission, and mark the
request FINISHED (with the submission id) or FAILED (with the error). A task whose output
folder is complete is not run again, so a killed worker's request resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from leaderboard.requests import RequestQueue
from leaderboard.schemas import EvalRequest, Precision
from leaderboard.store import Store
from leaderboard.validate import Metadata, SubmissionError, prepare
from tasks import registry

log = logging.getLogger(__name__)

DEFAULT_WORK_DIR = Path("runs") / "requests"
LOG_TAIL_LINES = 40


class WorkerError(RuntimeError):
    pass


def model_args(req: EvalRequest) -> dict[str, object]:
    """lm-eval's ``hf`` model arguments as a structured value (passed to lm-eval as one JSON
    object, so no field of a request can add arguments: a folder named ``m,trust_remote_code=True``
    stays one path)."""
    args: dict[str, object] = {"pretrained": req.model}
    if not req.model.startswith("/"):
        args["revision"] = req.sha or req.revision
    precision = Precision(req.precision)
    if precision in (Precision.FLOAT32, Precision.FLOAT16, Precision.BFLOAT16):
        args["dtype"] = precision.value
    elif precision is Precision.INT8:
        args["load_in_8bit"] = True
    elif precision is Precision.INT4:
        args["load_in_4bit"] = True
    else:
        raise WorkerError(f"precision {precision} cannot be evaluated with the hf model")
    if req.peft_adapter:
        args["peft"] = req.peft_adapter
    if req.allow_remote_code:
        args["trust_remote_code"] = True
    return args


def eval_command(req: EvalRequest, task: str, out: Path) -> list[str]:
    """The ``biobench eval`` command of one task of a request: validated values only."""
    if task not in registry.suite_names():
        raise WorkerError(f"task {task!r} is not a suite task or group; refusing to run it")
    cmd = [
        sys.executable, "-m", "runners.cli", "eval", "--model", "hf",
        "--model_args", json.dumps(model_args(req), sort_keys=True),
        "--tasks", task, "--output_path", str(out),
    ]  # fmt: skip
    if req.limit:
        cmd += ["--limit", str(int(req.limit))]
    if req.max_gen_toks:
        cmd += ["--gen_kwargs", f"max_gen_toks={int(req.max_gen_toks)}"]
    return cmd


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def run_eval(req: EvalRequest, task: str, out: Path, env: dict[str, str] | None = None) -> Path:
    """``biobench eval`` of one task into ``out`` (written under a .partial name, then renamed)."""
    if any(out.rglob("results_*.json")):
        log.info("%s: %s already evaluated, skipping", req.request_id, task)
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    cmd = eval_command(req, task, partial)
    log_path = partial / "eval.log"
    log.info("%s: running %s", req.request_id, " ".join(cmd))
    with open(log_path, "w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        raise WorkerError(
            f"biobench eval --tasks {task} failed (exit {proc.returncode}):\n{_tail(log_path)}"
        )
    partial.rename(out)
    return out


def process(
    req: EvalRequest, store: Store, work_dir: Path, env: dict[str, str] | None = None
) -> str:
    """Evaluate one request and store its submission; returns the submission id."""
    outputs = []
    for task in registry.check_task_list(req.tasks):
        outputs.append(run_eval(req, task, work_dir / req.request_id / task, env))
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
        trust_remote_code=req.allow_remote_code,
        notes=f"evaluated by biobench worker from request {req.request_id}",
    )
    prepared = prepare(outputs, meta)
    store.add(prepared)
    return prepared.submission_id


def work(
    store: Store,
    work_dir: Path,
    *,
    max_requests: int | None = None,
    until_empty: bool = False,
    poll: float = 30.0,
    stale_after: float = 6 * 3600.0,
    env: dict[str, str] | None = None,
) -> int:
    """Process requests; returns how many were processed (finished or failed)."""
    queue = RequestQueue(store.root)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    done = 0
    while max_requests is None or done < max_requests:
        claimed = queue.claim(worker, stale_after)
        if claimed is None:
            if until_empty or max_requests is not None:
                break
            time.sleep(poll)
            continue
        path, req = claimed
        log.info("%s: %s (%s) RUNNING", req.request_id, req.model_id, req.tasks)
        try:
            submission_id = process(req, store, work_dir, env)
        except (WorkerError, SubmissionError, OSError, ValueError) as exc:
            queue.fail(path, req, str(exc))
            log.error("%s: FAILED: %s", req.request_id, exc)
        else:
            queue.finish(path, req, submission_id)
            log.info("%s: FINISHED as %s", req.request_id, submission_id)
        done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
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
        "--stale-after", type=float, default=6 * 3600.0, help="reclaim RUNNING after"
    )
    args = parser.parse_args(argv)
    count = work(
        Store(args.store),
        args.work_dir,
        max_requests=args.max_requests,
        until_empty=args.until_empty,
        poll=args.poll,
        stale_after=args.stale_after,
    )
    print(f"processed {count} request(s)")
    return 0
