"""Plain Hugging Face model directories: what Mentor writes for the bundled student and for run
checkpoints, so that transformers, TRL, vLLM and the Hub read them without a conversion.

A directory holds `config.json` (with `architectures`, and no quantisation config), safetensors weights,
`generation_config.json`, and the tokenizer with its chat template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mentor.errors import MentorError

# transformers 5 records its generic fast tokenizer as "TokenizersBackend", a name transformers 4.x
# (which vLLM and many TRL installs still pin) cannot resolve; "PreTrainedTokenizerFast" is the same
# class in 5.x and exists in 4.x, so the directory loads under both.
_PORTABLE_TOKENIZER_CLASSES = {"TokenizersBackend": "PreTrainedTokenizerFast"}


def save_hf_dir(model: Any, tokenizer: Any, out: str | Path) -> Path:
    """Write `model` (a transformers PreTrainedModel) and `tokenizer` to `out` as a loadable directory."""
    from transformers.utils import logging as hf_logging

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # no "Writing model shards" bar in the middle of a training run's output
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out, safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    tokenizer.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        portable = _PORTABLE_TOKENIZER_CLASSES.get(config.get("tokenizer_class", ""))
        if portable:
            config["tokenizer_class"] = portable
            config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def load_weights(model: Any, directory: str | Path) -> None:
    """Load the safetensors weights of a directory into an existing `model` of the same architecture,
    in place (the optimiser keeps its references to the parameters).

    Every parameter must be found, except the ones tied to another that was (the output head shares
    the input embedding, and `save_pretrained` stores it once). A mismatch is a MentorError that names
    the directory, never a half-loaded model.
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise MentorError("no safetensors weights in the checkpoint directory.", where=str(directory),
                          fix="point at a directory written by `mentor train` or `save_pretrained`")
    state: dict[str, Any] = {}
    for f in files:
        state.update(load_file(f))
    current = model.state_dict()
    unexpected = sorted(k for k in state if k not in current)
    shapes = sorted(k for k in state if k in current and tuple(state[k].shape) != tuple(current[k].shape))
    if unexpected or shapes:
        bad = (unexpected + shapes)[:3]
        raise MentorError(f"the checkpoint's weights do not fit this model (e.g. {', '.join(bad)}).",
                          where=str(directory),
                          fix="load it with the model.name the run was trained with (see its stored config)")
    loaded = {current[k].data_ptr() for k in state}
    missing = sorted(k for k in current if k not in state and current[k].data_ptr() not in loaded)
    if missing:
        raise MentorError(f"the checkpoint lacks {len(missing)} of the model's weights (e.g. {missing[0]}).",
                          where=str(directory),
                          fix="the directory is incomplete: delete it and resume (the run store replays the steps)")
    model.load_state_dict(state, strict=False)
