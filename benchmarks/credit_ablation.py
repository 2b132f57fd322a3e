"""Credit assigners against `outcome` on the embedded default at a fixed rollout budget.

Every arm runs Mentor's configuration with one credit assigner, the same seeds and the same rollout
budget; Monte Carlo's branch rollouts count against that budget, so a costlier assigner gets fewer
training steps. Prints, per assigner, the held-out gain (mean over seeds, with a bootstrap interval
over seeds and tasks of its difference from `outcome`), extra rollouts, and training wall-clock (from the store, evaluation excluded).

    python benchmarks/credit_ablation.py [--seeds 0 1] [--budget 480] [--preset control] [--assigners outcome prefix_tree monte_carlo]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ASSIGNER_ARGS = {
    "outcome": {},
    "prefix_tree": {},
    "monte_carlo": {"k": 2},
    "min_form": {"temperature": 0.1},
}
# What an assigner needs besides its args: min_form takes Math-Shepherd-style Monte Carlo step rewards
# (k continuations from each step end; they count against the budget like monte_carlo's branches).
# critique's critic is the bundled model (`local`), the only judge the embedded default has; with a
# judge server, pass --set 'credit.critic={"name": "openai", "args": {"url": ..., "model": ...}}'.
ASSIGNER_SETS = {
    "min_form": ['credit.step_rewards={"name": "monte_carlo", "args": {"k": 2}}'],
    "critique": ['credit.critic={"name": "local", "args": {"k": 1, "max_tokens": 128, "max_retries": 0}}'],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--budget", type=int, default=480, help="rollouts per arm (hinted and branch rollouts count)")
    ap.add_argument("--assigners", nargs="+", default=list(ASSIGNER_ARGS),
                    help="outcome prefix_tree monte_carlo min_form critique (critique is not run by default: "
                         "its critic is the bundled 135M model unless --set credit.critic=... names a server)")
    ap.add_argument("--out", type=Path, default=Path("runs/credit_ablation"))
    ap.add_argument("--preset", default="control",
                    help="base configuration; 'control' (no hints, uniform) isolates credit from the other components")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()

    from mentor.config import load_config
    from mentor.stats import bootstrap_diff_ci
    from mentor.train.setup import train

    results: dict[str, dict] = {}
    for name in args.assigners:
        per_seed = []
        for seed in args.seeds:
            run_dir = args.out / f"{name}-s{seed}"
            # the arm's own settings first, so a --set (e.g. another critic) overrides them
            cfg = load_config(None, [*ASSIGNER_SETS.get(name, []), *args.overrides, f"seed={seed}", "optim.steps=200",
                                     "eval.every=1000", "eval.pass_k=1", f"optim.rollout_budget={args.budget}",
                                     f"credit.assigner={json.dumps({'name': name, 'args': ASSIGNER_ARGS.get(name, {})})}"],
                              args.preset)
            run = train(cfg, run_dir, resume=(run_dir / "run.sqlite").is_file())
            evals = run.store.evals()
            steps = run.store.steps()
            # training time from the store (every stage but the held-out evaluation): the same figure
            # whether the arm ran now or is resumed finished from an earlier invocation
            wall = sum(v for s in steps for k, v in s["timings"].items() if k != "eval")
            extra = sum(s["metrics"]["credit"].get("extra_rollouts", 0) for s in steps)
            judge = sum(s["metrics"]["credit"].get("judge_calls", 0) for s in steps)
            failed = sum(s["metrics"]["credit"].get("critique_failures", 0) for s in steps)
            run.store.close()
            per_seed.append({"before": evals[0].per_task, "after": evals[-1].per_task,
                             "gain": evals[-1].accuracy - evals[0].accuracy, "wall": wall,
                             "steps": len(steps), "extra_rollouts": extra, "judge_calls": judge,
                             "critique_failures": failed})
            critic = f", {judge} judge calls ({failed} attempts without a valid critique)" if judge else ""
            print(f"{name} seed {seed}: held-out {evals[0].accuracy:.1%} -> {evals[-1].accuracy:.1%} "
                  f"in {len(steps)} steps, {extra} extra rollouts{critic}, {wall:.0f}s", flush=True)
        results[name] = {"seeds": per_seed}

    base = results.get("outcome")
    print(f"\n{'assigner':12s} {'gain':>7s} {'vs outcome [95% CI]':>28s} {'steps':>6s} {'extra':>6s} {'judge':>6s} {'wall':>7s}")
    for name, res in results.items():
        seeds = res["seeds"]
        gain = sum(s["gain"] for s in seeds) / len(seeds)
        wall = sum(s["wall"] for s in seeds) / len(seeds)
        line = f"{name:12s} {gain:+7.1%}"
        if base is not None and name != "outcome":
            pairs = []
            for b, s in zip(base["seeds"], seeds, strict=True):
                keys = sorted(set(b["after"]) & set(b["before"]) & set(s["after"]) & set(s["before"]))
                pairs.append(([b["after"][k] - b["before"][k] for k in keys],
                              [s["after"][k] - s["before"][k] for k in keys]))
            est, lo, hi = bootstrap_diff_ci(pairs)
            line += f" {est:+8.1%} [{lo:+.1%}, {hi:+.1%}]"
            wall_ratio = wall / (sum(s["wall"] for s in base["seeds"]) / len(base["seeds"]))
            line += (f" {sum(s['steps'] for s in seeds) / len(seeds):6.1f}"
                     f" {sum(s['extra_rollouts'] for s in seeds) / len(seeds):6.0f}"
                     f" {sum(s['judge_calls'] for s in seeds) / len(seeds):6.0f} {wall:6.0f}s (x{wall_ratio:.2f})")
        else:
            line += f" {'(baseline)':>28s} {sum(s['steps'] for s in seeds) / len(seeds):6.1f} {0:6d} {0:6d} {wall:6.0f}s"
        print(line)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(
        {k: [{kk: vv for kk, vv in s.items() if kk not in ("before", "after")} for s in v["seeds"]]
         for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
