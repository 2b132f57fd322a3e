"""The selector protocol and what every selector shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mentor.errors import ConfigError, StoreError
from mentor.teacher.categories import SkillProfile
from mentor.teacher.outcomes import GroupOutcome
from mentor.types import Task


class Selector(Protocol):
    name: str
    profile: SkillProfile

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]: ...

    def update(self, outcomes: Sequence[GroupOutcome]) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def posteriors(self) -> dict[str, tuple[float, float]]: ...

    def pass_rate(self, task: Task) -> float:
        """The estimated no-hint pass rate of a task (the rollout budget plans with it)."""
        ...

    def summary(self) -> list[dict[str, Any]]:
        """One row per category of what the selector currently believes (for reports)."""
        ...


@dataclass(frozen=True)
class SelectorContext:
    """What the loop tells a selector about the rest of the step. Not configuration: the loop derives
    it from the run's config and its live state, so a resumed run rebuilds the same context."""

    group_size: int = 8
    # How many attempts of a group of `size` for this task the teacher will sample with a hint right
    # now (the adaptive scaffold's k; always 0 without hints).
    hinted: Callable[[Task, int], int] = field(default=lambda task, size: 0)


def _check_pool(pool: Sequence[Task], k: int) -> None:
    if not pool:
        raise ConfigError("cannot select tasks from an empty pool", fix="check the task sources and splits")
    if k < 1:
        raise ConfigError(f"tasks per step must be >= 1, got {k}")


def _cycle(order: Sequence[int], k: int) -> list[int]:
    """The first k of `order` repeated: with k > len(pool) every task is used before any repeats."""
    reps = -(-k // len(order))
    return (list(order) * reps)[:k]


def _check_state(state: Mapping[str, Any], name: str) -> None:
    if state.get("name") != name:
        raise StoreError(
            f"stored selector state is for '{state.get('name')}', not '{name}'",
            fix="resume with the selector the run was started with",
        )
