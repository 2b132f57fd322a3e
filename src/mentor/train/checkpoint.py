"""Run checkpoints as Hugging Face model directories.

`runs/<run>/checkpoints/step-N/` holds `config.json`, `model.safetensors`, `generation_config.json`
and the tokenizer with its chat template, so a trained student loads as it is with
`AutoModelForCausalLM.from_pretrained`, as `trl.GRPOTrainer(model=path)` and in vLLM. The optimiser
state sits beside the weights as `optimizer.pt`: only resume reads it.

Only the newest checkpoint is kept: the run store holds every later step's tokens, log-probs and
advantages, so resume replays the updates after it exactly. Runs written before this format left
`step-N.pt` (a `torch.save` of model and optimizer state dicts); those still load, and the next save
replaces them with a directory.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.errors import CheckpointError, MentorError
from mentor.student.hf_dir import load_weights, save_hf_dir

CHECKPOINTS = "checkpoints"
OPTIMIZER = "optimizer.pt"
_DIR = re.compile(r"^step-(\d+)$")
_LEGACY = re.compile(r"^step-(\d+)\.pt$")


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path  # the step-N directory, or a legacy step-N.pt file
    legacy: bool


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """The run's checkpoints, oldest first (a directory wins over a legacy file of the same step)."""
    root = Path(run_dir) / CHECKPOINTS
    found: dict[int, Checkpoint] = {}
    for path in root.iterdir() if root.is_dir() else ():
        if (m := _DIR.match(path.name)) and path.is_dir():
            found[int(m[1])] = Checkpoint(int(m[1]), path, legacy=False)
        elif (m := _LEGACY.match(path.name)) and path.is_file():
            found.setdefault(int(m[1]), Checkpoint(int(m[1]), path, legacy=True))
    return [found[s] for s in sorted(found)]


def latest_checkpoint(run_dir: str | Path, upto_step: int | None = None) -> Checkpoint | None:
    """The newest checkpoint, or the newest at or before `upto_step` (the store's last committed step:
    a checkpoint written after it belongs to a step the store never saw)."""
    eligible = [c for c in list_checkpoints(run_dir) if upto_step is None or c.step <= upto_step]
    return eligible[-1] if eligible else None


def format_bytes(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{max(1, round(nbytes / 2**20))} MiB"


def save_checkpoint(run_dir: str | Path, step: int, model: Any, tokenizer: Any, optimizer: Any = None) -> Path:
    """Write `checkpoints/step-{step}/` and remove every older checkpoint; returns the directory.

    Atomic: everything is written to a hidden temporary directory that is then renamed into place, so
    a killed save never leaves a directory that `list_checkpoints` would pick up.
    """
    import torch
    from safetensors import SafetensorError

    root = Path(run_dir) / CHECKPOINTS
    final = root / f"step-{step}"
    tmp = old = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".step-{step}.part-", dir=root))
        save_hf_dir(model, tokenizer, tmp)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
        if final.exists():  # the same step saved again (the end of a run): replace it
            old = Path(tempfile.mkdtemp(prefix=f".step-{step}.old-", dir=root))
            final.rename(old)  # onto the empty directory just made
        tmp.rename(final)
    except (OSError, SafetensorError) as exc:  # torch.save's and safetensors' write errors
        if old is not None and not final.exists():
            old.rename(final)  # the same step's earlier save goes back where it was
        size = (3 if optimizer is not None else 1) * sum(t.numel() * t.element_size() for t in model.state_dict().values())
        raise CheckpointError(
            f"could not write the checkpoint of step {step} ({exc}). Every step the run committed is kept "
            "in its store, and any earlier checkpoint is untouched.",
            where=str(root),
            fix=f"free disk space (a checkpoint takes about {format_bytes(size)}: "
                f"the weights and the optimizer's moments), then resume: mentor train --resume {run_dir}, "
                "or the same mentor compare command",
        ) from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    # keep the newest only, and clear what killed saves left behind (one writer per run: the store's lock)
    for path in root.iterdir():
        if path == final:
            continue
        if _DIR.match(path.name) or _LEGACY.match(path.name) or path.name.startswith(".step-"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return final


def remove_checkpoints(run_dir: str | Path) -> int:
    """Delete the run's checkpoints; returns the bytes freed (0 when it had none). The store still holds
    every step, so resuming the run (`mentor train --resume`) replays its updates and saves the
    checkpoint again."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return 0
    freed = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    shutil.rmtree(root)
    return freed


def load_checkpoint(run_dir: str | Path, model: Any, optimizer: Any = None, *, upto_step: int | None = None) -> int:
    """Load the newest checkpoint (at or before `upto_step`) into `model` and, when given, `optimizer`,
    in place. Returns its step, or 0 when there is none (the model is left as it was).

    A checkpoint that does not fit the model, or cannot be read, is a MentorError naming the file and
    the fix, raised before anything is changed where it can be checked first.
    """
    ckpt = latest_checkpoint(run_dir, upto_step)
    if ckpt is None:
        return 0
    if ckpt.legacy:
        _load_legacy(ckpt.path, model, optimizer)
        return ckpt.step
    if optimizer is not None and not (ckpt.path / OPTIMIZER).is_file():
        raise MentorError(f"the checkpoint has no optimizer state ({OPTIMIZER}), so training cannot resume from it.",
                          where=str(ckpt.path),
                          fix="delete the checkpoint directory and resume: the run store replays every step "
                          "from the start")
    load_weights(model, ckpt.path)
    if optimizer is not None:
        _load_optimizer(optimizer, _torch_load(ckpt.path / OPTIMIZER), ckpt.path / OPTIMIZER)
    return ckpt.step


def _load_legacy(path: Path, model: Any, optimizer: Any) -> None:
    """A `step-N.pt` from before checkpoints were model directories: {"model", "optimizer", "step"}."""
    state = _torch_load(path)
    if not isinstance(state, dict) or "model" not in state:
        raise MentorError("not a Mentor checkpoint: no model state in it.", where=str(path),
                          fix="delete the file and resume: the run store replays every step from the start")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise MentorError(f"the old-format checkpoint does not fit this model ({first}).", where=str(path),
                          fix="load it with the model.name the run was trained with; or delete the file and "
                          "resume: the run store replays every step from the start") from exc
    if optimizer is not None:
        _load_optimizer(optimizer, state.get("optimizer"), path)


def _load_optimizer(optimizer: Any, state: Any, path: Path) -> None:
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError) as exc:
        raise MentorError(f"the optimizer state does not fit this run's optimizer ({exc}).", where=str(path),
                          fix="resume with the configuration stored with the run; or delete the checkpoint "
                          "and resume: the run store replays every step from the start") from exc


def _torch_load(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # a truncated or foreign file fails deep in the unpickler, with any error type
        raise MentorError(f"cannot read the checkpoint file ({type(exc).__name__}: {exc}).", where=str(path),
                          fix="delete it and resume: the run store replays every step from the start") from exc
