"""``biobench submit`` / ``biobench eval --submit`` on real lm-eval outputs of a tiny LLaMA.

Covers the stored submission (schema, metrics, CIs, data hashes, no dataset text), every
rejection (one message naming the problem; the store unchanged), duplicates and --replace, a
submit killed at each step of the atomic write, and concurrent submits.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from leaderboard import validate
from leaderboard.items import ITEMS_FILE
from leaderboard.schemas import Submission
from leaderboard.store import FAULT_ENV, Store
from runners import submit as submit_cmd
from tasks import registry
from tasks.common.records import records_sha256
from tasks.common.sources import load
from tests.support.submission_runs import META, TASKS_A, biobench, env

pytestmark = pytest.mark.slow  # the module's fixture runs lm-eval twice


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def results_file(folder: Path) -> Path:
    (path,) = list(folder.rglob("results_*.json"))
    return path


def samples_file(folder: Path, task: str) -> Path:
    (path,) = [p for p in folder.rglob(f"samples_{task}_*.jsonl")]
    return path


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_first_sample(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    change(first)
    lines[0] = json.dumps(first)
    path.write_text("\n".join(lines) + "\n")


def snapshot(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def submit(paths: list[Path], store: Path, *extra: str, capsys=None) -> tuple[int, str]:
    rc = submit_cmd.main([*map(str, paths), "--store", str(store), *extra])
    err = capsys.readouterr().err if capsys is not None else ""
    return rc, err


# --- the stored submission ----------------------------------------------------------------------


def test_eval_submit_stored_a_checked_submission(runs):
    sub = Store(runs.store).read(runs.a_id)
    assert sub.model.id == "test/tiny-a" and sub.model.license == "mit"
    assert sub.model.n_parameters and str(sub.model.precision) == "float32"
    assert {t.task for t in sub.tasks} == set(TASKS_A.split(","))
    results = json.loads(results_file(runs.a).read_text())
    for task in sub.tasks:
        for key, value in task.metrics.items():
            assert value == results["results"][task.task][key]
        assert task.ci.low <= task.score <= task.ci.high
        assert task.data.source == "sample" and task.data.complete
        assert task.data.full_sha256_from == "results"
        assert task.data.full_sha256 == results["biobench"]["tasks"][task.task]["data_sha256"]
        assert task.data.full_sha256 == task.data.logged_sha256  # every record was logged
    kinds = {t.task: t.output_type for t in sub.tasks}
    assert kinds["bio_pubmedqa"] == "multiple_choice" and kinds["bio_meqsum"] == "generate_until"
    folder = Store(runs.store).path_of(runs.a_id)
    names = {p.name for p in folder.iterdir()}
    assert names == {"submission.json", ITEMS_FILE, results_file(runs.a).name}
    for ref in sub.files:
        assert hashlib.sha256((folder / ref.name).read_bytes()).hexdigest() == ref.sha256


def test_item_records_keep_counts_scores_and_choices(runs):
    folder = Store(runs.store).path_of(runs.a_id)
    items = [
        json.loads(x) for x in gzip.decompress((folder / ITEMS_FILE).read_bytes()).splitlines()
    ]
    by_task = {}
    for it in items:
        by_task.setdefault(it["task"], []).append(it)
    assert all(it["choice"] is not None for it in by_task["bio_pubmedqa"])
    assert all(set(it["counts"]["f1"]) == {"tp", "fp", "fn"} for it in by_task["bio_ner_bc2gm"])
    assert all(0 <= it["metrics"]["rougeL"] <= 1 for it in by_task["bio_meqsum"])
    assert all(isinstance(it["response"], str) for it in by_task["bio_medqa_gen"])
    sample = json.loads(samples_file(runs.a, "bio_pubmedqa").read_text().splitlines()[0])
    first = by_task["bio_pubmedqa"][0]
    assert (first["doc_hash"], first["prompt_hash"], first["target_hash"]) == (
        sample["doc_hash"],
        sample["prompt_hash"],
        sample["target_hash"],
    )


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_stored_files_hold_no_dataset_text(runs):
    folder = Store(runs.store).path_of(runs.a_id)
    stored = b"".join(
        gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        for p in folder.iterdir()
    ).decode("utf-8")
    checked = 0
    for path in runs.a.rglob("samples_*.jsonl"):
        for line in path.read_text().splitlines():
            doc = json.loads(line)["doc"]
            # the task's instruction is suite text (it is in lm-eval's configs), not data
            for text in _strings({k: v for k, v in doc.items() if k != "instruction"}):
                for piece in text.split("\n"):
                    if len(piece.strip()) >= 16:
                        assert json.dumps(piece)[1:-1] not in stored, piece
                        checked += 1
    assert checked > 20


def test_plain_lm_eval_output_gets_its_data_hash_recomputed(runs, tmp_path, sample_data, capsys):
    run = copy_run(runs.a, tmp_path / "plain")
    edit_json(results_file(run), lambda d: d.pop("biobench"))
    rc, err = submit([run], tmp_path / "store", "--model-id", "test/plain", *META, capsys=capsys)
    assert rc == 0, err
    (sid,) = Store(tmp_path / "store").ids()
    plain = Store(tmp_path / "store").read(sid)
    stored = Store(runs.store).read(runs.a_id)
    for task in plain.tasks:
        assert task.data.full_sha256_from == "recomputed"
        assert task.data.full_sha256 == stored.task(task.task).data.full_sha256


def test_limited_run_records_how_much_was_logged(runs, tmp_path, sample_data, capsys):
    rc, err = submit(
        [runs.b], tmp_path / "store", "--model-id", "test/tiny-b", *META, capsys=capsys
    )
    assert rc == 0, err
    (sid,) = Store(tmp_path / "store").ids()
    sub = Store(tmp_path / "store").read(sid)
    assert sub.run.limit == 2
    for task in sub.tasks:
        records = load(registry.leaf_source(task.task)).records
        assert task.n_items == task.data.n_logged == 2
        assert task.data.n_total == len(records) and not task.data.complete
        assert task.data.logged_sha256 == records_sha256(records[:2])
        assert task.data.full_sha256 == records_sha256(records)


# --- rejections ---------------------------------------------------------------------------------


def _aggregate(run):
    edit_json(results_file(run), lambda d: d["results"]["bio_pubmedqa"].update({"acc,none": 0.999}))


def _item_acc(run):
    edit_first_sample(samples_file(run, "bio_pubmedqa"), lambda s: s.update(acc=1.0 - s["acc"]))


def _counts(run):
    edit_first_sample(samples_file(run, "bio_ner_bc2gm"), lambda s: s["f1"].update(tp=7))


def _nan(run):
    path = results_file(run)
    data = json.loads(path.read_text())
    data["results"]["bio_meqsum"]["rouge1_stderr,none"] = math.nan
    path.write_text(json.dumps(data))


def _foreign_task(run):
    def change(d):
        d["configs"]["mmlu_anatomy"] = d["configs"]["bio_pubmedqa"]
        d["versions"]["mmlu_anatomy"] = 1.0

    edit_json(results_file(run), change)


def _version(run):
    edit_json(results_file(run), lambda d: d["versions"].update(bio_medqa_gen=0.5))


def _no_samples(run):
    samples_file(run, "bio_meqsum").unlink()


def _other_data(run):
    edit_first_sample(
        samples_file(run, "bio_pubmedqa"), lambda s: s["doc"].update(question="Is this changed?")
    )


def _block_hash(run):
    edit_json(
        results_file(run),
        lambda d: d["biobench"]["tasks"]["bio_chemprot"].update(data_sha256="0" * 64),
    )


def _add_group(run, shift: float) -> None:
    """A bio_gen group entry as lm-eval writes it, over the one bio_gen task of the run."""

    def change(d):
        value = d["results"]["bio_meqsum"]["rougeL,none"] + shift
        d["results"]["bio_gen"] = {"alias": "bio_gen", "name": "bio_gen", "rougeL,none": value}
        d["group_subtasks"] = {"bio_gen": ["bio_meqsum"]}

    edit_json(results_file(run), change)


def _group(run):
    _add_group(run, 0.125)


def _not_lm_eval(run):
    edit_json(results_file(run), lambda d: d.pop("configs"))


def _symlink(run):
    path = results_file(run)
    real = path.with_name("elsewhere.json")
    path.rename(real)
    path.symlink_to(real)


def _bad_name(run):
    path = results_file(run)
    stamp = path.stem.removeprefix("results_")
    path.rename(path.with_name(f"results_{stamp} (1).json"))


REJECTIONS = [
    (_aggregate, [], "bio_pubmedqa: the results report acc,none = 0.999"),
    (_item_acc, [], "the samples file was modified"),
    (_counts, [], "task bio_ner_bc2gm"),
    (_nan, [], "$.results.bio_meqsum.rouge1_stderr,none: nan is NaN or infinite"),
    (_foreign_task, [], "'mmlu_anatomy' is not part of the BioInstruct Bench suite"),
    (_version, [], "bio_medqa_gen has version 0.5 but the suite's is 1.2"),
    (_no_samples, [], "rerun with --log_samples"),
    (_other_data, [], "differs from record 0 of the suite's bio_pubmedqa test split"),
    (_block_hash, [], "bio_chemprot was evaluated on data with SHA-256 000"),
    (_not_lm_eval, [], "$.configs: missing"),
    (_group, [], "group bio_gen: the results report rougeL,none"),
    (_symlink, [], "symbolic links are not accepted"),
    (_bad_name, [], "file name must be lm-eval's results_<time>.json"),
    (None, ["--license", ""], "model.license"),
    (None, ["--model-id", "not a model"], "model id 'not a model' must look like 'org/name'"),
]


@pytest.mark.parametrize(
    ("tamper", "flags", "message"), REJECTIONS, ids=[m[:30] for _, _, m in REJECTIONS]
)
def test_rejections_name_the_problem_and_leave_the_store_unchanged(
    runs, tmp_path, sample_data, capsys, tamper, flags, message
):
    store = copy_run(runs.store, tmp_path / "store")
    before = snapshot(store)
    run = copy_run(runs.a, tmp_path / "run")
    if tamper:
        tamper(run)
    args = ["--model-id", "test/other", "--license", "mit", "--model-type", "base", *flags]
    rc, err = submit([run], store, *args, capsys=capsys)
    assert rc == 2
    assert "rejected: " in err and message in err, err
    assert len(err.strip().splitlines()) <= 8  # one message (data errors quote the fix lines)
    assert snapshot(store) == before


def test_group_aggregates_are_recomputed_from_their_tasks(runs, tmp_path, sample_data, capsys):
    run = copy_run(runs.a, tmp_path / "run")
    _add_group(run, 0.0)
    rc, err = submit([run], tmp_path / "s", "--model-id", "test/g", *META, capsys=capsys)
    assert rc == 0, err
    (sid,) = Store(tmp_path / "s").ids()
    sub = Store(tmp_path / "s").read(sid)
    assert sub.groups == {"bio_gen": {"rougeL,none": sub.task("bio_meqsum").metrics["rougeL,none"]}}


def test_missing_model_type_names_the_flag(runs, tmp_path, sample_data, capsys):
    rc, err = submit(
        [runs.a], tmp_path / "s", "--model-id", "test/x", "--license", "mit", capsys=capsys
    )
    assert rc == 2 and "model.model_type" in err and "--model-type" in err
    assert not (tmp_path / "s").exists() or not Store(tmp_path / "s").ids()


def test_runs_of_different_models_do_not_merge(runs, tmp_path, sample_data, capsys):
    rc, err = submit([runs.a, runs.b], tmp_path / "s", "--model-id", "test/x", *META, capsys=capsys)
    assert rc == 2 and "evaluate different models" in err


def test_oversized_samples_file_is_rejected(runs, tmp_path, sample_data, capsys, monkeypatch):
    monkeypatch.setattr(validate, "MAX_SAMPLES_BYTES", 1000)
    rc, err = submit([runs.a], tmp_path / "s", "--model-id", "test/x", *META, capsys=capsys)
    assert rc == 2 and "more than the 1000 allowed" in err


def test_meta_file_unknown_field_is_rejected(runs, tmp_path, sample_data, capsys):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"model_id": "test/x", "licence": "mit"}))
    rc, err = submit([runs.a], tmp_path / "s", "--meta", str(meta), capsys=capsys)
    assert rc == 2 and "unknown field(s) ['licence']" in err


# --- duplicates ---------------------------------------------------------------------------------


def test_duplicates_are_rejected_unless_replace(runs, tmp_path, sample_data, capsys):
    store = tmp_path / "store"
    base = ["--model-id", "test/dup", *META]
    assert submit([runs.a], store, *base, "--run-id", "first", capsys=capsys)[0] == 0
    before = snapshot(store)
    rc, err = submit([runs.a], store, *base, "--run-id", "second", capsys=capsys)
    assert rc == 2 and "duplicate: test/dup revision main" in err and "--replace" in err
    assert snapshot(store) == before
    rc, err = submit([runs.a], store, *base, "--run-id", "second", "--replace", capsys=capsys)
    assert rc == 0, err
    assert Store(store).ids() == ["test__dup/second"]
    # another precision is another leaderboard row, not a duplicate
    rc, err = submit([runs.a], store, *base, "--precision", "bfloat16", capsys=capsys)
    assert rc == 0, err
    assert len(Store(store).ids()) == 2


def test_runs_of_one_model_are_duplicates_only_on_the_same_measurement(
    runs, tmp_path, sample_data, capsys
):
    """A duplicate shares a (task, version, item subset): run B's first-2 items of the tasks run
    A ran in full are another measurement and complement it; B again is a duplicate, and so is
    what is left of B with the tasks it shares with A removed (named task by task)."""
    store = tmp_path / "store"
    b_only_gen = copy_run(runs.b, tmp_path / "b")
    rc, err = submit([runs.a], store, "--model-id", "test/m", *META, capsys=capsys)
    assert rc == 0, err
    rc, err = submit([runs.b], store, "--model-id", "test/m", *META, capsys=capsys)
    assert rc == 0, err  # shares bio_medqa_gen ... but on its first 2 items, not all of them
    rc, err = submit(
        [b_only_gen], store, "--model-id", "test/m", "--run-id", "b-again", *META, capsys=capsys
    )
    assert rc == 2 and "duplicate" in err and "bio_medqa_gen" in err
    edit_json(
        results_file(b_only_gen),
        lambda d: [d[k].pop(t, None) for k in ("configs", "versions", "results", "n-samples",
                                               "n-shot", "higher_is_better")
                   for t in ("bio_medqa_gen", "bio_meqsum", "bio_ner_bc2gm", "bio_chemprot")],
    )  # fmt: skip
    rc, err = submit(
        [b_only_gen], store, "--model-id", "test/m", "--run-id", "b-rest", *META, capsys=capsys
    )
    # what is left of B is still B's measurement of its own tasks: named, and nothing more
    assert rc == 2 and "bio_pubmedqa_gen" in err and "bio_medqa_gen" not in err, err
    assert len(Store(store).ids()) == 2


# --- crash safety and concurrency (subprocesses) -------------------------------------------------


def _submit_cmd(run: Path, store: Path, *extra: str) -> list[str]:
    return biobench("submit", str(run), "--store", str(store), *META, *extra)


@pytest.mark.parametrize("stage", ["written", "journal", "trashed", "renamed"])
def test_submit_killed_at_any_step_leaves_old_or_new_never_partial(runs, tmp_path, stage):
    store = tmp_path / "store"
    first = subprocess.run(
        _submit_cmd(runs.a, store, "--model-id", "test/k", "--run-id", "old"),
        env=env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    killed = subprocess.run(
        _submit_cmd(runs.a, store, "--model-id", "test/k", "--run-id", "new", "--replace"),
        env=env(**{FAULT_ENV: stage}), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr  # SIGKILL at that step
    s = Store(store)
    with s.lock():
        actions = s.recover()
    assert actions
    expected = "test__k/new" if stage == "renamed" else "test__k/old"
    assert s.ids() == [expected]
    sub = s.read(expected)
    folder = s.path_of(expected)
    for ref in sub.files:
        assert hashlib.sha256((folder / ref.name).read_bytes()).hexdigest() == ref.sha256
    assert not [p for p in store.iterdir() if p.name.startswith((".tmp-", ".txn-", ".trash-"))]
    # the store keeps working
    again = subprocess.run(
        _submit_cmd(runs.a, store, "--model-id", "test/k", "--run-id", "again", "--replace"),
        env=env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert s.ids() == ["test__k/again"]


def test_concurrent_submits_are_serialised(runs, tmp_path):
    store = tmp_path / "store"
    jobs = [
        ("test/c1", "r1"),
        ("test/c2", "r1"),
        ("test/dup", "r1"),
        ("test/dup", "r2"),
    ]
    procs = [
        subprocess.Popen(
            _submit_cmd(runs.a, store, "--model-id", model, "--run-id", run_id),
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for model, run_id in jobs
    ]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = [rc for rc, _ in outcomes]
    assert codes[:2] == [0, 0]
    assert sorted(codes[2:]) == [0, 2]
    loser = next(err for rc, err in outcomes[2:] if rc == 2)
    assert "duplicate: test/dup" in loser
    ids = Store(store).ids()
    assert len(ids) == 3 and {i.split("/")[0] for i in ids} == {"test__c1", "test__c2", "test__dup"}
    for sid in ids:
        Submission.model_validate_json((Store(store).path_of(sid) / "submission.json").read_bytes())
    assert not [p for p in store.iterdir() if p.name.startswith((".tmp-", ".txn-", ".trash-"))]


def test_submit_cli_prints_the_scores(runs, tmp_path):
    proc = subprocess.run(
        _submit_cmd(runs.a, tmp_path / "s", "--model-id", "test/cli"),
        env=env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "stored test__cli/" in proc.stdout and "bio_chemprot" in proc.stdout


def split_tasks(first: Path, second: Path) -> None:
    """Make two copies of one run two runs of one model on disjoint tasks: ``first`` gets its
    own file names and keeps the first task, ``second`` keeps the others."""
    keys = ("configs", "versions", "results", "n-samples", "n-shot", "higher_is_better")
    stamp = results_file(first).stem.removeprefix("results_")
    for path in list(first.rglob(f"*{stamp}*")):  # a second run: its own file names
        path.rename(path.with_name(path.name.replace(stamp, "2026-01-01T00-00-00.000000")))
    tasks = list(json.loads(results_file(first).read_text())["configs"])
    edit_json(results_file(first), lambda d: [d[k].pop(t, None) for k in keys for t in tasks[1:]])
    edit_json(results_file(second), lambda d: [d[k].pop(tasks[0], None) for k in keys])


def test_the_prompt_form_is_recorded_and_forms_never_merge(runs, tmp_path, sample_data, capsys):
    chat = copy_run(runs.a, tmp_path / "chat")
    template = "{% for m in messages %}<|im_start|>{{ m['content'] }}{% endfor %}"
    edit_json(results_file(chat), lambda d: d.update(chat_template=template))
    store = tmp_path / "store"
    rc, err = submit([chat], store, "--model-id", "test/chat", *META, capsys=capsys)
    assert rc == 0, err
    (stored,) = Store(store).ids()
    assert Store(store).read(stored).run.chat_template is True
    rc, err = submit([runs.a], store, "--model-id", "test/chat", "--run-id", "plain", *META,
                     capsys=capsys)  # fmt: skip
    assert rc == 0, err  # the same model, tasks and items in the other form: not a duplicate
    plain = next(i for i in Store(store).ids() if i != stored)
    assert Store(store).read(plain).run.chat_template is False

    # the same model's two forms, each on its own tasks, in one submission
    other = copy_run(runs.a, tmp_path / "plain")
    split_tasks(other, chat)
    before = snapshot(store)
    rc, err = submit([chat, other], store, "--model-id", "test/mixed", *META, capsys=capsys)
    assert rc == 2 and "mix prompt forms" in err and "own run" in err
    assert snapshot(store) == before


def test_the_matmul_precision_is_recorded_and_precisions_never_merge(
    runs, tmp_path, sample_data, capsys
):
    """biobench eval's ``biobench.matmul_precision`` reaches ``run.matmul_precision``; a bf16-
    matmul run of an already stored float32 run is its own run (not a duplicate); results files
    of two precisions in one submission, or an unknown value, are refused and store nothing."""
    fast = copy_run(runs.a, tmp_path / "bf16")
    edit_json(
        results_file(fast), lambda d: d.setdefault("biobench", {}).update(matmul_precision="bf16")
    )
    store = tmp_path / "store"
    rc, err = submit([fast], store, "--model-id", "test/mm", *META, capsys=capsys)
    assert rc == 0, err
    (stored,) = Store(store).ids()
    assert Store(store).read(stored).run.matmul_precision == "bf16"
    plain = copy_run(runs.a, tmp_path / "ieee")
    edit_json(
        results_file(plain), lambda d: d.setdefault("biobench", {}).update(matmul_precision="ieee")
    )
    rc, err = submit([plain], store, "--model-id", "test/mm", "--run-id", "ieee", *META,
                     capsys=capsys)  # fmt: skip
    assert rc == 0, err
    precisions = {Store(store).read(i).run.matmul_precision for i in Store(store).ids()}
    assert precisions == {"bf16", "ieee"}

    split_tasks(plain, fast)
    before = snapshot(store)
    rc, err = submit([fast, plain], store, "--model-id", "test/mixed", *META, capsys=capsys)
    assert rc == 2 and "mix float32 matmul precisions" in err and "own run" in err
    assert snapshot(store) == before

    odd = copy_run(runs.a, tmp_path / "odd")
    edit_json(
        results_file(odd), lambda d: d.setdefault("biobench", {}).update(matmul_precision="tf32")
    )
    rc, err = submit([odd], store, "--model-id", "test/odd", *META, capsys=capsys)
    assert rc == 2 and "'tf32' is not ieee or bf16" in err
    assert snapshot(store) == before
