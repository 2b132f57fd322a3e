"""Group filters: which graded groups are trained, and how many fresh groups to sample in their place.

- unset (`curriculum.filter: null`, the default): every group is trained, as sampled.
- `dynamic_sampling`: DAPO's dynamic sampling (arXiv 2503.14476; verl's `algorithm.filter_groups`).
  The step plans `oversample` × the batch's groups; after grading, groups whose rewards are all equal
  (no learning signal) are dropped, and while fewer than `tasks_per_step` groups have a signal, the
  teacher samples `oversample` × the missing number of fresh groups, for at most `max_rounds` refill
  rounds. The first `tasks_per_step` groups with a signal, in sampling order, are trained; the rest
  are not, but every rollout sampled, dropped or not, was paid for from the rollout budget and counts
  in the signal share (groups generated).

A filter is a pure function of the step's graded rollouts: it keeps no state across steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from mentor.errors import ConfigError
from mentor.registry import Registry
from mentor.teacher.credit.base import has_signal
from mentor.types import Rollout


class GroupFilter(Protocol):
    name: str

    def planned(self, k: int) -> int:
        """Groups to sample up front for a batch of `k` trained groups."""
        ...

    def refill(self, groups: Sequence[Sequence[Rollout]], k: int, round: int) -> int:
        """Fresh groups to sample after refill round `round` (0: after the first sampling), given the
        step's graded groups so far; 0 when the batch is full or the rounds are spent."""
        ...

    def keep(self, groups: Sequence[Sequence[Rollout]], k: int) -> list[int]:
        """The group ids to train, from the step's graded groups (in sampling order)."""
        ...


class DynamicSampling:
    """DAPO's dynamic sampling (module doc)."""

    name = "dynamic_sampling"

    def __init__(self, oversample: float = 2.0, max_rounds: int = 4, std_tol: float = 1e-6) -> None:
        if not 1.0 <= oversample <= 64.0:
            raise ConfigError(f"dynamic_sampling: oversample={oversample} is out of range.",
                              where="curriculum.filter.args.oversample",
                              fix="use a factor in [1, 64] (1: sample exactly the missing groups)")
        if not 0 <= max_rounds <= 1000:
            raise ConfigError(f"dynamic_sampling: max_rounds={max_rounds} is out of range.",
                              where="curriculum.filter.args.max_rounds", fix="use 0..1000 (0: never refill)")
        self.oversample, self.max_rounds, self.std_tol = float(oversample), int(max_rounds), float(std_tol)

    def _mixed(self, groups: Sequence[Sequence[Rollout]]) -> list[int]:
        return [g[0].group for g in groups if has_signal([r.score for r in g], self.std_tol)]

    def planned(self, k: int) -> int:
        return math.ceil(k * self.oversample)

    def refill(self, groups: Sequence[Sequence[Rollout]], k: int, round: int) -> int:
        missing = k - len(self._mixed(groups))
        if missing <= 0 or round >= self.max_rounds:
            return 0
        return math.ceil(missing * self.oversample)

    def keep(self, groups: Sequence[Sequence[Rollout]], k: int) -> list[int]:
        return self._mixed(groups)[:k]


class KeepAll:
    """Every group is trained (what the loop does without a filter)."""

    name = "none"

    def __init__(self) -> None:  # no arguments; explicit so the registry's argument check is exact
        pass

    def planned(self, k: int) -> int:
        return k

    def refill(self, groups: Sequence[Sequence[Rollout]], k: int, round: int) -> int:
        return 0

    def keep(self, groups: Sequence[Sequence[Rollout]], k: int) -> list[int]:
        return [g[0].group for g in groups]


FILTERS: Registry[GroupFilter] = Registry("group filter", "curriculum.filter")
FILTERS.add("dynamic_sampling", DynamicSampling)
FILTERS.add("none", KeepAll)
