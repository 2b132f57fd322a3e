"""`uniform`: the control's selector, k distinct tasks uniformly at random (optionally tilted toward missing skills, STAT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.categories import SkillProfile
from mentor.teacher.outcomes import GroupOutcome
from mentor.teacher.selectors.base import _check_pool, _check_state, _cycle
from mentor.types import Task


class UniformSelector:
    """The control: k distinct tasks uniformly at random (optionally tilted toward missing skills)."""

    name = "uniform"

    def __init__(self, skill_weight: float = 0.0) -> None:
        if skill_weight < 0:
            raise ConfigError(f"skill_weight must be >= 0, got {skill_weight}")
        self.skill_weight = float(skill_weight)
        self.profile = SkillProfile()

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]:
        _check_pool(pool, k)
        n = len(pool)
        if self.skill_weight > 0:
            # STAT-style re-weighting: probability ∝ 1 + w·(missing-skill tilt).
            weights = 1.0 + self.skill_weight * self.profile.tilt(pool)
            order = rng.choice(n, size=n, replace=False, p=weights / weights.sum())
        else:
            order = rng.permutation(n)
        return [pool[i] for i in _cycle(order.tolist(), k)]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.profile.update(outcomes)

    def pass_rate(self, task: Task) -> float:
        """The task's bucket pass rate from the skill profile (for the rollout budget)."""
        return self.profile.bucket_rate(task.bucket)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "profile": self.profile.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, self.name)
        self.profile.load_state_dict(state["profile"])

    def posteriors(self) -> dict[str, tuple[float, float]]:
        return {}

    def summary(self) -> list[dict[str, Any]]:
        return []  # no beliefs: every task is as likely as any other
