"""`min_form`: PURE (arXiv 2504.15275), the value of a step is the (soft) minimum of the step rewards ahead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mentor.errors import JudgeError, MentorError
from mentor.teacher.credit.base import (
    CreditContext,
    Group,
    _args_of,
    _Out,
    _row,
    _rows_from,
    _spans,
    _spread,
    group_advantages,
    has_signal,
)
from mentor.types import Advantages, Rollout, StepSpan, Task


def soft_min_values(step_rewards: Sequence[float], temperature: float) -> np.ndarray:
    """V_t = Σ_{u≥t} softmax_u(−r_u / T) · r_u over the *future* steps u = t..n−1.

    A soft minimum of the rewards still to come: as T → 0 it is min_{u≥t} r_u (T <= 0 gives the hard
    min). Min-form rather than a sum, so a trajectory cannot raise its value by piling up many
    "good" steps around a bad one (PURE).
    """
    r = np.asarray(step_rewards, dtype=np.float64)
    v = np.empty_like(r)
    for t in range(r.size):
        fut = r[t:]
        if temperature <= 0:
            v[t] = fut.min()
            continue
        z = -fut / temperature
        w = np.exp(z - z.max())  # shift by the max: stable at small T
        v[t] = float((w / w.sum()) @ fut)
    return v


@dataclass(frozen=True)
class MinFormAssigner:
    """PURE: step advantage = V_t − b_t with V the soft-min of future step rewards.

    b_t is a per-step leave-one-out baseline: the mean over the group's *other* scorable attempts
    of their V at the same step index (an attempt with fewer steps contributes its last V, the value
    of its final step). Step values are in step-reward units (no std scaling, as PURE's RLOO).
    `outcome_weight` adds that multiple of the GRPO outcome advantage to every token, so the
    verifiable reward keeps anchoring the step rewards (0 for step rewards only).

    Step rewards come from `ctx.step_rewards(task, attempt, steps)` or, for offline use, from the
    arg `step_rewards`: one list per attempt in flat order. A group without outcome signal gets zero
    rows like every assigner.
    """

    temperature: float = 0.1
    outcome_weight: float = 1.0
    step_rewards: tuple[tuple[float, ...], ...] | None = None
    name: str = field(default="min_form", init=False)

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        if ctx.step_rewards is None and self.step_rewards is None:
            raise MentorError(
                "credit assigner min_form needs step rewards",
                fix="pass CreditContext(step_rewards=...) or args.step_rewards",
            )
        out = _Out()
        out.counters["step_reward_failures"] = 0
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            signal = has_signal(g.rewards, ctx.std_tol)
            out.groups_with_signal += signal
            spans: dict[int, list[StepSpan]] = {}
            values: dict[int, np.ndarray] = {}
            if signal:
                for i, a in enumerate(g.attempts):
                    if g.rewards[i] is None:
                        continue
                    sp = _spans(ctx, a)
                    try:
                        r = self._rewards(ctx, g.task, a, sp, flat + i)
                    except JudgeError:
                        out.bump("step_reward_failures")  # outcome credit only for this attempt
                        continue
                    if r:
                        spans[i], values[i] = sp, soft_min_values(r, self.temperature)
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                base = self.outcome_weight * (advs[i] or 0.0)
                others = [values[j] for j in values if j != i]
                if i not in values or not others:  # no step values, or no one to compare with
                    out.rows.append(_row(base, n))
                    continue
                v = values[i]
                b = np.array([np.mean([o[min(t, o.size - 1)] for o in others]) for t in range(v.size)])
                step_adv = v - b
                out.rows.append(_rows_from(base + _spread(spans[i], step_adv, n)))
                out.step_credit.append(
                    (flat + i, [(s.start, s.end, float(c)) for s, c in zip(spans[i], step_adv, strict=True)])
                )
            flat += len(g.attempts)
        args = _args_of(self)
        if args["step_rewards"] is not None:
            args["step_rewards"] = "<given>"  # data, not configuration: keep the record small
        return out.result(self.name, args)

    def _rewards(
        self, ctx: CreditContext, task: Task, a: Rollout, spans: list[StepSpan], flat: int
    ) -> list[float]:
        if self.step_rewards is not None:
            r = list(self.step_rewards[flat])
        else:
            assert ctx.step_rewards is not None
            r = [float(x) for x in ctx.step_rewards(task, a, spans)]
        if len(r) != len(spans):
            raise MentorError(
                f"min_form: attempt {flat} has {len(spans)} steps but {len(r)} step rewards",
                fix="give one reward per step of the configured segmenter",
            )
        return r
