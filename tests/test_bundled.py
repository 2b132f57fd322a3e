"""The bundled student is a plain transformers checkpoint: `from_pretrained` and `GRPOTrainer(model=path)`
take the materialised directory as it is; a directory in an older format is rebuilt, never reused."""

from __future__ import annotations

import json

import pytest

from mentor.errors import MentorError
from mentor.student import bundled
from mentor.student.bundled import BUNDLE_FORMAT, BUNDLE_MARKER, bundle_format, bundled_model_dir, load_local

# what Mentor wrote before the format marker: de-quantised weights under the GGUF loader's config
LEGACY_CONFIG = {"architectures": None, "model_type": "llama",
                 "quantization_config": {"quant_method": "gguf", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}}


def _legacy_dir(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(LEGACY_CONFIG))
    (path / "model.safetensors").write_bytes(b"weights")
    (path / "tokenizer_config.json").write_text("{}")
    return path


def test_a_directory_in_an_older_format_is_rebuilt_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_CACHE", str(tmp_path))
    out = _legacy_dir(tmp_path / "smollm2-135m-instruct")
    assert bundle_format(out) == 1
    built = []

    def materialise(target):
        built.append(target)
        (target / BUNDLE_MARKER).write_text(json.dumps({"format": BUNDLE_FORMAT}))

    monkeypatch.setattr(bundled, "_materialise", materialise)
    assert bundled_model_dir() == out
    assert built == [out]
    assert bundled_model_dir() == out  # current now: reused
    assert built == [out]
    assert bundle_format(tmp_path / "missing") == 0


def test_loading_an_old_gguf_config_directory_says_what_to_do(tmp_path):
    path = _legacy_dir(tmp_path / "old")
    with pytest.raises(MentorError, match="GGUF quantisation config") as err:
        load_local(path)
    assert err.value.where == str(path)
    assert "rebuilt on its next use" in err.value.render()


@pytest.mark.slow
def test_bundled_dir_is_a_plain_transformers_checkpoint_with_the_gguf_weights():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = bundled_model_dir()
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config and "gguf" not in json.dumps(config).lower()
    assert (path / "model.safetensors").is_file() and bundle_format(path) == BUNDLE_FORMAT
    model = AutoModelForCausalLM.from_pretrained(path)
    assert not getattr(model, "is_quantized", False) and getattr(model, "hf_quantizer", None) is None
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert tokenizer.eos_token == "<|im_end|>"

    # the same numbers as the GGUF, de-quantised by transformers directly
    gguf = bundled.gguf_path()
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    ids = tokenizer("Calculate 3 + 4. Answer:", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)


@pytest.mark.slow
def test_grpo_trainer_takes_the_bundled_dir_as_a_path(tmp_path):
    trl = pytest.importorskip("trl", reason="TRL is not installed: pip install 'mentor-rl[trl]'")
    from datasets import Dataset

    args = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=8, max_steps=1, report_to="none", use_cpu=True, bf16=False,
                          save_strategy="no", disable_tqdm=True)
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": "Calculate 3 + 4."}]}] * 2)
    trainer = trl.GRPOTrainer(model=str(bundled_model_dir()), reward_funcs=lambda completions, **kw: [0.0] *
                              len(completions), args=args, train_dataset=dataset)
    assert type(trainer.model).__name__ == "LlamaForCausalLM"
    assert trainer.processing_class.eos_token == "<|im_end|>"
