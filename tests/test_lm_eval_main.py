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


def test_the_suites_design_advisories_are_held_back_when_asked(caplog):
    """lm-eval's own texts (0.4.13: api/task.py, evaluator.py) of the three advisories every
    suite run triggers; anything else still passes."""
    from lm_eval.utils import wrap_text

    logger = logging.getLogger("test.lm_eval_main.hide")
    once = ShowOnce(hide_advisories=True)
    logger.addFilter(once)
    advisories = [
        "bio_hoc: Custom kwargs can be passed to `--metadata` in console (as json string) or to "
        "the TaskManager.\nFor example --metadata='{\"max_seq_lengths\":[4096, 8192]}'.",
        "generation_kwargs: {'max_gen_toks': 64} specified through cli, these settings will "
        "update set parameters in yaml tasks. Ensure 'do_sample=True' for non-greedy decoding!",
        wrap_text(
            """pretrained=/models/smollm2-135m-instruct appears to be an
            instruct or chat variant but chat template is not applied.
            Recommend setting `apply_chat_template` (optionally `fewshot_as_multiturn`)."""
        ),
    ]
    with caplog.at_level(logging.INFO, logger="test.lm_eval_main.hide"):
        for text in advisories:
            logger.warning(text)
        logger.warning("--limit SHOULD ONLY BE USED FOR TESTING.")
    assert [r.getMessage() for r in caplog.records] == ["--limit SHOULD ONLY BE USED FOR TESTING."]
    assert once.advisories == 3
    shown = ShowOnce()  # not asked: every advisory passes (once)
    assert all(shown.filter(logging.makeLogRecord({"msg": t, "levelno": 30})) for t in advisories)
