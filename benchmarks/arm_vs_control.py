"""Held-out accuracy of finished runs against the control runs of the same seeds.

For ablations made with `mentor train` outside `mentor compare`: each arm's run of seed S is paired
with the control's run of seed S (the same held-out tasks), and the difference of final held-out
accuracy gets the hierarchical bootstrap interval over seeds and tasks that `mentor compare` uses, as
does the difference of the areas under the held-out curves (`mentor compare`'s pairwise AUC).
`--by-family` adds, per task family, each side's final held-out accuracy per seed and what its groups
did: groups drawn, groups whose planned attempts all failed, how many of those were re-rolled (attempts
past `sampling.group_size`: the rescue's), and how many re-rolls gained a pass.

    python benchmarks/arm_vs_control.py 'runs/exp/knapsack-s{seed}' --seeds 0 1 \
        [--control 'runs/compare-final/control-s{seed}'] [--budget 1280] [--by-family]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any


def load(run_dir: str) -> dict[str, Any]:
    """One finished run's store, as `mentor.report.load_run` reads it."""
    from mentor.errors import MentorError
    from mentor.report import load_run

    try:
        run = load_run(run_dir)
    except MentorError as exc:
        raise SystemExit(str(exc)) from None
    if not run["evals"]:
        raise SystemExit(f"{run_dir}: no held-out evaluation stored yet (is the run finished?)")
    return run


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    evals, steps = run["evals"], run["steps"]
    groups = sum(s["metrics"]["groups"] for s in steps)
    return {
        "after": evals[-1].per_task,
        "accuracy": evals[-1].accuracy,
        "signal": sum(s["metrics"]["signal_groups"] for s in steps) / groups if groups else 0.0,
        "rollouts": sum(s["metrics"]["rollouts"] + s["metrics"]["credit"].get("extra_rollouts", 0) for s in steps),
    }


def by_family(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per task family of one run (`mentor.report.load_run`): final held-out accuracy, groups drawn,
    all-fail groups, re-rolled ones and re-rolls that gained a pass."""
    from mentor.store import open_readonly
    from mentor.types import PASS

    with open_readonly(run["dir"]) as store:
        family = {t.id: t.source for t in (*store.load_tasks("train"), *store.load_tasks("heldout"))}
    planned = int(run["config"]["sampling"]["group_size"])
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"heldout": [], "groups": 0, "all_fail": 0,
                                                          "rerolled": 0, "gained": 0})
    for task_id, score in run["evals"][-1].per_task.items():
        out[family[task_id]]["heldout"].append(score)
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for a in run["attempts"]:
        groups[(a["step"], a["grp"])].append(a)
    for attempts in groups.values():
        f = out[family[attempts[0]["task_id"]]]
        first = [a for a in attempts if a["idx"] < planned]
        extra = [a for a in attempts if a["idx"] >= planned]
        f["groups"] += 1
        if not any((a["reward"] or 0) >= PASS for a in first):
            f["all_fail"] += 1
            f["rerolled"] += bool(extra)
            f["gained"] += any((a["reward"] or 0) >= PASS for a in extra)
    return out


def print_by_family(name: str, runs: Sequence[dict[str, Any]]) -> None:
    per_seed = [by_family(r) for r in runs]
    print(f"{name}: family, final held-out (per seed), groups drawn, all-fail, re-rolled, re-rolls that gained a pass")
    for fam in sorted({f for fams in per_seed for f in fams}):
        rows = [fams[fam] for fams in per_seed if fam in fams]
        accs = [sum(r["heldout"]) / len(r["heldout"]) for r in rows if r["heldout"]]
        mean = sum(accs) / len(accs) if accs else float("nan")
        counts = [sum(r[k] for r in rows) for k in ("groups", "all_fail", "rerolled", "gained")]
        print(f"  {fam:40s} {mean:6.1%} ({' / '.join(f'{x:.1%}' for x in accs)})  "
              + "  ".join(f"{c:4d}" for c in counts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arm", help="run directory of the arm, with {seed} where the seed goes")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--control", default="runs/compare-final/control-s{seed}",
                    help="run directory of the control, with {seed}")
    ap.add_argument("--budget", type=int, default=None,
                    help="rollouts that normalise the areas under the curves (default: the most any run spent)")
    ap.add_argument("--by-family", action="store_true", help="per task family: held-out accuracy and re-rolls")
    args = ap.parse_args()
    if "{seed}" not in args.arm or "{seed}" not in args.control:
        sys.exit("both run directories need a {seed} placeholder, e.g. 'runs/exp/knapsack-s{seed}'")

    from mentor.experiments.compare import pairwise
    from mentor.stats import bootstrap_diff_ci

    controls = [load(args.control.format(seed=seed)) for seed in args.seeds]
    arms = [load(args.arm.format(seed=seed)) for seed in args.seeds]
    pairs = []
    print(f"{'seed':>4s} {'control':>8s} {'arm':>8s} {'signal (control/arm)':>21s} {'rollouts':>9s}")
    for seed, control, arm in zip(args.seeds, controls, arms, strict=True):
        c, a = summarise(control), summarise(arm)
        keys = sorted(set(c["after"]) & set(a["after"]))
        if not keys:
            sys.exit(f"seed {seed}: the two runs share no held-out task; were they made with the same tasks config?")
        pairs.append(([c["after"][k] for k in keys], [a["after"][k] for k in keys]))
        print(f"{seed:4d} {c['accuracy']:8.1%} {a['accuracy']:8.1%} {c['signal']:10.2f}/{a['signal']:.2f} "
              f"{a['rollouts']:9d}")
    est, lo, hi = bootstrap_diff_ci(pairs)
    print(f"arm - control: {est:+.1%} [95% CI {lo:+.1%}, {hi:+.1%}]")

    budget = args.budget or max(e.rollouts for r in (*controls, *arms) for e in r["evals"]) or 1
    auc = pairwise(controls, arms, budget)["auc"]
    if auc["estimate"] is not None:
        print(f"AUC, arm - control (budget {budget} rollouts): {auc['estimate']:+.1%} "
              f"[95% CI {auc['ci'][0]:+.1%}, {auc['ci'][1]:+.1%}]")
    if args.by_family:
        print_by_family("control", controls)
        print_by_family("arm", arms)


if __name__ == "__main__":
    main()
