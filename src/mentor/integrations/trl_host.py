"""The teacher inside TRL's `GRPOTrainer`: selection, hints and token-level credit, as a thin host.

    from mentor.config import load_config
    from mentor.integrations.trl import MentorGRPOTrainer, grpo_args

    cfg = load_config("mentor.yaml")
    trainer = MentorGRPOTrainer(model="HuggingFaceTB/SmolLM2-135M-Instruct", config=cfg,
                                args=grpo_args(cfg, "runs/trl"), run_dir="runs/trl")
    trainer.train()

TRL keeps generation, the loss, the optimiser, accelerate and its logging. Mentor's teacher
(`mentor.teacher.Teacher`, the same object Mentor's own loop drives) decides three things:

- **What to practise.** `TeacherSampler` honours `RepeatSampler`'s contract (each planned task
  `num_generations` times in a row, `generation_batch_size // num_generations` tasks per
  generation batch, the batch repeated `num_iterations × steps_per_generation` times), and asks the
  teacher for a plan per generation batch. The dataloader fetches one batch ahead, so a plan is made
  before the previous batch's outcomes are observed: a one-batch lag that Mentor's own loop does not
  have. Every rank builds the same teacher and observes the same gathered rollouts, so every rank's
  sampler plans the same batch; the 2-process test checks that their states agree.
- **Who gets a hint.** The plan's hinted attempts are generated from the scaffolded prompt and then
  trained under the no-hint prompt. TRL's generation batch has a fixed size, so a hinted attempt takes
  one of the group's `num_generations` slots rather than joining the group. The rescue re-roll of a
  group that failed entirely, which Mentor's loop samples after grading, gets slots held back for it:
  each group's last `round(n·s/(1+s))` slots (s = the schedule's `rescue_share`, so half the group at
  the default 1) are generated after the others are graded, with the teacher's re-roll (`rerolls`,
  gathered over ranks) where the group failed and with the plan elsewhere. A rescued group then holds
  the same mix of plain and guided attempts as in Mentor's loop; the price is a second generation pass.
  A guided attempt's negative credit is dropped, as in Mentor's loop (train/grpo.py): it trains only
  where it beat its group. The guided tokens' bounded r/(r+γ) shaping enters through the advantage: with
  `num_iterations=1` TRL's ratio is exactly 1 at the update, so the gradient of r/(r+γ)·A equals that
  of TRL's loss with A·γr/(r+γ)², r = π_θ(o|q) / π_θ(o|q, hint), both computed here before the update.
- **What each token is worth.** The teacher's credit assigner (prefix-tree by default) gives a
  (B, T) advantage tensor, which TRL's loss takes as is.

An unscorable attempt (grader failure) gets `None` from the reward function and zero advantage, and
stays out of its group's baseline. With `teacher=False` the trainer is vanilla `GRPOTrainer` (TRL's
sampler, TRL's advantages) that records the same run store: the control arm of
`mentor compare --host trl`. With `run_dir`, rank 0 writes a Mentor run store (one row per attempt,
step metrics, held-out evaluations without hints) that `mentor report` and `mentor compare` read.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import gather_object
from torch.utils.data import Sampler
from transformers import PrinterCallback, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from mentor.config import RunConfig
from mentor.errors import ConfigError
from mentor.integrations import completion_text, render_prompt
from mentor.student.prompt import prompt_messages, user_text
from mentor.tasks import load_task_mix
from mentor.teacher import GroupPlan, Teacher, build_teacher, check_plugins
from mentor.teacher.hints.base import render_hinted_prompt
from mentor.train.evaluate import evaluate
from mentor.train.grpo import guided_credit
from mentor.train.records import attempt_row, step_metrics
from mentor.train.setup import build_grader, create_store
from mentor.types import Grade, Hint, Rollout, Task

__all__ = ["MentorGRPOTrainer", "TeacherSampler", "grpo_args", "train_trl"]


def grpo_args(cfg: RunConfig, output_dir: str | Path, *, num_processes: int = 1, **overrides: Any) -> GRPOConfig:
    """A `GRPOConfig` that trains what `cfg` describes: one optimiser step per generation batch of
    `tasks_per_step × group_size` attempts, Mentor's sampling and optimiser settings, no KL term
    unless `optim.kl_coef` asks for one. `overrides` go to `GRPOConfig` last."""
    s, o = cfg.sampling, cfg.optim
    batch = s.tasks_per_step * s.group_size
    if batch % num_processes:
        raise ConfigError(f"{batch} attempts per step cannot be split over {num_processes} processes",
                          where="sampling.tasks_per_step", fix="make tasks_per_step × group_size a multiple of it")
    per_device = min(s.group_size, batch // num_processes)
    accumulation = batch // (per_device * num_processes)
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir), num_generations=s.group_size, per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation, steps_per_generation=accumulation, num_iterations=1,
        max_completion_length=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
        learning_rate=o.lr, weight_decay=o.weight_decay, max_grad_norm=o.max_grad_norm, epsilon=o.clip_eps,
        beta=o.kl_coef, lr_scheduler_type="constant", warmup_steps=0, max_steps=o.steps,
        scale_rewards="group" if o.scale_by_std else "none", loss_type="dapo", seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(), bf16=False, report_to="none", save_strategy="no",
        logging_steps=1, shuffle_dataset=True, disable_dropout=True,
        # Mentor samples from the whole distribution (top-p only); TRL's default also cuts to the top 50
        top_k=0,
        # TRL turns activation checkpointing on (GPU memory); on CPU it makes generation several times slower
        gradient_checkpointing=False,
    )
    kwargs.update(overrides)
    return GRPOConfig(**kwargs)


class TeacherSampler(Sampler[int]):
    """Dataset indices in `RepeatSampler`'s order, one teacher plan per generation batch. The plans
    wait in `pending` until the trainer generates their batch (one is fetched ahead)."""

    def __init__(self, teacher: Teacher, rows: Mapping[str, int], *, group_size: int, repeat_count: int,
                 batches: int, seed: int) -> None:
        self.teacher, self.rows = teacher, rows
        self.group_size, self.repeat_count, self.batches, self.seed = group_size, repeat_count, batches, seed
        self.pending: deque[list[GroupPlan]] = deque()

    def __len__(self) -> int:
        return self.batches * self.teacher.tasks_per_step * self.group_size * self.repeat_count

    def __iter__(self) -> Iterator[int]:
        for n in range(self.batches):
            plans = self.teacher.plan(np.random.default_rng([self.seed, n]))
            sizes = {len(p.hints) for p in plans}
            if len(plans) != self.teacher.tasks_per_step or sizes != {self.group_size}:
                raise ConfigError("the teacher planned another number or size of groups than the generation batch holds",
                                  where="curriculum",
                                  fix="TRL generates a fixed batch: leave curriculum.budget and curriculum.filter unset")
            self.pending.append(plans)
            indices = [self.rows[p.task.id] for p in plans for _ in range(self.group_size)]
            for _ in range(self.repeat_count):
                yield from indices


class MentorGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` with Mentor's teacher deciding selection, hints and credit (module docstring).

    `config` is a Mentor `RunConfig`: its task mix, teacher plug-ins, reward and evaluation are used;
    `args` must agree with its sampling (`grpo_args(config, ...)` builds one that does). Pass
    `teacher=False` for vanilla GRPO with the same grading, evaluation and run store.
    """

    def __init__(self, model: Any, config: RunConfig, args: GRPOConfig, *, teacher: bool = True,
                 run_dir: str | Path | None = None, **kwargs: Any) -> None:
        _check_args(config, args, teacher)
        check_plugins(config)
        self.mentor_config = config
        pool, self.heldout = load_task_mix(config.tasks, config.seed)
        self.tasks: dict[str, Task] = {t.id: t for t in pool}
        self.teacher: Teacher | None = build_teacher(config, pool) if teacher else None
        self.reward = _GradingReward(build_grader(config), self.tasks)
        from datasets import Dataset

        dataset = Dataset.from_list([{"prompt": render_prompt(t, config.prompt, config.reward.answer_prefix),
                                      "task_id": t.id} for t in pool])
        self._rows = {t.id: i for i, t in enumerate(pool)}
        self._plans: list[GroupPlan] | None = None
        self._hints: list[Hint | None] = []  # the batch's hint per slot: the plans', then the re-rolls'
        self._rerolled: set[int] = set()  # groups whose held-back slots a re-roll filled, this batch
        self._hinted_prompt_ids: dict[int, list[int]] = {}
        self._sampler: TeacherSampler | None = None
        self.rollouts = 0  # attempts generated so far, on every rank
        self.generation_batches = 0
        super().__init__(model=model, reward_funcs=[self.reward], args=args, train_dataset=dataset, **kwargs)
        share = self.teacher.schedule.rescue_share if self.teacher else 0.0
        self.held_back = round(self.num_generations * share / (1 + share))  # slots per group kept for a re-roll
        if self.held_back and args.generation_batch_size // self.accelerator.num_processes % self.num_generations:
            raise ConfigError("a rank's generation batch splits a group, so the rescue re-roll cannot wait for "
                              "the group's grades", where="sampling.tasks_per_step",
                              fix="make tasks_per_step a multiple of the number of processes, "
                                  "or set hints.schedule.args.rescue_share: 0")
        self.store = None
        if run_dir is not None and self.accelerator.is_main_process:
            self.store = create_store(config, Path(run_dir), pool, self.heldout, host="trl", teacher=teacher)
        self.add_callback(_Evaluate(self))

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> Any:
        if resume_from_checkpoint and self.teacher is not None:
            # TRL would replay the dataloader to its position through the sampler, planning with the
            # teacher's final state; the plans, the teacher and the run store would disagree.
            raise ConfigError("resuming the teacher host from a TRL checkpoint is not supported",
                              where="resume_from_checkpoint",
                              fix="start the run again (Mentor's own loop, mentor train, resumes exactly)")
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    # ------------------------------------------------------------------------ selection

    def _get_train_sampler(self, dataset: Any = None) -> Sampler:
        if self.teacher is None:
            return super()._get_train_sampler(dataset)
        # The dataloader yields each plan's batch `repeat` times and the trainer takes
        # `gradient_accumulation_steps` batches per optimiser step; one more plan covers the prefetch.
        repeat = self.num_iterations * self.args.steps_per_generation
        batches = math.ceil(self.args.max_steps * self.args.gradient_accumulation_steps / repeat) + 1
        self._sampler = TeacherSampler(self.teacher, self._rows, group_size=self.num_generations,
                                       repeat_count=repeat, batches=batches, seed=self.mentor_config.seed)
        return self._sampler

    # ------------------------------------------------------------------------ hints

    def _generate(self, prompts: list) -> Any:
        """Each slot is generated from its hint's scaffolded prompt, the held-back slots after the rest
        are graded (module docstring); the no-hint prompt's ids are returned for every hinted slot, so
        that TRL scores, and trains, every attempt under the no-hint prompt."""
        if self._plans is None or not self.model.training:
            return super()._generate(prompts)
        g, n = self.num_generations, len(prompts)
        start = self._local_slots(n).start
        first = [i for i in range(n) if (start + i) % g < g - self.held_back]
        later = [i for i in range(n) if (start + i) % g >= g - self.held_back]
        self._hinted_prompt_ids = {}
        out = self._generate_slots(prompts, first, start)
        if not later:
            return tuple(out)
        self._reroll([(start + i, out[3][k], out[1][k]) for k, i in enumerate(first)])
        return _in_slot_order(n, (first, out), (later, self._generate_slots(prompts, later, start)))

    def _generate_slots(self, prompts: list, local: list[int], start: int) -> list:
        """TRL's generation of this rank's slots `local`, hinted ones from their scaffolded prompt."""
        shown = [self._shown_prompt(prompts[i], start + i) for i in local]
        out = list(super()._generate(shown))
        hinted = [(k, i) for k, i in enumerate(local) if self._hints[start + i] is not None]
        if hinted:
            no_hint_ids, _, _ = self._tokenize_prompts([prompts[i] for _, i in hinted])
            prompt_ids = list(out[0])
            for (k, i), ids in zip(hinted, no_hint_ids, strict=True):
                self._hinted_prompt_ids[i] = list(prompt_ids[k])
                prompt_ids[k] = list(ids)
            out[0] = prompt_ids
        return out

    def _reroll(self, generated: list[tuple[int, Any, Sequence[int]]]) -> None:
        """Grade the first slots of every group (all ranks), and give the held-back slots of each group
        the teacher's re-roll, if it wants one. The grades are kept for the reward function."""
        assert self.teacher is not None and self._plans is not None
        g, graded = self.num_generations, []
        for slot, completion, ids in generated:
            task, text = self._plans[slot // g].task, completion_text(completion)
            graded.append((slot, text, list(ids), self.reward.grade_known(task, text)))
        rollouts = [self._slot_rollout(s, self._plans[s // g].task, text, ids, grade)
                    for s, text, ids, grade in gather_object(graded)]
        rng = np.random.default_rng([self.mentor_config.seed, self.generation_batches, 1])
        for plan in self.teacher.rerolls(rollouts, rng, self.held_back):
            first = plan.group * g + plan.start
            self._hints[first:first + len(plan.hints)] = plan.hints
            self._rerolled.add(plan.group)

    def _shown_prompt(self, prompt: Any, slot: int) -> Any:
        """What the student sees in `slot`: the no-hint `prompt`, or its task scaffolded with the slot's hint."""
        hint = self._hints[slot]
        if hint is None:
            return prompt
        cfg, task = self.mentor_config, self._plans[slot // self.num_generations].task
        if cfg.prompt.chat:
            return prompt_messages(cfg.prompt, cfg.reward.answer_prefix, task, hint)
        return render_hinted_prompt(user_text(cfg.prompt, cfg.reward.answer_prefix, task.prompt), hint) + "\n"

    def _local_slots(self, n: int) -> range:
        """The batch slots of this rank's `n` rows: rank r holds slots [r·n, (r+1)·n)."""
        start = self.accelerator.process_index * n
        return range(start, start + n)

    def _slot_rollout(self, slot: int, task: Task, text: str, ids: Sequence[int], grade: Any, **fields: Any) -> Rollout:
        """The attempt in batch slot `slot` (group `slot // num_generations`), with the slot's hint."""
        g = self.num_generations
        return Rollout(task=task, group=slot // g, index=slot % g, text=text, completion_ids=tuple(ids), logprobs=(),
                       finished=True, hint=self._hints[slot] if self._plans is not None else None, grade=grade,
                       **fields)

    # ------------------------------------------------------------------------ credit

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        training = self.model.training
        if training and self.teacher is not None:
            assert self._sampler is not None
            self._plans = self._sampler.pending.popleft()
            self._hints = [h for plan in self._plans for h in plan.hints]
            self._rerolled = set()
            for row, s in zip(inputs, self._local_slots(len(inputs)), strict=True):
                plan = self._plans[s // self.num_generations]
                if row["task_id"] != plan.task.id:  # the dataloader and the plans drifted apart
                    raise RuntimeError(f"slot holds task {row['task_id']}, the plan says {plan.task.id}")
        t0 = time.perf_counter()
        output = super()._generate_and_score_completions(inputs)
        if not training:
            return output
        local = self.reward.take()
        rollouts = self._rollouts(gather_object(local), gather_object(output["advantages"].tolist()))
        self.rollouts += len(rollouts)
        self.generation_batches += 1
        info: dict[str, Any] = {}
        if self.teacher is not None:
            rollouts, info = self.teacher.advantages(rollouts, tokenizer=self.processing_class)
            output["advantages"] = self._local_advantages(rollouts, output, len(inputs))
            self.teacher.observe(rollouts)
        metrics = step_metrics(rollouts, self._rerolled, info, {}, len(rollouts), None)
        for key in ("signal_share", "hinted_attempt_share", "pass_rate", "format_rate"):
            if metrics[key] is not None:
                self._metrics["train"][f"mentor/{key}"].append(float(metrics[key]))
        if self.store is not None:
            state = {"teacher": self.teacher.state_dict() if self.teacher else {}}
            self.store.commit_step(self.generation_batches, self.rollouts, [attempt_row(r) for r in rollouts],
                                   metrics, {"generate": time.perf_counter() - t0}, state)
        self._plans = None
        return output

    def _rollouts(self, graded: Sequence[tuple[str, str, list[int], Any]], trl_advantages: Sequence[float]) -> list[Rollout]:
        """The generation batch as Mentor rollouts, in slot order. Without a teacher they carry TRL's
        own (sequence-level) advantage, for the store."""
        return [self._slot_rollout(s, self.tasks[task_id], text, ids, grade, policy_version=self.generation_batches,
                                   advantages=None if self.teacher else (round(float(adv), 6),) * len(ids))
                for s, ((task_id, text, ids, grade), adv) in enumerate(zip(graded, trl_advantages, strict=True))]

    def _local_advantages(self, rollouts: Sequence[Rollout], output: dict[str, Any], n: int) -> torch.Tensor:
        """This rank's (B, T) advantages; guided tokens carry the r/(r+γ) shaping weight."""
        by_slot = {r.group * self.num_generations + r.index: r for r in rollouts}
        completion_ids = output["completion_ids"]
        adv = torch.zeros(completion_ids.shape, dtype=torch.float32, device=completion_ids.device)
        for i, s in enumerate(self._local_slots(n)):
            row = by_slot[s].advantages or ()
            if i in self._hinted_prompt_ids:
                row = guided_credit(row)
            adv[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
        if self._hinted_prompt_ids:
            adv = adv * self._guided_weights(output)
        return adv

    @torch.no_grad()
    def _guided_weights(self, output: dict[str, Any]) -> torch.Tensor:
        """γ·r/(r+γ)² per guided token (1 elsewhere), r = π_θ(o_t | q, o_<t) / π_θ(o_t | q, hint, o_<t)."""
        rows = sorted(self._hinted_prompt_ids)
        completion, mask = output["completion_ids"][rows], output["completion_mask"][rows]
        no_hint = self._logps(output["prompt_ids"][rows], output["prompt_mask"][rows], completion, mask)
        hinted_ids = [torch.tensor(self._hinted_prompt_ids[i]) for i in rows]
        width = max(len(x) for x in hinted_ids)
        pad = self.processing_class.pad_token_id
        p_ids = torch.stack([torch.cat([torch.full((width - len(x),), pad), x]) for x in hinted_ids])
        p_mask = torch.stack([torch.cat([torch.zeros(width - len(x)), torch.ones(len(x))]) for x in hinted_ids])
        with_hint = self._logps(p_ids.to(completion.device), p_mask.long().to(completion.device), completion, mask)
        gamma = self.mentor_config.hints.gamma
        r = torch.exp(no_hint - with_hint)
        weights = torch.ones(output["completion_ids"].shape, device=completion.device)
        weights[rows] = gamma * r / (r + gamma) ** 2
        return weights

    def _logps(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor,
               completion_mask: torch.Tensor) -> torch.Tensor:
        logps, _, _ = self._get_per_token_logps_and_entropies(
            self.model, torch.cat([prompt_ids, completion_ids], dim=1),
            torch.cat([prompt_mask, completion_mask], dim=1), completion_ids.size(1),
            batch_size=self.args.per_device_train_batch_size)
        return logps

    # ------------------------------------------------------------------------ evaluation

    def evaluate_heldout(self, step: int) -> float | None:
        """Mentor's held-out evaluation (greedy, no hints, the run's own tasks), on rank 0."""
        if not self.accelerator.is_main_process:
            return None
        from mentor.student.policy import HFPolicy

        cfg = self.mentor_config
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        policy = HFPolicy(model, self.processing_class, cfg.model.model_copy(update={"sample_dtype": "float32"}))
        last = step >= self.args.max_steps
        row = evaluate(policy, self.heldout, cfg, step=step, rollouts=self.rollouts, grade=self.reward.grade_fn,
                       pass_k=step == 0 or last)
        model.train(was_training)
        if self.store is not None:
            self.store.save_eval(row)
        return row.accuracy


def _in_slot_order(n: int, *parts: tuple[list[int], Sequence[Any]]) -> tuple:
    """Merge `_generate` outputs of disjoint slot subsets back into slot order, field by field
    (lists of one entry per slot, or None; a dict holds such lists)."""
    def merge(fields: Sequence[Any]) -> Any:
        if isinstance(fields[0], dict):
            return {k: merge([f[k] for f in fields]) for k in fields[0]}
        if all(not f for f in fields):  # None, or an empty list (no tool images)
            return fields[0]
        merged: list[Any] = [None] * n
        for (local, _), values in zip(parts, fields, strict=True):
            for i, v in zip(local, values, strict=True):
                merged[i] = v
        return merged
    return tuple(merge([out[k] for _, out in parts]) for k in range(len(parts[0][1])))


class _GradingReward:
    """The trainer's reward function: grades each completion against its task with the run's grader
    and keeps what it graded for the teacher. `None` for an unscorable attempt (TRL's "no reward")."""

    __name__ = "mentor_reward"

    def __init__(self, grade_fn: Any, tasks: Mapping[str, Task]) -> None:
        self.grade_fn, self.tasks = grade_fn, tasks
        self._graded: list[tuple[str, str, list[int], Any]] = []
        self._known: dict[tuple[str, str], Grade] = {}  # graded before TRL asks (the held-back slots' wait)

    def grade_known(self, task: Task, text: str) -> Grade:
        """Grade now and keep the grade for the call that scores the batch, which does not grade it again."""
        grade = self._known[task.id, text] = self.grade_fn(task, text)
        return grade

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Sequence[Sequence[int]],
                 task_id: Sequence[str], **_: Any) -> list[float | None]:
        self._graded, scores = [], []
        for tid, completion, ids in zip(task_id, completions, completion_ids, strict=True):
            text = completion_text(completion)
            grade = self._known.get((tid, text))
            if grade is None:
                grade = self.grade_fn(self.tasks[tid], text)
            self._graded.append((tid, text, list(ids), grade))
            scores.append(None if grade.score is None else float(grade.score))
        return scores

    def take(self) -> list[tuple[str, str, list[int], Any]]:
        graded, self._graded, self._known = self._graded, [], {}
        return graded


class _Evaluate(TrainerCallback):
    """Held-out evaluation before training, every `eval.every` steps and after the last step."""

    def __init__(self, trainer: MentorGRPOTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.evaluate_heldout(0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        if step % self.trainer.mentor_config.eval.every == 0 or step >= args.max_steps:
            self.trainer.evaluate_heldout(step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.trainer.store is not None:
            self.trainer.store.close()


class _OnLog(TrainerCallback):
    def __init__(self, fn: Callable[[int, dict[str, float]], None]) -> None:
        self.fn = fn

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs and state.is_world_process_zero:
            self.fn(state.global_step, logs)


def _check_args(cfg: RunConfig, args: GRPOConfig, teacher: bool) -> None:
    """The TRL config must train what the Mentor config describes; a mismatch is refused, never fixed."""
    s = cfg.sampling
    wanted = {"num_generations": s.group_size, "generation_batch_size": s.tasks_per_step * s.group_size,
              "max_completion_length": s.max_new_tokens, "temperature": s.temperature}
    for key, value in wanted.items():
        if getattr(args, key) != value:
            raise ConfigError(f"GRPOConfig.{key} is {getattr(args, key)}, the Mentor config says {value}",
                              where=f"GRPOConfig.{key}", fix="build the GRPOConfig with mentor's grpo_args(config, ...)")
    if cfg.hints.loss_prompt != "no_hint" or cfg.curriculum.filter is not None or cfg.curriculum.budget is not None:
        raise ConfigError("the TRL host generates one fixed batch per step and trains under the no-hint prompt",
                          where="curriculum.filter / curriculum.budget / hints.loss_prompt",
                          fix="leave curriculum.filter and curriculum.budget unset and hints.loss_prompt at no_hint")
    if args.max_steps is None or args.max_steps <= 0:
        raise ConfigError("GRPOConfig.max_steps is not set", where="GRPOConfig.max_steps",
                          fix="set max_steps (grpo_args uses optim.steps)")
    if teacher and cfg.hints.schedule.name != "none" and (
            args.num_iterations != 1 or args.steps_per_generation > args.gradient_accumulation_steps):
        raise ConfigError("hinted attempts need one optimisation pass per generation batch: the guided-token "
                          "shaping is exact only where TRL's importance ratio is 1",
                          where="GRPOConfig.num_iterations",
                          fix="num_iterations=1 and steps_per_generation=gradient_accumulation_steps, or hints.schedule: none")


def train_trl(cfg: RunConfig, run_dir: str | Path, *, teacher: bool = True, max_steps: int | None = None,
              num_processes: int = 1, on_log: Callable[[int, dict[str, float]], None] | None = None) -> MentorGRPOTrainer:
    """One run of `cfg` through TRL (`mentor compare --host trl`): the student named by `model.name`,
    the run store in `run_dir`, the trained student saved to `run_dir/checkpoints/step-N`. `on_log`
    gets TRL's logs of each step in place of TRL's printed dictionaries."""
    run_dir = Path(run_dir)
    if (run_dir / "run.sqlite").exists():
        from mentor.errors import StoreError

        raise StoreError("a TRL run cannot be resumed part-way (its sampler and optimiser state are TRL's)",
                         where=str(run_dir), fix=f"delete {run_dir} to run this arm again")
    if cfg.model.threads:
        torch.set_num_threads(cfg.model.threads)
    model, tokenizer = _student(cfg.model.name)
    steps = max_steps or cfg.optim.steps
    args = grpo_args(cfg, run_dir / "trl", num_processes=num_processes, max_steps=steps,
                     disable_tqdm=on_log is not None)
    trainer = MentorGRPOTrainer(model=model, processing_class=tokenizer, config=cfg, args=args, teacher=teacher,
                                run_dir=run_dir)
    if on_log is not None:
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(_OnLog(on_log))
    trainer.train()
    if trainer.accelerator.is_main_process:
        out = run_dir / "checkpoints" / f"step-{trainer.state.global_step}"
        trainer.save_model(str(out))
        trainer.processing_class.save_pretrained(str(out))
    return trainer


def _student(name: str) -> tuple[Any, Any]:
    """(model or path, tokenizer) for `model.name`: the bundled directory, the tiny test model, or a path."""
    from transformers import AutoTokenizer

    if name == "tiny":
        from mentor.student.tiny import tiny_model

        return tiny_model()
    if name == "smollm2-135m":
        from mentor.student.bundled import bundled_model_dir

        name = str(bundled_model_dir())
    return name, AutoTokenizer.from_pretrained(name)
