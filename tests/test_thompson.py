"""`thompson` (MoPPS): a Beta posterior per task from its own no-hint attempts, decaying toward the
prior, and Thompson sampling that prefers tasks near a pass rate of 0.5."""

from __future__ import annotations

import numpy as np
import pytest

from mentor.teacher.outcomes import GroupOutcome
from mentor.teacher.selectors import SELECTORS, ThompsonSelector
from mentor.types import Task

TASKS = [Task(id=f"t{i}", prompt=f"q{i}", answer="1", source="s") for i in range(3)]


def _outcome(task: Task, passed: int, n: int = 8, hinted: bool = False) -> GroupOutcome:
    return GroupOutcome.from_rewards(task, [1.0] * passed + [0.0] * (n - passed), 0.0, hinted=hinted)


def test_posterior_decays_toward_the_prior_and_adds_the_own_attempts_only():
    sel = SELECTORS.build("thompson", {"forget": 0.25})
    sel.select(TASKS, 1, np.random.default_rng(0))  # registers the pool at Beta(1, 1)
    sel.update([_outcome(TASKS[0], 3)])
    # α ← 0.75·1 + 0.25·1 + 3 passes, β ← 1 + 5 failures; other tasks of the category get no implicit evidence
    assert sel.posteriors()["t0"] == pytest.approx((4.0, 6.0))
    assert sel.posteriors()["t1"] == pytest.approx((1.0, 1.0))
    sel.update([_outcome(TASKS[0], 8, hinted=True)])  # a hinted pass is no evidence of no-hint difficulty
    assert sel.posteriors()["t0"] == pytest.approx((0.75 * 4 + 0.25, 0.75 * 6 + 0.25))
    assert sel.pass_rate(TASKS[0]) == pytest.approx(3.25 / (3.25 + 4.75))
    again = ThompsonSelector(forget=0.25)
    again.load_state_dict(sel.state_dict())
    assert again.posteriors() == sel.posteriors() and again.name == "thompson"


def test_selection_prefers_the_task_nearest_a_half():
    sel = ThompsonSelector(forget=0.0)
    sel.select(TASKS, 1, np.random.default_rng(0))
    sel.update([_outcome(TASKS[0], 0, 40), _outcome(TASKS[1], 20, 40), _outcome(TASKS[2], 40, 40)])
    rng = np.random.default_rng(1)
    picks = [sel.select(TASKS, 1, rng)[0].id for _ in range(200)]
    assert picks.count("t1") > 190  # mastered and hopeless tasks are left alone
    assert len(set(t.id for t in sel.select(TASKS, 3, rng))) == 3  # k distinct tasks while the pool has them


def test_the_thompson_preset_is_the_control_with_its_selector():
    from mentor.config import load_config

    cfg = load_config(None, None, "thompson")
    assert cfg.curriculum.selector.name == "thompson" and cfg.hints.schedule.name == "none"
    assert cfg.credit.assigner.name == "outcome"
