"""Test support: builders shared by the tests and the benchmarks.

* :mod:`tests.support.tiny_llama` -- a tiny random LLaMA with a tokenizer trained here;
* :mod:`tests.support.submission_runs` -- two real tiny-model lm-eval runs, built once a session;
* :mod:`tests.support.synthetic_store` -- synthetic submissions and stores (the leaderboard's
  tests, and ``benchmarks/bench_leaderboard*.py`` at 1,000 submissions).

A floor of its own (``docs/architecture.md``): it may import the product, and ``benchmarks``
may import it; it imports no test module and no benchmark.
"""
