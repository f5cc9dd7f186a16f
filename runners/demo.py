"""``make demo`` / ``biobench demo``: the whole product once, on the embedded model.

1. prepare the embedded SmolLM2-135M-Instruct;
2. evaluate it on ``bio_qa``, ``bio_ie`` and ``bio_gen`` with small ``--limit``s;
3. LoRA-tune it on instruction data available offline — instructions built from the TRAINING
   splits in ``$BIOBENCH_DATA_DIR`` when present, else the project's 80 seed tasks;
4. evaluate the tuned adapter the same way;
5. submit both runs to a demo store, write a comparison report (HTML + Markdown);
6. print the command that opens the leaderboard.

Every step records what it produced in ``runs/demo/state.json``; a rerun skips finished steps,
and a killed step starts again (lm-eval and the finetune resume from their own checkpoints).
With neither ``$BIOBENCH_DATA_DIR`` nor the hub, the evaluations use the shipped samples
(``BIOBENCH_ALLOW_SAMPLES=1``): the pipeline runs, the scores mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from runners.cli import Parser
from tasks.common import atomic

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "bioinstruct_data" / "seed_tasks.jsonl"
BASE_ID = "demo/SmolLM2-135M-Instruct"
TUNED_ID = "demo/SmolLM2-135M-Instruct-LoRA"


@dataclass(frozen=True)
class DemoConfig:
    """The demo's budget: sized to finish in well under 15 minutes on 2 CPU cores."""

    out: Path = ROOT / "runs" / "demo"
    # items per task (lm-eval --limit, the first N test items) per group
    limits: tuple[tuple[str, int], ...] = (("bio_qa", 20), ("bio_ie", 8), ("bio_gen", 3))
    max_gen_toks: int = 64  # caps every generation in the demo (recorded in the submission)
    finetune_config: str = "smollm2-135m"
    finetune_steps: int = 24
    seed: int = 1234

    @property
    def state_file(self) -> Path:
        return self.out / "state.json"


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "runners.cli", *args]


def _run(cmd: list[str]) -> None:
    print("  $ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"demo: step failed (exit {proc.returncode}): {' '.join(cmd)}")


class Steps:
    """Named steps whose results persist in a JSON state file (atomic writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, object] = (
            json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        )
        self.count = 0

    def run(self, name: str, total: int, fn: Callable[[], object]) -> object:
        self.count += 1
        if name in self.state:
            print(f"[{self.count}/{total}] {name}: done before, reusing", flush=True)
            return self.state[name]
        print(f"[{self.count}/{total}] {name} ...", flush=True)
        started = time.time()
        result = fn()
        self.state[name] = result
        atomic.write_json(self.path, self.state)
        print(f"[{self.count}/{total}] {name}: {time.time() - started:.0f} s", flush=True)
        return result


def evaluate(cfg: DemoConfig, model_args: str, folder: Path) -> str:
    for group, limit in cfg.limits:
        _run(
            _python(
                "eval",
                "--model",
                "hf",
                "--model_args",
                model_args,
                "--tasks",
                group,
                "--limit",
                str(limit),
                "--seed",
                str(cfg.seed),
                "--batch_size",
                "8",
                "--gen_kwargs",
                f"max_gen_toks={cfg.max_gen_toks}",
                "--output_path",
                str(folder / group),
            )
        )
    return str(folder)


def training_data(cfg: DemoConfig) -> str:
    """``offline`` (training splits under $BIOBENCH_DATA_DIR) or the seed tasks."""
    return "offline" if os.environ.get("BIOBENCH_DATA_DIR") else str(SEEDS)


def submit(folder: Path, model_id: str, store: Path, extra: list[str]) -> str:
    runs = sorted(str(p) for p in folder.iterdir() if p.is_dir())
    _run(
        _python(
            "submit",
            *runs,
            "--model-id",
            model_id,
            "--store",
            str(store),
            "--replace",
            "--submitter",
            "make demo",
            "--precision",
            "float32",
            *extra,
        )
    )
    return model_id


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="biobench demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=DemoConfig.out, help="demo folder")
    parser.add_argument("--fresh", action="store_true", help="forget earlier progress")
    args = parser.parse_args(argv)
    cfg = DemoConfig(out=args.out)
    cfg.out.mkdir(parents=True, exist_ok=True)
    if args.fresh and cfg.state_file.exists():
        cfg.state_file.unlink()
    if not os.environ.get("BIOBENCH_DATA_DIR"):
        os.environ.setdefault("BIOBENCH_ALLOW_SAMPLES", "1")
        print(
            "demo: no BIOBENCH_DATA_DIR — evaluating on the shipped SAMPLES (scores mean nothing)"
        )
    print("demo config: " + json.dumps(asdict(cfg), default=str))
    steps = Steps(cfg.state_file)
    total = 7
    store = cfg.out / "submissions"

    def prepare() -> str:
        from runners.model import prepare_default_model

        return str(prepare_default_model())

    base = str(steps.run("prepare the embedded model", total, prepare))
    base_runs = Path(
        str(
            steps.run(
                "evaluate the base model",
                total,
                lambda: evaluate(cfg, f"pretrained={base}", cfg.out / "eval" / "base"),
            )
        )
    )
    adapter_dir = cfg.out / "finetune"

    def finetune() -> str:
        _run(
            _python(
                "finetune",
                "--config",
                cfg.finetune_config,
                "--output-dir",
                str(adapter_dir),
                "--data",
                training_data(cfg),
                "--max-steps",
                str(cfg.finetune_steps),
            )
        )
        return str(adapter_dir / "adapter")

    adapter = str(steps.run("LoRA-tune on offline instructions", total, finetune))
    tuned_runs = Path(
        str(
            steps.run(
                "evaluate the tuned model",
                total,
                lambda: evaluate(
                    cfg, f"pretrained={base},peft={adapter}", cfg.out / "eval" / "tuned"
                ),
            )
        )
    )

    def submit_both() -> list[str]:
        common = ["--license", "apache-2.0", "--n-parameters", "134515008"]
        return [
            submit(base_runs, BASE_ID, store, [*common, "--model-type", "instruction-tuned"]),
            submit(
                tuned_runs,
                TUNED_ID,
                store,
                [
                    *common,
                    "--model-type",
                    "instruction-tuned",
                    "--base-model",
                    BASE_ID,
                    "--adapter",
                    adapter,
                ],
            ),
        ]

    steps.run("submit both runs", total, submit_both)

    def report() -> str:
        out = cfg.out / "report.html"
        _run(_python("compare", BASE_ID, TUNED_ID, "--store", str(store), "--out", str(out)))
        _run(
            _python(
                "compare",
                BASE_ID,
                TUNED_ID,
                "--store",
                str(store),
                "--out",
                str(out.with_suffix(".md")),
            )
        )
        return str(out)

    report_path = steps.run("write the comparison report", total, report)
    steps.run("done", total, lambda: True)
    print(f"\nreport: {report_path} (and {Path(str(report_path)).with_suffix('.md')})")
    print(f"submissions: {store}")
    print(f"open the leaderboard:  .venv/bin/biobench leaderboard --submissions {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
