"""``python -m runners.lm_eval_main ...``: lm-eval's own command line, with each repeated
warning shown once.

lm-eval logs some warnings once per task (for every task with a ``custom_dataset``: "Custom
kwargs can be passed to `--metadata`..."), 15 to 30 times in one suite run. This entry point
runs ``lm_eval.__main__.cli_evaluate`` unchanged, with a logging filter that lets a warning
through the first time its text (less the leading ``<task>:``) is seen, and says at the end how
many copies it held back. ``biobench eval`` runs lm-eval through it; plain ``lm_eval`` is
untouched.

With ``$BIOBENCH_HIDE_ADVISORIES=1`` (``biobench demo`` sets it) three lm-eval advisories that
every run of the suite triggers by design are held back too, each for a documented reason
(:data:`ADVISORIES`); the closing line counts them.

``$BIOBENCH_MATMUL_PRECISION`` (``ieee`` or ``bf16``, set by ``biobench eval
--matmul-precision``) sets PyTorch's float32 matrix-product precision before lm-eval loads the
model (:func:`runners.hardware.apply_matmul_precision`).
"""

from __future__ import annotations

import atexit
import logging
import re
import sys

_TASK_PREFIX = re.compile(r"^[\w.\-]+: ")


HIDE_ENV = "BIOBENCH_HIDE_ADVISORIES"
# lm-eval WARNING records whose cause is lm-eval's own policy, not the run: a phrase of each
# (whitespace collapsed), and why it says nothing about this run.
ADVISORIES = {
    # lm-eval's api/task.py logs this for every task that loads its data through a
    # `custom_dataset` function, lm-eval's documented hook that every suite task uses
    "Custom kwargs can be passed to `--metadata`": "every suite task uses custom_dataset",
    # lm-eval's evaluator.py logs this whenever --gen_kwargs is given; the suite decodes
    # greedily on purpose (the tasks' YAMLs) and only caps the length
    "specified through cli, these settings will update set parameters in yaml tasks": (
        "a --gen_kwargs cap, greedy by design"
    ),
    # lm-eval's evaluator.py guesses from the model name ("instruct"); the suite's prompt form
    # is the plain Alpaca template unless --apply_chat_template (recorded per submission)
    "appears to be an instruct or chat variant but chat template is not applied": (
        "plain prompt form by design; the chat-template form is a recorded option"
    ),
}


def advisory(message: str) -> bool:
    text = " ".join(message.split())
    return any(phrase in text for phrase in ADVISORIES)


class ShowOnce(logging.Filter):
    """Pass a WARNING record only the first time its message (task prefix removed) appears."""

    def __init__(self, hide_advisories: bool = False) -> None:
        super().__init__()
        self.seen: dict[str, int] = {}
        self.hide_advisories = hide_advisories
        self.advisories = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = _TASK_PREFIX.sub("", record.getMessage(), count=1)
        if self.hide_advisories and advisory(key):
            self.advisories += 1
            return False
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key] == 1

    def held_back(self) -> int:
        return sum(n - 1 for n in self.seen.values())


def main() -> None:
    import os

    from lm_eval.__main__ import cli_evaluate

    from runners import hardware

    if precision := os.environ.get(hardware.MATMUL_ENV, "").strip():
        try:
            hardware.apply_matmul_precision(precision)
        except ValueError as exc:
            print(f"biobench eval: {exc}", file=sys.stderr)
            sys.exit(2)

    once = ShowOnce(hide_advisories=os.environ.get(HIDE_ENV) == "1")
    for name in ("lm_eval.api.task", "lm_eval.tasks", "lm_eval.evaluator"):
        logging.getLogger(name).addFilter(once)

    @atexit.register
    def _report() -> None:
        if once.held_back():
            print(f"({once.held_back()} repeated lm-eval warnings shown once)", file=sys.stderr)
        if once.advisories:
            print(
                f"({once.advisories} lm-eval advisories about the suite's design held back: "
                "runners/lm_eval_main.py ADVISORIES)",
                file=sys.stderr,
            )

    sys.argv[0] = "lm_eval"
    cli_evaluate()


if __name__ == "__main__":
    main()
