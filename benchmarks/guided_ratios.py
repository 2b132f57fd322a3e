"""Where the gradient of a guided attempt goes under each shaping of its importance ratio.

Samples the bundled student with a worked-example hint on training tasks, keeps the correct attempts,
and for every token computes r = π(o_t | no-hint prompt) / π(o_t | hinted prompt). The tokens the hint
changed (small r) are the ones the no-hint policy must learn. Prints r's quantiles and, for the
shaping r/(r+γ) the loss uses, the gradient weight σ(1−σ) each token gets with γ at the batch's 90th
percentile (Guide-GRPO) and with a fixed γ = 0.1 (LUFFY), for the hint-dependent tokens (r < 0.5)
against the rest: the ratio says which tokens each choice teaches.

    python benchmarks/guided_ratios.py [--tasks 12] [--group 8] [--level 2]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch


def weight(r: np.ndarray, gamma: float) -> np.ndarray:
    s = 1.0 / (1.0 + gamma / r)  # σ(log r − log γ) = r / (r + γ)
    return s * (1 - s)  # d/d(log π) of r/(r+γ)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=12)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--level", type=int, default=2, help="rung of the default hint source, the ladder [example:1, example:3] (2: three examples)")
    args = ap.parse_args()

    from mentor.config import load_config
    from mentor.student.prompt import prompt_ids
    from mentor.teacher import GroupPlan
    from mentor.train.loop import grade, sample
    from mentor.train.setup import build_run

    cfg = load_config(None, ["checkpoint_every=0"])  # the schema's defaults are the Mentor run
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(cfg, tmp)
        rng = np.random.default_rng(0)
        pool = run.teacher.pool
        source = run.teacher.schedule.source  # the run's hint source (the default ladder)
        tasks = pool[: args.tasks]
        plans = [GroupPlan(task, i, (source.hint(task, args.level, [], pool, rng),) * args.group)
                 for i, task in enumerate(tasks)]
        rollouts = grade(run, sample(run, plans))
        ratios, correct = [], 0
        for a in rollouts:
            if not a.passed:  # full credit only (mentor.types.PASS)
                continue
            correct += 1
            with torch.no_grad():
                [lp] = run.policy.completion_logprobs(prompt_ids(run.policy, run.cfg, a.task, None),
                                                      [a.completion_ids])
            ratios.extend(torch.exp(lp - torch.tensor(a.logprobs)).tolist())
        run.store.close()
    r = np.asarray(ratios)
    if not len(r):
        raise SystemExit("no correct guided attempt to measure; try more --tasks")
    q = np.quantile(r, [0.1, 0.25, 0.5, 0.75, 0.9])
    print(f"{correct} correct guided attempts, {len(r)} tokens; r quantiles 10/25/50/75/90%: "
          + " ".join(f"{x:.2f}" for x in q))
    key = r < 0.5
    print(f"hint-dependent tokens (r < 0.5): {key.mean():.0%} of tokens")
    for name, gamma in (("gamma = P90 (Guide-GRPO)", float(q[-1])), ("gamma = 0.1 (fixed)", 0.1)):
        w = weight(r, gamma)
        print(f"{name:26s} mean weight: hint-dependent {w[key].mean():.3f}, others {w[~key].mean():.3f} "
              f"(x{w[key].mean() / w[~key].mean():.2f}); an on-policy token weighs 1")


if __name__ == "__main__":
    main()
