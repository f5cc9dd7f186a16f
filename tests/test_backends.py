"""Backends of ``biobench eval`` / ``biobench worker``: lm-eval's hf (accelerate data parallel)
and vllm (tensor / data parallel) models, their arguments built as structured values."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from leaderboard.request_queue import new_request
from leaderboard.schemas import EvalBackend, EvalRequest
from runners import backends, worker
from runners import eval as eval_cmd
from runners.backends import Backend, BackendError, Parallelism, parse_model_args
from tests.conftest import ROOT


def parsed(argv: list[str]):
    return eval_cmd.build_parser().parse_known_args(argv)


def model_args_of(cmd: list[str]) -> dict:
    """``--model_args`` of a command, read back by lm-eval's own CLI action."""
    return parse_model_args(cmd[cmd.index("--model_args") + 1])


def lm_eval_part(cmd: list[str]) -> list[str]:
    """The arguments lm-eval's CLI receives (after ``-m lm_eval``)."""
    at = max(i for i, a in enumerate(cmd) if a == backends.LM_EVAL_MODULE and cmd[i - 1] == "-m")
    return cmd[at + 1 :]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(eval_cmd, "_cuda_available", lambda: False)


def test_vllm_tensor_and_data_parallel_are_model_arguments(no_cuda):
    args, extra = parsed(
        ["--backend", "vllm", "--model_args", "pretrained=/m,dtype=bfloat16,max_model_len=4096",
         "--tensor-parallel-size", "2", "--data-parallel-size", "4", "--tasks", "bio_qa",
         "--batch_size", "auto"]
    )  # fmt: skip
    cmd = eval_cmd.command(args, extra)
    assert cmd[:3] == [
        sys.executable,
        "-m",
        backends.LM_EVAL_MODULE,
    ]  # vLLM runs its own workers / Ray tasks
    lm = lm_eval_part(cmd)
    assert lm[0] == "run" and lm[lm.index("--model") + 1] == "vllm"
    assert model_args_of(cmd) == {
        "pretrained": "/m",
        "dtype": "bfloat16",
        "max_model_len": 4096,
        "tensor_parallel_size": 2,
        "data_parallel_size": 4,
    }
    assert json.loads(cmd[cmd.index("--model_args") + 1])["tensor_parallel_size"] == 2
    assert "--device" not in cmd  # vLLM ignores it; CUDA_VISIBLE_DEVICES picks GPUs
    assert lm[-2:] == ["--batch_size", "auto"]  # lm-eval's own flags pass through
    # --model vllm is the same choice
    args2, extra2 = parsed(
        ["--model", "vllm", "--model_args", "pretrained=/m,dtype=bfloat16,max_model_len=4096",
         "--tensor-parallel-size", "2", "--data-parallel-size", "4", "--tasks", "bio_qa",
         "--batch_size", "auto"]
    )  # fmt: skip
    assert eval_cmd.command(args2, extra2) == cmd


def test_vllm_single_gpu_sets_both_sizes_to_one(no_cuda):
    args, extra = parsed(["--model", "vllm", "--model_args", "pretrained=org/m", "--tasks", "x"])
    cmd = eval_cmd.command(args, extra)
    assert model_args_of(cmd) == {
        "pretrained": "org/m",
        "tensor_parallel_size": 1,
        "data_parallel_size": 1,
    }


def test_hf_data_parallel_runs_lm_eval_under_accelerate(no_cuda):
    args, extra = parsed(
        ["--model_args", "pretrained=/m,dtype=bfloat16", "--data-parallel-size", "8",
         "--tasks", "bio_ie", "--batch_size", "16"]
    )  # fmt: skip
    cmd = eval_cmd.command(args, extra)
    assert cmd[:12] == [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", "8", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no",
    ]  # fmt: skip
    assert cmd[12:14] == ["-m", backends.LM_EVAL_MODULE]
    lm = lm_eval_part(cmd)
    assert lm[lm.index("--model") + 1] == "hf"
    assert model_args_of(cmd) == {"pretrained": "/m", "dtype": "bfloat16"}  # no vLLM keys
    assert "--device" not in cmd  # accelerate gives each process its own GPU


def test_hf_one_process_is_plain_lm_eval_on_the_cpu_when_there_is_no_gpu(no_cuda):
    args, extra = parsed(["--model", "hf", "--model_args", "pretrained=/m", "--tasks", "x"])
    cmd = eval_cmd.command(args, extra)
    assert cmd[:3] == [sys.executable, "-m", backends.LM_EVAL_MODULE]
    assert cmd[cmd.index("--device") + 1] == "cpu"
    assert model_args_of(cmd) == {"pretrained": "/m"}


def test_default_model_runs_on_either_backend(monkeypatch, tmp_path, no_cuda):
    monkeypatch.setattr("runners.model.prepare_default_model", lambda: tmp_path)
    args, extra = parsed(["--model", "default", "--backend", "vllm", "--tasks", "x"])
    cmd = eval_cmd.command(args, extra)
    assert lm_eval_part(cmd)[lm_eval_part(cmd).index("--model") + 1] == "vllm"
    assert model_args_of(cmd)["pretrained"] == str(tmp_path)
    args, extra = parsed(["--model", "default", "--model_args", "pretrained=/x", "--tasks", "x"])
    with pytest.raises(BackendError, match="sets pretrained itself"):
        eval_cmd.command(args, extra)


def test_a_path_that_looks_like_arguments_stays_one_value(no_cuda):
    value = json.dumps({"pretrained": "/models/m,trust_remote_code=True"})
    args, extra = parsed(["--backend", "vllm", "--model_args", value, "--tasks", "x"])
    got = model_args_of(eval_cmd.command(args, extra))
    assert got["pretrained"] == "/models/m,trust_remote_code=True"
    assert "trust_remote_code" not in got


REFUSED = [
    (["--model", "hf", "--backend", "vllm"], "disagree"),
    (["--backend", "hf", "--tensor-parallel-size", "2"], "tensor parallelism use --backend vllm"),
    (["--model", "local-completions", "--data-parallel-size", "2"], "apply to the hf and vllm"),
    (["--model", "local-completions", "--backend", "hf"], "apply to the hf and vllm"),
    (["--backend", "vllm", "--tensor-parallel-size", "0"], "from 1 to 8"),
    (["--backend", "vllm", "--tensor-parallel-size", "9"], "from 1 to 8"),
    (["--backend", "vllm", "--data-parallel-size", "65"], "from 1 to 64"),
    (["--backend", "vllm", "--model_args", "pretrained=/m,tensor_parallel_size=2"], "instead"),
    (["--backend", "vllm", "--model_args", '{"data_parallel_size": 2}'], "instead"),
]


@pytest.mark.parametrize(("flags", "message"), REFUSED)
def test_bad_combinations_are_refused_before_anything_runs(flags, message, capsys, no_cuda):
    args, extra = parsed([*flags, "--tasks", "bio_qa"])
    with pytest.raises(BackendError, match=message):
        eval_cmd.command(args, extra)
    assert eval_cmd.main([*flags, "--tasks", "bio_qa"]) == 2
    assert message.split()[0] in capsys.readouterr().err


def test_other_lm_eval_models_pass_through_unchanged(no_cuda):
    args, extra = parsed(
        [
            "--model",
            "local-completions",
            "--model_args",
            "base_url=http://x,model=m",
            "--tasks",
            "x",
        ]
    )
    cmd = eval_cmd.command(args, extra)
    assert cmd[cmd.index("--model_args") + 1] == "base_url=http://x,model=m"


def test_parallelism_values_are_bounded_integers():
    assert Parallelism(2, 4).gpus == 8
    for bad in [(0, 1), (1, 0), (9, 1), (1, 65), (True, 1), (1.0, 1), ("2", 1)]:
        with pytest.raises(BackendError):
            Parallelism(*bad)


def test_preflight_names_what_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n in {"vllm", "ray"} else real(n, *a)
    )
    with pytest.raises(BackendError, match="needs the vllm package"):
        backends.preflight(Backend.VLLM, Parallelism())
    present = {"vllm": object(), "ray": None}  # vllm installed, ray not
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: present[n] if n in present else real(n, *a)
    )
    with pytest.raises(BackendError, match="pip install ray"):
        backends.preflight(Backend.VLLM, Parallelism(1, 2))
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(BackendError, match="has 1 CUDA device"):
        backends.preflight(Backend.HF, Parallelism(1, 2))
    backends.preflight(Backend.HF, Parallelism(1, 1))  # one process needs nothing


def _init_parameters(source: Path, cls: str) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return {a.arg for a in init.args.args + init.args.kwonlyargs}


def test_the_argument_names_are_lm_evals_own():
    """Read from lm-eval's source (its vllm module imports vllm, which is not installed here)."""
    spec = importlib.util.find_spec("lm_eval")
    models = Path(spec.origin).parent / "models"
    vllm_args = _init_parameters(models / "vllm_causallms.py", "VLLM")
    used = {"pretrained", "dtype", "revision", "trust_remote_code", "lora_local_path"}
    used |= {"max_lora_rank", *backends.PARALLEL_KEYS}
    assert used <= vllm_args
    hf_args = _init_parameters(models / "huggingface.py", "HFLM")
    assert {"pretrained", "dtype", "revision", "trust_remote_code", "peft"} <= hf_args


# --- requests and the worker ----------------------------------------------------------------------


def _adapter(tmp_path: Path, model: Path, rank: int) -> Path:
    folder = tmp_path / f"lora-r{rank}"
    folder.mkdir()
    config = {"base_model_name_or_path": str(model), "r": rank, "peft_type": "LORA"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    shutil.copy(next(model.glob("*.safetensors")), folder / "adapter_model.safetensors")
    return folder


@pytest.mark.parametrize(("rank", "max_lora_rank"), [(8, 8), (16, 16), (20, 32)])
def test_worker_builds_vllm_commands_from_request_fields(model, tmp_path, rank, max_lora_rank):
    adapter = _adapter(tmp_path, model, rank)
    req = new_request(
        str(model), model_type="base", model_id="test/tiny", precision="bfloat16",
        peft_adapter=str(adapter), backend="vllm", tensor_parallel_size=2,
        data_parallel_size=4,
    )  # fmt: skip
    cmd = worker.eval_command(req, "bio_pubmedqa", tmp_path / "out")
    assert cmd[cmd.index("--model") + 1] == "vllm"  # the backend is lm-eval's model type
    # what `biobench eval` makes of it, as lm-eval will receive it
    args, extra = parsed(cmd[4:])
    final = eval_cmd.command(args, extra)
    assert model_args_of(final) == {
        "pretrained": str(model.resolve()),
        "dtype": "bfloat16",
        "lora_local_path": str(adapter.resolve()),
        "max_lora_rank": max_lora_rank,
        "tensor_parallel_size": 2,
        "data_parallel_size": 4,
    }


def test_worker_builds_hf_data_parallel_commands(model, tmp_path, no_cuda):
    req = new_request(str(model), model_type="base", model_id="test/tiny", data_parallel_size=2)
    cmd = worker.eval_command(req, "bio_qa", tmp_path / "out")
    final = eval_cmd.command(*parsed(cmd[4:]))
    assert final[2] == "accelerate.commands.launch" and "--num_processes" in final
    assert final[final.index("--num_processes") + 1] == "2"
    assert model_args_of(final) == {"pretrained": str(model.resolve()), "dtype": "float32"}


def test_vllm_refuses_what_it_cannot_load(model, tmp_path):
    req = new_request(str(model), model_type="base", model_id="test/tiny", precision="8bit")
    vllm_req = req.model_copy(update={"backend": EvalBackend.VLLM})
    with pytest.raises(worker.WorkerError, match="cannot be evaluated with the vllm model"):
        worker.eval_command(vllm_req, "bio_qa", tmp_path)
    assert worker.model_args(req)["load_in_8bit"] is True  # hf can
    adapter = _adapter(tmp_path, model, 1024)
    big = new_request(
        str(model), model_type="base", model_id="test/tiny2", peft_adapter=str(adapter),
        backend="vllm",
    )  # fmt: skip
    with pytest.raises(worker.WorkerError, match="exceeds vLLM's largest"):
        worker.eval_command(big, "bio_qa", tmp_path)


BAD_PARALLEL = [
    ({"backend": "vllm; rm -rf /"}, "backend"),
    ({"backend": "sglang"}, "backend"),
    ({"backend": "vllm", "tensor_parallel_size": 0}, "tensor_parallel_size"),
    ({"backend": "vllm", "tensor_parallel_size": 9}, "tensor_parallel_size"),
    ({"backend": "vllm", "tensor_parallel_size": "2"}, "tensor_parallel_size"),
    ({"backend": "vllm", "tensor_parallel_size": True}, "tensor_parallel_size"),
    ({"backend": "vllm", "data_parallel_size": 65}, "data_parallel_size"),
    ({"backend": "vllm", "data_parallel_size": 2.5}, "data_parallel_size"),
]


@pytest.mark.parametrize(("fields", "where"), BAD_PARALLEL)
def test_request_backend_and_parallelism_are_an_enum_and_bounded_ints(model, fields, where):
    good = new_request(str(model), model_type="base", model_id="test/tiny").model_dump(mode="json")
    with pytest.raises(ValidationError) as info:
        EvalRequest.model_validate(good | fields)
    assert info.value.errors()[0]["loc"][0] == where


def test_hf_requests_cannot_ask_for_tensor_parallelism(model):
    good = new_request(str(model), model_type="base", model_id="test/tiny").model_dump(mode="json")
    with pytest.raises(ValidationError, match="needs backend 'vllm'"):
        EvalRequest.model_validate(good | {"tensor_parallel_size": 2})
    ok = EvalRequest.model_validate(good | {"backend": "vllm", "tensor_parallel_size": 2})
    assert ok.tensor_parallel_size == 2
    old = {k: v for k, v in good.items() if k not in {"backend", "tensor_parallel_size"}}
    assert EvalRequest.model_validate(old).backend == "hf"  # requests queued before stay valid


# --- end to end ---------------------------------------------------------------------------------

FAKE_GPUS = """import os
if os.environ.get("BIOBENCH_TEST_CUDA_DEVICE_COUNT"):
    import torch
    torch.cuda.device_count = lambda: int(os.environ["BIOBENCH_TEST_CUDA_DEVICE_COUNT"])
"""


def _samples(root: Path) -> dict[str, dict[int, dict]]:
    out = {}
    for path in root.rglob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[task] = {r["doc_id"]: r for r in rows}
    return out


@pytest.mark.slow
def test_accelerate_two_processes_give_the_results_of_one(tiny_llama, tmp_path, subprocess_env):
    """lm-eval's hf data parallelism (accelerate, 2 processes) vs one process, item by item.

    lm-eval 0.4.13 splits the requests across processes only when ``torch.cuda.device_count()``
    is above 1. On this CPU-only machine a ``sitecustomize`` (test only) makes torch report 2
    devices, so lm-eval takes its real data-parallel path: each rank builds and evaluates its
    share of the requests (padded to equal length), rank 0 gathers them over accelerate's gloo
    process group (``ACCELERATE_USE_CPU``) and writes the results.
    """
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(FAKE_GPUS)
    env = dict(subprocess_env, BIOBENCH_SOURCE="sample", OMP_NUM_THREADS="1")
    common = [
        sys.executable, "-m", "runners.cli", "eval", "--model", "hf",
        "--model_args", f"pretrained={tiny_llama},dtype=float32",
        "--tasks", "bio_pubmedqa,bio_chemprot,bio_meqsum", "--gen_kwargs", "max_gen_toks=8",
        "--batch_size", "2",
    ]  # fmt: skip
    one = subprocess.run(
        [*common, "--output_path", str(tmp_path / "one")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    two_env = dict(
        env,
        PYTHONPATH=f"{shim}{os.pathsep}{env['PYTHONPATH']}",
        BIOBENCH_TEST_CUDA_DEVICE_COUNT="2",
        ACCELERATE_USE_CPU="true",
    )
    two = subprocess.run(
        [*common, "--data-parallel-size", "2", "--output_path", str(tmp_path / "two")],
        env=two_env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    log = two.stdout + two.stderr
    assert "accelerate.commands.launch --multi_gpu --num_processes 2" in log
    for task in ("bio_pubmedqa", "bio_chemprot", "bio_meqsum"):  # both ranks did a share
        assert f"Building contexts for {task} on rank 0" in log
        assert f"Building contexts for {task} on rank 1" in log
    a, b = _samples(tmp_path / "one"), _samples(tmp_path / "two")
    assert set(a) == set(b) == {"bio_pubmedqa", "bio_chemprot", "bio_meqsum"}
    for task in a:
        assert sorted(a[task]) == sorted(b[task]) and len(a[task]) >= 3, task
        for doc_id, row in a[task].items():
            other = b[task][doc_id]
            for key in ("doc_hash", "prompt_hash", "target", "arguments", "filtered_resps"):
                assert row[key] == other[key], (task, doc_id, key)
            # raw responses: lm-eval pads the shorter rank with a copy of its last request and
            # appends the copy's answer to that request, so compare each request's first one
            assert [r[:1] for r in row["resps"]] == [r[:1] for r in other["resps"]], (task, doc_id)
            for metric in row["metrics"]:
                assert row[metric] == other[metric], (task, doc_id, metric)
    ra = json.loads(next((tmp_path / "one").rglob("results_*.json")).read_text())
    rb = json.loads(next((tmp_path / "two").rglob("results_*.json")).read_text())
    assert ra["results"] == rb["results"]
    assert rb["biobench"]["tasks"].keys() == ra["biobench"]["tasks"].keys()
    stored = subprocess.run(  # the data-parallel run is re-scored and stored like any other
        [sys.executable, "-m", "runners.cli", "submit", str(tmp_path / "two"),
         "--store", str(tmp_path / "store"), "--model-id", "test/tiny-dp", "--license", "mit",
         "--model-type", "base"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr[-3000:]
    assert list((tmp_path / "store").rglob("submission.json"))


@pytest.mark.gpu
def test_vllm_end_to_end_on_a_gpu(tmp_path, subprocess_env):
    """vLLM on the embedded model (a real architecture: the tiny test LLaMA's 16-wide heads are
    below what vLLM's kernels take): results are written, re-scored and stored by ``--submit``,
    and its choices agree with the hf backend's; with 2+ GPUs and Ray, data parallel too."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    env = dict(subprocess_env, BIOBENCH_SOURCE="sample")
    runs = {"hf": ["--backend", "hf"], "vllm": ["--backend", "vllm"]}
    if torch.cuda.device_count() >= 2 and importlib.util.find_spec("ray") is not None:
        runs["vllm-dp2"] = ["--backend", "vllm", "--data-parallel-size", "2"]
    for name, flags in runs.items():
        store = tmp_path / f"store-{name}"
        proc = subprocess.run(
            [sys.executable, "-m", "runners.cli", "eval", "--model", "default", *flags,
             "--model_args", "dtype=float32", "--tasks", "bio_pubmedqa,bio_meqsum",
             "--gen_kwargs", "max_gen_toks=16", "--batch_size", "auto",
             "--output_path", str(tmp_path / name), "--submit", "--store", str(store),
             "--model-id", f"test/smollm2-{name}", "--license", "apache-2.0",
             "--model-type", "instruction-tuned"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert list(store.rglob("submission.json")), f"{name}: nothing stored"
    hf = _samples(tmp_path / "hf")["bio_pubmedqa"]
    for name in runs.keys() - {"hf"}:
        other = _samples(tmp_path / name)["bio_pubmedqa"]
        assert other.keys() == hf.keys()
        same = sum(
            max(range(len(r["filtered_resps"])), key=lambda i: r["filtered_resps"][i][0])
            == max(range(len(o["filtered_resps"])), key=lambda i: o["filtered_resps"][i][0])
            for r, o in ((hf[d], other[d]) for d in hf)
        )
        assert same / len(hf) >= 0.75, (name, same, len(hf))


def test_a_bf16_run_on_a_cpu_without_bf16_units_is_warned_about_once(monkeypatch, capsys):
    """dtype=bfloat16 still runs (a precision comparison needs it) but says in one line why it
    will be slow and what runs at full speed; float32 and a machine with the units say nothing."""
    from runners import hardware

    monkeypatch.setattr(hardware, "slow_bf16", lambda: "CPU X (AVX2) has no bf16 units")
    for model_args, warned in (
        ("pretrained=m,dtype=bfloat16", True),
        ('{"pretrained": "m", "dtype": "bfloat16"}', True),
        ("pretrained=m,dtype=float32", False),
        ("pretrained=m", False),
    ):
        plan = eval_cmd.Plan(None, backends.Parallelism(), "hf", model_args)
        eval_cmd.warn_slow_bf16(plan)
        err = capsys.readouterr().err
        assert (err.count("\n") == 1 and "CPU X (AVX2)" in err and "dtype=float32" in err) == (
            warned
        ), (model_args, err)
        assert warned or err == ""
    monkeypatch.setattr(hardware, "slow_bf16", lambda: None)
    eval_cmd.warn_slow_bf16(eval_cmd.Plan(None, backends.Parallelism(), "hf", "dtype=bfloat16"))
    assert capsys.readouterr().err == ""


def test_matmul_precision_is_bf16_by_default_only_where_the_cpu_has_the_units(monkeypatch):
    """auto = bf16 on a CPU with bf16 units, ieee without; bf16 asked for without the units, on
    vLLM, on a GPU or for a bf16 model is a one-line refusal; other cases record nothing."""
    from runners import hardware

    def args(choice: str):
        return eval_cmd.build_parser().parse_args(
            ["--tasks", "bio_pubmedqa", "--matmul-precision", choice]
        )

    hf = eval_cmd.Plan(backends.Backend.HF, backends.Parallelism(), "hf", {"pretrained": "m"})
    monkeypatch.setattr(eval_cmd, "_cuda_available", lambda: False)
    monkeypatch.setattr(hardware, "bf16_units", lambda: ("AVX512-BF16",))
    assert eval_cmd.matmul_precision(args("auto"), hf, []) == "bf16"
    assert eval_cmd.matmul_precision(args("ieee"), hf, []) == "ieee"
    assert eval_cmd.matmul_precision(args("bf16"), hf, []) == "bf16"
    assert eval_cmd.matmul_precision(args("auto"), hf, ["--device", "cuda:0"]) is None
    bf16_model = eval_cmd.Plan(
        hf.backend, hf.parallel, "hf", {"pretrained": "m", "dtype": "bfloat16"}
    )
    assert eval_cmd.matmul_precision(args("auto"), bf16_model, []) is None
    vllm = eval_cmd.Plan(backends.Backend.VLLM, backends.Parallelism(), "vllm", {"pretrained": "m"})
    for plan, extra in ((vllm, []), (hf, ["--device", "cuda:0"]), (bf16_model, [])):
        with pytest.raises(BackendError, match="applies to float32 hf runs on the CPU"):
            eval_cmd.matmul_precision(args("bf16"), plan, extra)
    monkeypatch.setattr(hardware, "bf16_units", lambda: ())
    assert eval_cmd.matmul_precision(args("auto"), hf, []) == "ieee"
    with pytest.raises(
        BackendError, match="no AMX-BF16 or AVX512-BF16 units; use --matmul-precision ieee"
    ):
        eval_cmd.matmul_precision(args("bf16"), hf, [])
    with pytest.raises(SystemExit):
        eval_cmd.build_parser().parse_args(["--tasks", "t", "--matmul-precision", "fp8"])


def test_matmul_precision_reaches_torch_and_is_refused_without_units(monkeypatch):
    """auto follows the CPU's units; the setting reaches torch and the context manager puts the
    previous one back; bf16 without units and unknown values are refused, torch untouched."""
    import torch

    from runners import hardware

    before = torch.backends.mkldnn.matmul.fp32_precision
    monkeypatch.setattr(hardware, "bf16_units", lambda: ("AMX-BF16",))
    with hardware.matmul_precision("auto") as chosen:
        assert chosen == "bf16" == torch.backends.mkldnn.matmul.fp32_precision
        with hardware.matmul_precision("ieee"):
            assert torch.backends.mkldnn.matmul.fp32_precision == "ieee"
        assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
    assert torch.backends.mkldnn.matmul.fp32_precision == before
    monkeypatch.setattr(hardware, "bf16_units", lambda: ())
    assert hardware.resolve_matmul_precision("auto") == "ieee"
    with pytest.raises(ValueError, match="no AMX-BF16 or AVX512-BF16 units; use precision fp32"):
        hardware.apply_matmul_precision("bf16", "precision fp32")
    with pytest.raises(ValueError, match="use one of auto, ieee, bf16"):
        hardware.apply_matmul_precision("tf32")
    assert torch.backends.mkldnn.matmul.fp32_precision == before


def test_lm_eval_entry_point_refuses_a_bad_matmul_precision_in_one_line(subprocess_env):
    env = {**subprocess_env, "BIOBENCH_MATMUL_PRECISION": "fp8"}
    proc = subprocess.run(
        [sys.executable, "-m", "runners.lm_eval_main", "--help"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "biobench eval: matmul precision 'fp8': use one of auto, ieee, bf16"
    )
