"""``python -m runners.lm_eval_main ...``: lm-eval's own command line, with each repeated
warning shown once.

lm-eval logs some warnings once per task (for every task with a ``custom_dataset``: "Custom
kwargs can be passed to `--metadata`..."), 15 to 30 times in one suite run. This entry point
runs ``lm_eval.__main__.cli_evaluate`` unchanged, with a logging filter that lets a warning
through the first time its text (less the leading ``<task>:``) is seen, and says at the end how
many copies it held back. ``biobench eval`` runs lm-eval through it; plain ``lm_eval`` is
untouched.

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


class ShowOnce(logging.Filter):
    """Pass a WARNING record only the first time its message (task prefix removed) appears."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = _TASK_PREFIX.sub("", record.getMessage(), count=1)
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

    once = ShowOnce()
    for name in ("lm_eval.api.task", "lm_eval.tasks", "lm_eval.evaluator"):
        logging.getLogger(name).addFilter(once)

    @atexit.register
    def _report() -> None:
        if once.held_back():
            print(f"({once.held_back()} repeated lm-eval warnings shown once)", file=sys.stderr)

    sys.argv[0] = "lm_eval"
    cli_evaluate()


if __name__ == "__main__":
    main()
