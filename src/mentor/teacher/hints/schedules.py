"""Hint schedules: which attempts of a group see a hint, and which all-fail groups are rescued.

- `none`: no hints (vanilla GRPO, the control).
- `scaffold` (default): before sampling, each group gets the fewest hinted attempts for which the whole
  group is expected to fail with probability at most `target`, from discounted pass rates without the
  hint and with each rung of the source, kept per task category (default: solved shape). Which rung,
  if any, is Thompson sampling: one draw from each rate's Beta posterior, all under the same prior;
  the best draw wins, "no hint" included (with two rungs and no evidence, a hint wins two draws in
  three; even odds measured no better, docs/decisions/baselines.md), and the hinted count is taken at
  the drawn rates. A rung is tried while its rate is uncertain, shown while its attempts pass more
  often than the plain ones, and dropped once they do not; the hint fades by itself once the category
  passes alone. After grading, a group that still failed entirely is re-rolled once with the rung a
  fresh draw picks (`rescue_share` of its size), none if it picks no hint, and the guided attempts
  join the group (docs/decisions/hints.md).
- `fixed`: a fixed rung on tasks the student fails, per stage of training (the QuestA-style baseline;
  `FixedHints`).

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
    rescue_share: float  # a rescue re-roll's size, as a share of the group it re-rolls (0: none)

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
    rescue_share = 0.0

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
        # Beta(prior) for every pass rate before any evidence, with the hint or without: no rung is
        # believed to help before its attempts show it; Thompson draws try it while unsure.
        self.rates = PassRates(forget=forget, prior=(float(prior[0]), float(prior[1])), strength=strength)

    def _keys(self, task: Task) -> tuple[str, str | None]:
        """The pass-rate key of a task and the key it shrinks toward."""
        return (task.bucket, None) if self.by == "bucket" else (task_category(task, self.by), task.bucket)

    def _keyed(self, task: Task, rung: int | None) -> tuple[str, bool, str | None]:
        """The pass-rate key of `task` without a hint (rung None) or at a rung: (key, hinted, parent)."""
        key, parent = self._keys(task)
        if rung is None:
            return key, False, parent
        return f"{key}@{rung}", True, None if parent is None else f"{parent}@{rung}"

    def rungs(self, task: Task) -> list[tuple[int, float]]:
        """The source's rungs for `task` with their hinted pass rates in its category, best first (ties:
        the higher rung first)."""
        rates = [(level, self.rates.rate(*self._keyed(task, level)))
                 for level in range(self.source.max_level(task), 0, -1)]
        return sorted(rates, key=lambda rung: -rung[1])

    def hinted(self, task: Task, size: int) -> int:
        """The hinted count at the estimated rates (the selector plans with it)."""
        rungs = self.rungs(task)
        if not rungs:
            return 0
        plain = self.rates.rate(*self._keyed(task, None))
        return scaffold_size(size, plain, rungs[0][1], self.target, int(size * self.max_share))

    def _choose(self, task: Task, failed: Sequence[str], pool: Sequence[Task],
                rng: np.random.Generator) -> tuple[Hint | None, float, float]:
        """Thompson sampling over "no hint" and each rung: a draw from each one's Beta posterior; the
        hint is the rung with the best draw, if it beats the draw without a hint (a rung with no hint for
        this task gives way to the next). Returns (hint, plain draw, hint's draw)."""
        plain = float(rng.beta(*self.rates.beta(*self._keyed(task, None))))
        draws = [(level, float(rng.beta(*self.rates.beta(*self._keyed(task, level)))))
                 for level in range(self.source.max_level(task), 0, -1)]
        for level, drawn in sorted(draws, key=lambda rung: -rung[1]):
            if drawn <= plain:
                break
            if (hint := self.source.hint(task, level, failed, pool, rng)) is not None:
                return hint, plain, drawn
        return None, plain, plain

    def scaffold(self, task: Task, size: int, pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        hint, plain, drawn = self._choose(task, [], pool, rng)
        k = scaffold_size(size, plain, drawn, self.target, int(size * self.max_share)) if hint else 0
        return (None,) * (size - k) + (hint,) * k

    def rescue(self, group: Sequence[Rollout], pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        scored = [r.score for r in group if r.score is not None]
        if not scored or any(r.passed for r in group) or self.rescue_share == 0:
            return ()
        hint, _, _ = self._choose(group[0].task, [r.text for r in group], pool, rng)
        if hint is None:
            return ()  # no draw says a hint raises the pass rate: the re-roll would fail again
        return (hint,) * max(1, round(len(group) * self.rescue_share))

    def observe(self, rollouts: Sequence[Rollout]) -> None:
        """Move the pass rates on this step's scored attempts, by key: plain, or hinted at each rung."""
        seen: dict[tuple[str, bool], list[bool]] = {}
        for group in groups_of(rollouts):
            key, parent = self._keys(group[0].task)
            keys = [key] if parent is None else [key, parent]
            parts: dict[str, list[Rollout]] = {"": [r for r in group if not r.hinted]}  # "": no hint
            for r in group:
                if r.hint is not None:
                    parts.setdefault(f"@{r.hint.level}", []).append(r)
            for rung, members in parts.items():
                passed = [r.passed for r in members if r.score is not None]
                for k in keys:
                    seen.setdefault((k + rung, bool(rung)), []).extend(passed)
        self.rates.update(seen)

    def state_dict(self) -> dict[str, Any]:
        return {"pass_rates": self.rates.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rates.load_state_dict(state.get("pass_rates", {}))



class FixedHints:
    """A fixed hint on tasks the student fails, at a fixed level per stage of training (QuestA-style
    partial-solution hints, arXiv 2507.13266, with the `ladder` source's prefix rungs).

    A group whose no-hint attempts all fail is re-rolled in full (`rescue_share` of its size) with the
    hint, and the task is marked failed: later groups of it are hinted in full up front, until a hinted
    group passes every attempt. Training is split into `len(levels)` equal parts of the run's rollouts
    (`horizon`, from the config); part i shows the source's rung `levels[i]`, or the highest rung below
    it that the task has. With `hints.loss_prompt: hinted` the hinted attempts are trained as plain GRPO
    on the hinted prompt, in a group of their own. Nothing adapts to the student beyond the failed mark:
    this is the fixed scaffold Mentor's adaptive hints are measured against.
    """

    name = "fixed"

    def __init__(self, source: HintSource, horizon: int = 0, levels: tuple[int, ...] = (2, 1),
                 rescue_share: float = 1.0) -> None:
        if not levels or any(level < 1 for level in levels):
            raise ConfigError(f"fixed: levels must be hint levels >= 1, got {list(levels)}.",
                              where="hints.schedule.args.levels", fix="e.g. [2, 1]: rung 2 in the first half, 1 after")
        if not 0 <= rescue_share <= 1:
            raise ConfigError(f"fixed: rescue_share={rescue_share} is out of range.",
                              where="hints.schedule.args.rescue_share", fix="use a share in [0, 1] (0: no re-roll)")
        self.source, self.horizon = source, int(horizon)
        self.levels, self.rescue_share = tuple(int(x) for x in levels), float(rescue_share)
        self.failed: set[str] = set()  # task ids whose last groups failed without a hint
        self.seen = 0  # rollouts observed: where training is, against the horizon

    def level(self) -> int:
        """The rung of the current stage of training."""
        stage = 0 if self.horizon <= 0 else min(self.seen * len(self.levels) // self.horizon, len(self.levels) - 1)
        return self.levels[stage]

    def _hint(self, task: Task, pool: Sequence[Task], failed: Sequence[str], rng: np.random.Generator) -> Hint | None:
        for level in range(min(self.level(), self.source.max_level(task)), 0, -1):
            hint = self.source.hint(task, level, failed, pool, rng)
            if hint is not None:
                return hint
        return None

    def hinted(self, task: Task, size: int) -> int:
        return size if task.id in self.failed else 0

    def scaffold(self, task: Task, size: int, pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        hint = self._hint(task, pool, [], rng) if task.id in self.failed else None
        return (hint,) * size if hint is not None else (None,) * size

    def rescue(self, group: Sequence[Rollout], pool: Sequence[Task], rng: np.random.Generator) -> tuple[Hint | None, ...]:
        plain = [r for r in group if not r.hinted and r.score is not None]
        if not plain or any(r.passed for r in plain) or any(r.hinted for r in group) or self.rescue_share == 0:
            return ()
        hint = self._hint(group[0].task, pool, [r.text for r in plain], rng)
        return () if hint is None else (hint,) * max(1, round(len(group) * self.rescue_share))

    def observe(self, rollouts: Sequence[Rollout]) -> None:
        self.seen += len(rollouts)
        for group in groups_of(rollouts):
            task_id = group[0].task.id
            plain = [r for r in group if not r.hinted and r.score is not None]
            hinted = [r for r in group if r.hinted and r.score is not None]
            if plain and not any(r.passed for r in plain):
                self.failed.add(task_id)
            elif (plain and any(r.passed for r in plain)) or (hinted and all(r.passed for r in hinted)):
                self.failed.discard(task_id)

    def state_dict(self) -> dict[str, Any]:
        return {"failed": sorted(self.failed), "seen": self.seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.failed, self.seen = set(state.get("failed", [])), int(state.get("seen", 0))
