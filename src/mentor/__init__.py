"""Mentor: the teacher in the loop of RL fine-tuning.

The public API, imported lazily so that `import mentor` stays light (no torch until a student is built):

    from mentor import RunConfig, load_config, build_teacher, Teacher, Rollout
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunConfig": "mentor.config",
    "load_config": "mentor.config",
    "Registry": "mentor.registry",
    "Task": "mentor.types",
    "Hint": "mentor.types",
    "Grade": "mentor.types",
    "Verdict": "mentor.types",
    "Rollout": "mentor.types",
    "Teacher": "mentor.teacher",
    "GroupPlan": "mentor.teacher",
    "build_teacher": "mentor.teacher",
    "load_grader": "mentor.grade",
    "train": "mentor.train.setup",
    "MentorError": "mentor.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mentor' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
