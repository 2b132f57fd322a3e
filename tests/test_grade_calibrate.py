"""Calibration raises agreement with humans on a synthetic human-graded set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mentor.grade import Calibration, agreement, calibration_report, fit_calibration
from mentor.grade.calibrate import naive_map


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Human labels 0..4; the model sees the same quality but squashed (a harsh judge) and noisy."""
    rng = np.random.default_rng(seed)
    human = rng.choice(5, size=n, p=[0.1, 0.2, 0.3, 0.25, 0.15]).astype(float)
    quality = (human + rng.normal(0, 0.35, n)) / 4
    model = np.clip(quality, 0, 1) ** 3  # monotone but badly compressed toward 0
    return model, human


def test_calibration_raises_qwk() -> None:
    grid = [0, 1, 2, 3, 4]
    x_fit, y_fit = _synthetic(200, 0)
    x_test, y_test = _synthetic(300, 1)
    cal = fit_calibration(x_fit, y_fit, "h" * 64, grid)
    before = agreement(y_test, naive_map(x_test, grid), grid, n_boot=200)
    after = agreement(y_test, cal.apply(x_test), grid, n_boot=200)
    assert after["qwk"]["value"] > before["qwk"]["value"] + 0.1
    assert after["exact"]["value"] > before["exact"]["value"]
    assert before["qwk"]["lo"] <= before["qwk"]["value"] <= before["qwk"]["hi"]
    assert set(np.unique(cal.apply(x_test))) <= set(map(float, grid))  # snapped to the grid
    xs = np.linspace(0, 1, 101)  # monotone
    assert np.all(np.diff(cal.apply(xs)) >= 0)


def test_report_holdout_and_roundtrip(tmp_path: Path) -> None:
    x, y = _synthetic(120, 2)
    cal, report = calibration_report(x, y, "b" * 64, holdout=0.3, n_boot=100)
    assert report["n_eval"] == 36 and not report["in_sample"]
    assert report["after"]["qwk"]["value"] > report["before"]["qwk"]["value"]
    cal.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again == cal and again.bundle_hash == "b" * 64
    assert np.array_equal(again.apply(x), cal.apply(x))
