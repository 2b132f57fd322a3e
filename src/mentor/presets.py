"""Named starting points for `mentor train --preset NAME`; a config file and --set apply on top."""

from __future__ import annotations

import copy
from typing import Any

from mentor.errors import ConfigError

# Vanilla GRPO: uniform task selection, outcome reward only, no hints. The control of `mentor compare`.
CONTROL: dict[str, Any] = {
    "curriculum": {"selector": {"name": "uniform"}},
    "hints": {"enabled": False},
    "credit": {"assigner": {"name": "outcome"}},
}

# The teacher on: groups likely to fail entirely get part of their attempts with a hint, trained
# under the no-hint prompt.
MENTOR: dict[str, Any] = {
    # Tasks drawn by the chance that their scaffolded group is mixed, per solved shape (prompt and
    # answer form), leaning gently (sharpness 2) and tracking a fast student (forget 0.3): on seeds 0-1
    # held-out accuracy after 128 rollouts rose from 3-7% (uniform) to 41-43% (notes/hints.md). Under
    # rescue that start comes from the hints alone; the selector adds +2.6 points [-8.2, +15.4] and a
    # steadier signal share (0.83 vs 0.80) on four seeds. The knapsack budget stays off (+1.3 [-8.4, +10.3]).
    "curriculum": {"selector": {"name": "signal", "args": {"by": "solved_shape", "forget": 0.3, "sharpness": 2.0}}},
    # Measured on the bundled student: a format reminder rescues no group, one worked example shown as
    # an earlier chat turn ~38% of groups, three ~60% (benchmarks/hint_ladder.py); examples whose
    # answer has the task's form lift negative-answer tasks from 0.15 to 0.24. Groups likely to fail
    # entirely are scaffolded before sampling (at the top rung: three examples; pass rates per solved
    # shape, a pessimistic prior of mean 0.1 for the first step), and a group that still fails entirely
    # is re-rolled once, whole, at the top rung (rescue; the re-roll counts against the rollout
    # budget); guided tokens are shaped at a fixed γ = 0.1. On four seeds at the same rollout budget,
    # rescue lifted the share of groups with a signal from 0.66 (adaptive) to 0.82 (notes/hints.md).
    "hints": {"enabled": True,
              "source": {"name": "ladder", "args": {"levels": ["example:1", "example:3"], "match_answer": True}},
              "max_level": 2, "mode": "rescue", "gamma": 0.1,
              "adaptive": {"by": "solved_shape", "prior": [0.5, 4.5]}},
    # prefix_tree (TEMPO) beat outcome at equal cost on 4 seeds, +10.9 points [+3.3, +20.0], no extra
    # rollouts (benchmarks/credit_ablation.py); outcome stays the control's.
    "credit": {"assigner": {"name": "prefix_tree"}},
}

# Two steps of the tiny random model on a handful of tasks: the end-to-end path tests use.
SMOKE: dict[str, Any] = {
    "model": {"name": "tiny", "sample_dtype": "float32", "train_autocast": False},
    "tasks": {"mix": [{"source": "reasoning_gym", "name": "basic_arithmetic",
                       "config": {"min_terms": 2, "max_terms": 2}, "levels": [0]}],
              "train_size": 16, "heldout_size": 8},
    "sampling": {"group_size": 4, "tasks_per_step": 2, "max_new_tokens": 8},
    "optim": {"steps": 2, "lr": 1e-3},
    "eval": {"every": 1, "pass_k": 2, "bootstrap": 100},
    "checkpoint_every": 1,
}

PRESETS: dict[str, dict[str, Any]] = {
    "control": CONTROL,
    "mentor": MENTOR,
    "smoke": SMOKE,
}
DEFAULT_PRESET = "mentor"


def preset_data(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'.", where="--preset",
                          fix=f"use one of: {', '.join(sorted(PRESETS))}")
    return copy.deepcopy(PRESETS[name])
