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
from tasks.ground import atomic

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


# Seconds each step took in the measured run (README "What `make demo` does": 2-core CPU, real
# data, float32 with bf16 matmuls, 2026-12-07; the model step from the run before, where the
# model was prepared too); a rerun uses its own last measurement instead, from the state file.
ESTIMATES = {
    "prepare the embedded model": 20,
    "evaluate the base model": 188,
    "LoRA-tune on offline instructions": 74,
    "evaluate the tuned model": 172,
    "submit both runs": 44,
    "write the comparison report": 5,
    "done": 0,
}


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Steps:
    """Named steps whose results persist in a JSON state file (atomic writes), each announced
    with its number, the time since the start, and an estimate of it and of what is left."""

    def __init__(self, path: Path, names: list[str]) -> None:
        self.path = path
        self.names = names
        self.state: dict[str, object] = (
            json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        )
        self.seconds: dict[str, float] = dict(self.state.get("_seconds", {}))  # type: ignore[arg-type]
        self.started = time.time()
        self.count = 0

    def estimate(self, name: str) -> float:
        return float(self.seconds.get(name, ESTIMATES.get(name, 0)))

    def left(self, name: str) -> float:
        todo = self.names[self.names.index(name) :]
        return sum(self.estimate(n) for n in todo if n not in self.state)

    def run(self, name: str, fn: Callable[[], object]) -> object:
        self.count += 1
        head = f"[{self.count}/{len(self.names)}] {name}"
        if name in self.state:
            print(f"{head}: done before, reusing", flush=True)
            return self.state[name]
        print(
            f"{head} ... (elapsed {_clock(time.time() - self.started)}; this step about "
            f"{_clock(self.estimate(name))}, about {_clock(self.left(name))} left in all)",
            flush=True,
        )
        started = time.time()
        result = fn()
        self.seconds[name] = round(time.time() - started, 1)
        self.state[name] = result
        self.state["_seconds"] = self.seconds
        atomic.write_json(self.path, self.state)
        print(f"{head}: {_clock(self.seconds[name])}", flush=True)
        return result


def evaluate(cfg: DemoConfig, model_args: str, root: Path) -> str:
    """Each group of ``cfg.limits``; lm-eval writes them all to ``root/<model>/``."""
    from leaderboard.evalspec import EvalSpec, parse_model_args
    from runners.eval import run_folder_name

    args = parse_model_args(model_args)
    model = EvalSpec(
        model=str(args.pop("pretrained")), tasks=(), model_args=args, seed=cfg.seed,
        batch_size="8", max_gen_toks=cfg.max_gen_toks,
    )  # fmt: skip
    for k, (group, limit) in enumerate(cfg.limits, 1):
        print(f"  group {k}/{len(cfg.limits)}: {group}, first {limit} items per task", flush=True)
        spec = model.with_(tasks=(group,), limit=limit)
        _run(_python("eval", *spec.eval_argv(str(root))))
    return str(root / (run_folder_name(model_args) or ""))


def training_data(cfg: DemoConfig) -> str:
    """``offline`` (training splits under $BIOBENCH_DATA_DIR) or the seed tasks."""
    return "offline" if os.environ.get("BIOBENCH_DATA_DIR") else str(SEEDS)


def submit(folder: Path, model_id: str, store: Path, extra: list[str]) -> str:
    _run(
        _python(
            "submit",
            str(folder),
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


class Demo:
    """The demo's steps, each a method, run in order by ``run`` through ``Steps``."""

    def __init__(self, cfg: DemoConfig) -> None:
        self.cfg = cfg
        self.store = cfg.out / "submissions"
        self.evals = cfg.out / "eval"
        self.adapter_dir = cfg.out / "finetune"

    def prepare(self) -> str:
        from runners.model import prepare_default_model

        return str(prepare_default_model())

    def finetune(self) -> str:
        cfg = self.cfg
        _run(
            _python(
                "finetune", "--config", cfg.finetune_config, "--output-dir",
                str(self.adapter_dir), "--data", training_data(cfg), "--max-steps",
                str(cfg.finetune_steps),
            )
        )  # fmt: skip
        return str(self.adapter_dir / "adapter")

    def submit_both(self, base_runs: Path, tuned_runs: Path, adapter: str) -> list[str]:
        common = ["--license", "apache-2.0", "--n-parameters", "134515008"]
        common += ["--model-type", "instruction-tuned"]
        tuned = [*common, "--base-model", BASE_ID, "--adapter", adapter]
        return [
            submit(base_runs, BASE_ID, self.store, common),
            submit(tuned_runs, TUNED_ID, self.store, tuned),
        ]

    def report(self) -> str:
        out = self.cfg.out / "report.html"
        for target in (out, out.with_suffix(".md")):
            compare = ["compare", BASE_ID, TUNED_ID, "--store", str(self.store)]
            _run(_python(*compare, "--out", str(target)))
        return str(out)

    def run(self, steps: Steps) -> str:
        base = str(steps.run("prepare the embedded model", self.prepare))
        base_args = f"pretrained={base}"
        base_runs = steps.run(
            "evaluate the base model", lambda: evaluate(self.cfg, base_args, self.evals)
        )
        adapter = str(steps.run("LoRA-tune on offline instructions", self.finetune))
        tuned_args = f"{base_args},peft={adapter}"
        tuned_runs = steps.run(
            "evaluate the tuned model", lambda: evaluate(self.cfg, tuned_args, self.evals)
        )
        steps.run(
            "submit both runs",
            lambda: self.submit_both(Path(str(base_runs)), Path(str(tuned_runs)), adapter),
        )
        report = str(steps.run("write the comparison report", self.report))
        steps.run("done", lambda: True)
        return report


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
    demo = Demo(cfg)
    report_path = demo.run(Steps(cfg.state_file, list(ESTIMATES)))
    print(f"\nreport: {report_path} (and {Path(report_path).with_suffix('.md')})")
    print(f"submissions: {demo.store}")
    print(f"open the leaderboard:  .venv/bin/biobench leaderboard --submissions {demo.store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
