"""`monte_carlo`: step values from k continuations at each step boundary (Math-Shepherd style)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mentor.errors import MentorError
from mentor.teacher.credit.base import (
    CreditContext,
    Group,
    RolloutFn,
    _args_of,
    _group_stats,
    _Out,
    _row,
    _rows_from,
    _scored,
    _spans,
    _spread,
    group_advantages,
)
from mentor.types import Advantages, Rollout, StepSpan, Task


@dataclass
class BranchValues:
    """Monte Carlo values of completion prefixes, shared by the `monte_carlo` assigner and the
    `monte_carlo` step-reward source (mentor.credit_sources) so both spend rollouts the same way.

    A prefix identical up to a boundary (within a task) is sampled once. Budget: an attempt is branched
    only if all its new prefixes fit in what is left of `budget`; at the first one that does not,
    branching stops for the rest of the loop step (`stopped`), so attempts later in flat order never
    jump the queue with a cheaper request.
    """

    rollout: RolloutFn
    k: int
    budget: int
    extra_rollouts: int = 0
    stopped: bool = False
    cache: dict[tuple[str, tuple[int, ...]], float | None] = field(default_factory=dict)

    def boundary_values(self, task: Task, a: Rollout, spans: Sequence[StepSpan]) -> list[float | None] | None:
        """V at the end of every step but the last (there the attempt's own outcome is the value):
        mean reward of k continuations, None for a boundary whose continuations were all unscorable.
        Returns None when the budget cannot pay for this attempt's new prefixes."""
        keys = [(task.id, tuple(a.completion_ids[: s.end])) for s in spans[:-1]]
        new = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if new and (self.stopped or len(new) * self.k > self.budget):
            self.stopped = True
            return None
        for key in new:
            got = self.rollout(task, key[1], self.k)
            self.extra_rollouts += len(got)
            self.budget -= self.k
            scored = _scored(got)
            self.cache[key] = float(scored.mean()) if scored.size else None
        return [self.cache[k] for k in keys]


@dataclass(frozen=True)
class MonteCarloAssigner:
    """Step values from k sampled continuations at each step boundary (Math-Shepherd / VinePPO style).

    V(before step 0) is the group mean (free: the group already is a sample from the empty prefix);
    V(after the last step) is the attempt's own reward; in between, V(boundary) = mean reward of k
    continuations from the completion prefix up to the boundary. Step j's tokens get
    (V(after j) − V(before j)) / σ_group (σ only when `scale_by_std`): the steps telescope to the
    attempt's GRPO advantage, so this only redistributes outcome credit between steps.

    Prefixes are shared and the budget `ctx.max_extra_rollouts` spent as `BranchValues` describes;
    an attempt the budget cannot pay for keeps the outcome row.
    """

    k: int = 4
    name: str = field(default="monte_carlo", init=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise MentorError(f"monte_carlo: k must be >= 1, got {self.k}")

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        if ctx.rollout is None:
            raise MentorError(
                "credit assigner monte_carlo needs a rollout function",
                fix="pass CreditContext(rollout=...) or use another assigner",
            )
        out = _Out()
        branches = BranchValues(ctx.rollout, self.k, ctx.max_extra_rollouts)
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            stats = _group_stats(g.rewards, ctx.std_tol)
            out.groups_with_signal += stats is not None
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                reward = g.rewards[i]
                if stats is None or reward is None:
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                spans = _spans(ctx, a)
                inner = branches.boundary_values(g.task, a, spans)
                if inner is None:
                    out.bump("attempts_over_budget")
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                if any(v is None for v in inner):  # every continuation unscorable: no value here
                    out.bump("attempts_unvalued")
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                mean, std = stats
                v = np.array([mean, *[x or 0.0 for x in inner], reward])
                step_adv = np.diff(v) / (std if ctx.scale_by_std else 1.0)
                out.rows.append(_rows_from(_spread(spans, step_adv, n)))
                out.step_credit.append(
                    (flat + i, [(s.start, s.end, float(c)) for s, c in zip(spans, step_adv, strict=True)])
                )
            flat += len(g.attempts)
        out.extra_rollouts = branches.extra_rollouts
        out.counters.setdefault("attempts_over_budget", 0)
        return out.result(self.name, _args_of(self))
