"""Held-out accuracy of finished runs against the control runs of the same seeds.

For ablations made with `mentor train` outside `mentor compare`: each arm's run of seed S is paired
with the control's run of seed S (the same held-out tasks), and the difference of final held-out
accuracy gets the hierarchical bootstrap interval over seeds and tasks that `mentor compare` uses.

    python benchmarks/arm_vs_control.py 'runs/exp/knapsack-s{seed}' --seeds 0 1 \
        [--control 'runs/compare-final/control-s{seed}']
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def summarise(run_dir: str) -> dict[str, Any]:
    from mentor.errors import MentorError
    from mentor.store import open_readonly

    try:
        with open_readonly(run_dir) as store:
            evals, steps = store.evals(), store.steps()
    except MentorError as exc:
        raise SystemExit(str(exc)) from None
    if not evals:
        raise SystemExit(f"{run_dir}: no held-out evaluation stored yet (is the run finished?)")
    groups = sum(s["metrics"]["groups"] for s in steps)
    return {
        "after": evals[-1].per_task,
        "accuracy": evals[-1].accuracy,
        "signal": sum(s["metrics"]["signal_groups"] for s in steps) / groups if groups else 0.0,
        "rollouts": sum(s["metrics"]["rollouts"] + s["metrics"]["credit"].get("extra_rollouts", 0) for s in steps),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arm", help="run directory of the arm, with {seed} where the seed goes")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--control", default="runs/compare-final/control-s{seed}",
                    help="run directory of the control, with {seed}")
    args = ap.parse_args()
    if "{seed}" not in args.arm or "{seed}" not in args.control:
        sys.exit("both run directories need a {seed} placeholder, e.g. 'runs/exp/knapsack-s{seed}'")

    from mentor.stats import bootstrap_diff_ci

    pairs = []
    print(f"{'seed':>4s} {'control':>8s} {'arm':>8s} {'signal (control/arm)':>21s} {'rollouts':>9s}")
    for seed in args.seeds:
        c, a = summarise(args.control.format(seed=seed)), summarise(args.arm.format(seed=seed))
        keys = sorted(set(c["after"]) & set(a["after"]))
        if not keys:
            sys.exit(f"seed {seed}: the two runs share no held-out task; were they made with the same tasks config?")
        pairs.append(([c["after"][k] for k in keys], [a["after"][k] for k in keys]))
        print(f"{seed:4d} {c['accuracy']:8.1%} {a['accuracy']:8.1%} {c['signal']:10.2f}/{a['signal']:.2f} "
              f"{a['rollouts']:9d}")
    est, lo, hi = bootstrap_diff_ci(pairs)
    print(f"arm - control: {est:+.1%} [95% CI {lo:+.1%}, {hi:+.1%}]")


if __name__ == "__main__":
    main()
