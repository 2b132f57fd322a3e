"""The teacher: selection, hints and credit as one component that any training host drives.

`build_teacher(cfg, pool)` builds it from a run config; `Teacher` (teacher.py) documents the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence

from mentor.config import RunConfig
from mentor.errors import ConfigError
from mentor.teacher.budget import BUDGETS
from mentor.teacher.credit import ASSIGNERS, CRITICS, SEGMENTERS, STEP_REWARDS, CreditSources
from mentor.teacher.filters import FILTERS
from mentor.teacher.hints import HINT_SOURCES, SCHEDULES
from mentor.teacher.selectors import SELECTORS, SelectorContext
from mentor.teacher.teacher import GroupPlan, Teacher
from mentor.types import Task

__all__ = ["REGISTRIES", "GroupPlan", "Teacher", "build_teacher", "check_plugins"]

# every plug-in point of the teacher, in the order the config reference lists them
REGISTRIES = (SELECTORS, BUDGETS, FILTERS, SCHEDULES, HINT_SOURCES, ASSIGNERS, SEGMENTERS, CRITICS, STEP_REWARDS)


def build_teacher(cfg: RunConfig, pool: Sequence[Task]) -> Teacher:
    """Every plug-in of the teacher, from the config's `{name, args}` specs (errors name the key)."""
    prefix = cfg.reward.answer_prefix
    source = HINT_SOURCES.build(cfg.hints.source.name, cfg.hints.source.args, answer_prefix=prefix)
    # the schedule's horizon: the run's rollouts, for schedules that change over training
    horizon = cfg.optim.rollout_budget or cfg.optim.steps * cfg.sampling.tasks_per_step * cfg.sampling.group_size
    schedule = SCHEDULES.build(cfg.hints.schedule.name, cfg.hints.schedule.args, source=source, horizon=horizon)
    context = SelectorContext(group_size=cfg.sampling.group_size, hinted=schedule.hinted)
    selector = SELECTORS.build(cfg.curriculum.selector.name, cfg.curriculum.selector.args, context=context)
    budget = cfg.curriculum.budget and BUDGETS.build(cfg.curriculum.budget.name, cfg.curriculum.budget.args)
    group_filter = cfg.curriculum.filter and FILTERS.build(cfg.curriculum.filter.name, cfg.curriculum.filter.args)
    c = cfg.credit
    _check_credit_inputs(cfg)
    # a critic or step-reward source is built only when the assigner asks it (a control's leftovers are not)
    wants_steps = c.assigner.name == "min_form" and c.step_rewards is not None
    wants_critic = c.assigner.name == "critique" or (wants_steps and c.step_rewards.name == "critique")
    critic = CRITICS.build(c.critic.name, c.critic.args) if wants_critic and c.critic is not None else None
    step_rewards = STEP_REWARDS.build(c.step_rewards.name, c.step_rewards.args, critic=critic) if wants_steps else None
    return Teacher(pool, selector, schedule, ASSIGNERS.build(c.assigner.name, c.assigner.args),
                   tasks_per_step=cfg.sampling.tasks_per_step, group_size=cfg.sampling.group_size, budget=budget,
                   sources=CreditSources(critic if c.assigner.name == "critique" else None, step_rewards),
                   segmenter=c.segmenter and SEGMENTERS.build(c.segmenter.name, c.segmenter.args),
                   scale_by_std=cfg.optim.scale_by_std, filter=group_filter,
                   hinted_loss=cfg.hints.loss_prompt == "hinted")


def check_plugins(cfg: RunConfig) -> None:
    """Validate every plug-in spec without building anything heavy (a critic's model is not loaded)."""
    for registry, spec in ((SELECTORS, cfg.curriculum.selector), (BUDGETS, cfg.curriculum.budget),
                           (FILTERS, cfg.curriculum.filter),
                           (HINT_SOURCES, cfg.hints.source), (SCHEDULES, cfg.hints.schedule),
                           (ASSIGNERS, cfg.credit.assigner), (SEGMENTERS, cfg.credit.segmenter),
                           (CRITICS, cfg.credit.critic), (STEP_REWARDS, cfg.credit.step_rewards)):
        if spec is not None:
            registry.validate(spec.name, spec.args)
    _check_credit_inputs(cfg)


def _check_credit_inputs(cfg: RunConfig) -> None:
    """Assigners whose inputs must be configured, checked before minutes of loading."""
    c = cfg.credit
    name = c.assigner.name
    steps_critique = name == "min_form" and c.step_rewards is not None and c.step_rewards.name == "critique"
    if (name == "critique" or steps_critique) and c.critic is None:
        raise ConfigError("critique credit needs a critic, but credit.critic is not set.",
                          where="credit.critic",
                          fix="set credit.critic, e.g. {name: openai, args: {url: http://localhost:8000/v1, model: NAME}}")
    if name == "min_form" and c.step_rewards is None:
        raise ConfigError("credit assigner 'min_form' needs per-step rewards, but credit.step_rewards is not set.",
                          where="credit.step_rewards",
                          fix="set credit.step_rewards to {name: monte_carlo, args: {k: 4}} or {name: critique} "
                              "with credit.critic")

