"""`mentor compare`: Mentor against vanilla GRPO, and against the baselines a practitioner would pick
instead, at the same rollout budget and the same seeds.

For each seed, the control (uniform selection, no hints, outcome reward) runs `--steps` steps; its
rollout count is the budget, and every other arm runs until it has consumed the same number of
rollouts (hinted re-rolls, refills and the groups DAPO drops all count). Arms (`--arms`):

- `control`: vanilla GRPO (presets/control.yaml, applied last over the config under comparison);
- `mentor`: the config under comparison, the teacher on;
- `dapo`, `prefix_hints`, `thompson`: the control plus one change (presets/<arm>.yaml, applied last):
  DAPO's dynamic sampling, QuestA-style fixed partial-solution hints, MoPPS posterior selection.

All arms start from the same weights and are evaluated on the same held-out tasks, never trained on,
without hints. A second invocation resumes the arms it finds (each `<arm>-s<seed>` run directory); one
that finished under the same configuration is read from its store, not reloaded. `--drop-checkpoints`
deletes a finished arm's checkpoint: its store replays the weights on `mentor train --resume`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from mentor.config import RunConfig, load_config
from mentor.errors import ConfigError, MentorError
from mentor.experiments.curves import THRESHOLDS, curve_auc, per_level, rollouts_to, task_aucs
from mentor.stats import bootstrap_diff_ci

# every arm `mentor compare` knows, in report order: the overlay (a preset applied last) that makes it,
# None for the config under comparison
ARM_PRESETS: dict[str, str | None] = {"control": "control", "dapo": "dapo", "prefix_hints": "prefix_hints",
                                      "thompson": "thompson", "mentor": None}
DEFAULT_ARMS = ("control", "mentor")


def parse_arms(text: str) -> list[str]:
    """`--arms control,dapo,mentor` → the arms in report order; unknown or repeated names are an error."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in names if a not in ARM_PRESETS]
    if unknown or not names:
        near = difflib.get_close_matches(unknown[0], list(ARM_PRESETS), n=1) if unknown else []
        guess = f" Did you mean '{near[0]}'?" if near else ""
        what = f"unknown arm '{unknown[0]}'.{guess}" if unknown else "no arm given."
        raise ConfigError(what, where="--arms",
                          fix=f"comma-separated arms from: {', '.join(ARM_PRESETS)} (e.g. control,dapo,prefix_hints,mentor)")
    if len(set(names)) != len(names):
        raise ConfigError(f"'{text}' names an arm twice.", where="--arms", fix="name each arm once")
    return [a for a in ARM_PRESETS if a in names]


def arm_configs(config: Path | None, overrides: Sequence[str], seed: int, steps: int,
                arms: Sequence[str] = DEFAULT_ARMS, preset: str | None = None) -> dict[str, RunConfig]:
    """The arms' configs: identical but for what each arm's overlay changes, and the budget. An arm's
    overlay goes on last, over the file and every override, so the control is always vanilla GRPO
    (uniform selection, no hints, outcome credit) and each baseline the control plus its one change,
    whatever the user's config turns on. `preset` (e.g. a task suite: design, evaluation) goes under the
    file, for every arm."""
    base = [*overrides, f"seed={seed}"]
    control = load_config(config, [*base, f"optim.steps={steps}"], preset, overlay_last="control")
    budget = steps * control.sampling.tasks_per_step * control.sampling.group_size
    out = {}
    for arm in arms:
        if arm == "control":
            out[arm] = control
            continue
        # Any other arm may take more (cheaper-in-rollouts) steps but never more rollouts than the control.
        cfg = load_config(config, [*base, f"optim.steps={steps * 4}", f"optim.rollout_budget={budget}"], preset,
                          overlay_last=ARM_PRESETS[arm])
        if arm == "mentor" and cfg.hints.schedule.name == "none" and cfg.curriculum.selector.name == "uniform" \
                and cfg.curriculum.filter is None:
            raise MentorError("the Mentor arm is configured exactly like the control (no hints, uniform selection).",
                              where="--config", fix="enable hints or a selector in the config under comparison")
        out[arm] = cfg
    return out


HOSTS = ("mentor", "trl")
TRL_ARMS = ("control", "thompson", "mentor")  # TRL generates one fixed batch per step: no refills, no hinted-prompt loss


def check_host(host: str, arms: Sequence[str]) -> None:
    if host not in HOSTS:
        raise ConfigError(f"unknown host {host!r}", where="--host", fix=f"one of: {', '.join(HOSTS)}")
    if host == "trl" and (bad := [a for a in arms if a not in TRL_ARMS]):
        raise ConfigError(f"arm {bad[0]!r} cannot run in TRL's GRPOTrainer (it needs a variable batch or the "
                          "hinted-prompt loss)", where="--arms", fix=f"with --host trl use arms from: {', '.join(TRL_ARMS)}")


def train_on_trl(cfg: RunConfig, run_dir: Path, arm: str, budget: int, console: Any) -> None:
    """One arm through TRL: the control is vanilla `GRPOTrainer`; every other arm drives the teacher.
    A finished run is kept; every arm gets the control's number of full batches."""
    from mentor.integrations.trl import train_trl

    if (run_dir / "run.sqlite").is_file() and _finished(run_dir, budget):
        return
    steps = budget // (cfg.sampling.tasks_per_step * cfg.sampling.group_size)
    def on_log(step: int, logs: dict[str, float]) -> None:
        console.print(f"  {arm} step {step}: reward {logs.get('reward', 0):.2f} "
                      f"signal {logs.get('mentor/signal_share', 0):.0%} "
                      f"hinted {logs.get('mentor/hinted_attempt_share', 0):.0%} {logs.get('step_time', 0):.1f}s",
                      highlight=False)

    train_trl(cfg, run_dir, teacher=arm != "control", max_steps=steps, on_log=on_log)


def _finished(run_dir: Path, budget: int) -> bool:
    from mentor.store import open_readonly

    with open_readonly(run_dir) as store:
        evals = store.evals()
        return bool(evals) and evals[-1].rollouts >= budget


def finished_as(run_dir: Path, cfg: RunConfig) -> bool:
    """Whether the run in `run_dir` finished under this very configuration: then there is nothing to
    train, and no student to load. A run stored under another configuration is not finished here
    (`train` refuses to resume it, saying why)."""
    from mentor.store import open_readonly

    if not (run_dir / "run.sqlite").is_file():
        return False
    with open_readonly(run_dir) as store:
        return store.meta("status") == "finished" and RunConfig.model_validate(store.config).hash() == cfg.hash()


def arm_budget(cfg: RunConfig, steps: int) -> int:
    """The rollouts every arm may spend: the control's `steps` full batches."""
    return steps * cfg.sampling.tasks_per_step * cfg.sampling.group_size


def summarise(out_dir: Path, seeds: Sequence[int], arms: Sequence[str] = DEFAULT_ARMS,
              budget: int | None = None) -> dict[str, Any]:
    """Numbers of the comparison, from the run stores only. `budget` (the rollouts each arm may spend)
    normalises the areas under the curves; unset, the most rollouts any run spent."""
    from mentor.report import load_run, run_summary
    from mentor.store import open_readonly

    runs = {arm: [load_run(out_dir / f"{arm}-s{s}") for s in seeds] for arm in arms}
    levels: dict[str, int | None] = {}
    for arm in arms:
        for s in seeds:
            with open_readonly(out_dir / f"{arm}-s{s}") as store:
                levels.update({t.id: t.level for t in store.load_tasks("heldout")})
    if budget is None:
        budget = max(max((e.rollouts for e in r["evals"]), default=0) for rs in runs.values() for r in rs) or 1
    result: dict[str, Any] = {"seeds": list(seeds), "arms": list(arms), "budget": budget,
                              "thresholds": list(THRESHOLDS)}
    for arm in arms:
        sums = [run_summary(r) for r in runs[arm]]
        before = [r["evals"][0] for r in runs[arm]]
        after = [r["evals"][-1] for r in runs[arm]]
        # paired per task; a task unscorable at either end is left out of the pair
        pairs_by_seed = []
        for b, a in zip(before, after, strict=True):
            keys = _common(b, a)
            pairs_by_seed.append(([b.per_task[k] for k in keys], [a.per_task[k] for k in keys]))
        _, lo, hi = bootstrap_diff_ci(pairs_by_seed)
        curves = [[(e.rollouts, e.accuracy) for e in r["evals"]] for r in runs[arm]]
        aucs = [curve_auc(c, budget) for c in curves]
        to = {f"{t:.1f}": [rollouts_to(c, t) for c in curves] for t in THRESHOLDS}
        result[arm] = {
            "signal_share": float(np.mean([s["signal_share"] for s in sums])),
            "heldout_before": float(np.mean([b.accuracy for b in before])),
            "heldout_after": float(np.mean([a.accuracy for a in after])),
            "gain": float(np.mean([a.accuracy - b.accuracy for a, b in zip(after, before, strict=True)])),
            "gain_ci": [lo, hi],
            "auc": float(np.mean(aucs)),
            # rollouts to reach each threshold, per seed (None: not reached), and their mean where every seed did
            "rollouts_to_threshold": to,
            "rollouts_to_threshold_mean": {k: (float(np.mean(v)) if all(x is not None for x in v) else None)
                                           for k, v in to.items()},
            "levels_before": _mean_levels([per_level(b.per_task, levels) for b in before]),
            "levels_after": _mean_levels([per_level(a.per_task, levels) for a in after]),
            "rollouts": int(np.mean([s["rollouts"] for s in sums])),
            "steps": int(np.mean([s["steps"] for s in sums])),
            "pass_k_after": _mean_or_none([a.pass_k for a in after]),
            # share of groups that had any hinted attempt, and share of sampled attempts that saw a hint
            "hinted_share": float(np.mean([_mean_metric(r, "hinted_groups") / max(_mean_metric(r, "groups"), 1e-9)
                                           for r in runs[arm]])),
            "hinted_attempt_share": float(np.mean([_mean_metric(r, "hinted_attempt_share") for r in runs[arm]])),
            "unscorable": int(sum(s["unscorable"] for s in sums)),
            "per_seed": [{"seed": seed, "heldout_before": b.accuracy, "heldout_after": a.accuracy,
                          "gain": a.accuracy - b.accuracy, "signal_share": s["signal_share"], "rollouts": s["rollouts"],
                          "auc": auc}
                         for seed, b, a, s, auc in zip(seeds, before, after, sums, aucs, strict=True)],
        }
    # Every pair, the later arm minus the earlier, paired per task and seed (all arms are evaluated on
    # the same tasks): the final gain and the area under the curve.
    result["pairwise"] = {f"{b} - {a}": pairwise(runs[a], runs[b], budget)
                          for i, a in enumerate(arms) for b in arms[i + 1:]}
    if "control" in arms and "mentor" in arms:
        result["gain_difference"] = result["pairwise"]["mentor - control"]["gain"]
        # Rollouts Mentor needed to reach the control's final accuracy, per seed (eval points only).
        ratios, counts = [], []
        for c, m in zip(runs["control"], runs["mentor"], strict=True):
            target = c["evals"][-1].accuracy
            reached = next((e.rollouts for e in m["evals"] if e.accuracy >= target), None)
            counts.append(reached)
            if reached is not None:
                ratios.append(reached / max(c["evals"][-1].rollouts, 1))
        result["mentor"]["rollouts_to_control_final"] = counts
        result["mentor"]["rollouts_to_control_final_ratio"] = (float(np.mean(ratios)) if len(ratios) == len(counts)
                                                               else None)
    return result


def pairwise(runs_a: Sequence[dict[str, Any]], runs_b: Sequence[dict[str, Any]], budget: float) -> dict[str, Any]:
    """b − a: the final gain and the area under the held-out curve, each with a hierarchical bootstrap
    interval (seeds, then tasks within a seed), on the tasks scored in every evaluation of both runs."""
    gains, areas = [], []
    for a, b in zip(runs_a, runs_b, strict=True):
        keys = _common(a["evals"][-1], b["evals"][-1], a["evals"][0], b["evals"][0])
        gains.append(([a["evals"][-1].per_task[k] - a["evals"][0].per_task[k] for k in keys],
                      [b["evals"][-1].per_task[k] - b["evals"][0].per_task[k] for k in keys]))
        every = _common(*a["evals"], *b["evals"])
        areas.append((task_aucs([(e.rollouts, e.per_task) for e in a["evals"]], every, budget),
                      task_aucs([(e.rollouts, e.per_task) for e in b["evals"]], every, budget)))
    out = {}
    for key, pairs in (("gain", gains), ("auc", areas)):
        if all(len(x) for x, _ in pairs):
            est, lo, hi = bootstrap_diff_ci(pairs)
            out[key] = {"estimate": est, "ci": [lo, hi]}
        else:  # no task scored throughout: nothing to pair
            out[key] = {"estimate": None, "ci": [None, None]}
    return out


def _mean_levels(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}


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
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config of the Mentor arm (every other arm is derived from it).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Override for every arm, e.g. --set sampling.group_size=8.")] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; each runs every arm.")] = "0,1",
    steps: Annotated[int, typer.Option(help="Control steps; their rollouts are every arm's budget.")] = 20,
    arms: Annotated[str, typer.Option(help="Comma-separated arms: control, dapo, prefix_hints, thompson, mentor.")] = ",".join(DEFAULT_ARMS),
    preset: Annotated[str | None, typer.Option("--preset", help="Presets under the config for every arm, e.g. a task suite: design, evaluation.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the arms' runs and the report.")] = Path("runs/compare"),
    host: Annotated[str, typer.Option("--host", help="Where the arms train: mentor (Mentor's own loop) or trl (TRL's GRPOTrainer; the control is vanilla GRPOTrainer).")] = "mentor",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    keep_checkpoints: Annotated[bool, typer.Option(
        "--keep-checkpoints/--drop-checkpoints",
        help="Keep each finished arm's final checkpoint (the bundled student's is ~1.6 GiB), or delete it once "
             "the arm's report is written; its store keeps every step, and `mentor train --resume <arm dir>` "
             "replays them to save the weights again (the mentor host only).")] = True,
) -> None:
    """Run vanilla GRPO, Mentor and the chosen baselines at the same rollout budget and seeds; one report
    with every curve. Arms already in --out are resumed (finished ones are not retrained)."""
    from rich.console import Console
    from rich.table import Table

    from mentor import runlock
    from mentor.report import write_report
    from mentor.report.compare_page import seed_caution
    from mentor.train.checkpoint import format_bytes, remove_checkpoints
    from mentor.train.setup import train

    console = Console(stderr=True)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise MentorError(f"--seeds must be comma-separated integers, got {seeds!r}.", where="--seeds",
                          fix="e.g. --seeds 0,1") from None
    arm_list = parse_arms(arms)
    check_host(host, arm_list)
    if host == "trl" and not keep_checkpoints:
        raise MentorError("with --host trl this would delete an arm's only copy of its weights (a TRL run's store "
                          "cannot replay them).", where="--drop-checkpoints", fix="leave out --drop-checkpoints with --host trl")
    # every arm's config is resolved and checked before any of them trains
    configs = {seed: arm_configs(config, set_ or [], seed, steps, arm_list, preset) for seed in seed_list}
    budget = arm_budget(next(iter(configs[seed_list[0]].values())), steps) if seed_list else 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for seed in seed_list:
        cfgs = configs[seed]
        for arm in arm_list:
            run_dir = out_dir / f"{arm}-s{seed}"
            resume = (run_dir / "run.sqlite").is_file()
            done = host == "mentor" and finished_as(run_dir, cfgs[arm])
            console.print(f"[bold]{arm}[/] seed {seed} → {run_dir}"
                          + (" (finished)" if done else " (resuming)" if resume else ""))

            def on_step(step: int, m: dict[str, Any], arm: str = arm) -> None:
                acc = f" held-out {m['heldout_accuracy']:.1%}" if "heldout_accuracy" in m else ""
                console.print(f"  {arm} step {step}: reward {m['mean_reward'] or 0:.2f} signal {m['signal_share']:.0%} "
                              f"hinted {m['hinted_groups']} {sum(m['timings'].values()):.1f}s{acc}", highlight=False)

            with runlock.acquire(run_dir):  # one writer per run directory
                if host == "trl":
                    train_on_trl(cfgs[arm], run_dir, arm, budget, console)
                elif not done:
                    train(cfgs[arm], run_dir, resume=resume, on_step=on_step).store.close()
                write_report(run_dir)
                if not keep_checkpoints and (done or finished_as(run_dir, cfgs[arm])) and (freed := remove_checkpoints(run_dir)):
                    console.print(f"  {arm}: checkpoints deleted ({format_bytes(freed)}); "
                                  f"mentor train --resume {run_dir} saves them again", highlight=False)
    summary = summarise(out_dir, seed_list, arm_list, budget)
    (out_dir / "compare.json").write_text(json.dumps({"seeds": seed_list, "arms": arm_list, "summary": summary},
                                                     indent=2))
    report = write_compare_report(out_dir)
    if (caution := seed_caution(len(seed_list))) is not None:
        console.print(f"[yellow]note:[/] {caution}", highlight=False)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table("arm", "signal share", "held-out before", "after", "gain", "gain 95% CI", "AUC", "rollouts")
    for arm in arm_list:
        s = summary[arm]
        table.add_row(arm, f"{s['signal_share']:.1%}", f"{s['heldout_before']:.1%}", f"{s['heldout_after']:.1%}",
                      f"{s['gain']:+.1%}", f"[{s['gain_ci'][0]:+.1%}, {s['gain_ci'][1]:+.1%}]", f"{s['auc']:.1%}",
                      str(s["rollouts"]))
    Console().print(table)
    for pair, d in summary["pairwise"].items():
        Console().print(f"{pair}: gain {_signed(d['gain'])}; AUC {_signed(d['auc'])}", highlight=False)
    if "gain_difference" in summary:
        Console().print(f"rollouts for Mentor to reach the control's final accuracy: "
                        f"{summary['mentor']['rollouts_to_control_final']}")
    Console().print(f"report: {report}")


def _signed(d: dict[str, Any]) -> str:
    if d["estimate"] is None:
        return "n/a (no task scored throughout)"
    return f"{d['estimate']:+.1%} (95% CI {d['ci'][0]:+.1%} to {d['ci'][1]:+.1%})"
