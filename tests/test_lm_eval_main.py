"""``runners.lm_eval_main``: lm-eval's CLI with each repeated warning shown once."""

from __future__ import annotations

import logging

from runners.lm_eval_main import ShowOnce


def test_a_warning_repeated_per_task_passes_once(caplog):
    logger = logging.getLogger("test.lm_eval_main")
    logger.addFilter(ShowOnce())
    with caplog.at_level(logging.INFO, logger="test.lm_eval_main"):
        for task in ("bio_pubmedqa", "bio_medqa", "bio_hoc"):
            logger.warning("%s: Custom kwargs can be passed to `--metadata` in console", task)
        logger.warning("bio_medqa: a different warning")
        logger.info("bio_medqa: info is never held back")
        logger.info("bio_medqa: info is never held back")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "bio_pubmedqa: Custom kwargs can be passed to `--metadata` in console",
        "bio_medqa: a different warning",
        "bio_medqa: info is never held back",
        "bio_medqa: info is never held back",
    ]
    assert logger.filters[0].held_back() == 2
