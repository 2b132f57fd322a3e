"""Credit: token-level advantages for the attempts of a group.

- `outcome`: vanilla GRPO, the group-normalised outcome on every token.
- `prefix_tree` (default): TEMPO, prefix-tree values at branch points, no extra rollouts.
- `monte_carlo`: step values from continuations at step boundaries (extra rollouts).
- `critique`: CAPO, a critic flags wrong steps (needs `credit.critic`).
- `min_form`: PURE, the soft minimum of the step rewards ahead (needs `credit.step_rewards`).
"""

from __future__ import annotations

from mentor.registry import Registry
from mentor.teacher.credit.base import CreditAssigner, CreditContext, Group, group_advantages, has_signal
from mentor.teacher.credit.critic import JudgeCritic, critic_backend
from mentor.teacher.credit.critique import CritiqueAssigner
from mentor.teacher.credit.min_form import MinFormAssigner
from mentor.teacher.credit.monte_carlo import MonteCarloAssigner
from mentor.teacher.credit.outcome import OutcomeAssigner
from mentor.teacher.credit.prefix_tree import PrefixTreeAssigner, prefix_tree_values
from mentor.teacher.credit.segment import SEGMENTERS, Segmenter
from mentor.teacher.credit.sources import (
    CreditSources,
    CritiqueStepRewards,
    MonteCarloStepRewards,
    StepRewardSource,
)

ASSIGNERS: Registry[CreditAssigner] = Registry("credit assigner", "credit.assigner")
ASSIGNERS.add("outcome", OutcomeAssigner)
ASSIGNERS.add("prefix_tree", PrefixTreeAssigner)
ASSIGNERS.add("monte_carlo", MonteCarloAssigner)
ASSIGNERS.add("critique", CritiqueAssigner)
ASSIGNERS.add("min_form", MinFormAssigner)

CRITICS: Registry[JudgeCritic] = Registry("critic backend", "credit.critic")
for _kind in ("openai", "local", "scripted"):
    CRITICS.add(_kind, critic_backend(_kind))

STEP_REWARDS: Registry[StepRewardSource] = Registry("step-reward source", "credit.step_rewards")
STEP_REWARDS.add("monte_carlo", MonteCarloStepRewards)
STEP_REWARDS.add("critique", CritiqueStepRewards, context=("critic",))

__all__ = ["ASSIGNERS", "CRITICS", "SEGMENTERS", "STEP_REWARDS", "CreditAssigner", "CreditContext", "CreditSources",
           "Group", "Segmenter", "group_advantages", "has_signal", "prefix_tree_values"]
