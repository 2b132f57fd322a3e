"""Hint schedules: which attempts of a group see a hint, and which all-fail groups are rescued.

- `none`: no hints (vanilla GRPO, the control).
- `scaffold` (default): before sampling, each group gets the fewest hinted attempts for which the whole
  group is expected to fail with probability at most `target`, from discounted pass rates with and
  without the hint, kept per task category (default: solved shape); the hint fades by itself once the
  category passes alone. After grading, a group that still failed entirely is re-rolled once at the
  top rung (`rescue_share` of its size), and the guided attempts join the group
  (docs/decisions/hints.md).

A schedule is a pure state machine over rollouts; the hint *source* (ladder, llm) writes the hints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import PositiveFloat

from mentor.errors import ConfigError
from mentor.teacher.categories import task_category
from mentor.teacher.hints.base import HintSource
from mentor.teacher.hints.rates import PassRates, scaffold_size
from mentor.teacher.outcomes import groups_of
from mentor.types import Hint, Rollout, Task


class HintSchedule(Protocol):
    name: str

    def hinted(self, task: Task, size: int) -> int:
        """How many of a group of `size` would see a hint now (the selector plans with it)."""
        ...

    def scaffold(self, task: Task, size: int, pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        """The hint of each of the group's `size` attempts (None: no hint), no-hint attempts first."""
        ...

    def rescue(self, group: Sequence[Rollout], pool: Sequence[Task],
               rng: np.random.Generator) -> tuple[Hint | None, ...]:
        """Extra attempts for a graded group (their hints); empty for none."""
        ...

    def observe(self, rollouts: Sequence[Rollout]) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class NoHints:
    """No hints at all: vanilla GRPO."""

    name = "none"

    def hinted(self, task: Task, size: int) -> int:
        return 0

    def scaffold(self, task: Task, size: int, pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        return (None,) * size

    def rescue(self, group: Sequence[Rollout], pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        return ()

    def observe(self, rollouts: Sequence[Rollout]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Scaffold:
    """Adaptive scaffolding plus one rescue re-roll (module doc)."""

    name = "scaffold"

    def __init__(
        self,
        source: HintSource,
        target: float = 0.05,
        forget: float = 0.5,
        max_share: float = 0.875,
        by: Literal["bucket", "shape", "solved_shape"] = "solved_shape",
        strength: float = 4.0,
        prior: tuple[PositiveFloat, PositiveFloat] = (0.5, 4.5),
        rescue_share: float = 1.0,
    ) -> None:
        for key, value, ok in (("target", target, 0 < target < 1), ("forget", forget, 0 <= forget < 1),
                               ("max_share", max_share, 0 < max_share < 1), ("strength", strength, strength > 0),
                               ("rescue_share", rescue_share, 0 <= rescue_share <= 1)):
            if not ok:
                raise ConfigError(f"scaffold: {key}={value} is out of range.", where=f"hints.schedule.args.{key}",
                                  fix="target and max_share in (0, 1), forget in [0, 1), strength > 0, "
                                      "rescue_share in [0, 1] (0: no rescue)")
        self.source = source
        self.target, self.max_share, self.by, self.rescue_share = target, max_share, by, rescue_share
        # Beta(prior) for the no-hint pass rate before any evidence: the default (mean 0.1) scaffolds
        # step 1 as if the student were stuck.
        self.rates = PassRates(forget=forget, prior=(float(prior[0]), float(prior[1])), strength=strength)

    def _keys(self, task: Task) -> tuple[str, str | None]:
        """The pass-rate key of a task and the key it shrinks toward."""
        return (task.bucket, None) if self.by == "bucket" else (task_category(task, self.by), task.bucket)

    def hinted(self, task: Task, size: int) -> int:
        key, parent = self._keys(task)
        return scaffold_size(size, self.rates.rate(key, hinted=False, parent=parent),
                             self.rates.rate(key, hinted=True, parent=parent), self.target, int(size * self.max_share))

    def scaffold(self, task: Task, size: int, pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        k = self.hinted(task, size)
        hint = self.source.hint(task, self.source.max_level(task), [], pool, rng) if k else None
        if hint is None:
            return (None,) * size
        return (None,) * (size - k) + (hint,) * k

    def rescue(self, group: Sequence[Rollout], pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        scored = [r.score for r in group if r.score is not None]
        if not scored or any(r.passed for r in group) or self.rescue_share == 0:
            return ()
        task = group[0].task
        hint = self.source.hint(task, self.source.max_level(task), [r.text for r in group], pool, rng)
        if hint is None:
            return ()
        return (hint,) * max(1, round(len(group) * self.rescue_share))

    def observe(self, rollouts: Sequence[Rollout]) -> None:
        """Move the pass rates on this step's scored attempts, by (key, hinted), per group."""
        seen: dict[tuple[str, bool], list[bool]] = {}
        for group in groups_of(rollouts):
            key, parent = self._keys(group[0].task)
            keys = [key] if parent is None else [key, parent]
            parts = [(False, [r for r in group if not r.hinted])]
            if any(r.hinted for r in group):
                parts.append((True, [r for r in group if r.hinted]))
            for hinted, members in parts:
                passed = [r.passed for r in members if r.score is not None]
                for k in keys:
                    seen.setdefault((k, hinted), []).extend(passed)
        self.rates.update(seen)

    def state_dict(self) -> dict[str, Any]:
        return {"pass_rates": self.rates.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rates.load_state_dict(state.get("pass_rates", {}))

