"""`bayes`: BOTS (arXiv 2510.26374), a Beta posterior per task with forgetting and implicit evidence, Thompson sampling toward a target pass rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.categories import SkillProfile, _check_category, task_category
from mentor.teacher.outcomes import GroupOutcome, _evidence
from mentor.teacher.selectors.base import _check_pool, _check_state, _cycle
from mentor.types import Task


class BayesSelector:
    """BOTS: a Beta(α, β) posterior per task, forgetting, implicit evidence, Thompson sampling.

    After each step, with λ = `forget`, ρ = `rho`, and p̃ the pooled no-hint pass rate of the *other*
    tasks of the same category (`implicit_by`) seen this step:

    - every known task forgets: α ← (1−λ)α + λ, β likewise. The student changes every step, whether or
      not a task was practised, so all evidence goes stale at the same rate; the fixed point is the
      (1, 1) prior, i.e. an unvisited task drifts back to "unknown" rather than keeping an old verdict.
    - a selected task with pass rate q over m scored attempts adds (1−ρ)·q·m + ρ·p̃·m to α and
      (1−ρ)·(1−q)·m + ρ·(1−p̃)·m to β (ALGORITHMS.md). p̃ is leave-one-out so the task's own group is
      not counted twice; with no other task of its category this step, ρ = 0 for it.
    - an unselected task whose category was seen this step adds only the implicit part, ρ·p̃·m̄ to α and
      ρ·(1−p̃)·m̄ to β, with m̄ the mean group size of the step. The paper's formula has no own
      attempts for such a task (q·m = 0 would add nothing); scaling the implicit part by m̄ gives each
      unvisited task at most ρ·m̄/λ ≈ 8 pseudo-attempts in steady state (ρ = λ = 0.1, m̄ = 8), enough to
      steer Thompson sampling away from a hopeless level, never enough to outvote one real group.

    All arrays are indexed by a task index; select/update are vectorised numpy over the pool.
    """

    name = "bayes"

    def __init__(
        self,
        target: float = 0.5,
        forget: float = 0.1,
        rho: float = 0.1,
        implicit_by: str = "bucket",
        skill_weight: float = 0.0,
    ) -> None:
        if not 0.0 <= forget < 1.0:
            raise ConfigError(f"bayes: forget must be in [0, 1), got {forget}")
        if not 0.0 <= rho <= 1.0:
            raise ConfigError(f"bayes: rho must be in [0, 1], got {rho}")
        if not 0.0 <= target <= 1.0:
            raise ConfigError(f"bayes: target must be in [0, 1], got {target}")
        if skill_weight < 0:
            raise ConfigError(f"bayes: skill_weight must be >= 0, got {skill_weight}")
        self.target = float(target)
        self.forget = float(forget)
        self.rho = float(rho) if implicit_by != "none" else 0.0
        self.implicit_by = implicit_by if implicit_by == "none" else _check_category(implicit_by)
        self.skill_weight = float(skill_weight)
        self.profile = SkillProfile()
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._cats: dict[str, int] = {}
        self._cat_names: list[str] = []
        self._cat = np.zeros(0, dtype=np.int64)  # [N] category code of each task
        self.alpha = np.zeros(0)  # [N]
        self.beta = np.zeros(0)  # [N]

    # -- task registry -------------------------------------------------------------------------
    def _register(self, tasks: Sequence[Task]) -> np.ndarray:
        """Indices of `tasks`, adding unseen ones at the (1, 1) prior."""
        new_cat: list[int] = []
        for t in tasks:
            if t.id not in self._index:
                self._index[t.id] = len(self._ids)
                self._ids.append(t.id)
                cat = "-" if self.implicit_by == "none" else task_category(t, self.implicit_by)
                new_cat.append(self._cats.setdefault(cat, len(self._cats)))
                if len(self._cat_names) < len(self._cats):
                    self._cat_names.append(cat)
        if new_cat:
            self._cat = np.concatenate([self._cat, np.array(new_cat, dtype=np.int64)])
            self.alpha = np.concatenate([self.alpha, np.ones(len(new_cat))])
            self.beta = np.concatenate([self.beta, np.ones(len(new_cat))])
        return np.fromiter((self._index[t.id] for t in tasks), dtype=np.int64, count=len(tasks))

    # -- selection -----------------------------------------------------------------------------
    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]:
        _check_pool(pool, k)
        idx = self._register(pool)
        draw = rng.beta(self.alpha[idx], self.beta[idx])  # [n] Thompson samples
        score = -np.abs(self.target - draw)
        if self.skill_weight > 0:
            # Scores live in [-0.5, 0]; a tilt of w·0.5 at most lets a missing skill outrank a task
            # that is up to w·0.5 closer to the target.
            score = score + 0.5 * self.skill_weight * self.profile.tilt(pool)
        order = np.argsort(-score, kind="stable")
        return [pool[i] for i in _cycle(order[: min(k, len(pool))].tolist(), k)]

    # -- evidence ------------------------------------------------------------------------------
    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.profile.update(outcomes)
        evidence = _evidence(outcomes)
        sel = self._register([o.task for o in evidence]) if evidence else np.zeros(0, dtype=np.int64)
        passed = np.array([o.passed for o in evidence], dtype=float)
        scored = np.array([o.scored for o in evidence], dtype=float)
        # A task that occurs twice in a step (k > pool) is one task with pooled attempts.
        uniq, inv = np.unique(sel, return_inverse=True)
        passed = np.bincount(inv, weights=passed, minlength=len(uniq))
        scored = np.bincount(inv, weights=scored, minlength=len(uniq))

        lam = self.forget
        self.alpha = (1 - lam) * self.alpha + lam
        self.beta = (1 - lam) * self.beta + lam
        if len(uniq) == 0:
            return

        n_cat = len(self._cats)
        cat = self._cat[uniq]
        cat_pass = np.bincount(cat, weights=passed, minlength=n_cat)  # [C]
        cat_n = np.bincount(cat, weights=scored, minlength=n_cat)  # [C]

        q = passed / scored
        loo_n = cat_n[cat] - scored
        has_loo = (loo_n > 0) & (self.rho > 0)
        p_loo = np.where(has_loo, (cat_pass[cat] - passed) / np.where(has_loo, loo_n, 1.0), 0.0)
        rho = np.where(has_loo, self.rho, 0.0)
        self.alpha[uniq] += (1 - rho) * q * scored + rho * p_loo * scored
        self.beta[uniq] += (1 - rho) * (1 - q) * scored + rho * (1 - p_loo) * scored

        if self.rho > 0:
            p_cat = np.divide(cat_pass, cat_n, out=np.full(n_cat, np.nan), where=cat_n > 0)
            p_tilde = p_cat[self._cat]  # [N]
            mask = ~np.isnan(p_tilde)
            mask[uniq] = False
            m_bar = float(scored.mean())
            self.alpha[mask] += self.rho * p_tilde[mask] * m_bar
            self.beta[mask] += self.rho * (1 - p_tilde[mask]) * m_bar

    # -- state ---------------------------------------------------------------------------------
    def pass_rate(self, task: Task) -> float:
        """Posterior mean pass rate (0.5 for a task never seen)."""
        i = self._index.get(task.id)
        return 0.5 if i is None else float(self.alpha[i] / (self.alpha[i] + self.beta[i]))

    def posteriors(self) -> dict[str, tuple[float, float]]:
        return {tid: (float(self.alpha[i]), float(self.beta[i])) for i, tid in enumerate(self._ids)}

    def summary(self) -> list[dict[str, Any]]:
        """Per category: the mean posterior pass rate of its tasks and how many tasks it has."""
        mean = self.alpha / np.maximum(self.alpha + self.beta, 1e-12)
        return [{"category": name, "pass_rate": float(mean[self._cat == c].mean()), "tasks": int((self._cat == c).sum())}
                for c, name in enumerate(self._cat_names) if (self._cat == c).any()]

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ids": list(self._ids),
            "categories": list(self._cat_names),
            "category_of": self._cat.tolist(),
            "alpha": self.alpha.tolist(),
            "beta": self.beta.tolist(),
            "profile": self.profile.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, self.name)
        self._ids = list(state["ids"])
        self._index = {tid: i for i, tid in enumerate(self._ids)}
        self._cat_names = list(state["categories"])
        self._cats = {c: i for i, c in enumerate(self._cat_names)}
        self._cat = np.array(state["category_of"], dtype=np.int64)
        self.alpha = np.array(state["alpha"], dtype=float)
        self.beta = np.array(state["beta"], dtype=float)
        self.profile.load_state_dict(state["profile"])
