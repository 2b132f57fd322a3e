"""PNG plots of run stores, with axes that read well on runs of any length: whole-number steps, shares
and accuracies on [0, 1] in percent, and legends outside the data (or none for a single run)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TIMING_KEYS = ("select", "sample", "grade", "hints", "credit", "update", "eval", "store")
Labelled = Sequence[tuple[str, dict[str, Any]]]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    # bbox_inches="tight": a legend placed outside the axes is kept in the image, not cut off
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _step_axis(ax: Any, last_step: int) -> None:
    """Whole steps only, and a range that does not shrink to a point on a one- or two-step run."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8, min_n_ticks=1))
    ax.set_xlim(0.5, max(last_step, 1) + 0.5)
    ax.set_xlabel("step")


def _unit_axis(ax: Any) -> None:
    """A share, a rate or an accuracy: always the whole [0, 1], shown in percent."""
    from matplotlib.ticker import PercentFormatter

    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def _legend(ax: Any, n_series: int) -> None:
    """No legend for one series (the caption names it); otherwise below the axes, clear of the data."""
    if n_series > 1:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(n_series, 4), fontsize=8, frameon=False)


def _marker(n_points: int) -> str | None:
    return "o" if n_points <= 30 else None


def _arm_styles(runs: Labelled) -> list[tuple[str, str]]:
    """One colour per arm ("control s1" -> "control"), one line style per seed within the arm."""
    colors: dict[str, str] = {}
    styles = ["-", "--", ":", "-."]
    out = []
    for i, (label, _) in enumerate(runs):
        arm = label.split(" ")[0]
        color = colors.setdefault(arm, f"C{len(colors)}")
        nth = sum(1 for lbl, _ in runs[:i] if lbl.split(" ")[0] == arm)
        out.append((color, styles[nth % len(styles)]))
    return out


def plot_heldout(runs: Labelled, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    shown = 0
    for (label, run), (color, style) in zip(runs, _arm_styles(runs), strict=True):
        ev = run["evals"]
        if not ev:
            continue
        x = [e.rollouts for e in ev]
        ax.plot(x, [e.accuracy for e in ev], marker=_marker(len(ev)), label=label, color=color, linestyle=style)
        ax.fill_between(x, [e.ci_lo for e in ev], [e.ci_hi for e in ev], alpha=0.12, color=color, linewidth=0)
        shown += 1
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    ax.set_xlim(left=0)
    ax.set_xlabel("rollouts consumed")
    ax.set_ylabel("held-out greedy accuracy")
    _unit_axis(ax)
    ax.grid(alpha=0.3)
    _legend(ax, shown)
    return _save(fig, path)


def plot_per_step(runs: Labelled, key: str, ylabel: str, path: Path,
                  transform: Callable[[Any], float] | None = None, unit: bool = False) -> Path:
    """`key` of each step's metrics against the step; `unit`: the value is a share or rate in [0, 1]."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    last = 1
    for (label, run), (color, style) in zip(runs, _arm_styles(runs), strict=True):
        xs, ys = [], []
        for s in run["steps"]:
            v = s["metrics"].get(key)
            if v is None:
                continue
            xs.append(s["step"])
            ys.append(transform(v) if transform else v)
        last = max([last, *(s["step"] for s in run["steps"])])
        ax.plot(xs, ys, marker=_marker(len(xs)), markersize=4, label=label, color=color, linestyle=style)
    _step_axis(ax, last)
    ax.set_ylabel(ylabel)
    if unit:
        _unit_axis(ax)
    ax.grid(alpha=0.3)
    _legend(ax, len(runs))
    return _save(fig, path)


def plot_hint_usage(runs: Labelled, path: Path) -> Path:
    """Share of each step's attempts sampled with a hint; runs stored before that metric existed show
    the number of groups given a hint instead."""
    if all(any("hinted_attempt_share" in s["metrics"] for s in run["steps"]) for _, run in runs):
        return plot_per_step(runs, "hinted_attempt_share", "attempts sampled with a hint", path, unit=True)
    return plot_per_step(runs, "hinted_groups", "groups given a hint", path)


def plot_timings(run: dict[str, Any], path: Path) -> Path:
    """Seconds per step by stage: stacked bars on short runs, stacked areas on long ones (bars of a
    few pixels read as noise). The legend sits right of the axes, clear of the bars."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.4))  # narrower axes: with the legend beside them, as wide as the rest
    steps = [s["step"] for s in run["steps"]]
    keys = [k for k in (*TIMING_KEYS, *sorted({k for s in run["steps"] for k in s["timings"]} - set(TIMING_KEYS)))
            if any(s["timings"].get(k) for s in run["steps"])]
    series = [[s["timings"].get(k, 0.0) for s in run["steps"]] for k in keys]
    if len(steps) <= 40:
        bottom = [0.0] * len(steps)
        for key, vals in zip(keys, series, strict=True):
            ax.bar(steps, vals, bottom=bottom, label=key, width=0.8)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    elif series:
        ax.stackplot(steps, *series, labels=keys, step="mid")
    _step_axis(ax, max(steps, default=1))
    totals = [sum(col) for col in zip(*series, strict=True)] if series else []
    ax.set_ylim(0, max(totals, default=0.0) * 1.08 or 1.0)  # headroom: the tallest bar is not cut by the frame
    ax.set_ylabel("seconds")
    if keys:
        # reversed: the legend lists the stages top to bottom as they are stacked
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                  frameon=False, title="stage", title_fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
