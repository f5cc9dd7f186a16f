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
    assert "[1/3] evaluate the base model ... (elapsed 0:00; this step about 5:30" in out
    assert "about 10:30 left in all" in out  # 330 s + 300 s
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


def test_a_step_started_and_not_finished_is_a_restart(tmp_path):
    """A step records that it started before it runs: after a kill, the next run sees a
    restart (evaluations keep their finished groups, the finetune its checkpoints); after
    --fresh (no state) or once finished, it does not."""
    state = tmp_path / "state.json"
    names = ["evaluate the base model", "done"]
    steps = demo.Steps(state, names)
    seen = []

    def killed():
        seen.append(steps.current_resumed)
        raise KeyboardInterrupt  # stands in for the kill: the step never records a result

    try:
        steps.run(names[0], killed)
    except KeyboardInterrupt:
        pass
    again = demo.Steps(state, names)
    assert again.resumed(names[0]) and seen == [False]
    assert again.run(names[0], lambda: again.current_resumed) is True
    assert not demo.Steps(state, names).resumed(names[0])  # finished: reused, not resumed
    assert not demo.Steps(tmp_path / "none.json", names).resumed(names[0])


def test_finished_group_needs_the_biobench_block(tmp_path):
    folder = tmp_path / "bio_qa" / "model"
    folder.mkdir(parents=True)
    assert not demo.finished_group(tmp_path / "bio_qa")
    (folder / "results_1.json").write_text(json.dumps({"results": {}}))
    assert not demo.finished_group(tmp_path / "bio_qa")  # lm-eval wrote it, biobench did not yet
    (folder / "results_1.json").write_text(json.dumps({"results": {}, "biobench": {}}))
    assert demo.finished_group(tmp_path / "bio_qa")


def test_a_bad_limit_is_one_line_and_exit_2(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as stop:
        demo.main(["--out", str(tmp_path), "--items", "bio_qa"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--items 'bio_qa': write GROUP=N" in err and "Traceback" not in err


def test_a_changed_configuration_starts_over(tmp_path):
    state = tmp_path / "state.json"
    assert not demo.changed_since(state, {"limits": [["bio_qa", 10]]})  # no earlier run
    state.write_text(json.dumps({"_config": {"limits": [["bio_qa", 10]]}, "done": True}))
    assert not demo.changed_since(state, {"limits": [["bio_qa", 10]]})
    assert demo.changed_since(state, {"limits": [["bio_qa", 20]]})
