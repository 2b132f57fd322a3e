"""Is the `signal` selector calibrated? Its predicted P(mixed) against what the groups it chose did.

Replays a finished run: before each step, the selector (rebuilt from the run's config, or with another
`--prior` or `--forget`) scores every group the run sampled that step, with the scaffold the run had
then (its stored state); then it learns the step's outcomes from the attempt records, as the loop does.
Prints, per family and over all groups, the mean predicted P(mixed) and the share of groups whose first
`group_size` attempts were mixed (a rescue re-roll is not part of the prediction).

    python benchmarks/selector_calibration.py RUN_DIR [RUN_DIR ...] [--prior 0.5 4.5] [--forget 0.1]

The run's own selector and a replay with its settings agree up to the order evidence arrives within a
step. Replays only: it samples nothing and writes nothing into a run. With another prior or forget the
scores are those the selector would have given the run's choices, not the choices it would have made.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def replay(run_dir: Path, prior: tuple[float, float] | None, forget: float | None) -> dict[str, list[float]]:
    """family -> [groups, summed predicted P(mixed), mixed groups], plus "all"."""
    from mentor.config import RunConfig
    from mentor.store import open_readonly
    from mentor.teacher import build_teacher
    from mentor.teacher.outcomes import GroupOutcome, rewards_differ
    from mentor.teacher.selectors.signal import SignalSelector

    with open_readonly(run_dir) as store:
        cfg = RunConfig.model_validate(store.config)
        pool = store.load_tasks("train")
        steps = store.steps()
        attempts = list(store.attempts())
    if cfg.curriculum.selector.name != "signal":
        raise SystemExit(f"{run_dir}: the run's selector is {cfg.curriculum.selector.name!r}, not 'signal'")
    teacher = build_teacher(cfg, pool)
    args: dict[str, Any] = dict(cfg.curriculum.selector.args)
    if forget is not None:
        args["forget"] = forget
    selector = SignalSelector(**args, context=teacher.selector.context)
    if prior is not None:
        selector.rates.prior = prior
    tasks = {t.id: t for t in pool}
    group_size = cfg.sampling.group_size
    by_step: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for a in attempts:
        by_step[a["step"]][a["grp"]].append(a)
    states = {s["step"]: s["state"] for s in steps}
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for step in sorted(states):
        if step - 1 in states:  # the scaffold the run planned this step with
            teacher.load_state_dict(states[step - 1]["teacher"])
        outcomes = []
        for _, rows in sorted(by_step[step].items()):
            task = tasks[rows[0]["task_id"]]
            first = [a["reward"] for a in rows if a["idx"] < group_size]
            predicted = float(selector.scores([task])[0])
            for key in (str(task.meta.get("dataset", task.source)), "all"):
                row = out[key]
                row[0] += 1
                row[1] += predicted
                row[2] += rewards_differ(first)
            for hinted in (False, True):
                rewards = [a["reward"] for a in rows if bool(a["hint_level"]) == hinted]
                if rewards:
                    outcomes.append(GroupOutcome.from_rewards(task, rewards, 0.0, hinted=hinted))
        selector.update(outcomes)
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--prior", nargs=2, type=float, metavar=("ALPHA", "BETA"), help="the selector's Beta prior")
    ap.add_argument("--forget", type=float, help="the selector's forgetting per step")
    ap.add_argument("--json", type=Path, help="also write the table here")
    a = ap.parse_args()
    prior = (a.prior[0], a.prior[1]) if a.prior else None
    pooled: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for run in a.runs:
        for key, (n, predicted, mixed) in replay(run, prior, a.forget).items():
            pooled[key][0] += n
            pooled[key][1] += predicted
            pooled[key][2] += mixed
    table = {key: {"groups": int(n), "predicted": predicted / n, "mixed": mixed / n}
             for key, (n, predicted, mixed) in sorted(pooled.items(), key=lambda kv: (kv[0] == "all", kv[0]))}
    print(f"{'family':24s} {'groups':>7s} {'predicted P(mixed)':>19s} {'mixed':>7s}")
    for key, row in table.items():
        print(f"{key:24s} {row['groups']:7d} {row['predicted']:19.2f} {row['mixed']:7.2f}")
    if a.json:
        a.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
