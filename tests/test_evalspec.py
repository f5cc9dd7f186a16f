"""One evaluation spec: every command builds its ``biobench eval`` call from it, model arguments
stay one structured value, and remote code is only ever the operator's own flag."""

from __future__ import annotations

import json
import shlex

import pytest

from leaderboard import views
from leaderboard.evalspec import (
    EvalSpec,
    SpecError,
    is_on,
    parse_model_args,
    uses_remote_code,
)
from runners import eval as eval_cmd
from runners import verify
from tasks.registry import Category
from tests.support.synthetic_store import make_submission

ON = [True, 1, 2, "true", "True", "TRUE", "1", "2", "yes", "on", "y", " on ", "false-ish", 1.5]
OFF = [False, None, 0, 0.0, "", "false", "False", "0", "None", "  "]


@pytest.mark.parametrize("value", ON)
def test_every_spelling_the_loader_takes_as_true_is_on(value):
    assert is_on(value)
    assert uses_remote_code({"trust_remote_code": value})
    if isinstance(value, str) and value.strip() and "," not in value:
        assert uses_remote_code(f"pretrained=x,trust_remote_code={value.strip()}")


@pytest.mark.parametrize("value", OFF)
def test_only_false_spellings_are_off(value):
    assert not is_on(value)
    assert not uses_remote_code({"pretrained": "x", "trust_remote_code": value})


def test_model_args_are_parsed_by_lm_evals_own_parser():
    assert parse_model_args("pretrained=a,dtype=float32,max_length=8") == {
        "pretrained": "a", "dtype": "float32", "max_length": 8,
    }  # fmt: skip
    assert parse_model_args('{"pretrained": "m,trust_remote_code=True"}') == {
        "pretrained": "m,trust_remote_code=True"
    }
    with pytest.raises(SpecError):
        parse_model_args("no-equals-sign")


def test_a_spec_never_carries_remote_code_in_its_arguments():
    with pytest.raises(SpecError, match="trust_remote_code"):
        EvalSpec(model="org/m", tasks=("bio_qa",), model_args={"trust_remote_code": True})
    with pytest.raises(SpecError, match="few-shot"):
        EvalSpec(model="org/m", tasks=("bio_qa",), num_fewshot=-1)
    spec = EvalSpec(model="org/m,trust_remote_code=True", tasks=("bio_qa",), dtype="float32")
    argv = spec.eval_argv("out")
    assert parse_model_args(argv[argv.index("--model_args") + 1]) == {
        "pretrained": "org/m,trust_remote_code=True", "dtype": "float32",
    }  # fmt: skip
    assert "--allow-remote-code" not in argv


def test_biobench_eval_reads_the_spec_as_built(tmp_path):
    """The argv a spec builds is what ``biobench eval`` parses: same model arguments, tasks,
    subset, few-shot, chat template and cap, and lm-eval gets them."""
    spec = EvalSpec(
        model="org/m", tasks=("bio_pubmedqa", "bio_meqsum"), model_args={"revision": "abc"},
        dtype="bfloat16", limit=3, num_fewshot=2, chat_template=True, max_gen_toks=16,
        seed="1,2,3,4",
    )  # fmt: skip
    args, extra = eval_cmd.build_parser().parse_known_args(spec.eval_argv(str(tmp_path)))
    plan = eval_cmd.plan_of(args)
    assert plan.model_args == {"pretrained": "org/m", "revision": "abc", "dtype": "bfloat16"}
    lm_eval = eval_cmd.lm_eval_argv(args, extra, plan)
    assert lm_eval[lm_eval.index("--num_fewshot") + 1] == "2"
    assert "--apply_chat_template" in lm_eval and lm_eval[lm_eval.index("--limit") + 1] == "3"
    assert lm_eval[lm_eval.index("--gen_kwargs") + 1] == "max_gen_toks=16"
    assert lm_eval[lm_eval.index("--seed") + 1] == "1,2,3,4"


def test_biobench_eval_refuses_remote_code_without_its_own_flag(capsys):
    for argv in (
        ["--model_args", "pretrained=x,trust_remote_code=on"],
        ["--model_args", '{"pretrained": "x", "trust_remote_code": 2}'],
        ["--model_args", "pretrained=x", "--trust_remote_code"],
        ["--model_args", "pretrained=x", "--trust_remote"],
        ["--model_args", "pretrained=x", "--metadata", '{"trust_remote_code": "yes"}'],
    ):
        assert eval_cmd.main(["--model", "hf", "--tasks", "bio_pubmedqa", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--allow-remote-code" in err[0], err
    args, extra = eval_cmd.build_parser().parse_known_args(
        ["--model", "hf", "--model_args", "pretrained=x,trust_remote_code=false",
         "--tasks", "bio_qa", "--allow-remote-code"]
    )  # fmt: skip
    assert eval_cmd.plan_of(args).model_args["trust_remote_code"] is True


def test_biobench_eval_refuses_a_negative_few_shot_count_in_one_line(capsys):
    assert eval_cmd.main(["--model", "hf", "--tasks", "bio_qa", "--num_fewshot", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0 or more" in err[0]


def _chat_submission():
    qa = views.layout().of(Category.QA)[:2]
    sub, _ = make_submission("org/model-7b", tasks=qa, n_items=5, shots=3)
    sub.run.model_args = json.dumps({"pretrained": "org/model-7b", "dtype": "float32",
                                     "revision": "main", "batch_size": 4})  # fmt: skip
    sub.run.chat_template = True
    sub.run.matmul_precision = "bf16"
    return sub, qa


def test_verifying_a_chat_template_submission_reruns_it_with_the_chat_template():
    sub, qa = _chat_submission()
    chosen = {qa[0].name: [0, 2], qa[1].name: [1]}
    (spec,) = verify.rerun_specs(sub, chosen, pretrained=None)
    argv = spec.command("out")
    assert "--apply_chat_template" in argv
    assert argv[argv.index("--num_fewshot") + 1] == "3"
    assert argv[argv.index("--matmul-precision") + 1] == "bf16"
    assert json.loads(argv[argv.index("--samples") + 1]) == chosen
    assert "--limit" not in argv and "--allow-remote-code" not in argv
    # the board's reproduce line states the same evaluation
    line = next(x for x in views.reproduce_command(sub).splitlines() if "biobench eval" in x)
    shown = shlex.split(line)
    assert "--apply_chat_template" in shown and shown[shown.index("--num_fewshot") + 1] == "3"
    assert shown[shown.index("--matmul-precision") + 1] == "bf16"


def test_verify_reruns_a_remote_code_submission_only_with_its_own_flag():
    sub, qa = _chat_submission()
    sub.model.trust_remote_code = True
    chosen = {qa[0].name: [0]}
    (spec,) = verify.rerun_specs(sub, chosen, pretrained="/weights/here")
    args = parse_model_args(spec.eval_argv()[spec.eval_argv().index("--model_args") + 1])
    assert "trust_remote_code" not in args and args["pretrained"] == "/weights/here"
    assert "revision" not in args  # a local folder has no hub revision
    (allowed,) = verify.rerun_specs(sub, chosen, pretrained=None, allow_remote_code=True)
    assert "--allow-remote-code" in allowed.eval_argv()


def test_tasks_with_other_settings_get_an_evaluation_each():
    qa = views.layout().of(Category.QA)[:3]
    sub, _ = make_submission("org/m", tasks=qa, n_items=5)
    sub.run.model_args = json.dumps({"pretrained": "org/m"})
    sub.tasks[0].data.subset = "lite-150-v1"
    sub.tasks[1].n_shot = 5
    specs = EvalSpec.for_submission(sub)
    assert sorted(len(s.tasks) for s in specs) == [1, 1, 1]
    lite = next(s for s in specs if s.lite)
    assert lite.lite == 150 and lite.tasks == (qa[0].name,)
    assert next(s for s in specs if s.num_fewshot).tasks == (qa[1].name,)
