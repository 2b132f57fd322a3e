"""Step-reward sources for `min_form` (Monte Carlo continuations or the critic), bound to each step with what they spend."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mentor.errors import ConfigError, MentorError
from mentor.teacher.credit.base import Group, RolloutFn, StepRewardFn
from mentor.teacher.credit.critic import CriticFn, JudgeCritic
from mentor.teacher.credit.critique import combine_flags, verified_flags
from mentor.teacher.credit.monte_carlo import BranchValues
from mentor.types import Advantages, Rollout, StepSpan, Task


@dataclass
class SourceCosts:
    """What a loop step's credit sources spent beyond what the assigner counts itself."""

    extra_rollouts: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


class StepRewardSource(Protocol):
    """Per-step rewards for `min_form`. `bind` is called once per loop step with that step's groups
    (so a source can read an attempt's outcome), rollout function and extra-rollout cap."""

    name: str

    def bind(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int,
             costs: SourceCosts) -> StepRewardFn: ...


def _outcomes(groups: Sequence[Group]) -> dict[Rollout, float | None]:
    return {a: r for g in groups for a, r in zip(g.attempts, g.rewards, strict=True)}


@dataclass(frozen=True)
class MonteCarloStepRewards:
    """Math-Shepherd's soft label: reward of step j = mean outcome of k continuations of the no-hint
    prompt plus the completion up to the end of step j; the last step's reward is the attempt's own
    outcome (nothing is left to continue). Prefixes are shared and the step's cap is spent exactly as
    the `monte_carlo` assigner spends it (`BranchValues`).

    Fallback, counted: the attempt is itself one continuation from each of its own boundaries, so
    its outcome is a (k = 1) estimate of every step's value. Once the cap is spent, an attempt gets
    its outcome for every step (`step_rewards_over_cap`); a boundary whose k continuations were all
    unscorable gets it for that step (`step_values_unscorable`).
    """

    k: int = 4
    name: str = field(default="monte_carlo", init=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"monte_carlo step rewards need k >= 1, got {self.k}.", where="credit.step_rewards.args.k",
                              fix="set k to the number of continuations per step boundary, e.g. 4")

    def bind(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int,
             costs: SourceCosts) -> StepRewardFn:
        if rollout is None:
            raise MentorError("monte_carlo step rewards need a rollout function",
                              fix="bind the source with the loop's rollout function")
        outcome = _outcomes(groups)
        branches = BranchValues(rollout, self.k, cap)
        costs.counters.update(step_rewards_over_cap=0, step_values_unscorable=0)

        def rewards(task: Task, a: Rollout, spans: list[StepSpan]) -> list[float]:
            r = outcome.get(a)
            if r is None:
                raise MentorError(f"monte_carlo step rewards: attempt {a.index} of task {task.id} has no outcome "
                                  "in this step's groups")
            if not spans:
                return []
            before = branches.extra_rollouts
            inner = branches.boundary_values(task, a, spans)
            costs.extra_rollouts += branches.extra_rollouts - before
            if inner is None:
                costs.bump("step_rewards_over_cap")
                return [r] * len(spans)
            costs.bump("step_values_unscorable", sum(v is None for v in inner))
            return [r if v is None else v for v in inner] + [r]

        return rewards


@dataclass(frozen=True)
class CritiqueStepRewards:
    """Step reward −1 for a step the critic's k critiques flag (flags verified against the step's text,
    combined by intersection or majority, as the `critique` assigner does), 0 otherwise.

    The verifiable outcome is not folded into these rewards: `min_form` already adds
    `outcome_weight` × the GRPO outcome advantage to every token, which is how PURE keeps a verifiable
    reward anchoring process rewards that a policy could otherwise game; putting the outcome into the
    last step as well would count it twice. An attempt with no flags gets all zeros, so with a critic
    that never flags, min_form reduces to outcome credit.
    """

    critic: CriticFn
    combine: str = "intersection"
    name: str = field(default="critique", init=False)

    def bind(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int,
             costs: SourceCosts) -> StepRewardFn:
        costs.counters.setdefault("steps_flagged", 0)

        def rewards(task: Task, a: Rollout, spans: list[StepSpan]) -> list[float]:
            critiques = self.critic(task, a.text, spans)  # JudgeError: min_form keeps outcome credit
            flagged = combine_flags([verified_flags(c, spans) for c in critiques], self.combine)
            costs.bump("steps_flagged", len(flagged))
            return [-1.0 if j in flagged else 0.0 for j in range(len(spans))]

        return rewards


@dataclass
class StepSources:
    """The sources as one loop step hands them to `CreditContext`, with what they spend."""

    critic: JudgeCritic | None = None
    step_rewards: StepRewardFn | None = None
    costs: SourceCosts = field(default_factory=SourceCosts)
    calls_before: int = 0  # the critic's call count when the step began

    def account(self, adv: Advantages) -> Advantages:
        """`adv` with this step's source costs in its info: extra rollouts added to the assigner's
        own, judge calls as the critic counted them (every backend call, retries and failed
        critiques included; an assigner can count only one call for a critic that raised)."""
        info = dict(adv.info)
        info["extra_rollouts"] = int(info.get("extra_rollouts", 0)) + self.costs.extra_rollouts
        if self.critic is not None:
            info["judge_calls"] = self.critic.calls - self.calls_before
        info.update(self.costs.counters)
        return dataclasses.replace(adv, info=info)


@dataclass
class CreditSources:
    """A run's critic and step-reward source, built once (`build_credit_sources`)."""

    critic: JudgeCritic | None = None
    step_rewards: StepRewardSource | None = None

    def for_step(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int) -> StepSources:
        costs = SourceCosts()
        bound = self.step_rewards.bind(groups, rollout, cap, costs) if self.step_rewards is not None else None
        return StepSources(self.critic, bound, costs, self.critic.calls if self.critic is not None else 0)
