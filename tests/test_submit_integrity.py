"""Forged-but-consistent and malformed submissions, built from real lm-eval runs of a tiny LLaMA.

Each forgery edits a real run so that it stays self-consistent (per-item values, the results'
aggregates and every other field agree with each other), which the old "recompute the aggregate
from the submitted items" check accepted; re-scoring against the suite's own records, prompts
and gold answers rejects each one, naming the item and the field. Each malformed input ends in
exit status 2 and one line ``biobench submit: rejected: <file>:<where>: <what> — <fix>``, with
the store unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from leaderboard import items as itemlib
from leaderboard.schemas import Submission
from leaderboard.store import Store
from leaderboard.views import reproduce_command
from tests.support.submission_runs import META
from tests.test_submit import copy_run, results_file, samples_file, snapshot, submit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("sample_data"),
]  # the module's fixture runs lm-eval twice (shared with test_submit)

ARGS = ["--model-id", "test/forged", *META]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_samples(path: Path, samples: list[dict]) -> None:
    path.write_text("".join(json.dumps(s) + "\n" for s in samples))


def make_consistent(run: Path, task: str) -> None:
    """Rewrite the results' aggregates of ``task`` from its (edited) samples, the way the suite
    recomputes them: the forgery then passes every check that only adds up submitted values."""
    samples = read_samples(samples_file(run, task))
    data = json.loads(results_file(run).read_text())
    kind = data["configs"][task]["output_type"]
    records = [itemlib.item_from_sample(task, s, kind, "edit") for s in samples]
    groups = itemlib.by_filter(records)
    for key in [k for k in data["results"][task] if "," in k and "_stderr" not in k]:
        metric, filt = key.split(",", 1)
        data["results"][task][key] = itemlib.recompute(groups[filt], metric)
    results_file(run).write_text(json.dumps(data))


def forge(task: str, change):
    """A forgery: ``change(sample)`` on every sample of ``task``, then consistent aggregates."""

    def apply(run: Path) -> None:
        path = samples_file(run, task)
        samples = read_samples(path)
        for sample in samples:
            change(sample)
        write_samples(path, samples)
        make_consistent(run, task)

    return apply


def _best(sample: dict) -> int:
    lls = [float(pair[0]) for pair in sample["filtered_resps"]]
    return lls.index(max(lls))


def _mc_target_to_choice(s: dict) -> None:
    s["target"] = str(_best(s))
    s["target_hash"] = sha(s["target"])
    s["acc"] = s["acc_norm"] = 1.0


def _mc_flip(s: dict) -> None:
    """acc flipped, and the logged target moved so that it agrees (hash left as it was)."""
    s["acc"] = s["acc_norm"] = 1.0 - s["acc"]
    best = _best(s)
    s["target"] = str(best if s["acc"] else (best + 1) % len(s["filtered_resps"]))


def _ner_perfect(s: dict) -> None:
    gold = len([m for m in s["target"].split("\n") if m])
    for name in ("f1", "precision", "recall"):
        s[name].update(tp=gold, fp=0, fn=0)


def _rouge_perfect(s: dict) -> None:
    s.update(rouge1=1.0, rouge2=1.0, rougeL=1.0)


def _gen_letter_to_gold(s: dict) -> None:
    s["filtered_resps"] = [s["target"]]
    s["exact_match"] = 1.0


def _doc_hash(s: dict) -> None:
    s["doc_hash"] = sha("another document")


def _other_template(s: dict) -> None:
    for args in s["arguments"].values():
        args["arg_0"] = "Q: " + args["arg_0"].split("### Input:\n", 1)[-1]
    s["prompt_hash"] = sha(s["arguments"]["gen_args_0"]["arg_0"])


def _other_options(s: dict) -> None:
    for args in s["arguments"].values():
        args["arg_1"] = " " + args["arg_1"]


def _chemprot_counts(s: dict) -> None:
    for name in ("f1", "precision", "recall"):
        s[name].update(tp=1, fp=0, fn=0)


FORGERIES = [
    ("mc target set to the chosen option", forge("bio_pubmedqa", _mc_target_to_choice),
     "field target_hash"),
    ("mc acc flipped", forge("bio_pubmedqa", _mc_flip), "metric 'acc'"),
    ("mc options changed", forge("bio_pubmedqa", _other_options), "scores options"),
    ("NER tp/fp/fn perfect", forge("bio_ner_bc2gm", _ner_perfect), "metric 'f1'"),
    ("RE counts perfect", forge("bio_chemprot", _chemprot_counts), "metric 'f1'"),
    ("ROUGE perfect", forge("bio_meqsum", _rouge_perfect), "metric 'rouge1'"),
    ("extracted letter set to gold", forge("bio_medqa_gen", _gen_letter_to_gold),
     "filtered_resps"),
    ("doc_hash forged", forge("bio_meqsum", _doc_hash), "field doc_hash"),
    ("other prompt template, hash recomputed", forge("bio_meqsum", _other_template),
     "prompt differs from the one the suite renders"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "tamper", "message"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_consistent_forgeries_are_rejected_by_rescoring(
    runs, tmp_path, capsys, name, tamper, message
):
    err = rejection(runs, tmp_path, capsys, tamper, message)
    assert "doc_id" in err


def rejection(runs, tmp_path, capsys, tamper, message) -> str:
    """Submit a tampered copy of run A: exit 2, one line naming ``message``, store untouched."""
    store = tmp_path / "store"
    run = copy_run(runs.a, tmp_path / "run")
    tamper(run)
    rc, err = submit([run], store, *ARGS, capsys=capsys)
    assert rc == 2, message
    assert err.startswith("biobench submit: rejected: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert snapshot(store) == {}
    return err


def test_the_unedited_runs_pass_rescoring(runs, tmp_path, capsys):
    for run in (runs.a, runs.b):
        rc, err = submit([run], tmp_path / "store", *ARGS, "--replace", capsys=capsys)
        assert rc == 0, err


# --- malformed input: exit 2, one line, never a traceback -------------------------------------


def _edit_results(change):
    def apply(run: Path) -> None:
        path = results_file(run)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return apply


def _raw_results(make):
    def apply(run: Path) -> None:
        path = results_file(run)
        path.write_bytes(make(path.read_bytes()))

    return apply


def _raw_samples(task: str, make):
    def apply(run: Path) -> None:
        path = samples_file(run, task)
        path.write_bytes(make(path.read_bytes()))

    return apply


def _first_sample(task: str, change):
    def apply(run: Path) -> None:
        path = samples_file(run, task)
        samples = read_samples(path)
        change(samples[0])
        write_samples(path, samples)

    return apply


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _set(path: tuple, value):
    def change(d):
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return change


MALFORMED = [
    ("non-UTF-8 results", _raw_results(lambda b: b.replace(b'"results"', b'"r\xffsults"', 1)),
     "not UTF-8"),
    ("non-UTF-8 samples", _raw_samples("bio_meqsum", lambda b: b"\xfe\xff" + b), "not UTF-8"),
    ("deep JSON in results",
     _raw_results(lambda b: b.replace(b'"results"', b'"deep": ' + _deep(100_000) + b', "results"',
                                      1)), "nested too deeply"),
    ("deep JSON in samples",
     _raw_samples("bio_meqsum", lambda b: b'{"x": ' + _deep(100_000) + b"}\n" + b),
     "nested too deeply"),
    ("date 1e300", _edit_results(_set(("date",), 1e300)), "$.date"),
    ("negative date", _edit_results(_set(("date",), -5.0)), "$.date"),
    ("versions a list", _edit_results(_set(("versions",), [1, 2])), "$.versions"),
    ("n-samples a string", _edit_results(_set(("n-samples",), "many")), "$.n-samples"),
    ("configs a list", _edit_results(_set(("configs",), [])), "$.configs"),
    ("results a string", _edit_results(_set(("results",), "good")), "$.results"),
    ("config.limit a string", _edit_results(_set(("config", "limit"), "all")), "$.config.limit"),
    ("model_num_parameters 10**40",
     _edit_results(_set(("config", "model_num_parameters"), 10**40)),
     "$.config.model_num_parameters"),
    ("a metric value a string", _edit_results(_set(("results", "bio_meqsum", "rouge1,none"), "hi")),
     "is not a number"),
    ("NUL in a results string", _edit_results(_set(("model_source",), "hf\x00")),
     "control character"),
    ("lone surrogate in results", _raw_results(
        lambda b: b.replace(b'"results"', b'"note": "\\ud800", "results"', 1)),
     "control character"),
    ("doc_id true", _first_sample("bio_meqsum", _set(("doc_id",), True)), "doc_id must be"),
    ("doc_id negative", _first_sample("bio_meqsum", _set(("doc_id",), -1)), "doc_id must be"),
    ("10 MB answer", _first_sample("bio_meqsum", _set(("filtered_resps",), ["x" * 10_000_000])),
     "longer than"),
    ("10 MB prompt", _first_sample(
        "bio_meqsum", lambda s: s["arguments"]["gen_args_0"].update(arg_0="p" * 10_000_000)),
     "longer than"),
    ("300,000-line samples file",
     _raw_samples("bio_meqsum", lambda b: b + b'{"doc_id": 0}\n' * 300_000),
     "more samples than the results' n-samples allow"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "tamper", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_gets_one_line_and_exit_2(runs, tmp_path, capsys, name, tamper, message):
    rejection(runs, tmp_path, capsys, tamper, message)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--notes", "ok\x00"), ("--submitter", "me\x1b[31m"), ("--license", "mit\x07")],
)
def test_control_characters_in_metadata_are_refused(runs, tmp_path, capsys, flag, value):
    rc, err = submit([runs.a], tmp_path / "s", *ARGS, flag, value, capsys=capsys)
    assert rc == 2 and "control character" in err and err.count("\n") == 1, err


def test_huge_env_info_is_stored_truncated_with_a_note(runs, tmp_path, capsys):
    run = copy_run(runs.a, tmp_path / "run")
    _edit_results(_set(("pretty_env_info",), "e" * 10_000_000))(run)
    rc, err = submit([run], tmp_path / "store", *ARGS, capsys=capsys)
    assert rc == 0, err
    (stored,) = (tmp_path / "store").rglob("results_*.json")
    info = json.loads(stored.read_text())["pretty_env_info"]
    assert len(info) < 9_000 and "cut by biobench submit: 10000000 characters" in info


def test_control_characters_in_responses_are_stored_escaped(runs, tmp_path, capsys):
    run = copy_run(runs.a, tmp_path / "run")

    def change(s):
        s["resps"] = [["bad\x00answer\x1b"]]
        s["filtered_resps"] = ["bad\x00answer\x1b"]

    path = samples_file(run, "bio_meqsum")
    samples = read_samples(path)
    change(samples[0])
    write_samples(path, samples)
    rc, err = submit([run], tmp_path / "store", *ARGS, capsys=capsys)
    assert rc == 0, err
    (items,) = (tmp_path / "store").rglob("items.jsonl.gz")
    text = gzip.decompress(items.read_bytes()).decode()
    first = next(json.loads(x) for x in text.splitlines() if '"bio_meqsum"' in x)
    assert first["response"] == "bad\\x00answer\\x1b"
    assert "\x00" not in text and "\\u0000" not in text


# --- trust_remote_code -------------------------------------------------------------------------


def _remote_code(run: Path) -> None:
    _edit_results(lambda d: d["config"]["model_args"].update(trust_remote_code=True))(run)


def test_remote_code_runs_need_a_declaration(runs, tmp_path, capsys):
    run = copy_run(runs.a, tmp_path / "run")
    _remote_code(run)
    store = tmp_path / "store"
    rc, err = submit([run], store, *ARGS, capsys=capsys)
    assert rc == 2 and "trust_remote_code" in err and "--declare-remote-code" in err, err
    assert snapshot(store) == {}
    rc, err = submit([run], store, *ARGS, "--declare-remote-code", capsys=capsys)
    assert rc == 0, err
    (path,) = store.rglob("submission.json")
    sub = Submission.model_validate_json(path.read_bytes())
    assert sub.model.trust_remote_code
    command = reproduce_command(sub)
    assert command.startswith("# this model runs code from its repository")
    assert '"trust_remote_code": true' in command and "--declare-remote-code" in command
    assert "--allow-remote-code" in command  # biobench eval refuses it otherwise


def test_reproduce_command_never_adds_remote_code_silently(runs):
    sub = Store(runs.store).read(runs.a_id)
    assert not sub.model.trust_remote_code
    forged = sub.model_copy(update={"run": sub.run.model_copy(update={"model_args": json.dumps(
        {"pretrained": "x", "trust_remote_code": "True"})})})  # fmt: skip
    assert "trust_remote_code" not in reproduce_command(forged)


# --- what re-scoring cannot see: forged model outputs, caught by rerunning the model -------------


def _swap_lls(s: dict) -> None:
    """The forgery re-scoring cannot see: log-likelihoods swapped so that the gold option wins,
    with acc and acc_norm to match (the raw and filtered responses agree with each other)."""
    gold = int(s["target"])
    best = _best(s)
    for key in ("filtered_resps",):
        s[key][gold], s[key][best] = s[key][best], s[key][gold]
    s["resps"] = [[pair] for pair in s["filtered_resps"]]
    s["acc"] = 1.0
    options = [args["arg_1"] for args in s["arguments"].values()]
    normed = [float(p[0]) / len(o) for p, o in zip(s["filtered_resps"], options, strict=True)]
    s["acc_norm"] = float(normed.index(max(normed)) == gold)


def test_verify_reruns_the_model_and_catches_forged_log_likelihoods(runs, tmp_path, capsys):
    from runners import verify

    store = tmp_path / "store"
    rc, err = submit([runs.a], store, *ARGS, capsys=capsys)
    assert rc == 0, err
    (honest,) = Store(store).ids()
    args = ["--store", str(store), "--items", "4", "--tasks", "bio_pubmedqa,bio_meqsum"]
    assert verify.main([honest, *args]) == 0
    out = capsys.readouterr().out
    assert "7/7 rerun items agree" in out  # 4 PubMedQA choices + 3 MeQSum responses

    run = copy_run(runs.a, tmp_path / "forged")
    forge("bio_pubmedqa", _swap_lls)(run)
    rc, err = submit([run], store, "--model-id", "test/swapped", *META, capsys=capsys)
    assert rc == 0, err  # consistent with the suite's gold: only a rerun can tell
    forged = next(i for i in Store(store).ids() if i.startswith("test__swapped"))
    assert verify.main([forged, *args]) == 1
    out = capsys.readouterr().out
    assert "DISAGREES  bio_pubmedqa doc_id" in out and "rerun items agree" in out


def test_verify_refuses_bad_input(runs, capsys):
    from runners import verify

    assert verify.main(["nobody__nothing/x", "--store", str(runs.store)]) == 2
    assert "give a stored submission id" in capsys.readouterr().err
    assert verify.main([runs.a_id, "--store", str(runs.store), "--tasks", "bio_gad"]) == 2


# --- issue 28: no test text in the store, declared subsets, one row per model -----------------


def _test_sentence(run: Path, task: str = "bio_meqsum") -> str:
    """A long run of words from a logged test document (dataset text)."""
    doc = read_samples(samples_file(run, task))[0]["doc"]
    text = max((v for v in doc.values() if isinstance(v, str)), key=len)
    return " ".join(text.split()[:14])


ZWJ = "\u200d"


def _stored_results(store: Path) -> dict:
    (path,) = store.rglob("results_*.json")
    return json.loads(path.read_text())


def test_unknown_fields_and_echoing_free_text_are_not_stored(runs, tmp_path, capsys):
    run = copy_run(runs.a, tmp_path / "run")
    sentence = _test_sentence(run)
    disguised = " ".join(ZWJ.join(word) for word in sentence.upper().split())  # ZWJ in each word

    def leak(data: dict) -> None:
        data["leaked_field"] = sentence
        data["config"]["extra_key"] = sentence
        data["pretty_env_info"] = f"{data['pretty_env_info']}\nnote: {disguised}"
        data["upper_git_hash"] = sentence.replace(" ", "_")

    _edit_results(leak)(run)
    store = tmp_path / "store"
    rc, err = submit([run], store, *ARGS, capsys=capsys)
    assert rc == 0, err
    stored = _stored_results(store)
    assert "leaked_field" not in stored and "extra_key" not in stored["config"]
    assert stored["pretty_env_info"].startswith("[withheld")
    assert stored["upper_git_hash"].startswith("[withheld")
    text = "".join(p.read_text(errors="replace") for p in store.rglob("*.json"))
    words = sentence.split()
    assert " ".join(words[:8]) not in text and ZWJ.join(words[0]) not in text


def test_echo_check_sees_through_invisible_characters_and_case():
    sample = {"doc": {"text": "aspirin inhibits cyclooxygenase and lowers the risk of stroke"}}
    for response in (
        "ASPIRIN inhibits cyclooxygenase and lowers the risk of stroke",
        ZWJ.join("aspirin") + " inhibits cyclo\u00adoxygenase and\u200b lowers the risk of stroke",
        "ａｓｐｉｒｉｎ inhibits cyclooxygenase and lowers the risk of stroke",  # full width
        "aspirin_inhibits_cyclooxygenase_and_lowers_the_risk_of_stroke",
        "aspirin  inhibits\n\tcyclooxygenase and lowers the risk of stroke",
    ):
        assert itemlib.echoes_item(response, sample), response
    assert not itemlib.echoes_item("aspirin lowers the risk of heart attacks in adults", sample)


def test_logged_items_must_be_the_declared_limit(runs, tmp_path, capsys):
    run = copy_run(runs.b, tmp_path / "run")  # --limit 2: doc ids 0 and 1
    _edit_results(lambda d: d["config"].update(limit=3))(run)
    rc, err = submit([run], tmp_path / "store", "--model-id", "test/tiny-b", *META, capsys=capsys)
    assert rc == 2 and "$.config.limit" in err and "declares --limit 3" in err, err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path / "store") == {}


def test_a_colon_in_a_results_name_or_a_negative_shot_count_is_one_line(runs, tmp_path, capsys):
    run = copy_run(runs.b, tmp_path / "run")
    for path in list(run.rglob("*.json*")):
        stamp = results_file(run).name.removeprefix("results_").removesuffix(".json")
        path.rename(path.with_name(path.name.replace(stamp, "2026-01-01T00:00:00")))
    rc, err = submit([run], tmp_path / "store", "--model-id", "test/tiny-b", *META, capsys=capsys)
    assert rc == 2 and "file name must be" in err and len(err.strip().splitlines()) == 1, err
    run = copy_run(runs.b, tmp_path / "run2")
    _edit_results(lambda d: d["n-shot"].update({k: -1 for k in d["n-shot"]}))(run)
    rc, err = submit([run], tmp_path / "store", "--model-id", "test/tiny-b", *META, capsys=capsys)
    assert rc == 2 and "n-shot" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("spelling", ["on", "2", "yes", "True"])
def test_every_truthy_remote_code_spelling_needs_a_declaration(runs, tmp_path, capsys, spelling):
    run = copy_run(runs.b, tmp_path / "run")
    _edit_results(
        lambda d: d["config"].update(model_args=f"pretrained=x,trust_remote_code={spelling}")
    )(run)
    rc, err = submit([run], tmp_path / "store", "--model-id", "test/tiny-b", *META, capsys=capsys)
    assert rc == 2 and "--declare-remote-code" in err, err


def test_a_model_id_in_another_case_is_the_same_row(runs, tmp_path, capsys):
    store = tmp_path / "store"
    rc, err = submit([runs.b], store, "--model-id", "Test/Tiny-B", *META, capsys=capsys)
    assert rc == 0, err
    rc, err = submit([runs.b], store, "--model-id", "test/tiny-b", *META, capsys=capsys)
    assert rc == 2 and "duplicate" in err, err  # not a second row with the same run id
    assert [p.name for p in store.iterdir() if "__" in p.name] == ["Test__Tiny-B"]


def test_verify_refuses_a_declared_remote_code_model_without_its_own_flag(runs, tmp_path, capsys):
    from runners import verify

    run = copy_run(runs.a, tmp_path / "run")
    _remote_code(run)
    store = tmp_path / "store"
    rc, err = submit([run], store, *ARGS, "--declare-remote-code", capsys=capsys)
    assert rc == 0, err
    (sid,) = Store(store).ids()
    assert verify.main([sid, "--store", str(store), "--items", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--allow-remote-code" in err[0]


def test_logged_items_must_be_the_declared_lite_subset(runs, tmp_path, capsys):
    """First items declared as the seeded lite subset (which is other items) are refused."""
    run = copy_run(runs.b, tmp_path / "run")  # doc ids 0 and 1 of every task

    def as_lite(data: dict) -> None:
        data["config"]["limit"] = None
        data.setdefault("biobench", {})["lite"] = 2

    _edit_results(as_lite)(run)
    rc, err = submit([run], tmp_path / "store", "--model-id", "test/tiny-b", *META, capsys=capsys)
    assert rc == 2 and "$.biobench.lite" in err and len(err.strip().splitlines()) == 1, err
