"""What the teacher learns from one graded group: `GroupOutcome`, computed from rollouts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mentor.types import PASS, Rollout, Task


@dataclass(frozen=True)
class GroupOutcome:
    """The graded result of one group (one task occurrence) in a step."""

    task: Task
    rewards: tuple[float | None, ...]  # [G]; None = unscorable, ignored everywhere here
    passed: int  # rewards with full credit (types.PASS)
    scored: int  # non-None rewards
    mean_abs_advantage: float  # for the bandit
    hinted: bool = False  # from a hinted re-roll: not evidence of no-hint difficulty (module doc)

    @classmethod
    def from_rewards(
        cls,
        task: Task,
        rewards: Sequence[float | None],
        mean_abs_advantage: float,
        *,
        hinted: bool = False,
    ) -> GroupOutcome:
        scored = [r for r in rewards if r is not None]
        return cls(
            task=task,
            rewards=tuple(rewards),
            passed=sum(r >= PASS for r in scored),
            scored=len(scored),
            mean_abs_advantage=float(mean_abs_advantage),
            hinted=hinted,
        )


def outcomes_of(group: Sequence[Rollout]) -> list[GroupOutcome]:
    """What the selector learns from one graded, credited group: its no-hint attempts, always (even
    all-fail: that failure *is* the difficulty evidence), and, when part of the group saw a hint, those
    attempts as a second outcome with `hinted=True`, which selectors keep out of difficulty estimates.
    Each carries the mean |advantage| of its own trained attempts (for the bandit)."""
    task = group[0].task
    parts = [(False, [r for r in group if not r.hinted])]
    if any(r.hinted for r in group):
        parts.append((True, [r for r in group if r.hinted]))
    out = []
    for hinted, members in parts:
        trained = [r.advantages for r in members if r.advantages is not None]
        mean_abs = float(np.mean([np.mean(np.abs(a)) if len(a) else 0.0 for a in trained])) if trained else 0.0
        out.append(GroupOutcome.from_rewards(task, [r.score for r in members], mean_abs, hinted=hinted))
    return out


def _evidence(outcomes: Sequence[GroupOutcome]) -> list[GroupOutcome]:
    """The outcomes that count as no-hint difficulty evidence."""
    return [o for o in outcomes if not o.hinted and o.scored > 0]


def groups_of(rollouts: Sequence[Rollout]) -> list[list[Rollout]]:
    """Rollouts by group, in the order the groups first appear, each in index order."""
    by: dict[int, list[Rollout]] = {}
    for r in rollouts:
        by.setdefault(r.group, []).append(r)
    return [sorted(g, key=lambda r: r.index) for g in by.values()]


def rewards_differ(scores: Iterable[float | None]) -> bool:
    """A learning signal: at least two scored attempts whose rewards differ."""
    s = [x for x in scores if x is not None]
    return len(s) >= 2 and max(s) - min(s) > 1e-6


def signal_share(groups: Iterable[Sequence[tuple[float | None, bool]]], sampled: int) -> float:
    """The share of `sampled` attempts that trained with a learning signal, from each group's
    (reward, trained) pairs: the trained attempts of groups whose rewards differ. Every generated
    attempt is in `sampled`: a group a filter dropped, a re-roll's all-fail original kept apart from it
    (`hints.loss_prompt: hinted`), a credit branch. A re-roll trained in one group with its original
    counts as two groups with the signal, which it is: the original's failures train as negatives
    beside the re-roll's passes. The loop's per-step metric and the report's per-run figure both."""
    return sum(sum(trained for _, trained in g) for g in groups if rewards_differ(r for r, _ in g)) / max(sampled, 1)
