"""The compare report (`mentor compare`): it leads with Mentor's gain minus the control's and its
interval, then each arm (final accuracy, area under the held-out curve), every pairwise difference,
rollouts to each accuracy threshold, accuracy per level, the curves, the frontier and the selectors'
beliefs. Reads `compare.json` and the arms' run stores only."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mentor.report import (
    _CSS,
    _card,
    _img,
    _pct,
    _table,
    _write_page,
    learning_figures,
    load_run,
    pass_counts,
    selector_table,
)

DEFAULT_ARMS = ("control", "mentor")


def frontier_rows(labelled: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str, int]]:
    """Per-bucket (source@level) no-hint pass rate over each run's attempts: where the student's edge is."""
    return [(label, bucket, f"{won / n:.1%}", n)
            for label, run in labelled
            for (bucket, rung), (n, won) in sorted(pass_counts(run).items()) if not rung]


def ceiling_rows(path: Path, level_keys: Sequence[str]) -> list[tuple[str, ...]]:
    """Rows for the per-level table from `benchmarks/ceiling.py --json` (`ceiling.json` beside the
    comparison): per measured run, its pass@k without a hint and with any hint, averaged per level."""
    if not path.exists():
        return []
    rows = []
    for result in json.loads(path.read_text()):
        name, k = Path(result["run_dir"]).name, result["samples"]
        for column, label in ((f"pass@{k}", f"ceiling, {name}: pass@{k} without a hint"),
                              (f"pass@{k}, any hint", f"ceiling, {name}: pass@{k} with hints")):
            by_level: dict[str, list[float]] = {}
            for row in result["buckets"].values():
                if column in row:  # absent where no attempt could be scored
                    by_level.setdefault(row["level"], []).append(row[column])
            rows.append((label, *(_pct(sum(v) / len(v)) if (v := by_level.get(key)) else "-" for key in level_keys)))
    return rows


def _verdict(lo: float, hi: float) -> str:
    if lo > 0:
        return "Mentor gained more than vanilla GRPO: the whole interval is above zero."
    if hi < 0:
        return "Mentor gained less than vanilla GRPO: the whole interval is below zero."
    return "The interval spans zero: at this budget and these seeds the difference is not resolved."


def seed_caution(n_seeds: int) -> str | None:
    """A warning for comparisons on fewer than three seeds, whose intervals sample the seed level too
    thinly to show how far one run's trajectory can wander (docs/decisions/baselines.md)."""
    if n_seeds >= 3:
        return None
    return (f"With {n_seeds} seed{'s' if n_seeds != 1 else ''} the intervals sample the seed level thinly: on the "
            "bundled student, one different task drawn early in a run has moved that seed's final held-out "
            "accuracy by 15 points. Use 3 seeds or more, and 5 to resolve differences under about 10 points "
            "(docs/decisions/baselines.md).")


def _diff(d: dict[str, Any]) -> tuple[str, str]:
    if d["estimate"] is None:
        return "-", "no task scored throughout"
    return f"{_pct(d['estimate'], sign=True)} pts", f"[{_pct(d['ci'][0], sign=True)}, {_pct(d['ci'][1], sign=True)}]"


def _rollouts(v: float | None) -> str:
    return "not reached" if v is None else f"{v:,.0f}"


def write_compare_report(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / "compare.json").read_text())
    seeds = meta["seeds"]
    summary = meta["summary"]
    arms = meta.get("arms") or summary.get("arms") or list(DEFAULT_ARMS)
    labelled = [(f"{arm} s{s}", load_run(out_dir / f"{arm}-s{s}")) for arm in arms for s in seeds]
    plots = out_dir / "plots"
    plots.mkdir(exist_ok=True)
    figs = learning_figures(labelled, plots, "shaded: 95% CI over tasks; colour = arm, line style = seed")
    frontier = frontier_rows(labelled)
    selectors = "".join(f"<h3>{html.escape(label)}</h3>{table}" for label, run in labelled
                        if (table := selector_table(run)))
    rows = []
    for arm in arms:
        s = summary[arm]
        rows.append((arm, _pct(s["heldout_before"]), _pct(s["heldout_after"]), f"{_pct(s['gain'], sign=True)} pts",
                     f"[{_pct(s['gain_ci'][0], sign=True)}, {_pct(s['gain_ci'][1], sign=True)}]",
                     _pct(s.get("auc")), _pct(s["signal_share"]), _pct(s.get("hinted_attempt_share")), s["rollouts"],
                     s["steps"]))
    per_seed = [(arm, p["seed"], _pct(p["heldout_before"]), _pct(p["heldout_after"]), f"{_pct(p['gain'], sign=True)} pts",
                 _pct(p.get("auc")), _pct(p["signal_share"]), p["rollouts"]) for arm in arms for p in summary[arm]["per_seed"]]
    pair_rows = [(pair, *_diff(d["gain"]), *_diff(d["auc"])) for pair, d in summary.get("pairwise", {}).items()]
    thresholds = [f"{t:.1f}" for t in summary.get("thresholds", [])]
    reach_rows = [(arm, *(_rollouts(summary[arm]["rollouts_to_threshold_mean"][t]) for t in thresholds))
                  for arm in arms if "rollouts_to_threshold_mean" in summary[arm]]
    level_keys = list(dict.fromkeys(k for arm in arms for k in summary[arm].get("levels_after", {})))
    level_rows = [(arm, *(f"{_pct(summary[arm]['levels_before'].get(k))} → {_pct(summary[arm]['levels_after'].get(k))}"
                          for k in level_keys)) for arm in arms if "levels_after" in summary[arm]]
    ceiling = ceiling_rows(out_dir / "ceiling.json", level_keys)
    level_rows += ceiling
    cards = []
    if "gain_difference" in summary:
        gd = summary["gain_difference"]
        lo, hi = gd["ci"]
        cards.append(_card("Mentor gain − control gain", f"{_pct(gd['estimate'], sign=True)} points",
                           f"95% CI {_pct(lo, sign=True)} to {_pct(hi, sign=True)}, bootstrap over seeds and tasks",
                           lead=True))
        verdict = _verdict(lo, hi)
        reach, ratio = summary["mentor"]["rollouts_to_control_final"], summary["mentor"]["rollouts_to_control_final_ratio"]
        reach_text = ("Mentor did not reach the control's final accuracy in every seed" if ratio is None
                      else f"Mentor reached the control's final accuracy after {ratio:.0%} of its rollouts")
        lead_text = f"<p><b>{html.escape(verdict)}</b> {html.escape(reach_text)} (per seed: {html.escape(str(reach))}).</p>"
    else:
        lead_text = "<p>Differences between the arms are in the pairwise table below.</p>"
    if (caution := seed_caution(len(seeds))) is not None:
        lead_text += f'<p class="meta"><b>Few seeds.</b> {html.escape(caution)}</p>'
    for arm in arms:
        cards.append(_card(f"{arm} gain", f"{_pct(summary[arm]['gain'], sign=True)} points",
                           f"{_pct(summary[arm]['heldout_before'])} → {_pct(summary[arm]['heldout_after'])}; "
                           f"AUC {_pct(summary[arm].get('auc'))}"))
    cards.append(_card("signal share", " · ".join(_pct(summary[a]["signal_share"]) for a in arms),
                       f"{' · '.join(arms)}: groups with mixed rewards, over every group generated"))
    budget = summary.get("budget") or summary[arms[0]]["rollouts"]
    cards.append(_card("rollout budget per run", f"{budget:,}", "every arm spends at most as many"))
    title = "Mentor vs vanilla GRPO" if list(arms) == list(DEFAULT_ARMS) else "Mentor vs vanilla GRPO and baselines"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body><h1>{html.escape(title)} at the same rollout budget</h1>
<p class="sub">arms {html.escape(", ".join(arms))} · seeds {html.escape(", ".join(map(str, seeds)))} · held-out tasks
never trained on · greedy, no hints at evaluation · gains in percentage points of held-out accuracy</p>
<div class="headline">{''.join(cards)}</div>
{lead_text}
<h2>Arms</h2>
{_table(["arm", "held-out before", "after", "gain", "gain 95% CI", "AUC", "signal share", "hinted attempts", "rollouts", "steps"], rows)}
<p class="meta">AUC: the area under the held-out curve against rollouts, over the budget, divided by it (the mean
accuracy over the budget; linear between evaluations, the last value held to the budget).</p>
<details><summary>per seed</summary>
{_table(["arm", "seed", "before", "after", "gain", "AUC", "signal share", "rollouts"], per_seed, left=2)}</details>
{"<h2>Pairwise differences</h2>" + _table(["later − earlier arm", "final gain", "95% CI", "AUC", "95% CI"], pair_rows)
 + '<p class="meta">Paired per task and seed; hierarchical bootstrap (seeds, then tasks).</p>' if pair_rows else ""}
{"<h2>Rollouts to reach each held-out accuracy</h2>" + _table(["arm", *[f"{float(t):.0%}" for t in thresholds]], reach_rows)
 + '<p class="meta">Mean over seeds of the rollouts at the first evaluation at or above the threshold; '
   '"not reached" when a seed never did.</p>' if reach_rows else ""}
{"<h2>Held-out accuracy per level (before → after)</h2>" + _table(["arm", *[f"level {k}" for k in level_keys]], level_rows)
 if level_rows and level_keys else ""}
{'<p class="meta">Ceiling rows: <code>benchmarks/ceiling.py</code> on the last checkpoint of the run it names, k attempts per '
 'held-out task at the training temperature; "with hints" counts a task if any attempt passes, with no hint or '
 'at any rung.</p>' if ceiling else ""}
<h2>Curves</h2><div class="figs">{''.join(_img(p, alt) for p, alt in figs)}</div>
<h2>Frontier: no-hint pass rate by level over training</h2>{_table(["run", "bucket", "pass rate", "attempts"], frontier, left=2)}
{"<h2>Selector beliefs after the last step</h2><details><summary>per run</summary>" + selectors + "</details>" if selectors else ""}
<p class="meta">Every number above is in <code>compare.json</code> beside this page; each arm's own report is in
its run directory.</p>
</body></html>"""
    return _write_page(out_dir / "report.html", page)
