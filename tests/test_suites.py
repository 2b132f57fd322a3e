"""The design/evaluation split of task families (presets/design.yaml, presets/evaluation.yaml): fixed,
disjoint, every family with a curriculum, and held-out tasks at every level (docs/decisions/suites.md)."""

from __future__ import annotations

from collections import Counter

import pytest

from mentor.config import load_config
from mentor.experiments.compare import arm_configs
from mentor.tasks import load_task_mix

# Fixed before any tuning. Changing either list is a decision: record it in docs/decisions/suites.md.
DESIGN = ["basic_arithmetic", "chain_sum", "products", "letter_counting", "calendar_arithmetic"]
EVALUATION = ["aiw", "gcd", "count_bits", "family_relationships"]


def _families(name: str) -> list[str]:
    return [spec.name for spec in load_config(None, None, name).tasks.mix]


def test_the_split_is_the_one_fixed_in_the_repo_and_disjoint():
    assert _families("design") == DESIGN and _families("evaluation") == EVALUATION
    assert not set(DESIGN) & set(EVALUATION)
    # the default mix (what every default was tuned on) is inside the design suite
    assert {s.name for s in load_config().tasks.mix} <= set(DESIGN)


@pytest.mark.parametrize("suite", ["design", "evaluation"])
def test_every_family_has_its_levels_and_the_held_out_set_covers_each(suite):
    from reasoning_gym.factory import has_curriculum

    cfg = load_config(None, None, suite)
    train, heldout = load_task_mix(cfg.tasks, 0)
    assert all(has_curriculum(s.name) and s.levels == [0, 1, 2] for s in cfg.tasks.mix)
    counts = Counter((t.source, t.level) for t in heldout)
    assert len(counts) == 3 * len(cfg.tasks.mix)  # every family at every level
    assert min(counts.values()) >= 5  # enough per level for a per-level accuracy
    assert not {t.prompt for t in heldout} & {t.prompt for t in train}


def test_compare_puts_a_suite_under_every_arm():
    arms = arm_configs(None, [], seed=0, steps=2, arms=["control", "dapo", "mentor"], preset="evaluation")
    assert all([s.name for s in cfg.tasks.mix] == EVALUATION for cfg in arms.values())
    assert arms["control"].hints.schedule.name == "none" and arms["mentor"].hints.schedule.name == "scaffold"
