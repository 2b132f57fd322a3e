"""What a step's rollouts become: loss items, store rows, step metrics and hint reliance.

Each is computed from the rollouts alone (never joined by position with another list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from mentor.store import AttemptRow
from mentor.teacher.hints import hint_reliance
from mentor.teacher.outcomes import groups_of, rewards_differ, signal_share
from mentor.train.grpo import TrainItem
from mentor.types import Rollout


def train_items(rollouts: Sequence[Rollout], no_hint_prompt: dict[str, tuple[int, ...]],
                hinted_prompt: Callable[[Rollout], tuple[int, ...]] | None = None) -> list[TrainItem]:
    """The trained rollouts as loss items, every one under its task's no-hint prompt; with
    `hinted_prompt` (hints.loss_prompt: hinted), a guided attempt under the prompt it was sampled with,
    as an ordinary on-policy attempt (plain GRPO on the hinted prompt)."""
    def item(r: Rollout) -> TrainItem:
        assert r.advantages is not None
        if r.hinted and hinted_prompt is not None:
            return TrainItem(group=r.group, prompt_ids=hinted_prompt(r), completion_ids=r.completion_ids,
                             advantages=r.advantages, sample_logprobs=r.logprobs, guided=False)
        return TrainItem(group=r.group, prompt_ids=no_hint_prompt[r.task.id], completion_ids=r.completion_ids,
                         advantages=r.advantages, sample_logprobs=r.logprobs, guided=r.hinted)

    return [item(r) for r in rollouts if r.advantages is not None]


def attempt_row(r: Rollout) -> AttemptRow:
    assert r.grade is not None, "only graded rollouts are stored"
    adv = r.advantages
    return AttemptRow(
        task_id=r.task.id, grp=r.group, idx=r.index, hint_level=r.hint.level if r.hint else 0,
        hint_kind=r.hint.kind if r.hint else None, hint_text=r.hint.text if r.hint else None, text=r.text,
        completion_ids=r.completion_ids, logprobs=r.logprobs, finished=r.finished, reward=r.grade.score,
        components=dict(r.grade.components), extracted=r.grade.extracted,
        unscorable_reason=r.grade.unscorable_reason, advantage=float(np.mean(adv)) if adv else None,
        token_advantages=adv, trained=adv is not None, policy_version=r.policy_version)


def _mixed(group: Sequence[Rollout]) -> bool:
    return rewards_differ(r.score for r in group)


def step_metrics(rollouts: Sequence[Rollout], rescued: set[int], credit_info: dict[str, Any],
                 update: dict[str, float], sampled: int, reliance: float | None) -> dict[str, Any]:
    groups = groups_of(rollouts)
    plain = [r for r in rollouts if not r.hinted]
    scored = [r for r in plain if r.score is not None]
    hinted_groups = [g for g in groups if any(r.hinted for r in g)]
    return {
        "groups": len(groups),
        "signal_groups": sum(_mixed(g) for g in groups),
        "signal_share": signal_share([[(r.score, r.trained) for r in g] for g in groups], sampled),
        "nohint_signal_groups": sum(_mixed([r for r in g if not r.hinted]) for g in groups),
        "hinted_groups": len(hinted_groups),
        # groups sampled and graded but not trained (a group filter dropped them); charged all the same
        "untrained_groups": sum(all(not r.trained for r in g) for g in groups),
        "hinted_attempt_share": sum(r.hinted for r in rollouts) / max(len(rollouts), 1),
        "hint_rescued_groups": sum(_mixed(g) for g in hinted_groups),
        "rescue_rerolls": len(rescued),
        "rescue_mixed": sum(_mixed(g) for g in groups if g[0].group in rescued),
        "hint_levels": [max((r.hint.level for r in g if r.hint), default=0) for g in groups],
        "mean_reward": float(np.mean([r.score for r in scored])) if scored else None,
        "pass_rate": float(np.mean([r.passed for r in scored])) if scored else None,
        "format_rate": float(np.mean([r.grade is not None and r.grade.extracted is not None for r in plain])),
        "unscorable": sum(r.score is None for r in rollouts),
        "rollouts": sampled,
        "credit": {k: v for k, v in credit_info.items() if k != "step_credit"},
        "update": {k: v for k, v in update.items() if not k.startswith("_")},
        "hint_reliance": reliance,
    }


def measure_reliance(policy: Any, rollouts: Sequence[Rollout], no_hint_prompt: dict[str, tuple[int, ...]],
                     temperature: float) -> float | None:
    """Hint reliance of the step's correct guided attempts: the mean per-token log-prob gap between
    the hinted context they were sampled in and the no-hint context the student is evaluated in.
    Measured before the update, so both log-probs come from the policy that sampled."""
    with_hint, without = [], []
    for group in groups_of(rollouts):
        correct = [r for r in group if r.hinted and r.passed]
        if not correct:
            continue
        with torch.no_grad():
            lps = policy.completion_logprobs(list(no_hint_prompt[group[0].task.id]),
                                             [r.completion_ids for r in correct], temperature)
        for r, lp in zip(correct, lps, strict=True):
            without.append(float(lp.mean()))
            with_hint.append(float(np.mean(r.logprobs)))
    return float(hint_reliance(without, with_hint)) if with_hint else None
