"""``biobench verify``: rerun a stored submission's model on a seeded sample of its items.

    biobench verify HuggingFaceTB__SmolLM2-135M-Instruct/20261121-default --items 20
    biobench verify test__tiny-a/<run> --pretrained path/to/weights --items 5 --tasks bio_pubmedqa

``biobench submit`` re-scores every item from what the model produced (see
``leaderboard/rescore.py``), but what the model produced — log-likelihoods, generated text — can
only be checked by running the model again. This command does that on a few items per task:
``--items`` doc ids per task drawn with ``--seed`` from the submission's logged items, evaluated
with lm-eval's ``--samples`` as the submission ran them (``leaderboard/evalspec.py``: its model
arguments, batch size, chat template, few-shot count, matmul precision, seed and generation cap),
and compared item for item: the chosen option of multiple-choice items, the stored (filtered)
response of generative ones (responses withheld for echoing the test item are skipped).

Exit status 0: every checked item agrees; 1: some disagree (each is printed); 2: bad input.
Greedy decoding on the same weights and dtype is deterministic up to floating-point batch
effects, so a rare disagreement on a near-tie is possible; many are evidence of forged outputs.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from leaderboard import items as itemlib
from leaderboard.evalspec import EvalSpec
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


def rerun_specs(
    sub, chosen: dict[str, list[int]], pretrained: str | None, allow_remote_code: bool = False
) -> list[EvalSpec]:
    """The evaluations of the chosen items, as the submission ran them
    (:meth:`EvalSpec.for_submission`: weights and load arguments, chat template, few-shot,
    matmul precision, seed, generation cap), restricted to the chosen doc ids (``--samples``).
    Remote code only with this command's ``--allow-remote-code``, never because the
    submission declared it."""
    out = []
    for spec in EvalSpec.for_submission(
        sub, pretrained=pretrained, trust_remote_code=allow_remote_code
    ):
        tasks = [t for t in spec.tasks if t in chosen]
        if tasks:
            samples = {t: chosen[t] for t in tasks}
            out.append(spec.with_(tasks=tuple(tasks), limit=None, lite=None, samples=samples))
    return out


def rerun(
    sub, chosen: dict[str, list[int]], pretrained: str | None, out: Path, allow_remote_code=False
) -> list:
    """Evaluate the chosen items with the suite's tasks; returns their new item records."""
    records = []
    kinds = {t.task: t.output_type for t in sub.tasks}
    for n, spec in enumerate(rerun_specs(sub, chosen, pretrained, allow_remote_code)):
        folder = out / f"run-{n}"
        proc = subprocess.run(
            spec.command(str(folder)), capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the rerun failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        for path in folder.rglob("samples_*.jsonl"):
            task = next((t for t in spec.tasks if path.name.startswith(f"samples_{t}_")), None)
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
    parser.add_argument(
        "--allow-remote-code",
        dest="allow_remote_code",
        action="store_true",
        help="rerun a model that needs its repository's own code (trust_remote_code=True); that "
        "code runs as you. A submission that declared remote code is refused without it",
    )
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
    if sub.model.trust_remote_code and not args.allow_remote_code:
        print(f"biobench verify: {sid} declares that its model runs code from its repository "
              "(trust_remote_code); review that code, then pass --allow-remote-code to rerun it",
              file=sys.stderr)  # fmt: skip
        return 2
    chosen = sample_items(records, wanted, args.items, args.seed)
    with tempfile.TemporaryDirectory(prefix="biobench-verify-") as tmp:
        try:
            fresh = rerun(sub, chosen, args.pretrained, Path(tmp), args.allow_remote_code)
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
