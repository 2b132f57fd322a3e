"""The teacher: every decision around the student, behind a protocol any training host can drive.

A host (Mentor's own loop, TRL, verl) owns generation, grading calls, the optimiser and the process
layout. Per step it calls::

    plans = teacher.plan(rng)                        # which tasks, how many attempts, which hinted and how
    rollouts = host samples and grades the plans
    extra = teacher.rescue(rollouts, rng, budget_left)    # re-rolls for groups that failed entirely
    rollouts += host samples and grades `extra`
    rollouts = teacher.advantages(rollouts, tokenizer=..., branch=...)   # token-level credit
    host updates the policy on the rollouts with advantages
    teacher.observe(rollouts)                        # selector and pass-rate state

and saves `teacher.state_dict()` with each step. Every baseline (vanilla GRPO, posterior selection
alone) is a teacher built from the same plug-ins, so it runs in every host unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mentor.teacher.budget import RolloutBudget
from mentor.teacher.credit import CreditAssigner, CreditContext, CreditSources, Group, Segmenter
from mentor.teacher.hints.schedules import HintSchedule
from mentor.teacher.outcomes import groups_of, outcomes_of
from mentor.teacher.selectors import Selector
from mentor.types import Hint, Rollout, Task

# k continuations of a task's no-hint prompt plus a completion prefix, graded (Monte Carlo credit)
BranchFn = Callable[[Task, tuple[int, ...], int], list[float | None]]


@dataclass(frozen=True)
class GroupPlan:
    """Attempts to sample for one group: one hint (or None) per attempt, in index order from `start`."""

    task: Task
    group: int  # the task's group within the step
    hints: tuple[Hint | None, ...]  # [n]
    start: int = 0  # index of the first attempt (a rescue appends to a sampled group)


class Teacher:
    def __init__(self, pool: Sequence[Task], selector: Selector, schedule: HintSchedule, credit: CreditAssigner, *,
                 tasks_per_step: int, group_size: int, budget: RolloutBudget | None = None,
                 sources: CreditSources | None = None, segmenter: Segmenter | None = None,
                 std_tol: float = 1e-6, scale_by_std: bool = True) -> None:
        self.pool = list(pool)
        self.selector, self.schedule, self.credit, self.budget = selector, schedule, credit, budget
        self.sources = sources or CreditSources()
        self.segmenter = segmenter
        self.tasks_per_step, self.group_size = tasks_per_step, group_size
        self.std_tol, self.scale_by_std = std_tol, scale_by_std

    # ------------------------------------------------------------------------------ the protocol

    def plan(self, rng: np.random.Generator) -> list[GroupPlan]:
        tasks = self.selector.select(self.pool, self.tasks_per_step, rng)
        if self.budget is None:
            sizes = [self.group_size] * len(tasks)
        else:
            rates = [self.selector.pass_rate(t) for t in tasks]
            sizes = list(self.budget.allocate(rates, self.group_size * len(tasks)))
        return [GroupPlan(task, i, self.schedule.scaffold(task, size, self.pool, rng))
                for i, (task, size) in enumerate(zip(tasks, sizes, strict=True))]

    def rescue(self, rollouts: Sequence[Rollout], rng: np.random.Generator, budget_left: int | None) -> list[GroupPlan]:
        """Extra attempts for graded groups, in group order, while the rollout budget can pay for them."""
        plans, spent = [], 0
        for group in groups_of(rollouts):
            hints = self.schedule.rescue(group, self.pool, rng)
            if not hints or (budget_left is not None and spent + len(hints) > budget_left):
                continue
            plans.append(GroupPlan(group[0].task, group[0].group, hints, start=len(group)))
            spent += len(hints)
        return plans

    def advantages(self, rollouts: Sequence[Rollout], *, tokenizer: Any, branch: BranchFn | None = None,
                   max_extra_rollouts: int = 0) -> tuple[list[Rollout], dict[str, Any]]:
        """Every rollout with its token advantages (rounded to the store's precision, so that a resume
        replays exactly what was trained), and what the credit cost (judge calls, extra rollouts)."""
        groups = [Group(g[0].task, tuple(g), tuple(r.score for r in g)) for g in groups_of(rollouts)]
        sources = self.sources.for_step(groups, branch, max_extra_rollouts)
        ctx = CreditContext(tokenizer=tokenizer, std_tol=self.std_tol, scale_by_std=self.scale_by_std,
                            segmenter=self.segmenter, rollout=branch, critic=sources.critic,
                            step_rewards=sources.step_rewards, max_extra_rollouts=max_extra_rollouts)
        result = sources.account(self.credit.assign(groups, ctx))
        ordered = [r for g in groups for r in g.attempts]
        out = [replace(r, advantages=tuple(round(x, 6) for x in row))
               for r, row in zip(ordered, result.values, strict=True)]
        return out, dict(result.info)

    def observe(self, rollouts: Sequence[Rollout]) -> None:
        self.schedule.observe(rollouts)
        self.selector.update([o for g in groups_of(rollouts) for o in outcomes_of(g)])

    def state_dict(self) -> dict[str, Any]:
        return {"selector": self.selector.state_dict(), "hints": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.selector.load_state_dict(state.get("selector", {}))
        self.schedule.load_state_dict(state.get("hints", {}))

