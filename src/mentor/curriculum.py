"""What the student practises next: task selectors, skill profiles and the rollout budget.

The loop calls, once per step, in this order::

    tasks = selector.select(pool, k, rng)                        # which tasks
    counts = budget.allocate(expected_pass_rates(selector, tasks), total)   # attempts per task (optional)
    ... sample, grade, hints ...
    selector.update([GroupOutcome.from_rewards(task, rewards, mean_abs_adv, hinted=...), ...])
    store.save(selector.state_dict())                            # JSON, every step; load_state_dict on resume

Selectors (explicit registry, `build_selector`):

- `uniform` — the control: k distinct tasks uniformly at random.
- `bayes` — BOTS (arXiv 2510.26374): a Beta posterior over each task's pass rate, with forgetting and
  implicit evidence from the task's bucket; Thompson sampling toward a target pass rate of 0.5.
- `bandit` — SEC (arXiv 2505.14970): categories (bucket, level, source or skill) are arms scored by the
  mean |advantage| of their groups; arms sampled from softmax(Q/τ), tasks uniformly within an arm.
- `signal` — the edge under the teacher's help: per solved shape, pass rates without and with the hint;
  tasks drawn by the chance that their group, scaffolded as the loop will scaffold it, is mixed.
  BOTS's target p = 0.5 is the no-hint special case.

**Hinted outcomes.** A group re-rolled with a hint says how hard the task is *with help*, not how hard
it is for the no-hint policy we evaluate. Every selector therefore ignores outcomes with
`hinted=True` for its difficulty evidence (posteriors, bucket evidence, skill profile, bandit reward).
The loop must still report the original no-hint group (usually all-fail) with `hinted=False`: that
group *is* the no-hint evidence.
"""

from __future__ import annotations

import heapq
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mentor.errors import ConfigError, StoreError
from mentor.types import Task

PASS_THRESHOLD = 0.5

__all__ = [
    "BUDGETS",
    "SELECTORS",
    "BanditSelector",
    "BayesSelector",
    "FixedBudget",
    "GroupOutcome",
    "KnapsackBudget",
    "RolloutBudget",
    "Selector",
    "SelectorContext",
    "SignalSelector",
    "SkillProfile",
    "UniformSelector",
    "allocate_rollouts",
    "build_budget",
    "build_selector",
    "expected_pass_rates",
    "knapsack_value",
    "signal_probability",
]


# --------------------------------------------------------------------------------------------
# What the loop reports back


@dataclass(frozen=True)
class GroupOutcome:
    """The graded result of one group (one task occurrence) in a step."""

    task: Task
    rewards: tuple[float | None, ...]  # [G]; None = unscorable, ignored everywhere here
    passed: int  # rewards >= pass threshold
    scored: int  # non-None rewards
    mean_abs_advantage: float  # for the bandit
    hinted: bool = False  # from a hinted re-roll: not evidence of no-hint difficulty (module doc)

    @classmethod
    def from_rewards(
        cls,
        task: Task,
        rewards: Sequence[float | None],
        mean_abs_advantage: float,
        *,
        hinted: bool = False,
        threshold: float = PASS_THRESHOLD,
    ) -> GroupOutcome:
        scored = [r for r in rewards if r is not None]
        return cls(
            task=task,
            rewards=tuple(rewards),
            passed=sum(r >= threshold for r in scored),
            scored=len(scored),
            mean_abs_advantage=float(mean_abs_advantage),
            hinted=hinted,
        )


def _evidence(outcomes: Sequence[GroupOutcome]) -> list[GroupOutcome]:
    """The outcomes that count as no-hint difficulty evidence."""
    return [o for o in outcomes if not o.hinted and o.scored > 0]


def task_category(task: Task, by: str) -> str:
    """The group a task belongs to: the bandit's arms, the Bayesian implicit evidence, and the adaptive
    scaffold's per-shape pass rates (`hints.adaptive.by: shape`)."""
    if by == "bucket":
        return task.bucket
    if by == "level":
        return f"level={task.level if task.level is not None else '-'}"
    if by == "source":
        return task.source
    if by == "skill":
        # A task with several skills is filed under its first: arms must partition the pool.
        return f"skill={task.skills[0]}" if task.skills else task.bucket
    if by == "shape":
        # The same problem with other numbers (mentor.hints.prompt_shape): far finer than a level, for
        # task sources whose levels hide a wide spread of difficulty.
        from mentor.hints import prompt_shape

        return f"{task.bucket}:{prompt_shape(task.prompt)}"
    if by == "solved_shape":
        # The shape of the problem and of its reference answer (mentor.hints.solved_shape): splits
        # "# - # =" into the tasks with a positive and a negative result, which a small student finds
        # as different as two levels.
        from mentor.hints import solved_shape

        return f"{task.bucket}:{solved_shape(task)}"
    raise ConfigError(f"unknown category '{by}'", fix=f"use one of: {', '.join(_CATEGORIES)}")


_CATEGORIES = ("bucket", "level", "source", "skill", "shape", "solved_shape")


def _check_category(by: str) -> str:
    if by not in _CATEGORIES:
        raise ConfigError(f"unknown category '{by}'", fix=f"use one of: {', '.join(_CATEGORIES)}")
    return by


# --------------------------------------------------------------------------------------------
# Skill profiles (STAT, arXiv 2510.10023) and the level frontier


def _skills_of(task: Task) -> tuple[str, ...]:
    # Tasks without skill labels (most reasoning-gym tasks) count under their source, so the
    # profile and the missing-skill tilt still mean something ("which generator is weak").
    return task.skills or (task.source or "-",)


class SkillProfile:
    """Per-skill success/attempt counts, the missing-skill profile and per-bucket pass rates.

    `missing[s]` counts failed attempts that involved skill `s` (STAT's missing-skill profile).
    `decay` < 1 multiplies every count by `decay` at each update so the profile follows the current
    student rather than the whole run; 1.0 keeps plain cumulative counts.
    """

    def __init__(self, decay: float = 1.0) -> None:
        if not 0.0 < decay <= 1.0:
            raise ConfigError(f"skill profile decay must be in (0, 1], got {decay}")
        self.decay = float(decay)
        self.success: dict[str, float] = {}
        self.attempts: dict[str, float] = {}
        self.missing: dict[str, float] = {}
        self._bucket: dict[str, list[Any]] = {}  # bucket -> [passed, attempts, source, level]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        if self.decay < 1.0:
            for table in (self.success, self.attempts, self.missing):
                for key in table:
                    table[key] *= self.decay
            for row in self._bucket.values():
                row[0] *= self.decay
                row[1] *= self.decay
        for o in _evidence(outcomes):
            for s in _skills_of(o.task):
                self.success[s] = self.success.get(s, 0.0) + o.passed
                self.attempts[s] = self.attempts.get(s, 0.0) + o.scored
                self.missing[s] = self.missing.get(s, 0.0) + (o.scored - o.passed)
            row = self._bucket.setdefault(o.task.bucket, [0.0, 0.0, o.task.source, o.task.level])
            row[0] += o.passed
            row[1] += o.scored

    def success_rate(self, skill: str) -> float | None:
        n = self.attempts.get(skill, 0.0)
        return self.success.get(skill, 0.0) / n if n > 0 else None

    def missing_weights(self) -> dict[str, float]:
        """Each skill's share of failure involvement, scaled so the most-missed skill has weight 1."""
        top = max(self.missing.values(), default=0.0)
        if top <= 0:
            return {}
        return {s: v / top for s, v in self.missing.items()}

    def tilt(self, tasks: Sequence[Task]) -> np.ndarray:
        """[n] in [0, 1]: how much each task exercises a missing skill (max over its skills)."""
        w = self.missing_weights()
        if not w:
            return np.zeros(len(tasks))
        return np.array([max(w.get(s, 0.0) for s in _skills_of(t)) for t in tasks])

    def frontier(self) -> dict[str, dict[str, Any]]:
        """Per bucket (source@level): the estimated no-hint pass rate and the attempts behind it.

        The report reads the student's frontier off this: the levels whose pass rate is near 0.5.
        """
        out: dict[str, dict[str, Any]] = {}
        for bucket in sorted(self._bucket):
            passed, n, source, level = self._bucket[bucket]
            if n > 0:
                out[bucket] = {"source": source, "level": level, "pass_rate": passed / n, "attempts": n}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "success": dict(self.success),
            "attempts": dict(self.attempts),
            "missing": dict(self.missing),
            "buckets": {b: list(row) for b, row in self._bucket.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.success = {k: float(v) for k, v in state["success"].items()}
        self.attempts = {k: float(v) for k, v in state["attempts"].items()}
        self.missing = {k: float(v) for k, v in state["missing"].items()}
        self._bucket = {b: [float(r[0]), float(r[1]), r[2], r[3]] for b, r in state["buckets"].items()}


# --------------------------------------------------------------------------------------------
# Selectors


class Selector(Protocol):
    name: str
    profile: SkillProfile

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]: ...

    def update(self, outcomes: Sequence[GroupOutcome]) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def posteriors(self) -> dict[str, tuple[float, float]]: ...

    def summary(self) -> list[dict[str, Any]]:
        """One row per category of what the selector currently believes (for reports)."""
        ...


def _check_pool(pool: Sequence[Task], k: int) -> None:
    if not pool:
        raise ConfigError("cannot select tasks from an empty pool", fix="check the task sources and splits")
    if k < 1:
        raise ConfigError(f"tasks per step must be >= 1, got {k}")


def _cycle(order: Sequence[int], k: int) -> list[int]:
    """The first k of `order` repeated: with k > len(pool) every task is used before any repeats."""
    reps = -(-k // len(order))
    return (list(order) * reps)[:k]


def _check_state(state: Mapping[str, Any], name: str) -> None:
    if state.get("name") != name:
        raise StoreError(
            f"stored selector state is for '{state.get('name')}', not '{name}'",
            fix="resume with the selector the run was started with",
        )


class UniformSelector:
    """The control: k distinct tasks uniformly at random (optionally tilted toward missing skills)."""

    name = "uniform"

    def __init__(self, skill_weight: float = 0.0, profile_decay: float = 1.0) -> None:
        if skill_weight < 0:
            raise ConfigError(f"skill_weight must be >= 0, got {skill_weight}")
        self.skill_weight = float(skill_weight)
        self.profile = SkillProfile(profile_decay)

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]:
        _check_pool(pool, k)
        n = len(pool)
        if self.skill_weight > 0:
            # STAT-style re-weighting: probability ∝ 1 + w·(missing-skill tilt).
            weights = 1.0 + self.skill_weight * self.profile.tilt(pool)
            order = rng.choice(n, size=n, replace=False, p=weights / weights.sum())
        else:
            order = rng.permutation(n)
        return [pool[i] for i in _cycle(order.tolist(), k)]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.profile.update(outcomes)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "profile": self.profile.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, self.name)
        self.profile.load_state_dict(state["profile"])

    def posteriors(self) -> dict[str, tuple[float, float]]:
        return {}

    def summary(self) -> list[dict[str, Any]]:
        return []  # no beliefs: every task is as likely as any other


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
        profile_decay: float = 1.0,
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
        self.profile = SkillProfile(profile_decay)
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


class BanditSelector:
    """SEC: categories are arms; Q ← (1−α)Q + α·(mean |advantage| of the arm's groups this step).

    Each of the k slots draws an arm from softmax(Q/τ) over the arms present in the pool, then a task of
    that arm uniformly (without replacement within the step). Arms start at Q = 0.
    """

    name = "bandit"

    def __init__(
        self,
        by: str = "bucket",
        alpha: float = 0.5,
        tau: float = 0.5,
        count_hinted: bool = False,
        profile_decay: float = 1.0,
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"bandit: alpha must be in (0, 1], got {alpha}")
        if tau <= 0:
            raise ConfigError(f"bandit: tau must be > 0, got {tau}")
        self.by = _check_category(by)
        self.alpha = float(alpha)
        self.tau = float(tau)
        # Off by default: a hinted group's |advantage| is signal the hint bought, and rewarding an arm
        # for it would steer the bandit toward levels the student cannot do alone.
        self.count_hinted = bool(count_hinted)
        self.q: dict[str, float] = {}
        self.profile = SkillProfile(profile_decay)

    def select(self, pool: Sequence[Task], k: int, rng: np.random.Generator) -> list[Task]:
        _check_pool(pool, k)
        members: dict[str, list[int]] = {}
        for i, t in enumerate(pool):
            members.setdefault(task_category(t, self.by), []).append(i)
        arms = sorted(members)  # sorted so that the draw does not depend on pool order
        left = {a: list(members[a]) for a in arms}
        chosen: list[int] = []
        for _ in range(k):
            live = [a for a in arms if left[a]]
            if not live:  # k > len(pool): start another pass over the pool
                left = {a: list(members[a]) for a in arms}
                live = arms
            logits = np.array([self.q.get(a, 0.0) for a in live]) / self.tau
            p = np.exp(logits - logits.max())
            arm = live[int(rng.choice(len(live), p=p / p.sum()))]
            chosen.append(left[arm].pop(int(rng.integers(len(left[arm])))))
        return [pool[i] for i in chosen]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.profile.update(outcomes)
        rewards: dict[str, list[float]] = {}
        for o in outcomes:
            if o.scored == 0 or (o.hinted and not self.count_hinted):
                continue
            rewards.setdefault(task_category(o.task, self.by), []).append(o.mean_abs_advantage)
        for arm, rs in rewards.items():
            self.q[arm] = (1 - self.alpha) * self.q.get(arm, 0.0) + self.alpha * float(np.mean(rs))

    def arm_values(self) -> dict[str, float]:
        return dict(self.q)

    def summary(self) -> list[dict[str, Any]]:
        return [{"category": arm, "Q": q} for arm, q in sorted(self.q.items())]

    def posteriors(self) -> dict[str, tuple[float, float]]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "q": dict(self.q), "profile": self.profile.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, self.name)
        self.q = {k: float(v) for k, v in state["q"].items()}
        self.profile.load_state_dict(state["profile"])


@dataclass(frozen=True)
class SelectorContext:
    """What the loop tells a selector about the rest of the step. Not configuration: the loop derives
    it from the run's config and its live state, so a resumed run rebuilds the same context."""

    group_size: int = 8
    # How many attempts of a group of `size` for this task the teacher will sample with a hint right
    # now (the adaptive scaffold's k; always 0 without hints).
    hinted: Callable[[Task, int], int] = field(default=lambda task, size: 0)


class SignalSelector:
    """Tasks drawn by the chance that their group carries a learning signal, hints included.

    GRPO learns only from mixed groups. With adaptive scaffolding a group of G attempts has k hinted
    ones, chosen by the loop, and is mixed with probability (`signal_probability`)

        P(mixed) = 1 − (1 − p)^(G−k)·(1 − q)^k − p^(G−k)·q^k ,

    with p and q the task's pass rates without and with the hint. BOTS's target of p = 0.5 is the case
    k = 0. Under scaffolding it aims at the wrong tasks: a task at p = 0 with q = 0.4 teaches well (its
    hinted attempts pass, its plain ones fail), one the hint cannot rescue (q ≈ 0) never does, and BOTS
    cannot tell them apart. On the bundled student those are signed-arithmetic shapes that fail even
    after three worked examples (notes/hints.md).

    Evidence is kept per category (`by`, default the solved shape: the same problem with other numbers
    and an answer of the same form, far more evidence than one task gets in a run) as discounted
    pass/fail counts without and with the hint (`mentor.hints.PassRates`), shrunk toward the task's
    bucket with `strength` pseudo-attempts. Counts decay by (1 − `forget`) each step: the bundled
    student goes from 0% to 40% held-out in a few steps, and a category written off drifts back to
    its bucket's rate and is tried again. Each step, every task of the pool scores P(mixed)
    at its category's posterior means and the scaffold the loop would give it now
    (`SelectorContext.hinted`), and k distinct tasks are drawn with probability ∝ P(mixed)^`sharpness`.

    Why tasks are drawn, not categories: a category's weight is then its number of tasks times its
    score, as under uniform selection when every score is equal, so the many rare shapes (nested
    brackets, one or two tasks each and mostly hopeless) do not get a category's share each.
    Thompson sampling over categories (the best categories' draws first) spent most of a 20-step run
    on seed 0 exploring them (notes/hints.md). `sharpness` sets how hard the draw leans toward the best-scoring tasks: a task
    at P(mixed) = 0.5 is drawn 0.5^2 = 1/4 as often as one at 1 with the default 2; 0 is uniform
    selection. Sharper draws (8) narrowed practice to a few easy shapes and lost held-out accuracy
    on the bundled student (notes/hints.md).
    """

    name = "signal"

    def __init__(
        self,
        by: str = "solved_shape",
        forget: float = 0.3,
        strength: float = 1.0,
        sharpness: float = 2.0,
        profile_decay: float = 1.0,
        context: SelectorContext | None = None,
    ) -> None:
        from mentor.hints import PassRates

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
        self.profile = SkillProfile(profile_decay)

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


SELECTORS: dict[str, type] = {
    "uniform": UniformSelector,
    "bayes": BayesSelector,
    "bandit": BanditSelector,
    "signal": SignalSelector,
}


def _construct(kind: str, registry: Mapping[str, type], name: str, args: Mapping[str, Any],
               context: Any = None) -> Any:
    cls = registry.get(name)
    if cls is None:
        raise ConfigError(f"unknown {kind} '{name}'", fix=f"use one of: {', '.join(sorted(registry))}")
    params = inspect.signature(cls.__init__).parameters
    valid = [p for p in params if p not in ("self", "context")]  # the context comes from the loop, not the config
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown argument(s) {', '.join(unknown)} for {kind} '{name}'",
            fix=f"valid arguments: {', '.join(valid) or '(none)'}",
        )
    return cls(**args, context=context) if "context" in params else cls(**args)


def build_selector(name: str, args: Mapping[str, Any] | None = None,
                   context: SelectorContext | None = None) -> Selector:
    """Build a selector from its registry name and arguments (the config's `{name, args}`); selectors
    that plan around the step (`signal`) also get the loop's `context`."""
    return _construct("selector", SELECTORS, name, args or {}, context)


def expected_pass_rates(selector: Selector, tasks: Sequence[Task]) -> list[float]:
    """The selector's current pass-rate estimate for each task, for the rollout budget.

    The Bayesian posterior mean where there is one, else the task's bucket rate from the skill
    profile, else 0.5 (unknown: the allocator treats it as maximally informative).
    """
    if isinstance(selector, BayesSelector | SignalSelector):
        return [selector.pass_rate(t) for t in tasks]
    frontier = selector.profile.frontier()
    return [frontier[t.bucket]["pass_rate"] if t.bucket in frontier else 0.5 for t in tasks]


# --------------------------------------------------------------------------------------------
# Rollout budget (Knapsack RL, arXiv 2509.25849)


def knapsack_value(n: int, p: float) -> float:
    """Value(N, p) = [1 − p^N − (1−p)^N]·p(1−p)²: chance of a mixed group × gradient size."""
    return (1.0 - p**n - (1.0 - p) ** n) * p * (1.0 - p) ** 2


def signal_probability(p: Any, m: int, q: Any = 0.0, k: Any = 0) -> Any:
    """Probability that a group of m attempts at pass rate p is mixed (carries a learning signal); with
    k of the m attempts hinted and passing at rate q instead, 1 − P(all fail) − P(all pass). Works
    elementwise on numpy arrays."""
    plain = m - k
    return 1.0 - (1.0 - p) ** plain * (1.0 - q) ** k - p**plain * q**k


def allocate_rollouts(
    pass_rates: Sequence[float],
    total: int,
    min_per_task: int = 2,
    max_per_task: int = 128,
    *,
    all_fail_below: float = 0.05,
    gain_tol: float = 1e-6,
) -> list[int]:
    """Spread `total` attempts over tasks by expected learning value.

    Every task gets `min_per_task`; then one attempt at a time goes to the task with the largest
    marginal gain Value(N+1, p) − Value(N, p) (exact greedy: Value is concave in N) until the best gain
    falls below `gain_tol`. What is left goes to the all-fail tasks (p < `all_fail_below`), whose value
    is ~0 under the estimate but where more attempts are the only way to find a first success; if they
    are full, to the remaining tasks with room, fewest first. Exactly `total` is allocated whenever
    n·min ≤ total ≤ n·max; above n·max every task gets max.
    """
    n = len(pass_rates)
    if n == 0:
        return []
    if min_per_task < 1 or max_per_task < min_per_task:
        raise ConfigError(f"rollout budget needs 1 <= min_per_task <= max_per_task, got {min_per_task}, {max_per_task}")
    if total < n * min_per_task:
        raise ConfigError(
            f"rollout budget of {total} cannot give {n} tasks {min_per_task} attempts each",
            fix="raise the total, lower min_per_task, or select fewer tasks per step",
        )
    if any(math.isnan(x) for x in pass_rates):
        raise ValueError("pass rates must not be NaN")
    p = [min(max(float(x), 0.0), 1.0) for x in pass_rates]
    counts = [min_per_task] * n
    left = min(total, n * max_per_task) - n * min_per_task

    def gain(i: int) -> float:
        return knapsack_value(counts[i] + 1, p[i]) - knapsack_value(counts[i], p[i])

    heap = [(-gain(i), i) for i in range(n) if counts[i] < max_per_task]
    heapq.heapify(heap)
    while left > 0 and heap:
        neg, i = heapq.heappop(heap)
        if -neg < gain_tol:
            break
        counts[i] += 1
        left -= 1
        if counts[i] < max_per_task:
            heapq.heappush(heap, (-gain(i), i))

    for group in ([i for i in range(n) if p[i] < all_fail_below], list(range(n))):
        while left > 0:
            room = [i for i in group if counts[i] < max_per_task]
            if not room:
                break
            i = min(room, key=lambda j: (counts[j], j))  # evenly, fewest first
            counts[i] += 1
            left -= 1
    return counts


class RolloutBudget(Protocol):
    name: str

    def allocate(self, pass_rates: Sequence[float], total: int) -> list[int]: ...


class KnapsackBudget:
    name = "knapsack"

    def __init__(
        self, min_per_task: int = 2, max_per_task: int = 128, all_fail_below: float = 0.05, gain_tol: float = 1e-6
    ) -> None:
        self.min_per_task, self.max_per_task = int(min_per_task), int(max_per_task)
        self.all_fail_below, self.gain_tol = float(all_fail_below), float(gain_tol)

    def allocate(self, pass_rates: Sequence[float], total: int) -> list[int]:
        return allocate_rollouts(
            pass_rates, total, self.min_per_task, self.max_per_task,
            all_fail_below=self.all_fail_below, gain_tol=self.gain_tol,
        )


class FixedBudget:
    """The control: the same number of attempts per task (remainder to the first tasks)."""

    name = "fixed"

    def __init__(self) -> None:  # no arguments; explicit so the registry's argument check is exact
        pass

    def allocate(self, pass_rates: Sequence[float], total: int) -> list[int]:
        n = len(pass_rates)
        if n == 0:
            return []
        base, extra = divmod(total, n)
        return [base + (i < extra) for i in range(n)]


BUDGETS: dict[str, type] = {"knapsack": KnapsackBudget, "fixed": FixedBudget}


def build_budget(name: str, args: Mapping[str, Any] | None = None) -> RolloutBudget:
    """Build a rollout allocator from its registry name and arguments."""
    return _construct("rollout budget", BUDGETS, name, args or {})
