"""``biobench compare``: statistical comparison report of stored submissions.

    biobench compare HuggingFaceTB__SmolLM2-135M-Instruct/<run-a> <org>__<model>/<run-b> \\
        --out report.html --out report.md
    biobench compare <loglik run> <gen run> --match dataset --labels loglik,generative --out r.html

Submissions are named by id (``<org>__<model>/<run-id>``), folder, or ``org/model`` when the
model has one run. Per task and group: score with 95% CI, paired difference with paired
bootstrap CI and p, McNemar (0/1 metrics) or approximate randomisation (corpus metrics), Holm
and Benjamini-Hochberg across the report, clustered SEs where items carry clusters, and the
minimum detectable effect at 80% power. ``--out`` ending in .html gives a self-contained page
(figures embedded), .md a Markdown file with its figures next to it, .json the Comparison data.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from leaderboard.compare import CompareError, compare
from leaderboard.report import render_html, render_markdown
from leaderboard.schemas import N_RESAMPLES, StatsSettings
from leaderboard.store import Store
from runners.cli import Parser
from tasks.ground import atomic

log = logging.getLogger(__name__)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_outputs(comparison, outs: list[Path]) -> list[Path]:
    written = []
    for out in outs:
        suffix = out.suffix.lower()
        if suffix in (".html", ".htm"):
            _write(out, render_html(comparison).encode("utf-8"))
        elif suffix == ".md":
            text, images = render_markdown(comparison, out.stem)
            for name, blob in images.items():
                _write(out.with_name(name), blob)
                written.append(out.with_name(name))
            _write(out, text.encode("utf-8"))
        elif suffix == ".json":
            atomic.write_json(out, comparison.model_dump(mode="json"))
        else:
            raise CompareError(f"--out {out}: use a name ending in .html, .md or .json")
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="biobench compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", nargs="+", help="two or more submission ids or folders")
    parser.add_argument("--tasks", default="", help="comma-separated tasks, datasets or groups")
    parser.add_argument("--match", choices=["task", "dataset"], default="task")
    parser.add_argument("--labels", default="", help="comma-separated display names, in order")
    parser.add_argument(
        "--out", type=Path, action="append", required=True, help=".html, .md or .json"
    )
    parser.add_argument("--resamples", type=int, default=N_RESAMPLES)
    parser.add_argument("--permutations", type=int, default=N_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--store", type=Path, help="submissions root (default: submissions/)")
    args = parser.parse_args(argv)
    try:
        settings = StatsSettings(
            n_resamples=args.resamples,
            n_permutations=args.permutations,
            seed=args.seed,
            alpha=args.alpha,
            power=args.power,
        )
        comparison = compare(
            args.submissions,
            store=Store(args.store),
            tasks=args.tasks.split(",") if args.tasks else None,
            match=args.match,
            labels=[x.strip() for x in args.labels.split(",")] if args.labels else None,
            settings=settings,
        )
        written = write_outputs(comparison, args.out)
    except (CompareError, ValueError) as exc:
        print(f"biobench compare: {exc}", file=sys.stderr)
        return 2
    for test in comparison.tests:
        mark = "*" if test.significant else " "
        print(
            f"{mark} {test.kind:<5} {test.column:<24} {comparison.labels[test.a]} - "
            f"{comparison.labels[test.b]}: {test.diff:+.4f} [{test.ci_low:+.4f}, {test.ci_high:+.4f}] "
            f"{test.test} p={test.p_value:.4g} holm={test.p_holm:.4g}"
        )
    for path in written:
        print(f"wrote {path}")
    return 0
