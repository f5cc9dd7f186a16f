"""``biobench``: one console script, one subcommand per stage.

Each subcommand is a thin module of ``runners`` with ``main(argv) -> int`` (its parser and exit
codes), imported only when it runs (so ``biobench submit`` does not load torch); the larger ones
call a library package: ``runners.finetuning`` (``finetune``, ``ablation``) and
``runners.judging`` (``judge``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

RUNS_ENV = "BIOBENCH_RUNS_DIR"


def runs_dir(*parts: str) -> Path:
    """Default home of every command's outputs: ``$BIOBENCH_RUNS_DIR``, else the checkout's
    ``runs/`` (like the submissions store's default), never the current working directory."""
    root = os.environ.get(RUNS_ENV) or Path(__file__).resolve().parents[1] / "runs"
    return Path(root).joinpath(*parts)


# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("runners.data", "fetch, check and list the datasets (pinned sources, SHA-256)"),
    "model": ("runners.model", "prepare the embedded default model (SmolLM2-135M-Instruct)"),
    "eval": ("runners.eval", "evaluate a model on bio_* tasks with lm-eval (results + samples)"),
    "serve": ("runners.serve", "OpenAI-compatible server on 127.0.0.1 for a local model"),
    "judge": ("runners.judge", "LLM-judge scores for logged bio_gen generations"),
    "submit": ("runners.submit", "validate an lm-eval output folder and store it as a submission"),
    "verify": ("runners.verify", "rerun a submission's model on a seeded sample of its items"),
    "request": ("runners.request", "queue a model for evaluation (PENDING request file)"),
    "worker": ("runners.worker", "evaluate queued requests and store their submissions"),
    "compare": ("runners.comparison", "statistical comparison report of submissions"),
    "baselines": (
        "runners.baselines",
        "constant-answer baselines of stored submissions (majority, first option, random)",
    ),
    "leaderboard": ("runners.board", "serve the Streamlit leaderboard on 127.0.0.1"),
    "instruct": ("runners.instruct", "BioInstruct instruction-generation pipeline"),
    "finetune": ("runners.finetune", "LoRA instruction tuning from a YAML config"),
    "ablation": ("runners.ablation", "per-category LoRA ablation and transfer matrix"),
    "demo": ("runners.demo", "the end-to-end demo (what `make demo` runs)"),
    "lm-eval-tasks": (
        "runners.lm_eval_tasks",
        "install|uninstall|status: plain `lm_eval --tasks bio_qa` without --include_path",
    ),
}


class Parser(argparse.ArgumentParser):
    """``argparse`` with the suite's one flag convention: kebab-case.

    A flag declared as ``--max_steps`` is registered as ``--max-steps`` (same ``dest``); on the
    command line the old underscore spelling of any known flag still works and prints a one-line
    deprecation note (once per flag), unless ``underscore_note=False`` (``biobench eval``, whose
    lm-eval flags are lm-eval's own spellings). Unknown flags are left alone, so arguments passed
    through to lm-eval keep their spelling.
    """

    _noted: set[str] = set()

    def __init__(self, *args, underscore_note: bool = True, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.underscore_note = underscore_note

    def add_argument(self, *names, **kwargs):
        names = tuple(n.replace("_", "-") if n.startswith("--") and "_" in n else n for n in names)
        return super().add_argument(*dict.fromkeys(names), **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args([self._kebab(a) for a in args], namespace)

    def _kebab(self, token: str) -> str:
        if not token.startswith("--") or "_" not in token:
            return token
        name, eq, value = token.partition("=")
        new = name.replace("_", "-")
        if name in self._option_string_actions or new not in self._option_string_actions:
            return token
        if self.underscore_note and name not in Parser._noted:
            Parser._noted.add(name)
            print(f"{self.prog}: {name} is deprecated; use {new}", file=sys.stderr)
        return new + eq + value


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: biobench <command> [args]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"biobench: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
