"""Calibration: a monotone map from model scores to the human scale, fitted on a small human-graded set.

Fit (RULERS, arXiv 2601.08654): isotonic regression score -> human label (scikit-learn), then quantile
(CDF) matching of the regression's outputs onto the human label distribution -- the 1-D optimal
transport map -- which lands on the label grid. The regression alone pulls everything toward the mean
(flat steps); the CDF match restores the humans' spread while keeping the order the regression found.

Agreement (before: the raw score mapped linearly onto the grid and snapped; after: calibrated):
quadratic weighted kappa (sklearn), Spearman (scipy), exact and adjacent accuracy, each with a
percentile bootstrap interval (scipy.stats.bootstrap, paired resampling).

The calibration is stored beside the bundle as JSON that names the bundle hash it was fitted for.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mentor.errors import InputError


@dataclass(frozen=True)
class Calibration:
    bundle_hash: str
    grid: tuple[float, ...]  # the human label grid, sorted
    iso_x: tuple[float, ...]  # isotonic regression knots (score -> expected label)
    iso_y: tuple[float, ...]
    ref_fitted: tuple[float, ...]  # sorted regression outputs on the fit set: the source CDF
    human_sorted: tuple[float, ...]  # sorted human labels: the target distribution
    n: int

    def apply(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        x = np.asarray(scores, dtype=float)
        v = np.interp(x, self.iso_x, self.iso_y)  # flat beyond the ends, like out_of_bounds="clip"
        ref = np.asarray(self.ref_fitted)
        # mid-rank CDF, so a flat isotonic step maps to the middle of the labels it covers
        u = (np.searchsorted(ref, v, "left") + np.searchsorted(ref, v, "right")) / (2.0 * len(ref))
        u = np.clip(u, 1e-9, 1 - 1e-9)
        return np.quantile(np.asarray(self.human_sorted), u, method="inverted_cdf")

    def apply_one(self, score: float) -> float:
        return float(self.apply([score])[0])

    def to_json(self) -> dict[str, Any]:
        return {"kind": "mentor.calibration/1", **asdict(self)}

    def save(self, path: str | Path) -> None:
        from mentor.grade.bundle import _atomic_write

        _atomic_write(Path(path), json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        d.pop("kind", None)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def fit_calibration(scores: Sequence[float], human: Sequence[float], bundle_hash: str,
                    grid: Sequence[float] | None = None) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    x = np.asarray(scores, dtype=float)
    y = np.asarray(human, dtype=float)
    if len(x) != len(y) or len(x) < 4:
        raise InputError(f"calibration needs at least 4 (score, human) pairs, got {len(x)}",
                         fix="grade more attempts by hand")
    g = tuple(sorted(set(grid) if grid is not None else set(y.tolist())))
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y)
    fitted = np.sort(iso.predict(x))
    return Calibration(bundle_hash, tuple(float(v) for v in g), tuple(map(float, iso.X_thresholds_)),
                       tuple(map(float, iso.y_thresholds_)), tuple(map(float, fitted)),
                       tuple(float(v) for v in np.sort(y)), len(x))


def naive_map(scores: Sequence[float] | np.ndarray, grid: Sequence[float]) -> np.ndarray:
    """The uncalibrated baseline: score in [0, 1] stretched linearly over the grid, snapped."""
    g = np.asarray(sorted(grid), dtype=float)
    target = g[0] + np.clip(np.asarray(scores, dtype=float), 0, 1) * (g[-1] - g[0])
    return g[np.abs(target[:, None] - g[None, :]).argmin(axis=1)]


def _index(values: np.ndarray, grid: Sequence[float]) -> np.ndarray:
    g = np.asarray(sorted(grid), dtype=float)
    return np.abs(np.asarray(values, dtype=float)[:, None] - g[None, :]).argmin(axis=1)


def agreement(human: Sequence[float], pred: Sequence[float], grid: Sequence[float], *, n_boot: int = 1000,
              seed: int = 0) -> dict[str, dict[str, float]]:
    """QWK, Spearman, exact and adjacent accuracy, each {"value", "lo", "hi"} (95% percentile bootstrap)."""
    from scipy.stats import bootstrap, spearmanr
    from sklearn.metrics import cohen_kappa_score

    h = _index(np.asarray(human), grid)
    p = _index(np.asarray(pred), grid)
    labels = list(range(len(grid)))

    def qwk(a: np.ndarray, b: np.ndarray) -> float:
        return float(cohen_kappa_score(a, b, weights="quadratic", labels=labels))

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        return float(spearmanr(a, b).statistic)

    def exact(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(a == b))

    def adjacent(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(np.abs(a - b) <= 1))

    out: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(seed)
    for name, fn in (("qwk", qwk), ("spearman", rho), ("exact", exact), ("adjacent", adjacent)):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # constant resamples make kappa/rho undefined: nan, ignored
            value = fn(h, p)
            res = bootstrap((h, p), fn, paired=True, vectorized=False, n_resamples=n_boot,
                            confidence_level=0.95, method="percentile", rng=rng)
        out[name] = {"value": value, "lo": float(res.confidence_interval.low),
                     "hi": float(res.confidence_interval.high)}
    return out


def calibration_report(scores: Sequence[float], human: Sequence[float], bundle_hash: str, *,
                       grid: Sequence[float] | None = None, holdout: float = 0.3, seed: int = 0,
                       n_boot: int = 1000) -> tuple[Calibration, dict[str, Any]]:
    """Fit on a split, report before/after on the held-out part (an honest estimate), then refit on
    everything for the stored calibration. With holdout=0 the report is in-sample."""
    x = np.asarray(scores, dtype=float)
    y = np.asarray(human, dtype=float)
    g = tuple(sorted(set(grid) if grid is not None else set(y.tolist())))
    idx = np.random.default_rng(seed).permutation(len(x))
    n_test = round(holdout * len(x)) if holdout > 0 else 0
    test, train = (idx[:n_test], idx[n_test:]) if n_test >= 4 and len(x) - n_test >= 4 else (idx, idx)
    fit = fit_calibration(x[train], y[train], bundle_hash, g)
    report = {
        "n": len(x), "n_fit": len(train), "n_eval": len(test), "in_sample": bool(test is train),
        "grid": list(g),
        "before": agreement(y[test], naive_map(x[test], g), g, n_boot=n_boot, seed=seed),
        "after": agreement(y[test], fit.apply(x[test]), g, n_boot=n_boot, seed=seed),
    }
    return fit_calibration(x, y, bundle_hash, g), report
