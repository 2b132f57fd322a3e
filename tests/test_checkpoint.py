"""Run checkpoints are Hugging Face directories: `from_pretrained` (transformers, TRL) reads what
`mentor train` writes, resume from them is exact, and old `step-N.pt` files load or fail clearly."""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer

from mentor.errors import CheckpointError, MentorError
from mentor.testing import tiny_model
from mentor.train import checkpoint
from mentor.train.checkpoint import (
    OPTIMIZER,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

PROMPT = [{"role": "user", "content": "Calculate 3 + 4."}]


def _ids(tokenizer) -> torch.Tensor:
    text = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    return torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])


@torch.no_grad()
def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    return model.eval()(ids).logits


def _train(model, optimizer, steps: int, seed: int) -> None:
    """A few AdamW steps on a fixed batch: moves the weights and fills the optimizer state."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=gen)
    for _ in range(steps):
        optimizer.zero_grad()
        model(ids, labels=ids).loss.backward()
        optimizer.step()


def _trained(seed: int = 0, steps: int = 2):
    model, tokenizer = tiny_model(seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _train(model, optimizer, steps, seed=1)
    return model, tokenizer, optimizer


def test_checkpoint_is_a_transformers_directory_with_identical_logits(tmp_path):
    model, tokenizer, optimizer = _trained()
    path = save_checkpoint(tmp_path, 3, model, tokenizer, optimizer)
    assert path == tmp_path / "checkpoints" / "step-3"
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            OPTIMIZER} <= {p.name for p in path.iterdir()}
    loaded = AutoModelForCausalLM.from_pretrained(path)
    assert loaded.config.architectures == ["LlamaForCausalLM"]
    assert getattr(loaded.config, "quantization_config", None) is None
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template == tokenizer.chat_template
    ids = _ids(tokenizer)
    assert torch.equal(_ids(tok), ids)
    fresh, _ = tiny_model(seed=0)
    assert not torch.equal(_logits(fresh, ids), _logits(model, ids))  # training moved the weights
    assert torch.equal(_logits(loaded, ids), _logits(model, ids))


def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    """Weights and AdamW moments come back bit for bit: one more step after loading lands where an
    uninterrupted run's next step does."""
    model, tokenizer, optimizer = _trained()
    save_checkpoint(tmp_path, 2, model, tokenizer, optimizer)
    _train(model, optimizer, 1, seed=7)

    other, _ = tiny_model(seed=5)  # different initial weights: everything must come from the checkpoint
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-2)
    assert load_checkpoint(tmp_path, other, other_opt) == 2
    _train(other, other_opt, 1, seed=7)
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_only_the_newest_checkpoint_is_kept_and_partial_saves_are_ignored(tmp_path):
    model, tokenizer, optimizer = _trained()
    root = tmp_path / "checkpoints"
    save_checkpoint(tmp_path, 1, model, tokenizer, optimizer)
    (root / ".step-9.part-abc").mkdir()  # a save killed half-way
    torch.save({"model": model.state_dict()}, root / "step-0.pt")  # an old-format one
    assert [c.step for c in list_checkpoints(tmp_path)] == [0, 1]
    save_checkpoint(tmp_path, 2, model, tokenizer, optimizer)
    assert sorted(p.name for p in root.iterdir()) == ["step-2"]
    save_checkpoint(tmp_path, 2, model, tokenizer, optimizer)  # the same step again (the end of a run)
    assert sorted(p.name for p in root.iterdir()) == ["step-2"]
    # a checkpoint after the store's last committed step belongs to a step the store never saw
    assert latest_checkpoint(tmp_path, upto_step=1) is None
    fresh, _ = tiny_model(seed=0)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    assert load_checkpoint(tmp_path, fresh, upto_step=1) == 0
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())
    assert load_checkpoint(tmp_path / "nowhere", fresh) == 0


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),  # torch.save, mkdir, rename
    SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),  # safetensors
])
def test_a_full_disk_names_the_checkpoint_the_space_and_the_resume(tmp_path, monkeypatch, error):
    """A save that runs out of space (safetensors reports it as its own error type) leaves no partial
    directory, keeps the previous checkpoint, and says how much room a checkpoint needs and how to go on."""
    model, tokenizer, optimizer = _trained()
    save_checkpoint(tmp_path, 2, model, tokenizer, optimizer)

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(checkpoint, "save_hf_dir", full)
    with pytest.raises(CheckpointError) as err:
        save_checkpoint(tmp_path, 4, model, tokenizer, optimizer)
    assert err.value.exit_code == 1
    assert "step 4" in err.value.message and "No space left on device" in err.value.message
    assert err.value.where == str(tmp_path / "checkpoints")
    assert re.search(r"about \d+(\.\d)? [MG]iB", err.value.fix)
    assert f"mentor train --resume {tmp_path}" in err.value.fix
    assert [c.step for c in list_checkpoints(tmp_path)] == [2]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-2"]


def test_a_failed_re_save_of_the_same_step_puts_the_earlier_save_back(tmp_path, monkeypatch):
    """The end of a run saves its last step again; if that write cannot be moved into place, the
    earlier save of the step is where it was, and nothing hidden is left beside it."""
    model, tokenizer, optimizer = _trained()
    save_checkpoint(tmp_path, 4, model, tokenizer, optimizer)
    rename = Path.rename

    def fail_for_the_new_write(self, target):
        if self.name.startswith(".step-4.part-"):
            raise OSError(5, "Input/output error")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", fail_for_the_new_write)
    with pytest.raises(CheckpointError, match="step 4"):
        save_checkpoint(tmp_path, 4, model, tokenizer, optimizer)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-4"]
    other, _ = tiny_model(seed=5)
    assert load_checkpoint(tmp_path, other) == 4


def test_an_old_pt_checkpoint_still_loads(tmp_path):
    model, _, optimizer = _trained()
    root = tmp_path / "checkpoints"
    root.mkdir()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 4}, root / "step-4.pt")
    other, _ = tiny_model(seed=5)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-2)
    assert load_checkpoint(tmp_path, other, other_opt) == 4
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert other_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]


def test_checkpoints_that_do_not_fit_fail_with_the_file_and_the_fix(tmp_path):
    model, tokenizer, optimizer = _trained()
    wider, _ = tiny_model(hidden=64)
    root = tmp_path / "checkpoints"

    save_checkpoint(tmp_path, 1, model, tokenizer, optimizer)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(MentorError) as err:
        load_checkpoint(tmp_path, wider)
    assert str(root / "step-1") in err.value.render() and "model.name" in err.value.render()
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())  # nothing half-loaded

    (root / "step-1" / OPTIMIZER).unlink()
    with pytest.raises(MentorError, match="no optimizer state") as err:
        load_checkpoint(tmp_path, model, optimizer)
    assert "replays every step" in err.value.render()

    shutil.rmtree(root / "step-1")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 1}, root / "step-1.pt")
    with pytest.raises(MentorError, match="old-format checkpoint does not fit") as err:
        load_checkpoint(tmp_path, wider)
    assert err.value.where == str(root / "step-1.pt")
    assert "delete the file and resume" in err.value.render()

    (root / "step-1.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(MentorError, match="cannot read the checkpoint file") as err:
        load_checkpoint(tmp_path, model)
    assert err.value.where == str(root / "step-1.pt")


def test_smoke_run_checkpoint_loads_in_transformers_and_matches_mentor(smoke_run):
    """What `mentor train` wrote: `from_pretrained` gives the same logits as Mentor's own loading."""
    assert smoke_run.result.returncode == 0, smoke_run.result
    path = smoke_run.run_dir / "checkpoints" / "step-2"
    assert [c.path for c in list_checkpoints(smoke_run.run_dir)] == [path]
    loaded = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    ours, tokenizer = tiny_model()
    assert load_checkpoint(smoke_run.run_dir, ours) == 2
    ids = _ids(tokenizer)
    assert torch.equal(_ids(tok), ids)
    assert torch.equal(_logits(loaded, ids), _logits(ours, ids))


def test_eval_reads_new_and_old_checkpoints(smoke_run, mentor_cli, tmp_path):
    assert smoke_run.result.returncode == 0, smoke_run.result
    run = tmp_path / "run"
    shutil.copytree(smoke_run.run_dir, run)
    r = mentor_cli("eval", str(run), "--size", "2")
    assert r.returncode == 0, r
    assert r.stdout.startswith("step 2:"), r

    # the same run as Mentor wrote it before checkpoints were directories
    model, _ = tiny_model()
    load_checkpoint(run, model)
    shutil.rmtree(run / "checkpoints" / "step-2")
    torch.save({"model": model.state_dict(), "optimizer": {}, "step": 2}, run / "checkpoints" / "step-2.pt")
    old = mentor_cli("eval", str(run), "--size", "2")
    assert old.returncode == 0, old
    assert old.stdout == r.stdout

    (run / "checkpoints" / "step-2.pt").write_bytes(b"truncated")
    bad = mentor_cli("eval", str(run), "--size", "2")
    assert bad.returncode == 2, bad
    assert "Traceback" not in bad.output
    assert "step-2.pt" in bad.stderr and "Fix:" in bad.stderr, bad


@pytest.mark.slow
def test_grpo_trainer_trains_from_a_mentor_checkpoint(smoke_run, tmp_path):
    """`trl.GRPOTrainer(model=path)` takes the directory `mentor train` wrote, and one step moves it."""
    trl = pytest.importorskip("trl", reason="TRL is not installed: pip install 'mentor-rl[trl]'")
    from datasets import Dataset

    assert smoke_run.result.returncode == 0, smoke_run.result
    path = smoke_run.run_dir / "checkpoints" / "step-2"
    args = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, num_generations=2,
                          max_completion_length=8, max_steps=1, learning_rate=1e-2, report_to="none",
                          use_cpu=True, bf16=False, save_strategy="no", disable_tqdm=True, seed=0)
    dataset = Dataset.from_list([{"prompt": PROMPT}] * 2)

    def reward(completions, **kwargs):  # the second attempt of each group wins: every group has signal
        return [float(i % 2) for i in range(len(completions))]

    trainer = trl.GRPOTrainer(model=str(path), reward_funcs=reward, args=args, train_dataset=dataset)
    start = AutoModelForCausalLM.from_pretrained(path)
    ids = _ids(trainer.processing_class)
    assert torch.equal(_logits(trainer.model, ids), _logits(start, ids))
    trainer.train()
    assert trainer.state.global_step == 1
    assert not torch.equal(_logits(trainer.model, ids), _logits(start, ids))


def test_a_checkpoint_serves_as_model_name(tmp_path):
    """`model.name: runs/<run>/checkpoints/step-N` starts a new run from a trained student."""
    from mentor.config import ModelConfig, PromptConfig
    from mentor.student.policy import load_policy

    model, tokenizer, optimizer = _trained()
    path = save_checkpoint(tmp_path, 1, model, tokenizer, optimizer)
    policy = load_policy(ModelConfig(name=str(path), sample_dtype="float32", train_autocast=False))
    ids = _ids(tokenizer)
    assert torch.equal(_logits(policy.model, ids), _logits(model, ids))
    assert policy.render("Calculate 3 + 4.", PromptConfig()) == ids[0].tolist()  # the chat template came along
