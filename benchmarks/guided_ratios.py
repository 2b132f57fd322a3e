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
    ap.add_argument("--level", type=int, default=2, help="ladder rung of the default Mentor preset (2: three examples)")
    args = ap.parse_args()

    from mentor.config import load_config
    from mentor.train.loop import PASS, build_run, prompt_ids, sample_groups

    cfg = load_config(None, ["checkpoint_every=0"])
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(cfg, tmp)
        rng = np.random.default_rng(0)
        tasks = run.pool[: args.tasks]
        hints = [run.hints.hint(t, args.level, [], run.pool, rng) for t in tasks]
        groups = sample_groups(run, tasks, [args.group] * len(tasks), hints)
        ratios, correct = [], 0
        for task, attempts in zip(tasks, groups, strict=True):
            for a in attempts:
                if (run.grade(task, a.text).score or 0.0) < PASS:
                    continue
                correct += 1
                with torch.no_grad():
                    [lp] = run.policy.completion_logprobs(prompt_ids(run, task, None), [a.completion_ids])
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
