"""Forgery strategies against the `python_tests` check, by family: how many earn credit.

    PYTHONPATH=src python benchmarks/hostile_grading.py            # this tree
    PYTHONPATH=/tmp/old/src python benchmarks/hostile_grading.py   # any other version of Mentor
    ... hostile_grading.py --timing                                # + median seconds per graded attempt

The strategies are `tests/hostile_attempts.py` (none solves the task; its honest version scores 0).
"credited" counts strategies with a score above 0; genuine solutions must keep 1.0.
"""

from __future__ import annotations

import statistics
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_attempts import ASSERTS, FAMILIES, GENUINE
from mentor.grade.checks import check_python_tests, validate_check_args
from mentor.types import Task


def main() -> None:
    import mentor

    task = Task("sq", "write f(x) = x*x + 1", meta={"asserts": ASSERTS})
    args = validate_check_args("python_tests", {"cpu_s": 2, "wall_s": 5, "memory_mb": 256}, where="bench")
    print(f"mentor from {Path(mentor.__file__).parent}")
    t0 = time.perf_counter()
    genuine = [check_python_tests(task, code, **args).score for code in GENUINE]
    print(f"genuine solutions: scores {genuine}")
    total_n = total_credited = 0
    print(f"{'family':36} {'n':>3} {'credited':>8}  credited strategies")
    for family, strategies in FAMILIES.items():
        credited = []
        for name, code in strategies.items():
            v = check_python_tests(task, textwrap.dedent(code), **args)
            if v.score is None or v.score > 0:
                credited.append(f"{name} ({v.score})")
        total_n += len(strategies)
        total_credited += len(credited)
        print(f"{family:36} {len(strategies):>3} {len(credited):>8}  {'; '.join(credited)}")
    print(f"{'all':36} {total_n:>3} {total_credited:>8}   ({time.perf_counter() - t0:.1f} s)")
    if "--timing" in sys.argv:
        io = Task("io", "sum", meta={"tests": [{"stdin": "2 3\n", "stdout": "5"}]})
        cases = (("1 stdin/stdout test", io, "a, b = map(int, input().split())\nprint(a + b)"),
                 (f"{len(ASSERTS)} asserts", task, GENUINE[0]))
        for label, t, code in cases:
            times = []
            for _ in range(20):
                t1 = time.perf_counter()
                assert check_python_tests(t, code, **args).score == 1.0
                times.append(time.perf_counter() - t1)
            print(f"{label}: median {statistics.median(times) * 1000:.0f} ms per attempt (20 runs)")


if __name__ == "__main__":
    main()
