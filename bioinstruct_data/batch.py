"""OpenAI Batch API mode (half price): write the batch file, upload it, create the batch, poll,
and collect the results into the same checkpoint as online generation.

Every step is recorded in ``batches.json`` (rewritten atomically) before the next one, so a kill
at any point resumes without paying twice:

* ``written``  — the input file ``batch_input_<n>.jsonl`` exists; next: upload it;
* ``uploaded`` — the file id is known; next: create the batch. A kill between create and the
  state write is recovered by finding the batch (listing batches) by its input file id;
* ``submitted`` — poll until the batch ends; then download its output (and error) files and
  append each result to ``raw_responses.jsonl`` (skipping request indices already there);
* ``collected`` — done. Failed lines stay missing and are asked again by the next batch.

Outstanding batches reserve their worst-case cost in the budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import openai

from bioinstruct_data.config import InstructConfig
from bioinstruct_data.generate import (
    GenerateReport,
    checkpoint_row,
    done_indices,
    plan_request,
    request_estimate,
)
from bioinstruct_data.jsonl import AppendLog, write_json, write_text
from bioinstruct_data.rundir import RunDir
from bioinstruct_data.seeds import load_seeds
from bioinstruct_data.templates import load_generate_template
from tasks.ground.openai_client import Budget, make_client

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
TERMINAL = {"completed", "failed", "expired", "cancelled"}


def _state_path(run: RunDir):
    return run.path("batches.json")


def load_state(run: RunDir) -> list[dict[str, Any]]:
    path = _state_path(run)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def save_state(run: RunDir, state: list[dict[str, Any]]) -> None:
    write_json(_state_path(run), state)


def batch_body(config: InstructConfig, messages: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "model": config.model,
        "messages": messages,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
    }


async def run_batches(
    config: InstructConfig,
    run: RunDir,
    indices: list[int],
    client: openai.AsyncOpenAI | None = None,
    wait: bool = True,
) -> GenerateReport:
    """Resume outstanding batches, submit one for the missing ``indices``, optionally wait."""
    config.require_prices(config.model)
    own_client = client is None
    client = client or make_client(config)
    try:
        state = load_state(run)
        report = GenerateReport(planned=len(indices))
        for job in state:
            if job["status"] != "collected":
                await _advance(config, run, client, state, job, wait, report)
        busy = {i for job in state if job["status"] != "collected" for i in job["indices"]}
        done = done_indices(run)
        pending = [i for i in dict.fromkeys(indices) if i not in done and i not in busy]
        report.already_done = len([i for i in indices if i in done])
        if pending:
            job = _write_job(config, run, state, pending, report)
            if job is not None:
                await _advance(config, run, client, state, job, wait, report)
        report.spent_usd = run.spent()
        return report
    finally:
        if own_client:
            await client.close()


def _write_job(
    config: InstructConfig,
    run: RunDir,
    state: list[dict[str, Any]],
    pending: list[int],
    report: GenerateReport,
) -> dict[str, Any] | None:
    seeds = load_seeds(config.seed_file)
    template = load_generate_template(config.generate_prompt)
    outstanding = sum(job["estimate_usd"] for job in state if job["status"] != "collected")
    budget = Budget(config.max_cost or None, run.spent() + outstanding)
    lines, chosen, estimate = [], [], 0.0
    for index in pending[: config.batch_max_requests]:
        request = plan_request(config, seeds, template, index)
        cost = request_estimate(config, request, batch=True)
        if not budget.try_reserve(cost):
            report.stopped_by_budget = True
            report.not_sent_budget = len(pending) - len(chosen)
            log.warning("budget: %d requests fit in the batch (%s)", len(chosen), budget.describe())
            break
        lines.append(
            json.dumps(
                {
                    "custom_id": request.custom_id,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": batch_body(config, request.messages),
                }
            )
        )
        chosen.append(index)
        estimate += cost
    if not chosen:
        return None
    number = len(state)
    name = f"batch_input_{number:03d}.jsonl"
    write_text(run.path(name), "\n".join(lines) + "\n")
    job = {
        "number": number,
        "file": name,
        "indices": chosen,
        "estimate_usd": estimate,
        "status": "written",
        "input_file_id": "",
        "batch_id": "",
        "created": time.time(),
    }
    state.append(job)
    save_state(run, state)
    return job


async def _advance(
    config: InstructConfig,
    run: RunDir,
    client: openai.AsyncOpenAI,
    state: list[dict[str, Any]],
    job: dict[str, Any],
    wait: bool,
    report: GenerateReport,
) -> None:
    if job["status"] == "written":
        data = run.path(job["file"]).read_bytes()
        uploaded = await client.files.create(file=(job["file"], data), purpose="batch")
        job.update(status="uploaded", input_file_id=uploaded.id)
        save_state(run, state)
        log.info("batch %d: uploaded %s as %s", job["number"], job["file"], uploaded.id)
    if job["status"] == "uploaded":
        existing = await _find_batch(client, job["input_file_id"])
        batch = existing or await client.batches.create(
            input_file_id=job["input_file_id"],
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"biobench_run": run.root.name, "biobench_part": str(job["number"])},
        )
        job.update(status="submitted", batch_id=batch.id)
        save_state(run, state)
        log.info("batch %d: %s %s", job["number"], "found" if existing else "created", batch.id)
    while job["status"] == "submitted":
        batch = await client.batches.retrieve(job["batch_id"])
        if batch.status in TERMINAL:
            _collect(
                config,
                run,
                job,
                batch.status,
                await _content(client, batch.output_file_id),
                await _content(client, getattr(batch, "error_file_id", None)),
                report,
            )
            job["status"] = "collected"
            job["batch_status"] = batch.status
            save_state(run, state)
            break
        if not wait:
            log.info(
                "batch %d (%s) is %s; run again later to collect it",
                job["number"],
                job["batch_id"],
                batch.status,
            )
            break
        await asyncio.sleep(config.batch_poll_s)


async def _find_batch(client: openai.AsyncOpenAI, input_file_id: str):
    page = await client.batches.list(limit=100)
    for batch in page.data:
        if batch.input_file_id == input_file_id:
            return batch
    return None


async def _content(client: openai.AsyncOpenAI, file_id: str | None) -> str:
    if not file_id:
        return ""
    response = await client.files.content(file_id)
    return response.text


def _collect(
    config: InstructConfig,
    run: RunDir,
    job: dict[str, Any],
    status: str,
    output: str,
    errors: str,
    report: GenerateReport,
) -> None:
    seeds = load_seeds(config.seed_file)
    template = load_generate_template(config.generate_prompt)
    checkpoint = AppendLog(run.raw)
    done = done_indices(run)
    wanted = set(job["indices"])
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            index = int(item["custom_id"].removeprefix("req-"))
            response = item.get("response") or {}
            body = response.get("body") or {}
            choice = body["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            report.failed += 1
            log.error("batch %d: unreadable output line (%s): %.160s", job["number"], exc, line)
            continue
        if index not in wanted or index in done or response.get("status_code") != 200:
            if response.get("status_code") != 200:
                report.failed += 1
            continue
        usage = body.get("usage") or {}
        row = checkpoint_row(
            config,
            template,
            plan_request(config, seeds, template, index),
            text=text or "",
            finish_reason=str(choice.get("finish_reason") or ""),
            response_id=str(body.get("id") or ""),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            mode="batch",
            requested_at=_iso(job["created"]),
            attempts=1,
        )
        checkpoint.append(row)
        done.add(index)
        report.completed += 1
    failed_lines = [line for line in errors.splitlines() if line.strip()]
    report.failed += len(failed_lines)
    if failed_lines or status != "completed":
        log.warning(
            "batch %d ended %s with %d failed lines; those indices will be asked again",
            job["number"],
            status,
            len(failed_lines),
        )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def batch_generate(
    config: InstructConfig,
    run: RunDir,
    indices: list[int],
    client: openai.AsyncOpenAI | None = None,
    wait: bool = True,
) -> GenerateReport:
    return asyncio.run(run_batches(config, run, indices, client, wait))
