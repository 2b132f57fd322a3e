"""The signal share counts every generated rollout: the share of them trained in a group whose rewards
differ. A dropped group counts as none, a re-roll trained beside its all-fail original as two groups
with the signal, and the run's figure (from its attempt records) weighs each step by what it sampled."""

from __future__ import annotations

import pytest

from mentor.report import _signal_share
from mentor.train.records import step_metrics
from mentor.types import Grade, Rollout, Task

G = 8


def _group(group: int, passes: int, *, size: int = G, trained: bool = True) -> list[Rollout]:
    task = Task(id=f"t{group}", prompt="q", answer="1")
    return [Rollout(task=task, group=group, index=i, text="x", completion_ids=(1,), logprobs=(-0.1,), finished=True,
                    grade=Grade(score=1.0 if i >= size - passes else 0.0),
                    advantages=(0.0,) if trained else None)
            for i in range(size)]


def signal_share(groups: list[list[Rollout]], sampled: int) -> float:
    """The loop's per-step figure for these groups."""
    return step_metrics([r for g in groups for r in g], set(), {}, {}, sampled, None)["signal_share"]


def _rows(step: int, groups: list[list[Rollout]]) -> list[dict]:
    return [{"step": step, "grp": r.group, "reward": r.score, "trained": int(r.trained)} for g in groups for r in g]


def test_every_generated_rollout_is_in_the_denominator_and_only_trained_mixed_groups_in_the_numerator():
    mixed = _group(0, passes=3)
    all_fail = _group(1, passes=0)
    rescued = _group(2, passes=1, size=2 * G)  # an all-fail group and its re-roll with one pass, one group
    dropped = _group(3, passes=4, trained=False)  # mixed, but a filter left it out of the batch
    groups = [mixed, all_fail, rescued, dropped]
    assert signal_share(groups, sampled=5 * G) == pytest.approx((G + 2 * G) / (5 * G))
    assert signal_share(groups, sampled=5 * G + 8) == pytest.approx(3 * G / (5 * G + 8))  # e.g. credit branches

    # The run's figure from its records: steps weighed by the rollouts they sampled, not averaged
    step2 = [_group(0, passes=1), _group(1, passes=0), _group(2, passes=0)]
    rows = _rows(1, groups) + _rows(2, step2)
    per_step = [(signal_share(groups, 5 * G), 5 * G), (signal_share(step2, 3 * G), 3 * G)]
    assert _signal_share(rows, 8 * G) == pytest.approx(sum(s * n for s, n in per_step) / (8 * G))
    assert _signal_share(rows, 8 * G) != pytest.approx(sum(s for s, _ in per_step) / 2)
