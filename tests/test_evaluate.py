"""Held-out evaluation never reads a grader failure as a wrong answer."""

from __future__ import annotations

import pytest

from mentor.config import load_config
from mentor.errors import VerifierError
from mentor.testing import toy_tasks
from mentor.train.evaluate import evaluate
from mentor.types import Grade


def _grader(unscorable: set[str], score: float):
    def grade(task, text):
        if task.id in unscorable:
            return Grade(score=None, unscorable_reason="verifier crashed")
        return Grade(score=score)
    return grade


def test_unscorable_tasks_leave_the_denominator(policy) -> None:
    cfg = load_config(None, ["eval.pass_k=2", "sampling.max_new_tokens=4", "eval.bootstrap=100"], "smoke")
    tasks = toy_tasks(6)
    broken = {tasks[0].id, tasks[1].id}
    row = evaluate(policy, tasks, cfg, step=0, rollouts=0, grade=_grader(broken, 1.0))
    # every scorable task passes: a silent 0 for the two broken ones would have given 4/6
    assert row.accuracy == 1.0 and row.n == 4
    assert set(row.per_task) == {t.id for t in tasks} - broken
    assert row.pass_k == 1.0  # the broken tasks' samples are not counted as misses either


def test_all_unscorable_fails_loudly(policy) -> None:
    cfg = load_config(None, ["eval.pass_k=1", "sampling.max_new_tokens=4"], "smoke")
    tasks = toy_tasks(3)
    with pytest.raises(VerifierError, match="every held-out attempt at step 5 was unscorable"):
        evaluate(policy, tasks, cfg, step=5, rollouts=0, grade=_grader({t.id for t in tasks}, 0.0))


def test_comparisons_pair_only_tasks_scored_at_both_ends_in_stable_order() -> None:
    from mentor.experiments.compare import _common
    from mentor.store import EvalRow

    def row(per_task):
        return EvalRow(0, 0, 0.0, 0.0, 0.0, None, None, len(per_task), per_task)

    before = row({"t3": 0.0, "t1": 0.0, "t2": 1.0})
    after = row({"t1": 1.0, "t3": 1.0})  # t2's attempt was unscorable after training
    assert _common(before, after) == ["t3", "t1"]  # before's order, t2 left out rather than read as 0
