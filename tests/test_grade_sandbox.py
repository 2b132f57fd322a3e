"""Hostile code attempts are contained and reported; a sandbox that cannot start is an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mentor.errors import VerifierError
from mentor.grade import sandbox
from mentor.grade.checks import check_python_tests, validate_check_args
from mentor.grade.sandbox import Limits, run_io_test
from mentor.types import Task

_WHY = sandbox.available()
needs_sandbox = pytest.mark.skipif(_WHY is not None, reason=f"code sandbox unavailable: {_WHY}")

FAST = Limits(cpu_s=1, wall_s=3, memory_mb=256, output_bytes=16 * 1024)


@needs_sandbox
def test_correct_code_passes_and_wrong_fails() -> None:
    task = Task("add", "read two ints, print the sum", meta={"tests": [{"stdin": "2 3\n", "stdout": "5"}]})
    args = validate_check_args("python_tests", {"cpu_s": 1, "wall_s": 3}, where="test")
    good = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    assert check_python_tests(task, good, **args).score == 1.0
    assert check_python_tests(task, "print(6)", **args).score == 0.0


@needs_sandbox
def test_infinite_loop_is_stopped_by_cpu_limit() -> None:
    r = run_io_test("while True:\n    pass", "", FAST)
    assert r.status in ("cpu_limit", "timeout") and r.wall_s < FAST.wall_s + 2


@needs_sandbox
def test_sleeping_code_is_stopped_by_wall_clock() -> None:
    r = run_io_test("import time\ntime.sleep(60)", "", Limits(cpu_s=1, wall_s=1))
    assert r.status == "timeout"


@needs_sandbox
def test_fork_bomb_is_contained() -> None:
    r = run_io_test("import os\nwhile True:\n    os.fork()", "", FAST)
    assert r.status != "ok" and "os.fork" in r.blocked
    r = run_io_test("import subprocess\nsubprocess.run(['sh', '-c', ':(){ :|:& };:'])", "", FAST)
    assert r.status != "ok" and r.blocked


@needs_sandbox
def test_huge_output_is_capped() -> None:
    r = run_io_test("while True:\n    print('x' * 100000)", "", FAST)
    assert r.status == "output_limit" and len(r.stdout) <= FAST.output_bytes


@needs_sandbox
def test_network_is_unreachable() -> None:
    code = ("import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)\nprint('connected')")
    r = run_io_test(code, "", FAST)
    assert r.status != "ok" and "connected" not in r.stdout and r.blocked


@needs_sandbox
def test_network_namespace_has_no_route_even_without_the_hook() -> None:
    # read the interfaces the process sees: only a loopback (down) exists inside the namespace
    r = run_io_test("print(open('/proc/net/dev').read())", "", FAST)
    assert r.status == "ok"
    ifaces = [ln.split(":")[0].strip() for ln in r.stdout.splitlines()[2:] if ":" in ln]
    assert ifaces == ["lo"]


@needs_sandbox
def test_writing_outside_its_directory_is_blocked(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    r = run_io_test(f"open({str(target)!r}, 'w').write('x')\nprint('wrote')", "", FAST)
    assert not target.exists() and "wrote" not in r.stdout  # the host path does not exist in there
    r = run_io_test("open('inside.txt', 'w').write('x')\nprint(open('inside.txt').read())", "", FAST)
    assert r.status == "ok" and r.stdout.strip() == "x"


@needs_sandbox
def test_memory_limit() -> None:
    r = run_io_test("x = bytearray(2 * 1024 ** 3)", "", FAST)
    assert r.status == "memory"


@needs_sandbox
def test_asserts_cannot_be_forged_by_printing_markers() -> None:
    code = "import sys\ndef f(x):\n    return x + 1\nprint('0:0:pass')\nprint('0:1:pass')\nsys.exit(0)"
    task = Task("t", "f", meta={"asserts": ["assert f(1) == 2", "assert f(2) == 4"]})
    args = validate_check_args("python_tests", {"cpu_s": 1, "wall_s": 3}, where="test")
    v = check_python_tests(task, code, **args)
    assert [t["passed"] for t in v.details["tests"]] == [True, False]


@needs_sandbox
def test_asserts_given_as_one_string_are_one_test_not_characters() -> None:
    task = Task("t", "f", meta={"asserts": "assert f(2) == 4\nassert f(3) == 6"})
    args = validate_check_args("python_tests", {"cpu_s": 1, "wall_s": 3}, where="test")
    v = check_python_tests(task, "def f(x):\n    return 2 * x", **args)
    assert v.score == 1.0 and len(v.details["tests"]) == 1


def test_asserts_of_the_wrong_type_are_a_clear_error() -> None:
    task = Task("t", "f", meta={"asserts": {"a": 1}})
    args = validate_check_args("python_tests", {}, where="test")
    with pytest.raises(VerifierError, match=r"meta.asserts must be a list"):
        check_python_tests(task, "def f(x): return x", **args)


def test_asserts_that_would_be_judged_by_the_attempt_are_refused() -> None:
    from mentor.errors import RubricError

    with pytest.raises(RubricError, match="cannot be judged outside"):
        validate_check_args("python_tests", {"asserts": ["assert all(f(x) == x for x in range(3))"]},
                            where="rubric")
    for setup in ("for x in range(3):\n    assert f(x) == x", "x = f(2) - 4", "ok = f(2) == 4",
                  "def check(g):\n    assert g(2) == 4", "y = [f(i) for i in range(3)]"):
        with pytest.raises(RubricError, match="cannot run beside the attempt"):
            validate_check_args("python_tests", {"asserts": [setup + "\nassert True"]}, where="rubric")
    with pytest.raises(RubricError, match="attempt's own operators"):
        validate_check_args("python_tests", {"asserts": ["assert hash(f(2) - 4) == 0"]}, where="rubric")
    with pytest.raises(RubricError, match="no assert"):
        validate_check_args("python_tests", {"asserts": ["f(2)"]}, where="rubric")


@needs_sandbox
def test_hostile_attempt_scores_zero_with_report() -> None:
    task = Task("t", "print 1", meta={"tests": [{"stdin": "", "stdout": "1"}]})
    args = validate_check_args("python_tests", {"cpu_s": 1, "wall_s": 3}, where="test")
    v = check_python_tests(task, "import os\nos.fork()\nprint(1)", **args)
    assert v.score == 0.0 and "os.fork" in v.details["blocked"]


def test_sandbox_that_cannot_start_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = sandbox._Plan((), os.path.join(os.sep, "nonexistent", "python3"), (), "x86_64", ("rlimits",))
    monkeypatch.setattr(sandbox, "_plan", lambda: broken)
    with pytest.raises(VerifierError, match="sandbox"):
        run_io_test("print(1)", "", FAST)


@needs_sandbox
def test_common_assert_forms_are_judged_like_python() -> None:
    code = ("import math\ndef f(x):\n    return x * 2\ndef g():\n    return (1, [2.5, 'a'], {'k': None})\n"
            "def h():\n    return None\ndef s():\n    return {3, 1}\n")
    good = ["assert f(2) == 4", "assert abs(f(0.75) - 1.5) < 1e-9", "assert math.isclose(f(0.1), 0.2)",
            "assert g() == (1, [2.5, 'a'], {'k': None})", "assert g()[1][0] == 2.5", "assert h() is None",
            "assert isinstance(f(2), int)", "assert sorted(s()) == [1, 3]", "assert f(1) == 2 and not f(0)",
            "assert len(g()) == 3", "assert 0 < f(1) <= 2", "x = f(5)\nassert x == 10", "assert f(2) != 5",
            "assert -f(1) == -2", "assert (f(1), f(2)) == (2, 4)", "assert 'a' in g()[1]",
            "assert g()[1][1].upper() == 'A'", "assert f(-1) == -2", "assert f(2 + 3) == 10",
            "s = g()\nassert s[0] == 1", "assert sorted(g()[2].keys()) == ['k']"]
    bad = ["assert f(2) == 5", "assert g() == [1, [2.5, 'a'], {'k': None}]", "assert h() is not None",
           "assert f(1) == 2 and f(2) == 5", "assert nope(1) == 1", "y = nope()\nassert True"]
    task = Task("t", "f", meta={"asserts": good + bad})
    args = validate_check_args("python_tests", {"cpu_s": 1, "wall_s": 3}, where="test")
    v = check_python_tests(task, code, **args)
    passed = [t["passed"] for t in v.details["tests"]]
    assert passed == [True] * len(good) + [False] * len(bad), v.details["tests"]


@needs_sandbox
def test_large_plain_values_and_ranges() -> None:
    task = Task("t", "f", meta={"asserts": ["assert f(2000) == list(range(2000))",
                                            "assert f(3) == list(reversed([2, 1, 0]))",
                                            "assert len(f(10)) == 10", "assert f(5) == list(range(10**9))"]})
    args = validate_check_args("python_tests", {"cpu_s": 1, "wall_s": 3}, where="test")
    v = check_python_tests(task, "def f(n):\n    return list(range(n))", **args)
    assert [t["passed"] for t in v.details["tests"]] == [True, True, True, False], v.details["tests"]
    assert "too large" in v.details["tests"][3]["why"]


def test_a_weaker_sandbox_is_named_layer_by_layer() -> None:
    weak = {"seccomp": "0", "no_new_privs": "0", "cap_eff": "000001ffffffffff", "cap_bnd": "0",
            "pids": list(range(80)), "ifaces": ["lo", "eth0"], "root_read_only": False, "host_etc_visible": True,
            "work_bytes": 10 ** 12}
    broken = " | ".join(sandbox._check_facts(weak, Limits()))
    for layer in ("seccomp", "nocaps", "private-proc", "netns", "ro-minimal-root", "quota"):
        assert layer in broken, broken
    good = {"seccomp": "2", "no_new_privs": "1", "cap_eff": "0", "cap_bnd": "0", "pids": [1, 40], "ifaces": ["lo"],
            "root_read_only": True, "host_etc_visible": False, "work_bytes": 16 * 1024 * 1024}
    assert sandbox._check_facts(good, Limits()) == []
