"""The ground floor: project-wide helpers that import nothing else of the project.

Every other package may import these (``tasks``, ``bioinstruct_data``, ``leaderboard``,
``runners``, ``benchmarks``, ``tests``); they import only the standard library and third-party
packages. Why this folder and what the floors above are: ``docs/architecture.md``; the rule is
checked by ``tests/test_architecture.py``.

* :mod:`tasks.ground.errors` -- ``ConfigError``, a setting that cannot work;
* :mod:`tasks.ground.atomic` -- the one way to write a file: all of it or none of it;
* :mod:`tasks.ground.filelock` -- an exclusive ``flock`` on a lock file;
* :mod:`tasks.ground.strictjson` -- JSON that refuses NaN and Infinity;
* :mod:`tasks.ground.openai_client` and :mod:`tasks.ground.prices` -- the one client of
  OpenAI-compatible endpoints (retries, budget) and the one price table;
* :mod:`tasks.ground.precision` -- the vocabulary of float32 matrix-product precisions.
"""
