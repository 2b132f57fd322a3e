"""Which selector gives the most groups with a learning signal, on a simulated student whose pass
rates are taken from a real run.

The student is static: each task passes with the rates measured in `--from-run` (per solved shape,
the prompt's and the answer's shape, without and with the hint; a shape the run never saw takes its
bucket's rates). The loop around it is the real one in miniature: the run's adaptive scaffold
(its pass-rate keys, prior, target, max share) decides how many of each group see the hint, and each
selector sees only the outcomes, as in `mentor train`. Prints the share of mixed groups per
selector over many seeds, and its ratio to uniform selection measured in the same process.

    python benchmarks/signal_selection.py --from-run runs/cmp/mentor-s0 [--seeds 40] [--steps 20]

A static student overstates what a selector can exploit (a real student moves, which forgetting
must track), so read the ratios, then check the winner in `mentor compare`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

import numpy as np


def measured_rates(run_dir: str) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]], Any]:
    """(rates per solved-shape category, rates per bucket, the run's config), each rate the mean of a
    Beta(1, 1) posterior over all the run's scored attempts without / with a hint."""
    from mentor.config import RunConfig
    from mentor.store import open_readonly
    from mentor.teacher.categories import task_category
    from mentor.types import PASS

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    with open_readonly(run_dir) as store:
        cfg = RunConfig.model_validate(store.config)
        tasks = {t.id: t for t in store.load_tasks("train")}
        for a in store.attempts():
            if a["reward"] is None:
                continue
            t = tasks[a["task_id"]]
            i = 2 if a["hint_level"] else 0
            for key in (task_category(t, "solved_shape"), t.bucket):
                counts[key][i] += a["reward"] >= PASS
                counts[key][i + 1] += 1

    def rate(c: list[int]) -> tuple[float, float]:
        return (c[0] + 1) / (c[1] + 2), (c[2] + 1) / (c[3] + 2)

    cats = {k: rate(c) for k, c in counts.items() if ":" in k and (c[1] or c[3])}
    buckets = {k: rate(c) for k, c in counts.items() if ":" not in k}
    return cats, buckets, cfg


def simulate(make_selector: Any, pool: list[Any], truth: dict[str, tuple[float, float]], cfg: Any,
             steps: int, seed: int) -> float:
    """Share of mixed groups over `steps` steps of select → scaffold → sample → update."""
    from mentor.teacher.hints import SCHEDULES
    from mentor.teacher.outcomes import GroupOutcome
    from mentor.teacher.selectors import SelectorContext

    g, k = cfg.sampling.group_size, cfg.sampling.tasks_per_step
    # the run's scaffold schedule, fresh per seed: its pass rates, keys, prior, target and max share
    # (it never asks its source for a hint here: only how many of a group would see one)
    scaffold = SCHEDULES.build("scaffold", cfg.hints.schedule.args, source=hint_source(cfg))
    rates, plan = scaffold.rates, scaffold.hinted
    selector = make_selector(SelectorContext(group_size=g, hinted=plan))
    rng, student = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    mixed = []
    for _ in range(steps):
        outcomes, seen = [], defaultdict(list)
        for task in selector.select(pool, k, rng):
            p, q = truth[task.id]
            h = plan(task, g)
            plain, hinted = int(student.binomial(g - h, p)), int(student.binomial(h, q))
            mixed.append(0 < plain + hinted < g)
            outcomes.append(GroupOutcome.from_rewards(task, [1.0] * plain + [0.0] * (g - h - plain), 0.0))
            if h:
                outcomes.append(GroupOutcome.from_rewards(task, [1.0] * hinted + [0.0] * (h - hinted), 0.0, hinted=True))
            # the scaffold's own estimates, under the keys its planner reads (and their bucket), as the loop keeps them
            key, parent = scaffold._keys(task)
            for rate_key in (key,) if parent is None else (key, parent):
                seen[rate_key, False] += [True] * plain + [False] * (g - h - plain)
                seen[rate_key, True] += [True] * hinted + [False] * (h - hinted)
        selector.update(outcomes)
        rates.update(seen)
    return float(np.mean(mixed))


def hint_source(cfg: Any) -> Any:
    """The run's hint source when it is the (cheap) ladder, else a default ladder: the simulation only
    needs the scaffold's sizes, which do not depend on the source."""
    from mentor.teacher.hints import HINT_SOURCES

    spec = cfg.hints.source
    args = spec.args if spec.name == "ladder" else {}
    return HINT_SOURCES.build("ladder", args, answer_prefix=cfg.reward.answer_prefix)


def with_scaffold(cfg: Any) -> Any:
    """The run's config with the scaffold schedule on: its own scaffold args if it ran one, the
    schema's defaults if it ran without hints (a control)."""
    from mentor.config import PluginSpec

    if cfg.hints.schedule.name == "scaffold":
        return cfg
    hints = cfg.hints.model_copy(update={"schedule": PluginSpec(name="scaffold")})
    return cfg.model_copy(update={"hints": hints})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from-run", required=True, help="a run directory whose attempts give the student's rates")
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    from mentor.tasks import load_task_mix
    from mentor.teacher.categories import task_category
    from mentor.teacher.selectors import SELECTORS

    cats, buckets, cfg = measured_rates(args.from_run)
    cfg = with_scaffold(cfg)
    pool, _ = load_task_mix(cfg.tasks, cfg.seed)
    truth = {t.id: cats.get(task_category(t, "solved_shape"), buckets.get(t.bucket, (0.5, 0.5))) for t in pool}
    print(f"{len(pool)} tasks; rates from {args.from_run}: {len(cats)} solved shapes, "
          f"mean plain {np.mean([p for p, _ in truth.values()]):.2f}, hinted {np.mean([q for _, q in truth.values()]):.2f}")
    arms: list[tuple[str, Any]] = [
        ("uniform", lambda ctx: SELECTORS.build("uniform", {})),
        ("bayes, implicit by shape", lambda ctx: SELECTORS.build("bayes", {"implicit_by": "shape", "rho": 0.5})),
    ]
    for by in ("shape", "solved_shape"):
        for sharp in (4.0, 8.0, 16.0):
            arms.append((f"signal by {by}, sharpness {sharp:g}",
                         lambda ctx, by=by, sharp=sharp: SELECTORS.build("signal", {"by": by, "sharpness": sharp},
                                                                         context=ctx)))
    results = {}
    for name, make in arms:
        shares = [simulate(make, pool, truth, cfg, args.steps, s) for s in range(args.seeds)]
        results[name] = (float(np.mean(shares)), float(np.std(shares) / np.sqrt(len(shares))))
        base = results["uniform"][0]
        print(f"{name:36s} mixed groups {results[name][0]:.3f} ± {results[name][1]:.3f}  (x{results[name][0] / base:.2f} uniform)",
              flush=True)
    print(json.dumps({k: v[0] for k, v in results.items()}))


if __name__ == "__main__":
    main()
