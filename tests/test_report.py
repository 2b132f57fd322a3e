"""The run report: headline first, plots with whole-number steps and [0, 1] shares, the configuration as
a table, and a page that renders in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mentor.report import hint_value_table, write_report
from mentor.report.plots import _legend, _plt, _step_axis, _unit_axis


def _browser() -> str | None:
    return next((p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None)


@pytest.fixture
def report_page(smoke_run, tmp_path) -> Path:
    assert smoke_run.result.returncode == 0, smoke_run.result
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run.run_dir, run_dir)
    return write_report(run_dir)


def test_the_page_leads_with_the_headline(report_page):
    page = report_page.read_text()
    head = page.index('<div class="headline">')
    assert head < page.index("<h2>Learning</h2>") < page.index("Resolved configuration")
    headline = page[head:page.index("<h2>Learning</h2>")]
    for label in ("held-out accuracy", "gain", "signal share", "rollouts", "wall time", "95% CI"):
        assert label in headline, label
    assert "→" in headline and "s/step" in headline
    # the configuration is a table of keys, not a JSON dump
    assert "<pre>" not in page
    assert "<code>sampling.group_size</code>" in page and "Differs from the default run" in page


def test_step_axes_are_whole_numbers_and_shares_span_zero_to_one():
    plt = _plt()
    for last in (1, 2, 7, 300):
        fig, ax = plt.subplots()
        ax.plot(range(1, last + 1), [0.5] * last)
        _step_axis(ax, last)
        _unit_axis(ax)
        fig.canvas.draw()
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (last, ticks)
        assert ax.get_ylim() == (-0.02, 1.02)
        plt.close(fig)


def test_legend_sits_outside_the_axes_and_is_dropped_for_one_series():
    plt = _plt()
    fig, ax = plt.subplots()
    ax.plot([1, 2], [0, 1], label="a")
    _legend(ax, 1)
    assert ax.get_legend() is None
    ax.plot([1, 2], [1, 0], label="b")
    _legend(ax, 2)
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.y1 <= ax.get_window_extent().y0  # wholly below the plotting area
    plt.close(fig)


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no headless chromium here (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(report_page, tmp_path):
    from PIL import Image, ImageStat

    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [_browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,800",
         f"--screenshot={shot}", report_page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr
    img = Image.open(shot).convert("L")
    assert img.size == (1280, 800)
    # a rendered page has text and plots: many grey levels and real contrast, not one flat colour
    assert ImageStat.Stat(img).stddev[0] > 20 and sum(1 for c in img.histogram() if c) > 32


def test_the_hint_table_says_per_bucket_and_rung_whether_hinted_attempts_pass_more_often():
    def attempt(task: str, level: int, reward: float | None, kind: str = "example") -> dict:
        return {"task_id": task, "hint_level": level, "hint_kind": kind if level else None, "reward": reward}

    run = {"buckets": {"a1": "easy", "b1": "hard", "c1": "plain"},
           "attempts": [attempt("a1", 0, 0.0), attempt("a1", 0, 1.0), attempt("a1", 2, 1.0),
                        attempt("a1", 3, 0.0, "prefix"),
                        attempt("b1", 0, 1.0), attempt("b1", 2, 0.0), attempt("b1", 2, 0.5),
                        attempt("b1", 2, None),  # unscorable: not counted
                        attempt("c1", 0, 1.0)]}  # no hinted attempt: no row
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in hint_value_table(run).split("<tr>")[2:]]
    assert rows == [["easy", "2:example", "2", "50.0%", "1", "100.0%", "yes"],
                    ["easy", "3:prefix", "2", "50.0%", "1", "0.0%", "no"],
                    ["hard", "2:example", "1", "100.0%", "2", "0.0%", "no"]]
    assert hint_value_table({"buckets": {}, "attempts": [attempt("c1", 0, 1.0)]}) == ""
