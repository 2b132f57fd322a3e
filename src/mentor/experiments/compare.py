"""`mentor compare`: Mentor against vanilla GRPO at the same rollout budget and the same seeds.

For each seed, the control (uniform selection, no hints, outcome reward) runs `--steps` steps; its
rollout count is the budget, and Mentor's arm runs until it has consumed the same number of
rollouts (its hinted re-rolls count). Both arms start from the same weights and are evaluated on
the same held-out tasks, never trained on, without hints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from mentor.config import RunConfig, load_config
from mentor.errors import MentorError
from mentor.stats import bootstrap_diff_ci

ARMS = ("control", "mentor")


def arm_configs(config: Path | None, overrides: Sequence[str], seed: int, steps: int) -> dict[str, RunConfig]:
    """The two arms' configs: identical but for what the control turns off, and the budget. The
    control overlay goes on last, over the file and every override, so the control is always vanilla
    GRPO (uniform selection, no hints, outcome credit) whatever the user's config turns on."""
    base = [*overrides, f"seed={seed}"]
    control = load_config(config, [*base, f"optim.steps={steps}"], overlay_last="control")
    budget = steps * control.sampling.tasks_per_step * control.sampling.group_size
    # Mentor's arm may take more (cheaper-in-rollouts) steps but never more rollouts than the control.
    mentor = load_config(config, [*base, f"optim.steps={steps * 4}", f"optim.rollout_budget={budget}"])
    if mentor.hints.schedule.name == "none" and mentor.curriculum.selector.name == "uniform":
        raise MentorError("the Mentor arm is configured exactly like the control (no hints, uniform selection).",
                          where="--config", fix="enable hints or a selector in the config under comparison")
    return {"control": control, "mentor": mentor}


def summarise(out_dir: Path, seeds: Sequence[int]) -> dict[str, Any]:
    """Numbers of the comparison, from the run stores only."""
    from mentor.report import load_run, run_summary

    runs = {arm: [load_run(out_dir / f"{arm}-s{s}") for s in seeds] for arm in ARMS}
    result: dict[str, Any] = {"seeds": list(seeds)}
    for arm in ARMS:
        sums = [run_summary(r) for r in runs[arm]]
        before = [r["evals"][0] for r in runs[arm]]
        after = [r["evals"][-1] for r in runs[arm]]
        # paired per task; a task unscorable at either end is left out of the pair
        pairs_by_seed = []
        for b, a in zip(before, after, strict=True):
            keys = _common(b, a)
            pairs_by_seed.append(([b.per_task[k] for k in keys], [a.per_task[k] for k in keys]))
        _, lo, hi = bootstrap_diff_ci(pairs_by_seed)
        result[arm] = {
            "signal_share": float(np.mean([s["signal_share"] for s in sums])),
            "heldout_before": float(np.mean([b.accuracy for b in before])),
            "heldout_after": float(np.mean([a.accuracy for a in after])),
            "gain": float(np.mean([a.accuracy - b.accuracy for a, b in zip(after, before, strict=True)])),
            "gain_ci": [lo, hi],
            "rollouts": int(np.mean([s["rollouts"] for s in sums])),
            "steps": int(np.mean([s["steps"] for s in sums])),
            "pass_k_after": _mean_or_none([a.pass_k for a in after]),
            # share of groups that had any hinted attempt, and share of sampled attempts that saw a hint
            "hinted_share": float(np.mean([_mean_metric(r, "hinted_groups") / max(_mean_metric(r, "groups"), 1e-9)
                                           for r in runs[arm]])),
            "hinted_attempt_share": float(np.mean([_mean_metric(r, "hinted_attempt_share") for r in runs[arm]])),
            "unscorable": int(sum(s["unscorable"] for s in sums)),
            "per_seed": [{"seed": seed, "heldout_before": b.accuracy, "heldout_after": a.accuracy,
                          "gain": a.accuracy - b.accuracy, "signal_share": s["signal_share"], "rollouts": s["rollouts"]}
                         for seed, b, a, s in zip(seeds, before, after, sums, strict=True)],
        }
    # Gain difference, paired per task and seed (both arms are evaluated on the same tasks).
    pairs = []
    for c, m in zip(runs["control"], runs["mentor"], strict=True):
        c_after, m_after = c["evals"][-1].per_task, m["evals"][-1].per_task
        c_before, m_before = c["evals"][0].per_task, m["evals"][0].per_task
        keys = sorted(_common(c["evals"][-1], m["evals"][-1], c["evals"][0], m["evals"][0]))
        pairs.append(([c_after[k] - c_before[k] for k in keys], [m_after[k] - m_before[k] for k in keys]))
    est, lo, hi = bootstrap_diff_ci(pairs)
    result["gain_difference"] = {"estimate": est, "ci": [lo, hi]}
    # Rollouts Mentor needed to reach the control's final accuracy, per seed (eval points only).
    ratios, counts = [], []
    for c, m in zip(runs["control"], runs["mentor"], strict=True):
        target = c["evals"][-1].accuracy
        reached = next((e.rollouts for e in m["evals"] if e.accuracy >= target), None)
        counts.append(reached)
        if reached is not None:
            ratios.append(reached / max(c["evals"][-1].rollouts, 1))
    result["mentor"]["rollouts_to_control_final"] = counts
    result["mentor"]["rollouts_to_control_final_ratio"] = float(np.mean(ratios)) if len(ratios) == len(counts) else None
    return result


def _common(*evals: Any) -> list[str]:
    """Task ids scored in every one of `evals` (unscorable tasks are absent from per_task), in the
    first one's order: a seeded bootstrap depends on the order of its data."""
    rest = [set(e.per_task) for e in evals[1:]]
    return [k for k in evals[0].per_task if all(k in r for r in rest)]


def _mean_metric(run: dict[str, Any], key: str) -> float:
    vals = [s["metrics"].get(key) or 0 for s in run["steps"]]
    return float(np.mean(vals)) if vals else 0.0


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def write_compare_report(out_dir: str | Path) -> Path:
    from mentor.report.compare_page import write_compare_report as write

    return write(out_dir)


def compare_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config of the Mentor arm (the control is derived from it).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override for both arms, e.g. --set sampling.group_size=8.")] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; each runs both arms.")] = "0,1",
    steps: Annotated[int, typer.Option(help="Control steps; their rollouts are both arms' budget.")] = 20,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for both arms' runs and the report.")] = Path("runs/compare"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run vanilla GRPO and Mentor at the same rollout budget and seeds; one report with both curves."""
    from rich.console import Console
    from rich.table import Table

    from mentor import runlock
    from mentor.report import write_report
    from mentor.train.setup import train

    console = Console(stderr=True)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise MentorError(f"--seeds must be comma-separated integers, got {seeds!r}.", where="--seeds",
                          fix="e.g. --seeds 0,1") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    for seed in seed_list:
        cfgs = arm_configs(config, set_ or [], seed, steps)
        for arm in ARMS:
            run_dir = out_dir / f"{arm}-s{seed}"
            resume = (run_dir / "run.sqlite").is_file()
            console.print(f"[bold]{arm}[/] seed {seed} → {run_dir}" + (" (resuming)" if resume else ""))

            def on_step(step: int, m: dict[str, Any], arm: str = arm) -> None:
                acc = f" held-out {m['heldout_accuracy']:.1%}" if "heldout_accuracy" in m else ""
                console.print(f"  {arm} step {step}: reward {m['mean_reward'] or 0:.2f} signal {m['signal_share']:.0%} "
                              f"hinted {m['hinted_groups']} {sum(m['timings'].values()):.1f}s{acc}", highlight=False)

            with runlock.acquire(run_dir):  # one writer per run directory
                run = train(cfgs[arm], run_dir, resume=resume, on_step=on_step)
            run.store.close()
            write_report(run_dir)
    summary = summarise(out_dir, seed_list)
    (out_dir / "compare.json").write_text(json.dumps({"seeds": seed_list, "summary": summary}, indent=2))
    report = write_compare_report(out_dir)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table("arm", "signal share", "held-out before", "after", "gain", "gain 95% CI", "rollouts")
    for arm in ARMS:
        s = summary[arm]
        table.add_row(arm, f"{s['signal_share']:.1%}", f"{s['heldout_before']:.1%}", f"{s['heldout_after']:.1%}",
                      f"{s['gain']:+.1%}", f"[{s['gain_ci'][0]:+.1%}, {s['gain_ci'][1]:+.1%}]", str(s["rollouts"]))
    Console().print(table)
    gd = summary["gain_difference"]
    Console().print(f"Mentor − control gain: {gd['estimate']:+.1%} (95% CI {gd['ci'][0]:+.1%} to {gd['ci'][1]:+.1%}); "
                    f"rollouts to reach the control's final accuracy: {summary['mentor']['rollouts_to_control_final']}")
    Console().print(f"report: {report}")
