"""The compare report (`mentor compare`): it leads with Mentor's gain minus the control's and its
interval, then each arm, the curves, the frontier and the selectors' beliefs. Reads `compare.json`
and the arms' run stores only."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mentor.report import (
    _CSS,
    _card,
    _img,
    _pct,
    _table,
    _write_page,
    load_run,
    plot_heldout,
    plot_hint_usage,
    plot_per_step,
    selector_table,
)
from mentor.types import PASS

ARMS = ("control", "mentor")


def frontier_rows(labelled: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str, int]]:
    """Per-bucket (source@level) no-hint pass rate over each run's attempts: where the student's edge is."""
    rows = []
    for label, run in labelled:
        by: dict[str, list[float]] = {}
        for a in run["attempts"]:
            if a["hint_level"] or a["reward"] is None:
                continue
            by.setdefault(run["buckets"].get(a["task_id"], "?"), []).append(float(a["reward"] >= PASS))
        for bucket, vals in sorted(by.items()):
            rows.append((label, bucket, f"{np.mean(vals):.1%}", len(vals)))
    return rows


def _verdict(lo: float, hi: float) -> str:
    if lo > 0:
        return "Mentor gained more than vanilla GRPO: the whole interval is above zero."
    if hi < 0:
        return "Mentor gained less than vanilla GRPO: the whole interval is below zero."
    return "The interval spans zero: at this budget and these seeds the difference is not resolved."


def write_compare_report(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / "compare.json").read_text())
    seeds = meta["seeds"]
    summary = meta["summary"]
    labelled = [(f"{arm} s{s}", load_run(out_dir / f"{arm}-s{s}")) for arm in ARMS for s in seeds]
    plots = out_dir / "plots"
    plots.mkdir(exist_ok=True)
    figs = [
        (plot_heldout(labelled, plots / "heldout_accuracy.png"),
         "Held-out accuracy vs rollouts consumed (shaded: 95% CI over tasks); colour = arm, line style = seed"),
        (plot_per_step(labelled, "signal_share", "groups with a learning signal", plots / "signal.png", unit=True),
         "Share of groups with a learning signal per step"),
        (plot_per_step(labelled, "mean_reward", "mean reward (no-hint attempts)", plots / "reward.png", unit=True),
         "Mean reward of the no-hint attempts per step"),
        (plot_hint_usage(labelled, plots / "hints.png"), "Hint usage: share of attempts sampled with a hint"),
    ]
    if any(s["metrics"].get("hint_reliance") is not None for _, run in labelled for s in run["steps"]):
        figs.append((plot_per_step(labelled, "hint_reliance", "hint reliance (log p with − without hint)",
                                   plots / "reliance.png"), "Hint reliance of correct guided attempts"))
    frontier = frontier_rows(labelled)
    selectors = "".join(f"<h3>{html.escape(label)}</h3>{table}" for label, run in labelled
                        if (table := selector_table(run)))
    rows = []
    for arm in ARMS:
        s = summary[arm]
        rows.append((arm, _pct(s["heldout_before"]), _pct(s["heldout_after"]), f"{_pct(s['gain'], sign=True)} pts",
                     f"[{_pct(s['gain_ci'][0], sign=True)}, {_pct(s['gain_ci'][1], sign=True)}]",
                     _pct(s["signal_share"]), _pct(s.get("hinted_attempt_share")), s["rollouts"], s["steps"]))
    per_seed = [(arm, p["seed"], _pct(p["heldout_before"]), _pct(p["heldout_after"]), f"{_pct(p['gain'], sign=True)} pts",
                 _pct(p["signal_share"]), p["rollouts"]) for arm in ARMS for p in summary[arm]["per_seed"]]
    gd = summary["gain_difference"]
    lo, hi = gd["ci"]
    reach = summary["mentor"]["rollouts_to_control_final"]
    ratio = summary["mentor"]["rollouts_to_control_final_ratio"]
    cards = "".join([
        _card("Mentor gain − control gain", f"{_pct(gd['estimate'], sign=True)} points",
              f"95% CI {_pct(lo, sign=True)} to {_pct(hi, sign=True)}, bootstrap over seeds and tasks", lead=True),
        _card("Mentor gain", f"{_pct(summary['mentor']['gain'], sign=True)} points",
              f"{_pct(summary['mentor']['heldout_before'])} → {_pct(summary['mentor']['heldout_after'])}"),
        _card("control gain", f"{_pct(summary['control']['gain'], sign=True)} points",
              f"{_pct(summary['control']['heldout_before'])} → {_pct(summary['control']['heldout_after'])}"),
        _card("signal share", f"{_pct(summary['mentor']['signal_share'])} vs {_pct(summary['control']['signal_share'])}",
              "Mentor vs control, groups with mixed rewards"),
        _card("rollouts per run", f"{summary['control']['rollouts']:,}",
              "the control's; Mentor spends at most as many"),
    ])
    reach_text = ("Mentor did not reach the control's final accuracy in every seed"
                  if ratio is None else f"Mentor reached the control's final accuracy after {ratio:.0%} of its rollouts")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Mentor vs vanilla GRPO</title>
<style>{_CSS}</style></head><body><h1>Mentor vs vanilla GRPO at the same rollout budget</h1>
<p class="sub">seeds {html.escape(", ".join(map(str, seeds)))} · held-out tasks never trained on · greedy, no hints at
evaluation · gains in percentage points of held-out accuracy</p>
<div class="headline">{cards}</div>
<p><b>{html.escape(_verdict(lo, hi))}</b> {html.escape(reach_text)} (per seed: {html.escape(str(reach))}).</p>
<h2>Arms</h2>
{_table(["arm", "held-out before", "after", "gain", "gain 95% CI", "signal share", "hinted attempts", "rollouts", "steps"], rows)}
<details><summary>per seed</summary>
{_table(["arm", "seed", "before", "after", "gain", "signal share", "rollouts"], per_seed, left=2)}</details>
<h2>Curves</h2><div class="figs">{''.join(_img(p, alt) for p, alt in figs)}</div>
<h2>Frontier: no-hint pass rate by level over training</h2>{_table(["run", "bucket", "pass rate", "attempts"], frontier, left=2)}
{"<h2>Selector beliefs after the last step</h2><details><summary>per run</summary>" + selectors + "</details>" if selectors else ""}
<p class="meta">Every number above is in <code>compare.json</code> beside this page; each arm's own report is in
its run directory.</p>
</body></html>"""
    return _write_page(out_dir / "report.html", page)
