"""Rollout budgets: how many attempts each selected task gets (Knapsack RL, arXiv 2509.25849)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Protocol

from mentor.errors import ConfigError
from mentor.registry import Registry


def knapsack_value(n: int, p: float) -> float:
    """Value(N, p) = [1 − p^N − (1−p)^N]·p(1−p)²: chance of a mixed group × gradient size."""
    return (1.0 - p**n - (1.0 - p) ** n) * p * (1.0 - p) ** 2


def allocate_rollouts(
    pass_rates: Sequence[float],
    total: int,
    min_per_task: int = 2,
    max_per_task: int = 128,
    *,
    all_fail_below: float = 0.05,
    gain_tol: float = 1e-6,
) -> list[int]:
    """Spread `total` attempts over tasks by expected learning value.

    Every task gets `min_per_task`; then one attempt at a time goes to the task with the largest
    marginal gain Value(N+1, p) − Value(N, p) (exact greedy: Value is concave in N) until the best gain
    falls below `gain_tol`. What is left goes to the all-fail tasks (p < `all_fail_below`), whose value
    is ~0 under the estimate but where more attempts are the only way to find a first success; if they
    are full, to the remaining tasks with room, fewest first. Exactly `total` is allocated whenever
    n·min ≤ total ≤ n·max; above n·max every task gets max.
    """
    n = len(pass_rates)
    if n == 0:
        return []
    if min_per_task < 1 or max_per_task < min_per_task:
        raise ConfigError(f"rollout budget needs 1 <= min_per_task <= max_per_task, got {min_per_task}, {max_per_task}")
    if total < n * min_per_task:
        raise ConfigError(
            f"rollout budget of {total} cannot give {n} tasks {min_per_task} attempts each",
            fix="raise the total, lower min_per_task, or select fewer tasks per step",
        )
    if any(math.isnan(x) for x in pass_rates):
        raise ValueError("pass rates must not be NaN")
    p = [min(max(float(x), 0.0), 1.0) for x in pass_rates]
    counts = [min_per_task] * n
    left = min(total, n * max_per_task) - n * min_per_task

    def gain(i: int) -> float:
        return knapsack_value(counts[i] + 1, p[i]) - knapsack_value(counts[i], p[i])

    heap = [(-gain(i), i) for i in range(n) if counts[i] < max_per_task]
    heapq.heapify(heap)
    while left > 0 and heap:
        neg, i = heapq.heappop(heap)
        if -neg < gain_tol:
            break
        counts[i] += 1
        left -= 1
        if counts[i] < max_per_task:
            heapq.heappush(heap, (-gain(i), i))

    for group in ([i for i in range(n) if p[i] < all_fail_below], list(range(n))):
        while left > 0:
            room = [i for i in group if counts[i] < max_per_task]
            if not room:
                break
            i = min(room, key=lambda j: (counts[j], j))  # evenly, fewest first
            counts[i] += 1
            left -= 1
    return counts


class RolloutBudget(Protocol):
    name: str

    def allocate(self, pass_rates: Sequence[float], total: int) -> list[int]: ...


class KnapsackBudget:
    name = "knapsack"

    def __init__(self, min_per_task: int = 2, max_per_task: int = 128) -> None:
        self.min_per_task, self.max_per_task = int(min_per_task), int(max_per_task)

    def allocate(self, pass_rates: Sequence[float], total: int) -> list[int]:
        return allocate_rollouts(pass_rates, total, self.min_per_task, self.max_per_task)


class FixedBudget:
    """The control: the same number of attempts per task (remainder to the first tasks)."""

    name = "fixed"

    def __init__(self) -> None:  # no arguments; explicit so the registry's argument check is exact
        pass

    def allocate(self, pass_rates: Sequence[float], total: int) -> list[int]:
        n = len(pass_rates)
        if n == 0:
            return []
        base, extra = divmod(total, n)
        return [base + (i < extra) for i in range(n)]


BUDGETS: Registry[RolloutBudget] = Registry("rollout budget", "curriculum.budget")
BUDGETS.add("knapsack", KnapsackBudget)
BUDGETS.add("fixed", FixedBudget)
