"""The teacher: every decision around the student, behind a protocol any training host can drive.

A host (Mentor's own loop, TRL, verl) owns generation, grading calls, the optimiser and the process
layout. Per step it calls::

    plans = teacher.plan(rng, budget_left)           # which tasks, how many attempts, which hinted and how
    rollouts = host samples and grades the plans
    while extra := teacher.rescue(rollouts, rng, budget_left):   # rescue rounds, until the teacher has none
        rollouts += host samples and grades `extra`
    rollouts = teacher.advantages(rollouts, tokenizer=..., branch=...)   # token-level credit
    host updates the policy on the rollouts with advantages (None: not trained)
    teacher.observe(rollouts)                        # selector and pass-rate state

and saves `teacher.state_dict()` with each step. `rescue` returns two kinds of plans: re-rolls of a
graded group (the hint schedule's; each group is offered once per step, so they join it, `start` > 0,
or, when guided attempts are trained under the prompt they saw, form a group of their own) and, with
a group filter (`curriculum.filter`, teacher/filters.py), fresh groups that refill a batch whose
groups had no learning signal (DAPO's dynamic sampling; the filter caps the rounds). A host that calls
`rescue` once gets the re-rolls and one refill round. A host whose batch has a fixed size (TRL) calls
`rerolls` instead: it holds back slots of each group, and the re-rolls fill them. `advantages` leaves the groups the filter drops
untrained (`advantages` None); their rollouts were still sampled, so the host has charged them.
Every baseline (vanilla GRPO, DAPO, fixed prefix hints, posterior selection alone) is a teacher built
from the same plug-ins, so it runs in every host unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mentor.teacher.budget import RolloutBudget
from mentor.teacher.credit import CreditAssigner, CreditContext, CreditSources, Group, Segmenter
from mentor.teacher.filters import GroupFilter
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
    rerolls: int | None = None  # the group this plan re-rolls (a rescue), None for a planned or refill group


class Teacher:
    def __init__(self, pool: Sequence[Task], selector: Selector, schedule: HintSchedule, credit: CreditAssigner, *,
                 tasks_per_step: int, group_size: int, budget: RolloutBudget | None = None,
                 sources: CreditSources | None = None, segmenter: Segmenter | None = None,
                 std_tol: float = 1e-6, scale_by_std: bool = True, filter: GroupFilter | None = None,
                 hinted_loss: bool = False) -> None:
        self.pool = list(pool)
        self.selector, self.schedule, self.credit, self.budget = selector, schedule, credit, budget
        self.sources = sources or CreditSources()
        self.segmenter = segmenter
        self.tasks_per_step, self.group_size = tasks_per_step, group_size
        self.std_tol, self.scale_by_std = std_tol, scale_by_std
        self.filter = filter
        # Guided attempts trained under the prompt they were sampled with (hints.loss_prompt: hinted):
        # a re-roll then is a group of its own, since GRPO's baseline is over attempts at one prompt.
        self.hinted_loss = hinted_loss
        self._offered: set[int] = set()  # groups offered a re-roll this step (once each)
        self._rounds = 0  # refill rounds this step

    # ------------------------------------------------------------------------------ the protocol

    def plan(self, rng: np.random.Generator, budget_left: int | None = None) -> list[GroupPlan]:
        """The step's groups: `tasks_per_step` of them, or more when a filter over-samples (never more
        than the rollout budget has left room for)."""
        self._offered, self._rounds = set(), 0
        k = self.tasks_per_step
        if self.filter is not None:
            k = self.filter.planned(k)
            if budget_left is not None:
                k = max(self.tasks_per_step, min(k, budget_left // self.group_size))
        return self._plans(self.selector.select(self.pool, k, rng), 0, rng)

    def _plans(self, tasks: Sequence[Task], first: int, rng: np.random.Generator) -> list[GroupPlan]:
        if self.budget is None:
            sizes = [self.group_size] * len(tasks)
        else:
            rates = [self.selector.pass_rate(t) for t in tasks]
            sizes = list(self.budget.allocate(rates, self.group_size * len(tasks)))
        return [GroupPlan(task, first + i, self.schedule.scaffold(task, size, self.pool, rng))
                for i, (task, size) in enumerate(zip(tasks, sizes, strict=True))]

    def rescue(self, rollouts: Sequence[Rollout], rng: np.random.Generator, budget_left: int | None) -> list[GroupPlan]:
        """More attempts for this step, while the rollout budget can pay for them: the schedule's
        re-rolls of groups not offered one yet, in group order; else, with a filter, fresh groups in
        place of those without a learning signal. Empty when the teacher wants nothing more."""
        groups = groups_of(rollouts)
        plans, spent = [], 0
        next_group = max((g[0].group for g in groups), default=-1) + 1
        for group in groups:
            if group[0].group in self._offered:
                continue
            self._offered.add(group[0].group)
            hints = self.schedule.rescue(group, self.pool, rng)
            if not hints or (budget_left is not None and spent + len(hints) > budget_left):
                continue
            if self.hinted_loss:
                plans.append(GroupPlan(group[0].task, next_group, hints, rerolls=group[0].group))
                self._offered.add(next_group)
                next_group += 1
            else:
                plans.append(GroupPlan(group[0].task, group[0].group, hints, start=len(group), rerolls=group[0].group))
            spent += len(hints)
        if plans or self.filter is None:
            return plans
        n = self.filter.refill(groups, self.tasks_per_step, self._rounds)
        if budget_left is not None:
            n = min(n, budget_left // self.group_size)
        if n <= 0:
            return []
        self._rounds += 1
        used = {g[0].task.id for g in groups}
        fresh = [t for t in self.pool if t.id not in used]  # new prompts, as DAPO draws them
        return self._plans(self.selector.select(fresh if len(fresh) >= n else self.pool, n, rng), next_group, rng)

    def rerolls(self, rollouts: Sequence[Rollout], rng: np.random.Generator, room: int) -> list[GroupPlan]:
        """For a host whose batch has a fixed size: the schedule's re-roll of each graded group, cut to
        the `room` slots the host held back after the group's attempts (`start` = the group's size).
        Keeps no state, so a host that plans one batch ahead calls it once per batch."""
        plans = []
        for group in groups_of(rollouts):
            if hints := self.schedule.rescue(group, self.pool, rng)[:room]:
                plans.append(GroupPlan(group[0].task, group[0].group, hints, start=len(group), rerolls=group[0].group))
        return plans

    def advantages(self, rollouts: Sequence[Rollout], *, tokenizer: Any, branch: BranchFn | None = None,
                   max_extra_rollouts: int = 0) -> tuple[list[Rollout], dict[str, Any]]:
        """Every rollout with its token advantages (rounded to the store's precision, so that a resume
        replays exactly what was trained), and what the credit cost (judge calls, extra rollouts)."""
        graded = groups_of(rollouts)
        kept = None if self.filter is None else set(self.filter.keep(graded, self.tasks_per_step))
        groups = [Group(g[0].task, tuple(g), tuple(r.score for r in g)) for g in graded
                  if kept is None or g[0].group in kept]
        sources = self.sources.for_step(groups, branch, max_extra_rollouts)
        ctx = CreditContext(tokenizer=tokenizer, std_tol=self.std_tol, scale_by_std=self.scale_by_std,
                            segmenter=self.segmenter, rollout=branch, critic=sources.critic,
                            step_rewards=sources.step_rewards, max_extra_rollouts=max_extra_rollouts)
        result = sources.account(self.credit.assign(groups, ctx))
        ordered = [r for g in groups for r in g.attempts]
        credited = {id(r): replace(r, advantages=tuple(round(x, 6) for x in row))
                    for r, row in zip(ordered, result.values, strict=True)}
        # groups the filter dropped stay untrained (advantages None), in their place
        return [credited.get(id(r), r) for g in graded for r in g], dict(result.info)

    def observe(self, rollouts: Sequence[Rollout]) -> None:
        self.schedule.observe(rollouts)
        self.selector.update([o for g in groups_of(rollouts) for o in outcomes_of(g)])

    def state_dict(self) -> dict[str, Any]:
        return {"selector": self.selector.state_dict(), "hints": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.selector.load_state_dict(state.get("selector", {}))
        self.schedule.load_state_dict(state.get("hints", {}))

