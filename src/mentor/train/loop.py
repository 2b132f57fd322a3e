"""Mentor's own training loop: one host of the teacher, on one CPU process. A step, top to bottom:

    plan → sample → grade → rescue → credit → update → observe → (eval) → commit

Every stage maps rollouts to rollouts (`types.Rollout`, frozen); the teacher decides what to practise,
who sees a hint and what each token is worth; this loop samples, grades, updates and records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mentor.config import RunConfig
from mentor.store import RunStore
from mentor.student.policy import HFPolicy
from mentor.student.prompt import prompt_ids
from mentor.teacher import GroupPlan, Teacher
from mentor.train.evaluate import evaluate
from mentor.train.grpo import grpo_update
from mentor.train.records import attempt_row, measure_reliance, step_metrics, train_items
from mentor.types import Grade, Rollout, Task

GradeFn = Callable[[Task, str], Grade]


@dataclass
class Run:
    """Everything a step needs, built once per run (or per resume): `mentor.train.setup.build_run`."""

    cfg: RunConfig
    run_dir: Path
    store: RunStore
    policy: HFPolicy
    optimizer: torch.optim.Optimizer
    teacher: Teacher
    heldout: list[Task]
    grade: GradeFn
    reference: HFPolicy | None = None  # the initial policy, for a KL penalty
    rollouts: int = 0  # attempts sampled so far, re-rolls and Monte Carlo branches included
    policy_version: int = 0


def train_step(run: Run, step: int) -> dict[str, Any]:
    cfg, teacher = run.cfg, run.teacher
    rng = np.random.default_rng([cfg.seed, step])
    torch.manual_seed(cfg.seed * 1_000_003 + step)  # sampling draws from torch's generator
    timings: dict[str, float] = {}
    sampled_before = run.rollouts
    clock = _Clock(timings)

    with clock("select"):  # which tasks, how many attempts each, which of them see which hint
        plans = teacher.plan(rng, budget_left(run))
    with clock("sample"):
        rollouts = sample(run, plans)
    with clock("grade"):  # a grader failure makes an attempt unscorable, never 0
        rollouts = grade(run, rollouts)
    with clock("hints"):  # rescue rounds: guided re-rolls of groups that failed entirely; a filter's refills
        rescue: list[GroupPlan] = []
        while extra := teacher.rescue(rollouts, rng, budget_left(run)):  # the teacher caps the rounds
            rescue += extra
            rollouts = _by_group(rollouts + grade(run, sample(run, extra)))
        tasks = {r.task.id: r.task for r in rollouts}  # the no-hint prompt once per task, not per attempt
        no_hint = {tid: tuple(prompt_ids(run.policy, cfg, t)) for tid, t in tasks.items()}
        reliance = measure_reliance(run.policy, rollouts, no_hint, cfg.sampling.temperature)
    with clock("credit"):  # token-level advantages, at store precision
        rollouts, credit_info = teacher.advantages(
            rollouts, tokenizer=run.policy.tokenizer, branch=lambda t, p, k: branch(run, t, p, k),
            max_extra_rollouts=_branch_cap(run))
    with clock("update"):  # GRPO under the no-hint prompt (guided attempts as sampled if hints.loss_prompt: hinted)
        hinted = (lambda r: tuple(prompt_ids(run.policy, cfg, r.task, r.hint))) if teacher.hinted_loss else None
        update = grpo_update(run.policy, run.optimizer, train_items(rollouts, no_hint, hinted), cfg.optim,
                             temperature=cfg.sampling.temperature, gamma=cfg.hints.gamma, reference=run.reference)
        run.policy_version += 1
    teacher.observe(rollouts)

    evaluation = None
    last = is_last_step(cfg, step, run.rollouts)
    if step % cfg.eval.every == 0 or last:
        with clock("eval"):  # held out, no hints
            evaluation = evaluate(run.policy, run.heldout, cfg, step=step, rollouts=run.rollouts, grade=run.grade,
                                  pass_k=last)
    rerolled = {p.group for p in rescue if p.rerolls is not None}  # not a filter's refills
    metrics = step_metrics(rollouts, rerolled, credit_info, update, run.rollouts - sampled_before, reliance)
    with clock("store"):  # the whole step in one transaction
        state = {"teacher": teacher.state_dict(), "policy_version": run.policy_version}
        run.store.commit_step(step, run.rollouts, [attempt_row(r) for r in rollouts], metrics, timings, state,
                              evaluation)
    metrics["timings"] = timings
    if evaluation is not None:
        metrics["heldout_accuracy"] = evaluation.accuracy
    return metrics


# ----------------------------------------------------------------------------------- stages


def sample(run: Run, plans: Sequence[GroupPlan]) -> list[Rollout]:
    """Every planned attempt in one batched call: all no-hint attempts first, then the hinted ones."""
    cfg = run.cfg
    slots = [(p, i) for hinted in (False, True) for p in plans for i, h in enumerate(p.hints)
             if (h is not None) == hinted]
    if not slots:
        return []
    prompts = [prompt_ids(run.policy, cfg, p.task, p.hints[i]) for p, i in slots]
    samples = run.policy.sample(prompts, max_new_tokens=cfg.sampling.max_new_tokens,
                                temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p)
    run.rollouts += len(samples)
    return [Rollout(task=p.task, group=p.group, index=p.start + i, text=s.text, completion_ids=s.completion_ids,
                    logprobs=tuple(round(x, 6) for x in s.logprobs), finished=s.finished, hint=p.hints[i],
                    policy_version=run.policy_version)
            for (p, i), s in zip(slots, samples, strict=True)]


def grade(run: Run, rollouts: Sequence[Rollout]) -> list[Rollout]:
    return [replace(r, grade=run.grade(r.task, r.text)) for r in rollouts]


def branch(run: Run, task: Task, prefix: tuple[int, ...], k: int) -> list[float | None]:
    """Monte Carlo credit: k continuations of the no-hint prompt plus a completion prefix, graded.
    They are extra rollouts and count against the run's rollout budget."""
    cfg = run.cfg
    prompt = prompt_ids(run.policy, cfg, task) + list(prefix)
    samples = run.policy.sample([prompt] * k, max_new_tokens=max(cfg.sampling.max_new_tokens - len(prefix), 1),
                                temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p)
    run.rollouts += len(samples)
    head = run.policy.tokenizer.decode(list(prefix), skip_special_tokens=True)
    return [run.grade(task, head + s.text).score for s in samples]


# ----------------------------------------------------------------------------------- budget


def is_last_step(cfg: RunConfig, step: int, rollouts: int) -> bool:
    """Last step: `steps` reached, or the rollout budget cannot pay for another step's planned
    groups (so a budgeted run never ends above its budget)."""
    budget = cfg.optim.rollout_budget
    step_cost = cfg.sampling.tasks_per_step * cfg.sampling.group_size
    return step >= cfg.optim.steps or (budget is not None and rollouts + step_cost > budget)


def budget_left(run: Run) -> int | None:
    budget = run.cfg.optim.rollout_budget
    return None if budget is None else budget - run.rollouts


def _branch_cap(run: Run) -> int:
    """Monte Carlo branches this step may sample: the configured cap, never more than the budget has left."""
    left = budget_left(run)
    cap = run.cfg.credit.max_extra_rollouts
    return cap if left is None else max(min(cap, left), 0)


def _by_group(rollouts: Sequence[Rollout]) -> list[Rollout]:
    """Group order, then index order: the order of credit, the loss and the store."""
    return sorted(rollouts, key=lambda r: (r.group, r.index))


class _Clock:
    """`with clock("stage"):` adds the stage's wall time to `timings`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def __call__(self, stage: str) -> _Clock:
        self.stage = stage
        return self

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.stage] = self.timings.get(self.stage, 0.0) + time.perf_counter() - self.t0
