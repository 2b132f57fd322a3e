"""`bandit`: SEC (arXiv 2505.14970), categories as arms scored by mean |advantage|, sampled from softmax(Q/τ)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.categories import SkillProfile, _check_category, task_category
from mentor.teacher.outcomes import GroupOutcome
from mentor.teacher.selectors.base import _check_pool, _check_state
from mentor.types import Task


class BanditSelector:
    """SEC: categories are arms; Q ← (1−α)Q + α·(mean |advantage| of the arm's groups this step).

    Each of the k slots draws an arm from softmax(Q/τ) over the arms present in the pool, then a task of
    that arm uniformly (without replacement within the step). Arms start at Q = 0.
    """

    name = "bandit"

    def __init__(
        self,
        by: str = "bucket",
        alpha: float = 0.5,
        tau: float = 0.5,
        count_hinted: bool = False,
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"bandit: alpha must be in (0, 1], got {alpha}")
        if tau <= 0:
            raise ConfigError(f"bandit: tau must be > 0, got {tau}")
        self.by = _check_category(by)
        self.alpha = float(alpha)
        self.tau = float(tau)
        # Off by default: a hinted group's |advantage| is signal the hint bought, and rewarding an arm
        # for it would steer the bandit toward levels the student cannot do alone.
        self.count_hinted = bool(count_hinted)
        self.q: dict[str, float] = {}
        self.profile = SkillProfile()

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]:
        _check_pool(pool, k)
        members: dict[str, list[int]] = {}
        for i, t in enumerate(pool):
            members.setdefault(task_category(t, self.by), []).append(i)
        arms = sorted(members)  # sorted so that the draw does not depend on pool order
        left = {a: list(members[a]) for a in arms}
        chosen: list[int] = []
        for _ in range(k):
            live = [a for a in arms if left[a]]
            if not live:  # k > len(pool): start another pass over the pool
                left = {a: list(members[a]) for a in arms}
                live = arms
            logits = np.array([self.q.get(a, 0.0) for a in live]) / self.tau
            p = np.exp(logits - logits.max())
            arm = live[int(rng.choice(len(live), p=p / p.sum()))]
            chosen.append(left[arm].pop(int(rng.integers(len(left[arm])))))
        return [pool[i] for i in chosen]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.profile.update(outcomes)
        rewards: dict[str, list[float]] = {}
        for o in outcomes:
            if o.scored == 0 or (o.hinted and not self.count_hinted):
                continue
            rewards.setdefault(task_category(o.task, self.by), []).append(o.mean_abs_advantage)
        for arm, rs in rewards.items():
            self.q[arm] = (1 - self.alpha) * self.q.get(arm, 0.0) + self.alpha * float(np.mean(rs))

    def arm_values(self) -> dict[str, float]:
        return dict(self.q)

    def summary(self) -> list[dict[str, Any]]:
        return [{"category": arm, "Q": q} for arm, q in sorted(self.q.items())]

    def posteriors(self) -> dict[str, tuple[float, float]]:
        return {}

    def pass_rate(self, task: Task) -> float:
        """The task's bucket pass rate from the skill profile (for the rollout budget)."""
        return self.profile.bucket_rate(task.bucket)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "q": dict(self.q), "profile": self.profile.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, self.name)
        self.q = {k: float(v) for k, v in state["q"].items()}
        self.profile.load_state_dict(state["profile"])
