"""How far below its ceiling a trained student ends, per family and level of its run's held-out tasks.

Loads a run's latest checkpoint and, for each held-out task (the ones every arm is evaluated on),
samples `--samples` attempts at the training temperature with no hint and with each hint rung given
(default: three worked examples of the same shape, and the ladder's longest solution prefix where the
task has a reference solution). It prints, per family and level:

- greedy: the run's own measure (what `mentor compare` reports);
- pass@1 and pass@k without a hint: pass@k is what sharpening the sampled distribution can reach at
  most, the "many more rollouts" ceiling (RL with verifiable rewards rarely lifts a model beyond its
  pass@k at large k; Yue et al. 2025, arXiv 2504.13837);
- pass@k with hints: a task counts if any attempt passes with no hint or at any rung, the "unlimited
  hints" ceiling: what the student can do at all when helped;
- mixed@G: the chance that a group of the run's `sampling.group_size` attempts at the task is mixed
  (carries a GRPO learning signal), without a hint and at the bucket's best condition (a rung or
  none). Averaged over tasks it is the signal share of drawing the bucket's tasks blind; the share of
  tasks at 0.8 or more under some condition says whether a signal share of 0.8 is there to be found
  at all, task by task.

    python benchmarks/ceiling.py RUN_DIR [RUN_DIR ...] [--samples 16] [--per-level 4]
        [--levels example:3 prefix] [--json FILE]

With several run directories (e.g. every arm of one seed) the same tasks are sampled from each, so
their ceilings compare on one set. Sampling only: it never trains, and it writes nothing into a run.
Written as `ceiling.json` into a `mentor compare` output folder (`--json OUT/ceiling.json`), the
ceilings appear as rows of the comparison page's per-level table at its next `mentor compare`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n scored samples with c correct (Chen et al. 2021); with fewer than k scored
    samples (the grader could not score some), pass@n."""
    k = min(k, n)
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mixed_at_g(n: int, c: int, g: int) -> float | None:
    """Unbiased estimate, from n scored samples of which c passed, of the chance that a group of g
    attempts is mixed, 1 − p^g − (1 − p)^g: one minus the share of the n samples' g-subsets that all
    pass or all fail. None with fewer than g samples."""
    if n < g:
        return None
    return 1.0 - (math.comb(c, g) + math.comb(n - c, g)) / math.comb(n, g)


def measure(run_dir: Path, samples: int, per_level: int, levels: list[str]) -> dict[str, Any]:
    from mentor.config import RunConfig
    from mentor.store import RunStore
    from mentor.student.policy import load_policy
    from mentor.student.prompt import prompt_ids
    from mentor.teacher.hints import HINT_SOURCES
    from mentor.train.checkpoint import load_checkpoint
    from mentor.train.evaluate import evaluate
    from mentor.train.setup import build_grader
    from mentor.types import PASS

    store = RunStore.open(run_dir, readonly=True)
    cfg = RunConfig.model_validate(store.config)
    heldout, pool = store.load_tasks("heldout"), store.load_tasks("train")
    store.close()
    by_bucket: dict[str, list[Any]] = defaultdict(list)
    for task in heldout:
        if len(by_bucket[task.bucket]) < per_level:
            by_bucket[task.bucket].append(task)
    tasks = [t for bucket in sorted(by_bucket) for t in by_bucket[bucket]]
    torch.manual_seed(cfg.seed)
    policy = load_policy(cfg.model)
    step = load_checkpoint(run_dir, policy.model)
    policy.sync_sampler()
    grade = build_grader(cfg)
    ladder = HINT_SOURCES.build("ladder", {"levels": levels, "match_answer": True},
                                answer_prefix=cfg.reward.answer_prefix)
    rng = np.random.default_rng(cfg.seed)

    def passes(hints: list[Any] | None) -> list[tuple[int, int] | None]:
        """Per task, (scored samples, correct ones) with these hints (None: no hint); None where a task
        has no such hint or no sample could be scored (an unscorable sample is neither right nor wrong)."""
        asked = [i for i in range(len(tasks)) if hints is None or hints[i] is not None]
        prompts = [prompt_ids(policy, cfg, tasks[i], None if hints is None else hints[i]) for i in asked for _ in range(samples)]
        out = policy.sample(prompts, max_new_tokens=cfg.sampling.max_new_tokens,
                            temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p)
        counts: list[tuple[int, int] | None] = [None] * len(tasks)
        for j, i in enumerate(asked):
            scores = [s for s in (grade(tasks[i], x.text).score for x in out[j * samples:(j + 1) * samples]) if s is not None]
            counts[i] = (len(scores), sum(s >= PASS for s in scores)) if scores else None
        return counts

    def mean_pass(counts: list[tuple[int, int] | None], idx: list[int], k: int) -> float | None:
        values = [pass_at_k(*counts[i], k) for i in idx if counts[i] is not None]
        return float(np.mean(values)) if values else None

    g = cfg.sampling.group_size

    def mixed(counts: list[tuple[int, int] | None], i: int) -> float | None:
        return None if counts[i] is None else mixed_at_g(*counts[i], g)

    # greedy as the run measures it (unscorable tasks left out), on these tasks
    greedy = evaluate(policy, tasks, cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"size": None})}),
                      step=step, rollouts=0, grade=grade, pass_k=False).per_task
    no_hint = passes(None)
    rungs = {}
    for level in range(1, max(ladder.max_level(t) for t in tasks) + 1):  # `prefix` is one rung per fraction
        hints = [ladder.hint(t, level, [], pool, rng) if level <= ladder.max_level(t) else None for t in tasks]
        if shown := [h for h in hints if h is not None]:
            rungs[f"{level}:{shown[0].kind}"] = passes(hints)
    rows = {}
    conditions = [no_hint, *rungs.values()]
    signal: dict[str, list[float]] = {"blind": [], "best condition": [], "per task": []}
    for bucket in sorted(by_bucket):  # "reasoning_gym:gcd@1"
        idx = [i for i, t in enumerate(tasks) if t.bucket == bucket]
        helped = [any(c[i][1] > 0 for c in conditions if c[i] is not None) for i in idx
                  if any(c[i] is not None for c in conditions)]
        scored = [float(greedy[tasks[i].id] >= PASS) for i in idx if tasks[i].id in greedy]
        level = tasks[idx[0]].level
        # P(mixed) of each task's group under each condition (no hint, then each rung; None: unscored),
        # once; the bucket's best condition has the highest mean, as a scaffold picks a rung per category
        grid = [[mixed(c, i) for c in conditions] for i in idx]
        mixed_by = [[m for row in grid if (m := row[j]) is not None] for j in range(len(conditions))]
        means = [float(np.mean(v)) if v else -1.0 for v in mixed_by]
        best = int(np.argmax(means))
        signal["blind"] += mixed_by[0]
        signal["best condition"] += mixed_by[best]
        signal["per task"] += [max(seen) for row in grid if (seen := [m for m in row if m is not None])]
        row = {
            "level": "-" if level is None else str(level),
            "tasks": len(idx),
            "greedy": float(np.mean(scored)) if scored else None,
            "pass@1": mean_pass(no_hint, idx, 1),
            f"pass@{samples}": mean_pass(no_hint, idx, samples),
            **{f"{name} pass@1": mean_pass(c, idx, 1) for name, c in rungs.items()},
            f"pass@{samples}, any hint": float(np.mean(helped)) if helped else None,
            f"mixed@{g}": means[0] if mixed_by[0] else None,
            f"mixed@{g}, best condition": means[best] if mixed_by[best] else None,
        }
        rows[bucket] = {c: v for c, v in row.items() if v is not None}
    summary = {
        "group_size": g,
        # drawn blind among all the tasks, no hint: what uniform selection gets
        "blind": float(np.mean(signal["blind"])) if signal["blind"] else None,
        # every bucket at its best condition: a category-level selector that knew each rate
        "best condition": float(np.mean(signal["best condition"])) if signal["best condition"] else None,
        # the share of tasks whose group is mixed at 0.8 or more under some condition
        "tasks at 0.8": float(np.mean([m >= 0.8 for m in signal["per task"]])) if signal["per task"] else None,
    }
    return {"run_dir": str(run_dir), "step": step, "samples": samples, "levels": levels, "buckets": rows,
            "signal": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dirs", nargs="+", type=Path)
    ap.add_argument("--samples", type=int, default=16, help="attempts per task and condition (k of pass@k)")
    ap.add_argument("--per-level", type=int, default=4, help="held-out tasks per bucket (family and level)")
    ap.add_argument("--levels", nargs="+", default=["example:3", "prefix"], help="hint rungs (ladder names)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()
    results = []
    for run_dir in args.run_dirs:
        result = measure(run_dir, args.samples, args.per_level, args.levels)
        results.append(result)
        print(f"{run_dir} (step {result['step']}, {args.samples} samples per task and condition)")
        first = ["tasks", "greedy", "pass@1", f"pass@{args.samples}"]
        rungs = sorted({c for row in result["buckets"].values() for c in row} - {"level", *first}, key=lambda c: (
            "any hint" in c, c))
        cols = first + rungs
        print("  " + "bucket".ljust(28) + "".join(c.rjust(max(9, len(c) + 2)) for c in cols))
        for bucket, row in result["buckets"].items():
            cells = "".join((str(row[c]) if c == "tasks" else f"{row[c]:.1%}" if c in row else "-").rjust(max(9, len(c) + 2))
                            for c in cols)
            print("  " + bucket.split(":")[-1].ljust(28) + cells, flush=True)
        sig = result["signal"]
        if sig["blind"] is not None:
            print(f"  mixed@{sig['group_size']} over all tasks: {sig['blind']:.1%} drawn blind without a hint, "
                  f"{sig['best condition']:.1%} with each bucket at its best condition; {sig['tasks at 0.8']:.1%} of tasks "
                  "reach 0.8 under some condition", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
