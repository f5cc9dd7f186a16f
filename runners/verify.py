"""``biobench verify``: rerun a stored submission's model on a seeded sample of its items.

    biobench verify HuggingFaceTB__SmolLM2-135M-Instruct/20261121-default --items 20
    biobench verify test__tiny-a/<run> --pretrained path/to/weights --items 5 --tasks bio_pubmedqa

``biobench submit`` re-scores every item from what the model produced (see
``leaderboard/rescore.py``), but what the model produced — log-likelihoods, generated text — can
only be checked by running the model again. This command does that on a few items per task:
``--items`` doc ids per task drawn with ``--seed`` from the submission's logged items, evaluated
with lm-eval's ``--samples`` (the suite's tasks, the submission's model arguments and batch size),
and compared item for item: the chosen option of multiple-choice items, the stored (filtered)
response of generative ones (responses withheld for echoing the test item are skipped).

Exit status 0: every checked item agrees; 1: some disagree (each is printed); 2: bad input.
Greedy decoding on the same weights and dtype is deterministic up to floating-point batch
effects, so a rare disagreement on a near-tie is possible; many are evidence of forged outputs.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from leaderboard import items as itemlib
from leaderboard.loader import ItemsError, read_items
from leaderboard.store import Store
from runners.cli import Parser


def sample_items(records: list, tasks: list[str], n: int, seed: int) -> dict[str, list[int]]:
    """Per task, ``n`` logged doc ids drawn with ``seed`` (sorted), from one filter's items."""
    by_task: dict[str, set[int]] = {}
    for it in records:
        if it.task in tasks:
            by_task.setdefault(it.task, set()).add(it.doc_id)
    rng = random.Random(seed)
    return {t: sorted(rng.sample(sorted(ids), min(n, len(ids)))) for t, ids in by_task.items()}


def _model_args(sub, pretrained: str | None) -> dict:
    try:
        args = json.loads(sub.run.model_args) if sub.run.model_args else {}
    except ValueError:
        args = {}
    args = {k: v for k, v in args.items() if k in ("dtype", "revision", "peft", "pretrained")}
    if pretrained:
        args["pretrained"] = pretrained
    if sub.model.trust_remote_code:
        args["trust_remote_code"] = True
    return args


def rerun(sub, chosen: dict[str, list[int]], pretrained: str | None, out: Path) -> list:
    """Evaluate the chosen items with the suite's tasks; returns their new item records."""
    cmd = [
        sys.executable, "-m", "runners.cli", "eval", "--model", "hf",
        "--model_args", json.dumps(_model_args(sub, pretrained), sort_keys=True),
        "--tasks", ",".join(sorted(chosen)), "--samples", json.dumps(chosen),
        "--output_path", str(out),
    ]  # fmt: skip
    if sub.run.batch_size:
        cmd += ["--batch_size", sub.run.batch_size]
    gen = {t.task: t.generation_kwargs for t in sub.tasks if t.generation_kwargs}
    caps = {kw.get("max_gen_toks") for kw in gen.values() if kw and kw.get("max_gen_toks")}
    if len(caps) == 1:
        cmd += ["--gen_kwargs", f"max_gen_toks={int(caps.pop())}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the rerun failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    records = []
    kinds = {t.task: t.output_type for t in sub.tasks}
    for path in out.rglob("samples_*.jsonl"):
        task = next((t for t in chosen if path.name.startswith(f"samples_{t}_")), None)
        if task is None:
            continue
        for number, sample in itemlib.read_jsonl(path):
            where = f"{path.name} line {number}"
            records.append(itemlib.item_from_sample(task, sample, kinds[task], where))
    return records


def compare(stored: list, fresh: list) -> tuple[int, list[str]]:
    """(items compared, disagreements described) on (task, filter, doc_id)."""
    old = {(it.task, it.filter, it.doc_id): it for it in stored}
    checked, problems = 0, []
    for it in fresh:
        before = old.get((it.task, it.filter, it.doc_id))
        if before is None:
            continue
        if before.choice is not None or it.choice is not None:
            checked += 1
            if before.choice != it.choice:
                problems.append(
                    f"{it.task} doc_id {it.doc_id}: stored choice {before.choice}, rerun {it.choice}"
                )
        elif before.response is not None and not itemlib.is_withheld(before.response):
            checked += 1
            if before.response != it.response:
                problems.append(
                    f"{it.task} doc_id {it.doc_id} ({it.filter}): stored response "
                    f"{before.response[:60]!r}, rerun {(it.response or '')[:60]!r}"
                )
    return checked, problems


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submission", help="submission id (<org>__<model>/<run>) or its folder")
    parser.add_argument("--items", type=int, default=10, help="items per task (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", help="comma-separated tasks of the submission (default: all)")
    parser.add_argument("--pretrained", help="where the weights are (default: the run's own)")
    parser.add_argument("--store", type=Path, help="submissions root (default: submissions/)")
    args = parser.parse_args(argv)
    store = Store(args.store)
    try:
        sid = store.resolve(args.submission)
        sub = store.read(sid)
        records = read_items(store.root, sub)
    except (KeyError, ValueError, OSError, ItemsError) as exc:
        print(f"biobench verify: {args.submission}: {exc} — give a stored submission id "
              "(biobench leaderboard lists them)", file=sys.stderr)  # fmt: skip
        return 2
    leaves = [t.task for t in sub.tasks]
    wanted = [t.strip() for t in args.tasks.split(",")] if args.tasks else leaves
    unknown = sorted(set(wanted) - set(leaves))
    if unknown or args.items < 1:
        print(f"biobench verify: --tasks {unknown} are not in {sid} (it has {leaves}) or "
              "--items < 1 — name tasks of the submission", file=sys.stderr)  # fmt: skip
        return 2
    chosen = sample_items(records, wanted, args.items, args.seed)
    with tempfile.TemporaryDirectory(prefix="biobench-verify-") as tmp:
        try:
            fresh = rerun(sub, chosen, args.pretrained, Path(tmp))
        except (RuntimeError, itemlib.ItemError) as exc:
            print(f"biobench verify: {exc}", file=sys.stderr)
            return 2
    checked, problems = compare(records, fresh)
    for line in problems:
        print(f"DISAGREES  {line}")
    total = sum(len(v) for v in chosen.values())
    print(f"{sid}: {checked - len(problems)}/{checked} rerun items agree "
          f"({total} drawn with seed {args.seed} over {len(chosen)} tasks)")  # fmt: skip
    return 1 if problems else 0
