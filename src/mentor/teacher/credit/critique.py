"""`critique`: CAPO (arXiv 2508.02298), a judge flags wrong steps with verified quotes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mentor.errors import JudgeError, MentorError
from mentor.grade.defences import ws_normalise
from mentor.teacher.credit.base import (
    CreditContext,
    CritiqueResult,
    Group,
    StepFlag,
    _args_of,
    _group_stats,
    _Out,
    _row,
    _rows_from,
    _spans,
    _spread,
    group_advantages,
)
from mentor.types import Advantages, StepSpan


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
