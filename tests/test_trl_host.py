"""The teacher inside TRL's GRPOTrainer (`mentor.integrations.trl_host`), on the tiny model.

What is checked is what TRL's own code paths receive from the host: the sampler's order, the prompt
ids a hinted attempt is trained under, the 2-D advantages and their guided-token weights, and that
every rank of a 2-process `accelerate launch` ends with the same teacher state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="TRL is not installed: pip install 'mentor-rl[trl]'")

import torch
from transformers import AutoModelForCausalLM

from mentor.config import load_config
from mentor.errors import ConfigError
from mentor.integrations.trl import MentorGRPOTrainer, TeacherSampler, grpo_args
from mentor.store import open_readonly
from mentor.student.tiny import tiny_model
from mentor.types import Grade

TINY = ["model.name=tiny", "sampling.group_size=4", "sampling.tasks_per_step=2", "sampling.max_new_tokens=8",
        "tasks.train_size=16", "tasks.heldout_size=4", "eval.every=1", "eval.pass_k=1", "optim.steps=2",
        "optim.lr=0.01"]


def _alternating(task, text):  # every group has a learning signal: short attempts pass
    return Grade(score=float(len(text) % 2), extracted=text[-1:] if text else None)


class Spy(MentorGRPOTrainer):
    """Keeps what the host hands to TRL's loss each generation batch."""

    def _generate_and_score_completions(self, inputs):
        raw = {}
        teacher_advantages = self.teacher.advantages if self.teacher else None
        if teacher_advantages is not None:
            def keep(rollouts, **kw):
                out, info = teacher_advantages(rollouts, **kw)
                raw["rollouts"] = out
                return out, info
            self.teacher.advantages = keep
        out = super()._generate_and_score_completions(inputs)
        if teacher_advantages is not None:
            self.teacher.advantages = teacher_advantages
        self.seen.append({"inputs": inputs, "out": {k: v for k, v in out.items()}, **raw})
        return out


def _trainer(tmp_path: Path, teacher: bool = True, overrides: list[str] = (), **args):
    cfg = load_config(None, [*TINY, *overrides], overlay_last=None if teacher else "control")
    model, tokenizer = tiny_model()
    trainer = Spy(model=model, processing_class=tokenizer, config=cfg, args=grpo_args(cfg, tmp_path / "trl", **args),
                  teacher=teacher, run_dir=tmp_path / "run")
    trainer.seen = []
    trainer.reward.grade_fn = _alternating
    return trainer


def test_the_teacher_plans_hints_and_credits_inside_grpo_trainer(tmp_path):
    trainer = _trainer(tmp_path)
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert trainer.state.global_step == 2 and trainer.rollouts == 16
    assert isinstance(trainer._sampler, TeacherSampler)
    assert len(trainer._sampler.pending) <= 1  # one plan fetched ahead at most
    assert any(not torch.equal(v, trainer.model.state_dict()[k]) for k, v in start.items())
    hinted_seen = 0
    for batch in trainer.seen:
        out, rollouts = batch["out"], batch["rollouts"]
        assert out["advantages"].shape == out["completion_ids"].shape  # token-level, (B, T)
        by_slot = {r.group * 4 + r.index: r for r in rollouts}
        # the dataloader's rows are the tasks the teacher planned, slot by slot
        assert [row["task_id"] for row in batch["inputs"]] == [by_slot[s].task.id for s in range(8)]
        tok = trainer.processing_class
        for s in range(8):
            r = by_slot[s]
            ids = out["prompt_ids"][s][out["prompt_mask"][s].bool()].tolist()
            no_hint = tok.apply_chat_template(
                trainer.train_dataset[trainer._rows[r.task.id]]["prompt"], add_generation_prompt=True, tokenize=True,
                return_dict=True)["input_ids"]
            assert ids == list(no_hint), "every attempt is trained under its task's no-hint prompt"
            n = len(r.completion_ids)
            trained = out["advantages"][s, :n]
            teacher = torch.tensor(r.advantages)
            if r.hinted:  # negative credit dropped; the bounded r/(r+γ) weight: at most 1/4, same sign
                hinted_seen += 1
                assert not trained[teacher <= 0].any()
                up = teacher > 0
                w = trained[up] / teacher[up]
                assert bool(((w > 0) & (w <= 0.25 + 1e-6)).all())
            else:
                assert torch.allclose(trained, teacher)
            assert not out["advantages"][s, n:].any()
    assert hinted_seen > 0, "the scaffold hinted nothing: the test checks nothing about hints"
    with open_readonly(tmp_path / "run") as store:
        assert [s["step"] for s in store.steps()] == [1, 2]
        assert [e.step for e in store.evals()] == [0, 1, 2]
        rows = list(store.attempts())
        assert len(rows) == 16 and any(r["hint_level"] > 0 for r in rows)
        assert store.steps()[-1]["state"]["teacher"]["selector"] == trainer.teacher.state_dict()["selector"]


def test_a_group_that_failed_its_first_slots_gets_the_held_back_slots_as_guided_re_rolls(tmp_path):
    # max_share≈0: the plan hints no slot up front, so every hinted slot is a re-roll
    trainer = _trainer(tmp_path, overrides=["hints.schedule.args.max_share=0.01"])
    graded = []

    def by_task(task, text):  # half the tasks pass: some groups are rescued, some are not
        if task.id in trainer.tasks:  # not the held-out evaluation's
            graded.append(task.id)
        return Grade(score=float(int(task.id.rsplit("/", 1)[-1]) % 2), extracted="1")

    trainer.reward.grade_fn = by_task
    trainer.train()
    assert trainer.held_back == 2  # half a group of 4 at the default rescue_share 1
    assert len(graded) == 16, "the first slots' grades are reused by the reward function, not made twice"
    rescued = kept = 0
    for batch in trainer.seen:
        by_slot = {r.group * 4 + r.index: r for r in batch["rollouts"]}
        for group in range(2):
            first, later = [by_slot[group * 4 + j] for j in (0, 1)], [by_slot[group * 4 + j] for j in (2, 3)]
            assert not any(r.hinted for r in first)
            failed = not any(r.passed for r in first)
            assert all(r.hinted == failed for r in later)
            rescued, kept = rescued + failed, kept + (not failed)
    assert rescued and kept, "the test saw only one kind of group"
    with open_readonly(tmp_path / "run") as store:
        assert sum(s["metrics"]["rescue_rerolls"] for s in store.steps()) == rescued


def test_without_a_rescue_share_nothing_is_held_back(tmp_path):
    trainer = _trainer(tmp_path, overrides=["hints.schedule.args.rescue_share=0"])
    trainer.train()
    assert trainer.held_back == 0 and trainer.rollouts == 16


def test_without_the_teacher_it_is_vanilla_grpo_trainer(tmp_path):
    trainer = _trainer(tmp_path, teacher=False)
    trainer.train()
    assert trainer.teacher is None and trainer._sampler is None  # TRL's RepeatSampler
    for batch in trainer.seen:
        assert batch["out"]["advantages"].dim() == 1  # TRL's own sequence-level advantages
    with open_readonly(tmp_path / "run") as store:
        assert len(list(store.attempts())) == 16 and [e.step for e in store.evals()] == [0, 1, 2]


def test_a_trained_student_loads_in_transformers(tmp_path):
    from mentor.integrations.trl import train_trl

    cfg = load_config(None, TINY)
    trainer = train_trl(cfg, tmp_path / "run")
    path = tmp_path / "run" / "checkpoints" / "step-2"
    loaded = AutoModelForCausalLM.from_pretrained(path)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, trainer.model(ids).logits, atol=1e-6)
    with pytest.raises(Exception, match="cannot be resumed"):
        train_trl(cfg, tmp_path / "run")


@pytest.mark.parametrize(("override", "arg", "where"), [
    ([], {"num_generations": 2}, "num_generations"),
    (["curriculum.filter.name=dapo"], {}, "curriculum"),
    (["hints.loss_prompt=hinted"], {}, "loss_prompt"),
    ([], {"num_iterations": 2}, "num_iterations"),
])
def test_a_trl_config_that_disagrees_with_mentors_is_refused(tmp_path, override, arg, where):
    cfg = load_config(None, [*TINY, *override])
    model, tokenizer = tiny_model()
    with pytest.raises(ConfigError) as err:
        MentorGRPOTrainer(model=model, processing_class=tokenizer, config=cfg,
                          args=grpo_args(cfg, tmp_path, **arg))
    assert where in (err.value.where or "")


def test_resuming_the_teacher_from_a_trl_checkpoint_is_refused(tmp_path):
    trainer = _trainer(tmp_path)
    with pytest.raises(ConfigError, match="not supported"):
        trainer.train(resume_from_checkpoint=str(tmp_path))


def test_compare_refuses_an_arm_trl_cannot_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mentor", "compare", "--host", "trl", "--arms", "control,dapo",
                             "--set", "model.name=tiny", "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "dapo" in result.stderr and "Traceback" not in result.stderr


RANK_SCRIPT = """
import json, os, sys
from mentor.config import load_config
from mentor.integrations.trl import MentorGRPOTrainer, grpo_args
from mentor.student.tiny import tiny_model
cfg = load_config(None, json.loads(sys.argv[2]))
model, tokenizer = tiny_model()
trainer = MentorGRPOTrainer(model=model, processing_class=tokenizer, config=cfg,
                            args=grpo_args(cfg, sys.argv[1] + "/trl", num_processes=2), run_dir=sys.argv[1] + "/run")
trainer.train()
rank = trainer.accelerator.process_index
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump({"teacher": trainer.teacher.state_dict(), "rollouts": trainer.rollouts,
               "steps": trainer.state.global_step, "world": trainer.accelerator.num_processes}, f, sort_keys=True)
"""


@pytest.mark.slow
def test_two_processes_under_accelerate_keep_one_teacher(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_DISABLE_RICH": "1"}
    # `--cpu` alone starts one process unless MPI is set up; `--multi_gpu` launches through torchrun, and
    # with no GPU (GRPOConfig use_cpu) the two ranks talk over gloo
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(script), str(tmp_path), json.dumps(TINY)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and ranks[0]["steps"] == 2 and ranks[0]["rollouts"] == 16
    assert ranks[0]["teacher"]["selector"], "the selector observed nothing"
    assert ranks[0] == ranks[1], "the ranks' teachers diverged"
    with open_readonly(tmp_path / "run") as store:  # rank 0 wrote the store, with every rank's attempts
        assert len(list(store.attempts())) == 16
