"""Hints: sources write them, schedules decide who sees them.

Sources (`hints.source`): `ladder` (default; worked examples of the same solved shape) and `llm` (a
tutor model). Schedules (`hints.schedule`): `scaffold` (default; adaptive scaffolding plus one rescue
re-roll), `fixed` (a fixed rung on failed tasks per stage of training: the QuestA-style baseline) and
`none` (the control). Guided attempts are trained under the no-hint prompt with the
bounded shaping r/(r+γ) (`hints.gamma`).
"""

from __future__ import annotations

from mentor.registry import Registry
from mentor.teacher.hints.base import HintSource, leaks_answer, render_hinted_prompt
from mentor.teacher.hints.ladder import LadderHints
from mentor.teacher.hints.llm import LLMHinter, llm_hinter
from mentor.teacher.hints.rates import PassRates, hint_reliance, hint_value, scaffold_size
from mentor.teacher.hints.schedules import FixedHints, HintSchedule, NoHints, Scaffold

HINT_SOURCES: Registry[HintSource] = Registry("hint source", "hints.source")
# answer_prefix comes from reward.answer_prefix: one prefix for the prompt, the grader and the hints
HINT_SOURCES.add("ladder", LadderHints, context=("answer_prefix",))
HINT_SOURCES.add("llm", llm_hinter, context=("answer_prefix",))

SCHEDULES: Registry[HintSchedule] = Registry("hint schedule", "hints.schedule")
SCHEDULES.add("none", NoHints)
SCHEDULES.add("scaffold", Scaffold, context=("source",))
# the horizon (the run's rollouts) comes from the config: optim.rollout_budget, else steps × batch
SCHEDULES.add("fixed", FixedHints, context=("source", "horizon"))

__all__ = ["HINT_SOURCES", "SCHEDULES", "FixedHints", "HintSchedule", "HintSource", "LLMHinter", "LadderHints", "NoHints",
           "PassRates", "Scaffold", "hint_reliance", "hint_value", "leaks_answer", "render_hinted_prompt",
           "scaffold_size"]
