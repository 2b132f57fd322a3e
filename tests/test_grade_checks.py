"""Programmatic checks: each can pass and fail; grader failures are unscorable, not 0."""

from __future__ import annotations

import pytest

from mentor.errors import VerifierError
from mentor.grade import compile_rubric, load_grader, parse_rubric, run_check
from mentor.grade.checks import validate_check_args
from mentor.types import Task

T = Task("t1", "What is 1/2 + 1/4?", answer="3/4")


def _check(name: str, text: str, task: Task = T, **args: object) -> float | None:
    return run_check(name, task, text, validate_check_args(name, dict(args), where="test")).score


def test_answer_equivalence() -> None:
    assert _check("answer", "so it is\nAnswer: 0.75") == 1.0
    assert _check("answer", "Answer: $\\frac{3}{4}$") == 1.0
    assert _check("answer", "Answer: 2/3") == 0.0
    assert _check("answer", "I think 3/4") == 0.0  # no answer line: the student's failure


def test_exact_regex_numeric() -> None:
    assert _check("exact", "Answer: 3/4 .") == 1.0
    assert _check("exact", "Answer: 0.75") == 0.0
    assert _check("regex", "The result is 42.", pattern=r"\b42\b") == 1.0
    assert _check("regex", "As an AI model", pattern="as an ai", flags=["IGNORECASE"], must_match=False) == 0.0
    assert _check("numeric", "Answer: 0.7501", abs_tol=1e-3) == 1.0
    assert _check("numeric", "Answer: 0.76", abs_tol=1e-3) == 0.0
    assert _check("numeric", "Answer: three quarters") == 0.0


def test_json_schema_length_format() -> None:
    schema = {"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}}
    assert _check("json_schema", 'Here:\n```json\n{"x": 3}\n```', schema=schema) == 1.0
    assert _check("json_schema", '```json\n{"x": "3"}\n```', schema=schema) == 0.0
    assert _check("json_schema", "not json", schema=schema) == 0.0
    assert _check("length", "one two three", min_words=2, max_words=5) == 1.0
    assert _check("length", "one", min_words=2) == 0.0
    assert _check("format", "work\nAnswer: 3", answer_line=True) == 1.0
    assert _check("format", "Answer: 3\nmore", answer_line=True) == 0.0


def test_missing_reference_is_a_grader_failure() -> None:
    with pytest.raises(VerifierError):
        _check("answer", "Answer: 3", task=Task("t2", "no reference"))
    grader = load_grader(compile_rubric(parse_rubric({"name": "m", "criteria": [
        {"name": "c", "text": "t", "kind": "check", "check": {"name": "answer"}}]})))
    g = grader.grade(Task("t2", "no reference"), "Answer: 3")
    assert g.score is None and "no reference answer" in (g.unscorable_reason or "")
