"""Weaver's label model against majority vote and the best single verifier, on synthetic verifiers.

Each regime draws a hidden label y ~ Bernoulli(π) per attempt and m verifier scores. Votes are the
label model's own binarised votes, so all three read the same information:

  label model   reward = P(correct | votes) from `fit_combiner` (no labels), correct if > 0.5
  majority      share of positive votes among non-abstaining verifiers, correct if > 0.5 (a tie = half)
  best single   the single verifier with the highest accuracy *against the labels* (an oracle choice:
                without labels you would not know which one it is)

Accuracy is over attempts with at least one vote, averaged over seeds; ratios are label model / other.

    python benchmarks/combine_vs_majority.py [--seeds 5] [--n 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from mentor.grade.combine import Balance, fit_combiner, majority_vote

Draw = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]  # -> scores [n, m], labels [n]


def _binary(pi: float, tpr: list[float], tnr: list[float], abstain: float = 0.0) -> Draw:
    def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < pi).astype(int)
        x = (rng.random((n, len(tpr))) < np.where(y[:, None] == 1, tpr, 1 - np.asarray(tnr))).astype(float)
        x[rng.random(x.shape) < abstain] = np.nan
        return x, y
    return draw


def _continuous(pi: float, acc: list[float]) -> Draw:
    """Judge-like scores: sigmoid of a Gaussian whose mean shifts with y; `acc` is each verifier's
    balanced accuracy at the midpoint cut (separation 2·Φ⁻¹(acc))."""
    sep = 2 * norm.ppf(acc)

    def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < pi).astype(int)
        return 1 / (1 + np.exp(-(rng.normal(0, 1, (n, len(acc))) + y[:, None] * sep - sep / 2))), y
    return draw


def _correlated(pi: float) -> Draw:
    """Breaks conditional independence: three weak verifiers (0.6) that copy one another's mistakes
    80% of the time, beside one strong (0.9) and one fair (0.7) independent verifier."""
    def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < pi).astype(int)

        def vote(acc: float) -> np.ndarray:
            return np.where(rng.random(n) < acc, y, 1 - y).astype(float)

        shared = vote(0.6)
        block = [np.where(rng.random(n) < 0.8, shared, vote(0.6)) for _ in range(3)]
        return np.column_stack([vote(0.9), vote(0.7), *block]), y
    return draw


@dataclass(frozen=True)
class Regime:
    name: str
    draw: Draw
    balance: str = "estimated"


REGIMES = [
    Regime("one strong, two fair, two near chance", _binary(0.35, [0.95, 0.8, 0.75, 0.6, 0.52], [0.9, 0.8, 0.7, 0.6, 0.5])),
    Regime("five equal (0.7)", _binary(0.5, [0.7] * 5, [0.7] * 5)),
    Regime("fifteen weak (0.6)", _binary(0.4, [0.6] * 15, [0.6] * 15)),
    Regime("continuous judge scores, π = 0.2", _continuous(0.2, [0.95, 0.75, 0.65, 0.6, 0.55])),
    Regime("as the first, 30% abstentions", _binary(0.35, [0.95, 0.8, 0.75, 0.6, 0.52], [0.9, 0.8, 0.7, 0.6, 0.5], 0.3)),
    Regime("as the first, given balance 0.35", _binary(0.35, [0.95, 0.8, 0.75, 0.6, 0.52], [0.9, 0.8, 0.7, 0.6, 0.5]),
           "given:0.35"),
    Regime("correlated weak block (breaks the model)", _correlated(0.5)),
]


def _accuracy(scores: tuple[float | None, ...] | np.ndarray, y: np.ndarray) -> float:
    r = np.array([np.nan if v is None else v for v in scores], dtype=float)
    ok = ~np.isnan(r)
    hit = np.where(r[ok] == 0.5, 0.5, (r[ok] > 0.5) == (y[ok] == 1))
    return float(hit.mean())


def run(regime: Regime, seeds: int, n: int) -> dict[str, float]:
    lm, mv, best, t = [], [], [], 0.0
    for seed in range(seeds):
        x, y = regime.draw(np.random.default_rng(seed), n)
        t0 = time.perf_counter()
        c = fit_combiner(x, balance=Balance.parse(regime.balance))
        t += time.perf_counter() - t0
        votes = c.votes(x)
        lm.append(_accuracy(c.rewards, y))
        mv.append(_accuracy(majority_vote(votes), y))
        best.append(max(_accuracy(votes[:, j], y) for j in range(votes.shape[1])))
    return {"lm": float(np.mean(lm)), "mv": float(np.mean(mv)), "best": float(np.mean(best)),
            "fit_ms": 1000 * t / seeds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n", type=int, default=2000, help="attempts per batch")
    args = ap.parse_args()
    print(f"{args.n} attempts per batch, mean over {args.seeds} seeds")
    print(f"{'regime':<42} {'label model':>11} {'majority':>9} {'best single':>11} {'LM/MV':>6} {'LM/best':>7} {'fit ms':>7}")
    for regime in REGIMES:
        r = run(regime, args.seeds, args.n)
        print(f"{regime.name:<42} {r['lm']:>11.3f} {r['mv']:>9.3f} {r['best']:>11.3f} {r['lm'] / r['mv']:>6.3f} "
              f"{r['lm'] / r['best']:>7.3f} {r['fit_ms']:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
