"""The LLM-judge library behind ``biobench judge`` (``runners/judge.py``, the command).

* ``schemas``: ``JudgeConfig`` (every default defined there), ``JudgeItem``, ``Verdict``;
* ``rubric``: the versioned rubric prompt (``runners/prompts/``) and reading the judge's score;
* ``client``: one request per item through ``tasks.ground.openai_client`` (retries, budget),
  fatal endpoint errors;
* ``store``: the samples files read, the append-only verdict cache, per-item and summary files;
* ``run``: a whole run: collect items, ask for the pending ones, write summaries and plots.

Import the submodules directly (``from runners.judging.store import score_stats``); nothing is
imported here, so ``runners.judging.schemas`` does not load the OpenAI client.
"""
