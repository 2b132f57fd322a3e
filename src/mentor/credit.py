"""Credit assignment: group rewards (and step-level evidence) -> per-token advantages.

Every assigner starts from the plain GRPO group baseline (`group_advantages`) and returns one row per
attempt, the length of its completion; vanilla GRPO is the constant row. The step-level assigners
only move credit *inside* an attempt, between its steps or tokens:

- `outcome`      vanilla group-relative GRPO, the control.
- `prefix_tree`  TEMPO: value of a token prefix = mean normalised outcome of the attempts sharing it;
                 the token right after a branch point gets the value change. No extra cost.
- `monte_carlo`  step value = mean outcome of k continuations sampled from the step boundary; step
                 advantage = value change across the step. Costs rollouts, capped per loop step.
- `critique`     CAPO: a judge flags wrong steps with quotes; verified flags from k critiques are
                 combined; flagged tokens are penalised. Costs judge calls.
- `min_form`     PURE: step rewards from any source -> soft-min of future step rewards, per-step
                 leave-one-out baseline.

Shared rules: a group whose scorable rewards have (population) std <= `std_tol` carries no signal and
gets all-zero rows, and no extra rollouts or judge calls are spent on it; an unscorable attempt
(reward None) is left out of every baseline and gets a zero row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mentor.errors import JudgeError, MentorError
from mentor.grade.defences import ws_normalise
from mentor.segment import Segmenter, build_segmenter
from mentor.types import Advantages, Attempt, StepSpan, Task

__all__ = [
    "ASSIGNERS",
    "BranchValues",
    "CreditAssigner",
    "CreditContext",
    "CritiqueAssigner",
    "CritiqueResult",
    "Group",
    "MinFormAssigner",
    "MonteCarloAssigner",
    "OutcomeAssigner",
    "PrefixTreeAssigner",
    "RolloutFn",
    "StepFlag",
    "StepRewardFn",
    "build_assigner",
    "combine_flags",
    "group_advantages",
    "has_signal",
    "prefix_tree_values",
    "soft_min_values",
    "verified_flags",
]


# ----------------------------------------------------------------------------------------------
# Values passed in


@dataclass(frozen=True)
class Group:
    """One task's attempts in a step of the loop."""

    task: Task
    attempts: tuple[Attempt, ...]
    rewards: tuple[float | None, ...]  # None = unscorable: excluded from the baseline, zero row

    def __post_init__(self) -> None:
        if len(self.attempts) != len(self.rewards):
            raise MentorError(
                f"group of task {self.task.id}: {len(self.attempts)} attempts but {len(self.rewards)} rewards"
            )


@dataclass(frozen=True)
class StepFlag:
    """A critique's claim that step `step` is wrong, with the words of the attempt it blames."""

    step: int
    quote: str


@dataclass(frozen=True)
class CritiqueResult:
    """One critique (one judge call) of one attempt."""

    flags: tuple[StepFlag, ...]
    raw: str = ""  # the judge's output, kept for the report


StepRewardFn = Callable[[Task, Attempt, list[StepSpan]], Sequence[float]]
# (task, completion-token prefix, k) -> rewards of k sampled continuations (None = unscorable)
RolloutFn = Callable[[Task, tuple[int, ...], int], list[float | None]]


@dataclass
class CreditContext:
    """What an assigner may use besides the rewards. Built by the loop once per step."""

    tokenizer: Any  # HF tokenizer (decode); None for assigners that need no segmentation
    std_tol: float = 1e-6  # group reward std <= this => no signal => all-zero rows
    # GRPO divides by the group std; Dr.GRPO (Liu et al. 2025) shows this up-weights groups that are
    # nearly all right or all wrong (a difficulty bias) and uses the mean only. Default True keeps
    # the control faithful to GRPO; set False for the Dr.GRPO variant.
    scale_by_std: bool = True
    segmenter: Segmenter | None = None  # None: blank_lines, the CAPO default, where steps are needed
    # monte_carlo: (task, completion-token prefix, k) -> rewards of k sampled continuations
    rollout: RolloutFn | None = None
    # critique: (task, attempt text, steps) -> k critiques (one judge call each)
    critic: Callable[[Task, str, list[StepSpan]], list[CritiqueResult]] | None = None
    step_rewards: StepRewardFn | None = None  # min_form: one reward per step, from any source
    max_extra_rollouts: int = 64  # monte_carlo budget per step of the loop


class CreditAssigner(Protocol):
    name: str

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages: ...


# ----------------------------------------------------------------------------------------------
# The GRPO baseline every assigner reuses


def _scored(rewards: Sequence[float | None]) -> np.ndarray:
    return np.array([r for r in rewards if r is not None], dtype=np.float64)


def has_signal(rewards: Sequence[float | None], std_tol: float) -> bool:
    """True when the scorable rewards differ: two or more of them with population std > std_tol.

    A tolerance, not `std == 0`: rewards like [1, 1, 1, 1 - 1e-9] (float noise from a combiner) must
    not become advantages of ±1.7 after division by a tiny std.
    """
    r = _scored(rewards)
    return r.size >= 2 and float(r.std()) > std_tol


def _group_stats(rewards: Sequence[float | None], std_tol: float) -> tuple[float, float] | None:
    """(mean, std) of the scorable rewards, or None when the group has no signal."""
    if not has_signal(rewards, std_tol):
        return None
    r = _scored(rewards)
    return float(r.mean()), float(r.std())


def group_advantages(
    rewards: Sequence[float | None], std_tol: float, scale_by_std: bool
) -> list[float | None]:
    """The plain GRPO advantage of each attempt: (r - mean) / std over the scorable rewards.

    None stays None (unscorable: no advantage, no part in mean or std); a group without signal gets
    0.0 for every scorable attempt. Population std (ddof=0), so two attempts [0, 1] get ±1.
    """
    stats = _group_stats(rewards, std_tol)
    if stats is None:
        return [None if r is None else 0.0 for r in rewards]
    mean, std = stats
    scale = std if scale_by_std else 1.0
    return [None if r is None else (r - mean) / scale for r in rewards]


# ----------------------------------------------------------------------------------------------
# Helpers shared by the assigners


def _row(value: float, n: int) -> tuple[float, ...]:
    return (float(value),) * n


def _rows_from(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass
class _Out:
    """Accumulates rows and cost counters in flat (group, attempt) order."""

    rows: list[tuple[float, ...]] = field(default_factory=list)
    step_credit: list[tuple[int, list[tuple[int, int, float]]]] = field(default_factory=list)
    extra_rollouts: int = 0
    judge_calls: int = 0
    groups_with_signal: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def result(self, name: str, args: Mapping[str, Any]) -> Advantages:
        info: dict[str, Any] = {
            "assigner": name,
            "args": dict(args),
            "extra_rollouts": self.extra_rollouts,
            "judge_calls": self.judge_calls,
            "groups_with_signal": self.groups_with_signal,
            "step_credit": self.step_credit,
            **self.counters,
        }
        return Advantages(values=tuple(self.rows), info=info)


def _segmenter(ctx: CreditContext) -> Segmenter:
    return ctx.segmenter if ctx.segmenter is not None else build_segmenter("blank_lines")


def _spans(ctx: CreditContext, attempt: Attempt) -> list[StepSpan]:
    return _segmenter(ctx).spans(attempt.text, attempt.completion_ids, ctx.tokenizer)


def _spread(spans: Sequence[StepSpan], step_values: Sequence[float], n: int) -> np.ndarray:
    """Each step's value on every one of its tokens (not divided by the step's length: the loss
    already averages over tokens, and dividing would make long steps nearly credit-free)."""
    row = np.zeros(n, dtype=np.float64)
    for span, v in zip(spans, step_values, strict=True):
        row[span.start : span.end] = v
    return row


def _args_of(assigner: Any) -> dict[str, Any]:
    return {f.name: getattr(assigner, f.name) for f in dataclasses.fields(assigner) if f.init}


# ----------------------------------------------------------------------------------------------
# outcome


@dataclass(frozen=True)
class OutcomeAssigner:
    """Vanilla group-relative GRPO: one constant row per attempt. The control."""

    name: str = field(default="outcome", init=False)

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        out = _Out()
        for g in groups:
            out.groups_with_signal += has_signal(g.rewards, ctx.std_tol)
            for a, adv in zip(
                g.attempts, group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std), strict=True
            ):
                out.rows.append(_row(adv or 0.0, len(a.completion_ids)))
        return out.result(self.name, _args_of(self))


# ----------------------------------------------------------------------------------------------
# prefix_tree (TEMPO)


def prefix_tree_values(sequences: Sequence[Sequence[int]], outcomes: Sequence[float]) -> list[np.ndarray]:
    """For each sequence, V(s_0..s_T): V(s_t) = mean outcome of the sequences sharing its first t tokens.

    Returns arrays of length T_i + 1 (V(s_0) is the mean over all sequences, V(s_T) the mean over
    the sequences identical to this one). Built on a token trie: O(total tokens).
    """
    # node -> [sum of outcomes, count]; children keyed by (node, token)
    sums: list[float] = [0.0]
    counts: list[int] = [0]
    child: dict[tuple[int, int], int] = {}
    paths: list[list[int]] = []
    for seq, y in zip(sequences, outcomes, strict=True):
        node = 0
        path = [0]
        sums[0] += y
        counts[0] += 1
        for tok in seq:
            nxt = child.get((node, tok))
            if nxt is None:
                nxt = len(sums)
                child[(node, tok)] = nxt
                sums.append(0.0)
                counts.append(0)
            node = nxt
            sums[node] += y
            counts[node] += 1
            path.append(node)
        paths.append(path)
    return [np.array([sums[n] / counts[n] for n in path]) for path in paths]


@dataclass(frozen=True)
class PrefixTreeAssigner:
    """TEMPO: A_t = Â + [t is a branch point] · (V(s_{t+1}) − V(s_t)).

    Â is the GRPO advantage of the attempt, and V(prefix) the mean Â of the group's scorable attempts
    sharing that prefix (TEMPO averages *normalised* outcomes, so both terms are on one scale). The
    term goes to token t, the first token after the branch: s_t is the shared prefix before it, s_{t+1}
    the prefix including it, so the token that chose the branch is the one credited. Along an
    unbranched edge the same attempts share s_t and s_{t+1}, V does not change and the gate is
    automatically closed; an attempt that ends where another continues also counts as a branch.
    """

    name: str = field(default="prefix_tree", init=False)

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        out = _Out()
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            signal = has_signal(g.rewards, ctx.std_tol)
            out.groups_with_signal += signal
            members = [i for i, a in enumerate(advs) if a is not None] if signal else []
            values = prefix_tree_values(
                [g.attempts[i].completion_ids for i in members], [advs[i] or 0.0 for i in members]
            )
            by_attempt = dict(zip(members, values, strict=True))
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                if i not in by_attempt:
                    out.rows.append(_row(0.0, n))
                else:
                    td = np.diff(by_attempt[i])  # td[t] = V(s_{t+1}) − V(s_t): nonzero only at branches
                    out.rows.append(_rows_from((advs[i] or 0.0) + td))
                    if np.any(td != 0.0):
                        out.step_credit.append((flat + i, self._shade(ctx, a, td)))
            flat += len(g.attempts)
        return out.result(self.name, _args_of(self))

    @staticmethod
    def _shade(ctx: CreditContext, a: Attempt, td: np.ndarray) -> list[tuple[int, int, float]]:
        # With a segmenter, a step's credit is the value change across it (sum of its TD terms);
        # without one, each branch token is its own one-token span.
        if ctx.segmenter is not None and ctx.tokenizer is not None:
            return [(s.start, s.end, float(td[s.start : s.end].sum())) for s in _spans(ctx, a)]
        return [(int(t), int(t) + 1, float(td[t])) for t in np.flatnonzero(td)]


# ----------------------------------------------------------------------------------------------
# monte_carlo


@dataclass
class BranchValues:
    """Monte Carlo values of completion prefixes, shared by the `monte_carlo` assigner and the
    `monte_carlo` step-reward source (mentor.credit_sources) so both spend rollouts the same way.

    A prefix identical up to a boundary (within a task) is sampled once. Budget: an attempt is branched
    only if all its new prefixes fit in what is left of `budget`; at the first one that does not,
    branching stops for the rest of the loop step (`stopped`), so attempts later in flat order never
    jump the queue with a cheaper request.
    """

    rollout: RolloutFn
    k: int
    budget: int
    extra_rollouts: int = 0
    stopped: bool = False
    cache: dict[tuple[str, tuple[int, ...]], float | None] = field(default_factory=dict)

    def boundary_values(self, task: Task, a: Attempt, spans: Sequence[StepSpan]) -> list[float | None] | None:
        """V at the end of every step but the last (there the attempt's own outcome is the value):
        mean reward of k continuations, None for a boundary whose continuations were all unscorable.
        Returns None when the budget cannot pay for this attempt's new prefixes."""
        keys = [(task.id, tuple(a.completion_ids[: s.end])) for s in spans[:-1]]
        new = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if new and (self.stopped or len(new) * self.k > self.budget):
            self.stopped = True
            return None
        for key in new:
            got = self.rollout(task, key[1], self.k)
            self.extra_rollouts += len(got)
            self.budget -= self.k
            scored = _scored(got)
            self.cache[key] = float(scored.mean()) if scored.size else None
        return [self.cache[k] for k in keys]


@dataclass(frozen=True)
class MonteCarloAssigner:
    """Step values from k sampled continuations at each step boundary (Math-Shepherd / VinePPO style).

    V(before step 0) is the group mean (free: the group already is a sample from the empty prefix);
    V(after the last step) is the attempt's own reward; in between, V(boundary) = mean reward of k
    continuations from the completion prefix up to the boundary. Step j's tokens get
    (V(after j) − V(before j)) / σ_group (σ only when `scale_by_std`): the steps telescope to the
    attempt's GRPO advantage, so this only redistributes outcome credit between steps.

    Prefixes are shared and the budget `ctx.max_extra_rollouts` spent as `BranchValues` describes;
    an attempt the budget cannot pay for keeps the outcome row.
    """

    k: int = 4
    name: str = field(default="monte_carlo", init=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise MentorError(f"monte_carlo: k must be >= 1, got {self.k}")

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        if ctx.rollout is None:
            raise MentorError(
                "credit assigner monte_carlo needs a rollout function",
                fix="pass CreditContext(rollout=...) or use another assigner",
            )
        out = _Out()
        branches = BranchValues(ctx.rollout, self.k, ctx.max_extra_rollouts)
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            stats = _group_stats(g.rewards, ctx.std_tol)
            out.groups_with_signal += stats is not None
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                reward = g.rewards[i]
                if stats is None or reward is None:
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                spans = _spans(ctx, a)
                inner = branches.boundary_values(g.task, a, spans)
                if inner is None:
                    out.bump("attempts_over_budget")
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                if any(v is None for v in inner):  # every continuation unscorable: no value here
                    out.bump("attempts_unvalued")
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                mean, std = stats
                v = np.array([mean, *[x or 0.0 for x in inner], reward])
                step_adv = np.diff(v) / (std if ctx.scale_by_std else 1.0)
                out.rows.append(_rows_from(_spread(spans, step_adv, n)))
                out.step_credit.append(
                    (flat + i, [(s.start, s.end, float(c)) for s, c in zip(spans, step_adv, strict=True)])
                )
            flat += len(g.attempts)
        out.extra_rollouts = branches.extra_rollouts
        out.counters.setdefault("attempts_over_budget", 0)
        return out.result(self.name, _args_of(self))


# ----------------------------------------------------------------------------------------------
# critique (CAPO)


def verified_flags(critique: CritiqueResult, spans: Sequence[StepSpan]) -> set[int]:
    """Steps a critique flags *with evidence*: the step exists and the quote, whitespace-normalised,
    occurs verbatim in that step's text. A flag without a real quote earns no penalty (a judge that
    invents a mistake must not teach the student to avoid correct steps)."""
    return {f.step for f in critique.flags if _flag_ok(f, spans)}


def _flag_ok(flag: StepFlag, spans: Sequence[StepSpan]) -> bool:
    if not 0 <= flag.step < len(spans):
        return False
    q = ws_normalise(flag.quote)
    return bool(q) and q in ws_normalise(spans[flag.step].text)


def combine_flags(per_critique: Sequence[set[int]], mode: str) -> set[int]:
    """Intersection: flagged by every critique (CAPO's choice for small policies, whose judges are
    noisy: precision over recall). Majority: flagged by more than half of the critiques."""
    if not per_critique:
        return set()
    if mode == "intersection":
        return set.intersection(*per_critique)
    votes: dict[int, int] = {}
    for flags in per_critique:
        for s in flags:
            votes[s] = votes.get(s, 0) + 1
    return {s for s, v in votes.items() if 2 * v > len(per_critique)}


@dataclass(frozen=True)
class CritiqueAssigner:
    """CAPO: token reward ρ_t = w_outcome·r − w_flag·[t in a flagged step], then group-normalised.

    r is the attempt's reward (the indicator [answer correct] for a 0/1 verifier). The baseline and
    scale are those of the outcome part, w_outcome·r, over the group, so an unflagged token gets
    exactly the GRPO advantage and a flagged one w_flag/(w_outcome·σ_r) less. The asymmetric default
    (2, 1) keeps a correct attempt with a flawed step above any wrong attempt.
    """

    combine: str = "intersection"  # or "majority"
    w_outcome: float = 2.0
    w_flag: float = 1.0
    critique_correct: bool = True  # also critique attempts with the top reward (CAPO does)
    name: str = field(default="critique", init=False)

    def __post_init__(self) -> None:
        if self.combine not in ("intersection", "majority"):
            raise MentorError(f"critique: combine must be intersection or majority, got {self.combine!r}")
        if self.w_outcome <= 0:
            raise MentorError(f"critique: w_outcome must be > 0, got {self.w_outcome}")

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        if ctx.critic is None:
            raise MentorError(
                "credit assigner critique needs a critic (judge) function",
                fix="pass CreditContext(critic=...) or use another assigner",
            )
        out = _Out()
        out.counters.update(critique_failures=0, flags_rejected=0)
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            stats = _group_stats(g.rewards, ctx.std_tol)
            out.groups_with_signal += stats is not None
            top = max((r for r in g.rewards if r is not None), default=None)
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                reward = g.rewards[i]
                if stats is None or reward is None or (not self.critique_correct and reward == top):
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                spans = _spans(ctx, a)
                try:
                    critiques = ctx.critic(g.task, a.text, spans)
                except JudgeError:
                    # The judge broke: the outcome reward still stands, only step credit is lost.
                    out.judge_calls += 1
                    out.bump("critique_failures")
                    out.rows.append(_row(advs[i] or 0.0, n))
                    continue
                out.judge_calls += len(critiques)
                per = [verified_flags(c, spans) for c in critiques]
                out.bump("flags_rejected", sum(not _flag_ok(f, spans) for c in critiques for f in c.flags))
                flagged = combine_flags(per, self.combine)
                mean, std = stats
                scale = self.w_outcome * (std if ctx.scale_by_std else 1.0)
                in_flagged = _spread(spans, [float(s.index in flagged) for s in spans], n)
                rho = self.w_outcome * reward - self.w_flag * in_flagged
                out.rows.append(_rows_from((rho - self.w_outcome * mean) / scale))
                if flagged:
                    pen = -self.w_flag / scale
                    out.step_credit.append(
                        (flat + i, [(s.start, s.end, pen) for s in spans if s.index in flagged])
                    )
            flat += len(g.attempts)
        return out.result(self.name, _args_of(self))


# ----------------------------------------------------------------------------------------------
# min_form (PURE)


def soft_min_values(step_rewards: Sequence[float], temperature: float) -> np.ndarray:
    """V_t = Σ_{u≥t} softmax_u(−r_u / T) · r_u over the *future* steps u = t..n−1.

    A soft minimum of the rewards still to come: as T → 0 it is min_{u≥t} r_u (T <= 0 gives the hard
    min). Min-form rather than a sum, so a trajectory cannot raise its value by piling up many
    "good" steps around a bad one (PURE).
    """
    r = np.asarray(step_rewards, dtype=np.float64)
    v = np.empty_like(r)
    for t in range(r.size):
        fut = r[t:]
        if temperature <= 0:
            v[t] = fut.min()
            continue
        z = -fut / temperature
        w = np.exp(z - z.max())  # shift by the max: stable at small T
        v[t] = float((w / w.sum()) @ fut)
    return v


@dataclass(frozen=True)
class MinFormAssigner:
    """PURE: step advantage = V_t − b_t with V the soft-min of future step rewards.

    b_t is a per-step leave-one-out baseline: the mean over the group's *other* scorable attempts
    of their V at the same step index (an attempt with fewer steps contributes its last V, the value
    of its final step). Step values are in step-reward units (no std scaling, as PURE's RLOO).
    `outcome_weight` adds that multiple of the GRPO outcome advantage to every token, so the
    verifiable reward keeps anchoring the step rewards (0 for step rewards only).

    Step rewards come from `ctx.step_rewards(task, attempt, steps)` or, for offline use, from the
    arg `step_rewards`: one list per attempt in flat order. A group without outcome signal gets zero
    rows like every assigner.
    """

    temperature: float = 0.1
    outcome_weight: float = 1.0
    step_rewards: tuple[tuple[float, ...], ...] | None = None
    name: str = field(default="min_form", init=False)

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        if ctx.step_rewards is None and self.step_rewards is None:
            raise MentorError(
                "credit assigner min_form needs step rewards",
                fix="pass CreditContext(step_rewards=...) or args.step_rewards",
            )
        out = _Out()
        out.counters["step_reward_failures"] = 0
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            signal = has_signal(g.rewards, ctx.std_tol)
            out.groups_with_signal += signal
            spans: dict[int, list[StepSpan]] = {}
            values: dict[int, np.ndarray] = {}
            if signal:
                for i, a in enumerate(g.attempts):
                    if g.rewards[i] is None:
                        continue
                    sp = _spans(ctx, a)
                    try:
                        r = self._rewards(ctx, g.task, a, sp, flat + i)
                    except JudgeError:
                        out.bump("step_reward_failures")  # outcome credit only for this attempt
                        continue
                    if r:
                        spans[i], values[i] = sp, soft_min_values(r, self.temperature)
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                base = self.outcome_weight * (advs[i] or 0.0)
                others = [values[j] for j in values if j != i]
                if i not in values or not others:  # no step values, or no one to compare with
                    out.rows.append(_row(base, n))
                    continue
                v = values[i]
                b = np.array([np.mean([o[min(t, o.size - 1)] for o in others]) for t in range(v.size)])
                step_adv = v - b
                out.rows.append(_rows_from(base + _spread(spans[i], step_adv, n)))
                out.step_credit.append(
                    (flat + i, [(s.start, s.end, float(c)) for s, c in zip(spans[i], step_adv, strict=True)])
                )
            flat += len(g.attempts)
        args = _args_of(self)
        if args["step_rewards"] is not None:
            args["step_rewards"] = "<given>"  # data, not configuration: keep the record small
        return out.result(self.name, args)

    def _rewards(
        self, ctx: CreditContext, task: Task, a: Attempt, spans: list[StepSpan], flat: int
    ) -> list[float]:
        if self.step_rewards is not None:
            r = list(self.step_rewards[flat])
        else:
            assert ctx.step_rewards is not None
            r = [float(x) for x in ctx.step_rewards(task, a, spans)]
        if len(r) != len(spans):
            raise MentorError(
                f"min_form: attempt {flat} has {len(spans)} steps but {len(r)} step rewards",
                fix="give one reward per step of the configured segmenter",
            )
        return r


# ----------------------------------------------------------------------------------------------
# Registry


def _build_min_form(args: dict[str, Any]) -> MinFormAssigner:
    sr = args.get("step_rewards")
    if sr is not None:
        args = {**args, "step_rewards": tuple(tuple(float(x) for x in row) for row in sr)}
    return MinFormAssigner(**args)


ASSIGNERS: dict[str, Callable[[dict[str, Any]], CreditAssigner]] = {
    "outcome": lambda args: OutcomeAssigner(**args),
    "prefix_tree": lambda args: PrefixTreeAssigner(**args),
    "monte_carlo": lambda args: MonteCarloAssigner(**args),
    "critique": lambda args: CritiqueAssigner(**args),
    "min_form": _build_min_form,
}


def build_assigner(spec_name: str, args: dict[str, Any] | None = None) -> CreditAssigner:
    """Build an assigner from its registry name and arguments (the run records both)."""
    if spec_name not in ASSIGNERS:
        raise MentorError(
            f"unknown credit assigner {spec_name!r}; valid names: {', '.join(sorted(ASSIGNERS))}"
        )
    try:
        return ASSIGNERS[spec_name](dict(args or {}))
    except TypeError as e:  # an unknown or misspelt argument
        raise MentorError(f"credit assigner {spec_name}: bad arguments {sorted(args or {})}: {e}") from e
