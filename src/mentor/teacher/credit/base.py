"""What every credit assigner shares: groups, the context a host supplies, group-relative advantages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mentor.errors import MentorError
from mentor.teacher.credit.segment import SEGMENTERS, Segmenter
from mentor.types import Advantages, Rollout, StepSpan, Task


@dataclass(frozen=True)
class Group:
    """One task's attempts in a step of the loop."""

    task: Task
    attempts: tuple[Rollout, ...]
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


StepRewardFn = Callable[[Task, Rollout, list[StepSpan]], Sequence[float]]


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
    return ctx.segmenter if ctx.segmenter is not None else SEGMENTERS.build("blank_lines")


def _spans(ctx: CreditContext, attempt: Rollout) -> list[StepSpan]:
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
