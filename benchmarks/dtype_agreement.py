"""Do two precisions of one model score the same? Per-item agreement of two lm-eval runs.

    python -m benchmarks.dtype_agreement runs/evidence/dtype/float32 runs/evidence/dtype/bfloat16 \\
        --out benchmarks/reports/dtype_agreement.json

Each argument is a folder of lm-eval outputs (``results_*.json`` + ``samples_<task>_*.jsonl``,
searched recursively) of the same tasks on the same items. For every multiple-choice task
present in both: items, per-item choice agreement, each run's accuracy with its 95% Wilson
interval, McNemar's exact p for the paired difference, and the mean and maximum absolute
difference of the logged option log-likelihoods; plus the share of items whose choice is the
run's most frequent option (a near-constant model agrees trivially, so say so). The bar a
precision must pass to become the default: choice identical on >= 99% of items of each task
and the accuracy difference inside both intervals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

AGREEMENT_BAR = 0.99


def _samples(folder: Path) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for path in sorted(folder.rglob("samples_*.jsonl")):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        out[task] = {r["doc_id"]: r for r in rows if r.get("filter", "none") == "none"}
    return out


def _lls(sample: dict) -> list[float]:
    return [float(pair[0]) for pair in sample["filtered_resps"]]


def compare(a_dir: Path, b_dir: Path) -> dict:
    a_all, b_all = _samples(a_dir), _samples(b_dir)
    tasks = {}
    for task in sorted(set(a_all) & set(b_all)):
        a, b = a_all[task], b_all[task]
        ids = sorted(set(a) & set(b))
        if not ids or "acc" not in a[ids[0]]:
            continue
        diffs, agree, table = [], 0, [[0, 0], [0, 0]]
        choice_a, choice_b = [], []
        for i in ids:
            la, lb = _lls(a[i]), _lls(b[i])
            diffs += [abs(x - y) for x, y in zip(la, lb, strict=True)]
            ca, cb = la.index(max(la)), lb.index(max(lb))
            choice_a.append(ca)
            choice_b.append(cb)
            agree += ca == cb
            table[int(a[i]["acc"])][int(b[i]["acc"])] += 1
        n = len(ids)
        acc_a = sum(int(a[i]["acc"]) for i in ids)
        acc_b = sum(int(b[i]["acc"]) for i in ids)
        ci_a = proportion_confint(acc_a, n, method="wilson")
        ci_b = proportion_confint(acc_b, n, method="wilson")
        p = float(mcnemar(table, exact=True).pvalue) if table[0][1] + table[1][0] else 1.0
        agreement = agree / n
        tasks[task] = {
            "items": n,
            "choice_agreement": round(agreement, 4),
            "acc_a": round(acc_a / n, 4),
            "acc_a_ci95": [round(x, 4) for x in ci_a],
            "acc_b": round(acc_b / n, 4),
            "acc_b_ci95": [round(x, 4) for x in ci_b],
            "mcnemar_p": round(p, 4),
            "discordant": [table[1][0], table[0][1]],
            "mean_abs_ll_diff": round(sum(diffs) / len(diffs), 5),
            "max_abs_ll_diff": round(max(diffs), 5),
            "most_frequent_choice_share_a": round(Counter(choice_a).most_common(1)[0][1] / n, 4),
            "most_frequent_choice_share_b": round(Counter(choice_b).most_common(1)[0][1] / n, 4),
            "passes": agreement >= AGREEMENT_BAR
            and ci_a[0] <= acc_b / n <= ci_a[1]
            and ci_b[0] <= acc_a / n <= ci_b[1],
        }
    return {
        "a": str(a_dir),
        "b": str(b_dir),
        "bar": f"choice identical on >= {AGREEMENT_BAR:.0%} of items; acc inside both CIs",
        "tasks": tasks,
        "all_pass": bool(tasks) and all(t["passes"] for t in tasks.values()),
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Precision agreement: `{report['a']}` (a) vs `{report['b']}` (b)",
        "",
        f"Bar: {report['bar']}.",
        "",
        "| task | items | choice agreement | acc a [95% CI] | acc b [95% CI] | McNemar p | "
        "mean / max abs log-lik diff | top-choice share a / b | passes |",
        "|---|---:|---:|---|---|---:|---|---|---|",
    ]
    for task, t in report["tasks"].items():
        lines.append(
            f"| {task} | {t['items']} | {t['choice_agreement']:.4f} | {t['acc_a']:.3f} "
            f"[{t['acc_a_ci95'][0]:.3f}, {t['acc_a_ci95'][1]:.3f}] | {t['acc_b']:.3f} "
            f"[{t['acc_b_ci95'][0]:.3f}, {t['acc_b_ci95'][1]:.3f}] | {t['mcnemar_p']:.3f} | "
            f"{t['mean_abs_ll_diff']:.4f} / {t['max_abs_ll_diff']:.4f} | "
            f"{t['most_frequent_choice_share_a']:.3f} / {t['most_frequent_choice_share_b']:.3f} | "
            f"{'yes' if t['passes'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--out", type=Path, help="write the report (.json, and .md beside it)")
    args = parser.parse_args(argv)
    for folder in (args.a, args.b):
        if not folder.is_dir():
            print(f"dtype_agreement: {folder}: no such folder — pass lm-eval output folders",
                  file=sys.stderr)  # fmt: skip
            return 2
    report = compare(args.a, args.b)
    text = markdown(report)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0 if report["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
