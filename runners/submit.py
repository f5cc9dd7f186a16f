"""``biobench submit``: check an lm-eval output folder and store it as a submission.

    biobench submit runs/<model> --license apache-2.0 --model-type instruction-tuned
    biobench submit runs/a runs/b --meta meta.json --replace

Every results_*.json under the given folders (or the named results files) is checked with its
samples logs (see ``leaderboard/validate.py`` for the full list of checks) and stored under
``submissions/<org>__<model>/<run-id>/`` (``--store`` or $BIOBENCH_SUBMISSIONS_DIR to change).
Per-task runs of one model may be submitted together: they merge into one submission. A stored
run of the same model (revision, precision, adapter, suite, prompt form) that measured a task at
the same version on the same items is a duplicate: rejected, or with ``--replace`` removed and
replaced. A rerun under a newer task version or on another item subset (``--lite`` after
``--limit``) is a new measurement and is stored beside the old one.

Metadata the run does not carry comes from flags or ``--meta FILE`` (a JSON object with the
same field names: model_id, revision, sha, base_model, adapter, adapter_revision, n_parameters,
precision, license, model_type, training_data, contamination_notes, submitter, notes, run_id);
flags win over the file. A rejection prints one message naming the problem and exits with 2;
the store is left unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leaderboard.schemas import ModelType, Precision
from runners.cli import Parser


def add_metadata_arguments(parser: argparse.ArgumentParser) -> None:
    """Metadata flags shared by ``biobench submit`` and ``biobench eval --submit``."""
    group = parser.add_argument_group("submission metadata")
    group.add_argument("--meta", type=Path, help="JSON file of metadata fields")
    group.add_argument(
        "--model-id", dest="model_id", help="org/name the submission is stored under"
    )
    group.add_argument("--revision", help="model revision (branch, tag or commit)")
    group.add_argument("--sha", help="commit sha of the model weights")
    group.add_argument("--base-model", dest="base_model", help="base model of a tuned model")
    group.add_argument("--adapter", help="PEFT adapter id or path, if one was evaluated")
    group.add_argument("--adapter-revision", dest="adapter_revision")
    group.add_argument("--n-parameters", dest="n_parameters", type=int)
    group.add_argument("--precision", choices=[p.value for p in Precision])
    group.add_argument("--license", help="license of the model, e.g. apache-2.0")
    group.add_argument("--model-type", dest="model_type", choices=[t.value for t in ModelType])
    group.add_argument(
        "--training-data",
        dest="training_data",
        action="append",
        default=[],
        help="declared training data (repeatable), e.g. 'BioInstruct 25k'",
    )
    group.add_argument("--contamination-notes", dest="contamination_notes")
    group.add_argument("--submitter", help="who submits (default: anonymous)")
    group.add_argument("--notes", help="free-text notes shown with the submission")
    group.add_argument("--run-id", dest="run_id", help="run folder name (default: time + hash)")
    group.add_argument(
        "--declare-remote-code",
        dest="trust_remote_code",
        action="store_true",
        default=None,
        help="the run used trust_remote_code=True and you reviewed the model's code",
    )
    group.add_argument("--replace", action="store_true", help="replace a duplicate submission")
    group.add_argument("--store", type=Path, help="submissions root (default: submissions/)")


def metadata_from_args(args: argparse.Namespace):
    from leaderboard.validate import Metadata

    base = Metadata.from_json(args.meta) if args.meta else Metadata()
    flags = Metadata(
        model_id=args.model_id,
        revision=args.revision,
        sha=args.sha,
        base_model=args.base_model,
        adapter=args.adapter,
        adapter_revision=args.adapter_revision,
        n_parameters=args.n_parameters,
        precision=args.precision,
        license=args.license,
        model_type=args.model_type,
        training_data=list(args.training_data or []),
        contamination_notes=args.contamination_notes,
        submitter=args.submitter,
        notes=args.notes,
        run_id=args.run_id,
        trust_remote_code=args.trust_remote_code,
    )
    return base.updated(flags)


def submit(paths: list[Path], args: argparse.Namespace) -> str:
    """Check and store; returns the submission id (raises SubmissionError on rejection)."""
    from leaderboard.store import Store
    from leaderboard.validate import prepare

    prepared = prepare(paths, metadata_from_args(args))
    store = Store(args.store)
    store.add(prepared, replace=args.replace)
    return prepared.submission_id


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench submit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, help="lm-eval output folders or results files"
    )
    add_metadata_arguments(parser)
    args = parser.parse_args(argv)
    from leaderboard.store import Store
    from leaderboard.validate import SubmissionError

    try:
        submission_id = submit(args.paths, args)
    except SubmissionError as exc:
        print(f"biobench submit: rejected: {exc}", file=sys.stderr)
        return 2
    store = Store(args.store)
    sub = store.read(submission_id)
    print(f"stored {submission_id} in {store.root}")
    for task in sub.tasks:
        if not task.is_detail:
            print(
                f"  {task.task:<32} {task.primary:<22} {task.score:.4f} "
                f"[{task.ci.low:.4f}, {task.ci.high:.4f}]  n={task.n_items}/{task.data.n_total}"
            )
    return 0
