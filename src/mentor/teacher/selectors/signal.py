"""`signal`: tasks drawn by the chance that their group, scaffolded as the hint schedule will scaffold it, is mixed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.categories import SkillProfile, _check_category, task_category
from mentor.teacher.hints.rates import PassRates
from mentor.teacher.outcomes import GroupOutcome
from mentor.teacher.selectors.base import SelectorContext, _check_pool, _check_state, _cycle
from mentor.types import Task


def signal_probability(p: Any, m: int, q: Any = 0.0, k: Any = 0) -> Any:
    """Probability that a group of m attempts at pass rate p is mixed (carries a learning signal); with
    k of the m attempts hinted and passing at rate q instead, 1 − P(all fail) − P(all pass). Works
    elementwise on numpy arrays."""
    plain = m - k
    return 1.0 - (1.0 - p) ** plain * (1.0 - q) ** k - p**plain * q**k


class SignalSelector:
    """Tasks drawn by the chance that their group carries a learning signal, hints included.

    GRPO learns only from mixed groups. With adaptive scaffolding a group of G attempts has k hinted
    ones, chosen by the loop, and is mixed with probability (`signal_probability`)

        P(mixed) = 1 − (1 − p)^(G−k)·(1 − q)^k − p^(G−k)·q^k ,

    with p and q the task's pass rates without and with the hint. BOTS's target of p = 0.5 is the case
    k = 0. Under scaffolding it aims at the wrong tasks: a task at p = 0 with q = 0.4 teaches well (its
    hinted attempts pass, its plain ones fail), one the hint cannot rescue (q ≈ 0) never does, and BOTS
    cannot tell them apart. On the bundled student those are signed-arithmetic shapes that fail even
    after three worked examples (docs/decisions/hints.md).

    Evidence is kept per category (`by`, default the solved shape: the same problem with other numbers
    and an answer of the same form, far more evidence than one task gets in a run) as discounted
    pass/fail counts without and with the hint (`PassRates`), shrunk toward the task's
    bucket with `strength` pseudo-attempts. Counts decay by (1 − `forget`) each step: the bundled
    student goes from 0% to 40% held-out in a few steps, and a category written off drifts back to
    its bucket's rate and is tried again. Each step, every task of the pool scores P(mixed)
    at its category's posterior means and the scaffold the loop would give it now
    (`SelectorContext.hinted`), and k distinct tasks are drawn with probability ∝ P(mixed)^`sharpness`.

    Why tasks are drawn, not categories: a category's weight is then its number of tasks times its
    score, as under uniform selection when every score is equal, so the many rare shapes (nested
    brackets, one or two tasks each and mostly hopeless) do not get a category's share each.
    Thompson sampling over categories (the best categories' draws first) spent most of a 20-step run
    on seed 0 exploring them (docs/decisions/hints.md). `sharpness` sets how hard the draw leans toward the best-scoring tasks: a task
    at P(mixed) = 0.5 is drawn 0.5^2 = 1/4 as often as one at 1 with the default 2; 0 is uniform
    selection. Sharper draws (8) narrowed practice to a few easy shapes and lost held-out accuracy
    on the bundled student (docs/decisions/hints.md).
    """

    name = "signal"

    def __init__(
        self,
        by: str = "solved_shape",
        forget: float = 0.3,
        strength: float = 1.0,
        sharpness: float = 2.0,
        context: SelectorContext | None = None,
    ) -> None:
        if not 0.0 <= forget < 1.0:
            raise ConfigError(f"signal: forget must be in [0, 1), got {forget}")
        if strength <= 0:
            raise ConfigError(f"signal: strength must be > 0, got {strength}")
        if sharpness < 0:
            raise ConfigError(f"signal: sharpness must be >= 0, got {sharpness}")
        self.by = _check_category(by)
        self.sharpness = float(sharpness)
        self.context = context or SelectorContext()
        self.rates = PassRates(forget=float(forget), strength=float(strength))
        self.profile = SkillProfile()

    def _keys(self, task: Task) -> tuple[str, str | None]:
        """The task's category and the bucket it shrinks toward (none when the category is the bucket)."""
        cat = task_category(task, self.by)
        return (cat, None) if cat == task.bucket else (cat, task.bucket)

    def scores(self, pool: Sequence[Task]) -> np.ndarray:
        """[n] P(mixed) of each task's group at its category's posterior means."""
        keys = [self._keys(t) for t in pool]
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        g = self.context.group_size
        by_cat = {}
        for (cat, parent), i in first.items():
            p, q = self.rates.rate(cat, False, parent), self.rates.rate(cat, True, parent)
            by_cat[cat, parent] = float(signal_probability(p, g, q, self.context.hinted(pool[i], g)))
        return np.array([by_cat[key] for key in keys])

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]:
        _check_pool(pool, k)
        weight = np.maximum(self.scores(pool), 1e-6) ** self.sharpness  # [n] > 0, so any k can be drawn
        picked = rng.choice(len(pool), size=min(k, len(pool)), replace=False, p=weight / weight.sum())
        return [pool[i] for i in _cycle(picked.tolist(), k)]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.profile.update(outcomes)
        seen: dict[tuple[str, bool], list[bool]] = {}
        for o in outcomes:
            if o.scored == 0:
                continue
            passed = [True] * o.passed + [False] * (o.scored - o.passed)
            cat, parent = self._keys(o.task)
            for key in (cat, parent) if parent is not None else (cat,):
                seen.setdefault((key, o.hinted), []).extend(passed)
        self.rates.update(seen)

    def pass_rate(self, task: Task) -> float:
        """Posterior mean no-hint pass rate of the task's category (for the rollout budget)."""
        cat, parent = self._keys(task)
        return self.rates.rate(cat, False, parent)

    def summary(self) -> list[dict[str, Any]]:
        """Per category (and bucket) seen: pass rate without and with the hint, each the mean of a
        Beta(1, 1) posterior on the category's own discounted counts (before any shrinkage toward the
        bucket), and the discounted attempts behind it."""
        rows: dict[str, dict[str, Any]] = {}
        for key, (passes, fails) in self.rates.counts.items():
            cat, _, kind = key.rpartition("|")
            row = rows.setdefault(cat, {"category": cat})
            row[kind] = (passes + 1.0) / (passes + fails + 2.0)
            row[f"{kind}_n"] = passes + fails
        return [rows[c] for c in sorted(rows)]

    def posteriors(self) -> dict[str, tuple[float, float]]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rates": self.rates.state_dict(), "profile": self.profile.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, self.name)
        self.rates.load_state_dict(state["rates"])
        self.profile.load_state_dict(state["profile"])
