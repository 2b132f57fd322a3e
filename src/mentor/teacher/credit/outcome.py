"""`outcome`: vanilla GRPO, the group-normalised outcome for every token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mentor.teacher.credit.base import (
    CreditContext,
    Group,
    _args_of,
    _Out,
    _row,
    group_advantages,
    has_signal,
)
from mentor.types import Advantages


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
