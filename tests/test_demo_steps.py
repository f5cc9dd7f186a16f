"""``make demo``'s step runner: numbered steps with estimates, state kept, reruns reuse it."""

from __future__ import annotations

import json

from runners import demo


def test_steps_announce_estimates_keep_their_time_and_reuse_results(tmp_path, capsys):
    state = tmp_path / "state.json"
    names = ["evaluate the base model", "LoRA-tune on offline instructions", "done"]
    steps = demo.Steps(state, names)
    assert steps.left(names[0]) == demo.ESTIMATES[names[0]] + demo.ESTIMATES[names[1]]
    assert steps.run(names[0], lambda: "runs/demo/eval/m") == "runs/demo/eval/m"
    out = capsys.readouterr().out
    assert "[1/3] evaluate the base model ... (elapsed 0:00; this step about 3:08" in out
    assert "about 4:22 left in all" in out  # 188 s + 74 s
    saved = json.loads(state.read_text())
    assert saved[names[0]] == "runs/demo/eval/m" and names[0] in saved["_seconds"]

    calls = []
    again = demo.Steps(state, names)
    assert again.run(names[0], lambda: calls.append(1)) == "runs/demo/eval/m"
    assert calls == [] and "done before, reusing" in capsys.readouterr().out
    # what is left now counts only the unfinished steps, with their measured times when known
    assert again.left(names[1]) == demo.ESTIMATES[names[1]]
    again.seconds[names[1]] = 5.0
    assert again.estimate(names[1]) == 5.0


def test_every_step_the_demo_runs_has_an_estimate():
    import inspect

    source = inspect.getsource(demo.Demo.run)
    for name in demo.ESTIMATES:
        assert f'"{name}"' in source
