"""Numbers from held-out learning curves: area under the curve against rollouts, rollouts to reach a
threshold, and accuracy per curriculum level. Pure functions over (rollouts, accuracy) points, so
`mentor compare` and its tests share one definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(1, 11))  # 10%, 20%, ..., 100%


def curve_auc(points: Sequence[tuple[float, float]], budget: float) -> float:
    """The area under a held-out curve of (rollouts, accuracy) points, over rollouts 0..`budget`,
    divided by `budget`: the mean accuracy over the budget, in [0, 1].

    The curve is linear between evaluations, flat before the first one (at its value) and after the
    last one (an arm that stopped early keeps its last accuracy to the budget: it had no rollouts left
    to do better with), and cut at the budget. An arm that learns sooner has the larger area even when
    both end on the same plateau.
    """
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    if not points:
        raise ValueError("a curve needs at least one point")
    pts = sorted((max(float(x), 0.0), float(y)) for x, y in points)
    px, py = [x for x, _ in pts], [y for _, y in pts]
    # the curve's knots inside [0, budget], and its value at both ends (np.interp holds the end values)
    xs = [0.0, *(x for x in px if 0.0 < x < budget), float(budget)]
    ys = np.interp(xs, px, py)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2) / budget)  # trapezoids (numpy 1.26 has no trapezoid)


def rollouts_to(points: Sequence[tuple[float, float]], threshold: float) -> float | None:
    """Rollouts at the first evaluation whose accuracy reaches `threshold`; None if none does.
    Measured at evaluations only, so it is as fine as `eval.every`."""
    for x, y in sorted(points):
        if y >= threshold - 1e-12:
            return float(x)
    return None


def per_level(per_task: Mapping[str, float], levels: Mapping[str, int | None]) -> dict[str, float]:
    """Mean score per curriculum level of the tasks in `per_task` (a level's key is its number as a
    string, "-" for tasks without one), in level order."""
    by: dict[str, list[float]] = {}
    for task_id, score in per_task.items():
        level = levels.get(task_id)
        by.setdefault("-" if level is None else str(level), []).append(score)
    order = sorted(by, key=lambda k: (k == "-", int(k) if k != "-" else 0))
    return {k: float(np.mean(by[k])) for k in order}


def task_aucs(evals: Sequence[tuple[float, Mapping[str, float]]], tasks: Sequence[str], budget: float) -> list[float]:
    """Each task's own area (`curve_auc` of its scores at each evaluation). The mean over tasks is the
    area of the mean curve, so a bootstrap over tasks gives the area an interval."""
    return [curve_auc([(x, scores[t]) for x, scores in evals], budget) for t in tasks]
