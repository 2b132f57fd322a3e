"""Worked solutions written from reasoning-gym metadata (tasks/solutions.py): each ends in the dataset's
own answer (self-checking), and the ladder's prefix rungs cut them into steps without the answer."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mentor.config import TaskSpec
from mentor.tasks.mix import build_task_source
from mentor.tasks.solutions import worked_solution
from mentor.teacher.hints import LadderHints, leaks_answer


@pytest.mark.parametrize("family", ["gcd", "count_bits", "letter_counting"])
def test_worked_solutions_end_in_the_datasets_answer_at_every_level(family):
    tasks = build_task_source(TaskSpec(name=family, levels=[0, 1, 2])).tasks("train", 30, 0)
    assert {t.level for t in tasks} == {0, 1, 2}
    ladder = LadderHints(levels=["prefix"], fractions=(0.25, 0.5))
    for task in tasks:
        assert task.solution is not None and len(task.solution.splitlines()) >= 3
        last_number = re.findall(r"\d+", task.solution.splitlines()[-1])[-1]
        assert last_number == task.answer  # the working reaches the dataset's own answer
        half = ladder.hint(task, 2, [], [task], np.random.default_rng(0))
        if half is not None:  # a prefix never gives the answer away
            assert not leaks_answer(half.text.split("\n", 1)[1], task.answer)
            assert half.text.split("\n", 1)[1].splitlines()[0] == task.solution.splitlines()[0]


def test_families_without_a_writer_keep_the_expression_or_nothing():
    assert worked_solution("chain_sum", {"answer": "5", "metadata": {"expression": "2 + 3"}}) == "2 + 3 = 5"
    assert worked_solution("aiw", {"answer": "3", "metadata": {"task_type": "siblings"}}) is None
    assert worked_solution("gcd", {"answer": "3", "metadata": {}}) is None  # the facts are missing
