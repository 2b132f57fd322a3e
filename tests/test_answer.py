"""Reward v0: final-answer extraction and verifiers. A missing answer line is the student's failure
(score 0); a verifier that raises makes the attempt unscorable (score None), never a silent 0."""

from __future__ import annotations

import pytest

from mentor.config import TaskSpec
from mentor.errors import VerifierError
from mentor.grade.answer import VERIFIERS, answer_grade, extract_answer, register_verifier
from mentor.tasks import build_task_source
from mentor.types import Task


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: 7", "7"),
        ("3 + 4 = 7\nAnswer: 7\n", "7"),
        ("Answer: 3\nWait, I made a mistake.\nAnswer: 5", "5"),  # the last answer line binds
        ("Answer: 3 ... or is it? Answer: 4", "4"),
        ("**Answer:** 7", "7"),
        ("**Answer: 7**", "7"),
        ("Answer: $7$", "7"),
        ("Answer: `42`", "42"),
        ("Answer: \\boxed{7}", "7"),
        ("Answer: $\\boxed{3/4}$.", "3/4"),
        ("Answer: 7.", "7"),
        ("Answer: 3.5.", "3.5"),
        ("answer : -12", "-12"),
        ("Final Answer: 9 apples\nThat is all.", "9 apples"),  # only to the end of that line
        ("The answer is 7.", None),
        ("Answer:", None),
        ("Answer: **", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_custom_prefix():
    assert extract_answer("Result: 4\nAnswer: 5", prefix="Result:") == "4"
    assert extract_answer("Answer: 5", prefix="Result:") is None


TOY = Task(id="toy/1", prompt="Calculate 3 + 4.", answer="7", verifier="math")


def test_missing_answer_line_is_the_students_failure():
    g = answer_grade(TOY, "I think it is 7")
    assert g.score == 0.0 and g.scorable
    assert g.components == {"format": 0.0, "correct": 0.0}
    assert g.extracted is None and g.unscorable_reason is None
    assert "no 'Answer:' line" in g.verdicts[0].reason


def test_correct_and_wrong_answers():
    right = answer_grade(TOY, "3 + 4 = 7\nAnswer: 7")
    assert (right.score, right.components, right.extracted) == (1.0, {"format": 1.0, "correct": 1.0}, "7")
    wrong = answer_grade(TOY, "Answer: 8")
    assert (wrong.score, wrong.components) == (0.0, {"format": 1.0, "correct": 0.0})


@pytest.mark.parametrize(("answer", "extracted", "score"),
                         [("0.5", "1/2", 1.0), ("1000", "1,000", 1.0), ("7", "7.0", 1.0), ("7", "-7", 0.0),
                          ("\\frac{1}{2}", "0.5", 1.0), ("x^2 + 2x", "2x + x^2", 1.0)])
def test_math_verifier(answer, extracted, score):
    task = Task(id="m", prompt="?", answer=answer, verifier="math")
    assert answer_grade(task, f"Answer: {extracted}").score == score


def test_reasoning_gym_verifier_uses_the_datasets_scorer():
    [task] = build_task_source(TaskSpec(name="basic_arithmetic")).tasks("train", 1, seed=0)
    assert answer_grade(task, f"Answer: {task.answer}").score == 1.0
    assert answer_grade(task, f"Answer: {int(task.answer) + 1}").score == 0.0


def test_verifier_that_raises_makes_the_attempt_unscorable(monkeypatch):
    def crashes(task, extracted):
        raise RuntimeError("grader bug")

    monkeypatch.setitem(VERIFIERS, "test-crashes", crashes)
    g = answer_grade(Task(id="c", prompt="?", answer="1", verifier="test-crashes"), "Answer: 1")
    assert g.score is None and not g.scorable
    assert g.components["correct"] is None  # not 0: nobody knows whether it was right
    assert "test-crashes" in g.unscorable_reason and "grader bug" in g.unscorable_reason
    assert g.extracted == "1"


def test_verifier_error_keeps_its_message(monkeypatch):
    def refuses(task, extracted):
        raise VerifierError("the scorer timed out")

    monkeypatch.setitem(VERIFIERS, "test-refuses", refuses)
    g = answer_grade(Task(id="c", prompt="?", answer="1", verifier="test-refuses"), "Answer: 1")
    assert g.score is None and g.unscorable_reason == "the scorer timed out"


def test_missing_answer_line_beats_a_broken_verifier(monkeypatch):
    # No answer to verify: the student's failure, even when the verifier would crash.
    monkeypatch.setitem(VERIFIERS, "test-never-called", lambda task, extracted: 1 / 0)
    g = answer_grade(Task(id="c", prompt="?", answer="1", verifier="test-never-called"), "no idea")
    assert g.score == 0.0


def test_unknown_verifier_and_reasoning_gym_task_without_entry_are_unscorable():
    g = answer_grade(Task(id="u", prompt="?", answer="1", verifier="no-such-verifier"), "Answer: 1")
    assert g.score is None and "unknown verifier 'no-such-verifier'" in g.unscorable_reason
    g = answer_grade(Task(id="r", prompt="?", answer="1", verifier="reasoning_gym"), "Answer: 1")
    assert g.score is None and "lacks the reasoning-gym entry" in g.unscorable_reason


def test_register_verifier_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        register_verifier("math")(lambda task, extracted: 1.0)
