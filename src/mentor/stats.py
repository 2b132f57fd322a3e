"""Bootstrap intervals (scipy) with the degenerate cases handled explicitly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_mean_ci(values: Sequence[float], n_resamples: int = 1000, level: float = 0.95,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over items (tasks)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    if np.all(x == x[0]):
        # scipy returns NaN for a constant sample; the resampled mean is constant too.
        return (float(x[0]), float(x[0]))
    from scipy.stats import bootstrap

    res = bootstrap((x,), np.mean, n_resamples=n_resamples, confidence_level=level, method="percentile",
                    rng=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def bootstrap_diff_ci(groups: Sequence[tuple[Sequence[float], Sequence[float]]], n_resamples: int = 2000,
                      level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Interval for mean(b - a) resampling seeds, then tasks within each seed (a hierarchical bootstrap).

    Each group is one seed: paired per-task values (a[i], b[i]) on the same held-out tasks.
    Returns (estimate, low, high).
    """
    rng = np.random.default_rng(seed)
    diffs = [np.asarray(b, float) - np.asarray(a, float) for a, b in groups]
    estimate = float(np.mean([d.mean() for d in diffs]))
    stats = np.empty(n_resamples)
    for r in range(n_resamples):
        picks = rng.integers(0, len(diffs), size=len(diffs))
        stats[r] = np.mean([diffs[i][rng.integers(0, len(diffs[i]), size=len(diffs[i]))].mean() for i in picks])
    alpha = (1 - level) / 2
    return estimate, float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))
