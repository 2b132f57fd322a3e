"""Assert tests split and judged in the parent, without a sandbox: what the sandbox is sent, and how
its reports (honest, failing, malformed or forged) are judged."""

from __future__ import annotations

import pytest

from mentor.errors import VerifierError
from mentor.grade.asserts import decode, judge, plan_test


def _ok(value):
    return {"ok": True, "v": value}


def test_only_the_attempts_expressions_are_sent() -> None:
    plan = plan_test("assert f(2) == 7\nassert abs(g(3.0) - 0.75) < 1e-9 and h() is None", where="t")
    sent = " ".join(src for _, src in plan.steps)
    assert [src for _, src in plan.steps] == ["f(2)", "g(3.0)", "h()"]
    for secret in ("7", "0.75", "1e-09", "None"):
        assert secret not in sent


def test_judged_from_reported_values() -> None:
    plan = plan_test("assert f(2) == 5", where="t")
    assert judge(plan, [_ok(5)], "ok").passed
    assert judge(plan, [_ok(5.0)], "ok").passed  # Python's own equality of plain values
    assert not judge(plan, [_ok(4)], "ok").passed
    assert not judge(plan, [{"ok": False, "error": "ZeroDivisionError: x"}], "ok").passed
    assert not judge(plan, None, "timeout").passed
    assert "timeout" in judge(plan, None, "timeout").why


def test_non_plain_and_malformed_reports_fail_and_are_suspicious() -> None:
    plan = plan_test("assert f(2) == 5", where="t")
    out = judge(plan, [{"ok": False, "error": "TypeError: a value of type __main__.A is not plain data"}], "ok")
    assert not out.passed and out.suspicious
    for forged in ({"object": 5}, {"list": "5"}, {"float": "five"}, {"dict": [[1]]}, [5], {"int": "5"}):
        out = judge(plan, [_ok(forged)], "ok")
        assert not out.passed and "malformed" in out.suspicious[0], forged


def test_decode_round_trips_the_tagged_forms() -> None:
    assert decode({"tuple": [1, {"list": [2.5, "a"]}, {"dict": [[{"tuple": [1, 2]}, None]]}]}) == (
        1, [2.5, "a"], {(1, 2): None})
    assert decode({"set": [1, 2]}) == {1, 2} and decode({"bytes": "6162"}) == b"ab"
    assert decode({"float": "nan"}) != decode({"float": "nan"})  # a NaN stays a NaN
    with pytest.raises(ValueError):
        decode({"set": [{"list": [1]}]})  # unhashable inside a set


@pytest.mark.parametrize("source", [
    "assert all(f(x) == x for x in range(3))",
    "assert f(2) is 5",
    "x = f(2) - 4\nassert x == 0",
    "for i in range(2):\n    assert f(i) == i",
    "def check(c):\n    assert c(1) == 1\ncheck(f)",
    "if f(1):\n    pass\nassert True",
    "f(2)",
    "assert (y := f(2)) == 4",
    "assert f(lambda: 1) == 1",
])
def test_tests_that_would_be_judged_beside_the_attempt_are_refused(source: str) -> None:
    with pytest.raises(VerifierError) as info:
        plan_test(source, where="task t meta.asserts[0]")
    assert info.value.where == "task t meta.asserts[0]" and info.value.fix


def test_a_non_string_test_is_a_clear_error() -> None:
    with pytest.raises(VerifierError, match="must be a string"):
        plan_test(["assert f(1) == 1"], where="t")  # type: ignore[arg-type]


def test_parent_side_guards() -> None:
    plan = plan_test("assert f() * 10 == 'x'", where="t")
    assert not judge(plan, [_ok("a" * 1000)], "ok").passed  # within bounds, just unequal
    plan = plan_test("assert len(f() * 10**7) == 1", where="t")
    assert "too large" in judge(plan, [_ok("ab")], "ok").why
    plan = plan_test("assert f() ** 1000 == 1", where="t")
    assert "out of range" in judge(plan, [_ok(10**4000)], "ok").why
