"""Pass rates with and without the hint, and what they imply: how many attempts to scaffold, what a hint is worth, how much a correct answer still relies on it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def hint_value(pass_rate: float, n: int | None = None) -> float:
    """What a hint is worth by the group it creates: p̂(1−p̂), or with `n` the chance the group of n
    is mixed, 1 − p̂ⁿ − (1−p̂)ⁿ (HiLL)."""
    p = min(max(float(pass_rate), 0.0), 1.0)
    return p * (1 - p) if n is None else 1.0 - p**n - (1.0 - p) ** n


def hint_reliance(logp_without: Sequence[float], logp_with: Sequence[float]) -> float:
    """How much correct guided answers still depend on the hint: mean log p(y|q,h) − mean log p(y|q).

    Each input holds, per correct guided attempt y (same attempts, same order), the *per-token mean*
    log-probability of y's tokens under the policy: `logp_without` with the plain prompt q, `logp_with`
    with the hinted prompt. Per-token means keep long answers from dominating.

    Sign: ALGORITHMS.md writes Δ = mean log p(y|q) − mean log p(y|q,h), which is ≤ 0 when the hint
    helps and *rises* to 0 as the student internalises it. We return −Δ, the gap, so that it is ≥ 0 and
    *falls* toward 0 as the issue asks to plot it (0 = the success transfers to the no-hint policy).
    NaN when there is no correct guided attempt to measure.
    """
    if len(logp_without) != len(logp_with):
        raise ValueError(f"hint_reliance: {len(logp_without)} no-hint values vs {len(logp_with)} hinted")
    if not logp_with:
        return math.nan
    return float(np.mean(logp_with) - np.mean(logp_without))


def scaffold_size(group_size: int, p_plain: float, p_hinted: float, target: float, max_hinted: int) -> int:
    """How many of a group's `group_size` attempts should see the hint: the fewest k (0..max_hinted)
    for which the group is expected to fail entirely with probability at most `target`,

        P(all fail) = (1 − p_plain)^(G − k) · (1 − p_hinted)^k ,

    with `p_plain` and `p_hinted` the estimated pass rates without and with the hint; `max_hinted`
    when no k reaches the target. k = 0 once the student passes often enough on its own: the hint
    fades as it stops being needed. k = 0 too when the hint does not raise the pass rate
    (`p_hinted <= p_plain`): a hinted attempt then only displaces an on-policy one.
    """
    if not 0 < target < 1:
        raise ValueError(f"scaffold_size: target must be in (0, 1), got {target}")
    if p_hinted <= p_plain:
        return 0
    max_hinted = max(0, min(max_hinted, group_size - 1))  # at least one attempt always sees no hint
    miss_plain, miss_hinted = 1.0 - min(max(p_plain, 0.0), 1.0), 1.0 - min(max(p_hinted, 0.0), 1.0)
    for k in range(max_hinted + 1):
        if miss_plain ** (group_size - k) * miss_hinted**k <= target:
            return k
    return max_hinted


@dataclass
class PassRates:
    """Discounted pass counts per (bucket, with or without hint): the scaffold's estimate of how often
    the student passes a bucket's tasks, tracking a student that changes every step.

    Each `update` first multiplies every count by (1 − forget), then adds the step's attempts; the
    estimate is the posterior mean under the Beta `prior`, the same with the hint or without (no hint
    is believed to help before its attempts show it), so a bucket never seen reads as the prior mean.
    Unscorable attempts are not counted (neither pass nor fail).

    A key may have a `parent` (a task's shape within its bucket): its estimate then shrinks toward the
    parent's with `strength` pseudo-attempts, so a shape seen once moves only part of the way from its
    bucket, and an unseen shape reads as its bucket."""

    forget: float = 0.5
    prior: tuple[float, float] = (1.0, 1.0)
    strength: float = 4.0
    counts: dict[str, list[float]] = field(default_factory=dict)  # "key|plain" -> [passes, fails]

    def rate(self, bucket: str, hinted: bool, parent: str | None = None) -> float:
        a, b = self.beta(bucket, hinted, parent)
        return a / (a + b)

    def beta(self, bucket: str, hinted: bool, parent: str | None = None) -> tuple[float, float]:
        """The Beta posterior (α, β) behind `rate`: the key's discounted passes and fails on top of
        its prior, which is the parent's mean at `strength` pseudo-attempts when it has a parent."""
        passes, fails = self.counts.get(_rate_key(bucket, hinted), (0.0, 0.0))
        if parent is not None:
            mean = self.rate(parent, hinted)
            return passes + self.strength * mean, fails + self.strength * (1 - mean)
        return passes + self.prior[0], fails + self.prior[1]

    def update(self, observed: Mapping[tuple[str, bool], Sequence[bool]]) -> None:
        """`observed[(bucket, hinted)]` = pass/fail of this step's scored attempts."""
        for c in self.counts.values():
            c[0] *= 1 - self.forget
            c[1] *= 1 - self.forget
        for (bucket, hinted), passed in observed.items():
            c = self.counts.setdefault(_rate_key(bucket, hinted), [0.0, 0.0])
            c[0] += sum(passed)
            c[1] += len(passed) - sum(passed)

    def state_dict(self) -> dict[str, Any]:
        return {"counts": {k: list(v) for k, v in self.counts.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.counts = {str(k): [float(v[0]), float(v[1])] for k, v in state.get("counts", {}).items()}


def _rate_key(bucket: str, hinted: bool) -> str:
    return f"{bucket}|{'hinted' if hinted else 'plain'}"
