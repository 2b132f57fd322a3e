"""How tasks are grouped: buckets, levels, skills, prompt shapes and solved shapes, and the skill profile."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.outcomes import GroupOutcome, _evidence
from mentor.types import Task

_NUMERAL = re.compile(r"\d+(?:\.\d+)?")


def prompt_shape(prompt: str) -> str:
    """A prompt with its numbers masked and its spacing normalised: tasks of one shape are the same
    problem with other numbers ("Calculate -# - -#.")."""
    return " ".join(_NUMERAL.sub("#", prompt).split())


def solved_shape(task: Task) -> str:
    """The shape of the problem and of its reference answer ("3 - 7 =" and "9 - 2 =" share a prompt
    shape, but "-#" and "#" answers are different problems for a small student: one needs a sign it
    has never written). What the teacher knows from the reference, never shown to the student."""
    return f"{prompt_shape(task.prompt)} → {prompt_shape(task.answer or '')}"


def task_category(task: Task, by: str) -> str:
    """The group a task belongs to: the bandit's arms, the Bayesian implicit evidence, and the adaptive
    scaffold's per-shape pass rates (`hints.schedule.args.by`)."""
    if by == "bucket":
        return task.bucket
    if by == "level":
        return f"level={task.level if task.level is not None else '-'}"
    if by == "source":
        return task.source
    if by == "skill":
        # A task with several skills is filed under its first: arms must partition the pool.
        return f"skill={task.skills[0]}" if task.skills else task.bucket
    if by == "shape":
        # The same problem with other numbers (`prompt_shape`): far finer than a level, for
        # task sources whose levels hide a wide spread of difficulty.
        return f"{task.bucket}:{prompt_shape(task.prompt)}"
    if by == "solved_shape":
        # The shape of the problem and of its reference answer (`solved_shape`): splits
        # "# - # =" into the tasks with a positive and a negative result, which a small student finds
        # as different as two levels.
        return f"{task.bucket}:{solved_shape(task)}"
    raise ConfigError(f"unknown category '{by}'", fix=f"use one of: {', '.join(_CATEGORIES)}")


_CATEGORIES = ("bucket", "level", "source", "skill", "shape", "solved_shape")


def _check_category(by: str) -> str:
    if by not in _CATEGORIES:
        raise ConfigError(f"unknown category '{by}'", fix=f"use one of: {', '.join(_CATEGORIES)}")
    return by


def _skills_of(task: Task) -> tuple[str, ...]:
    # Tasks without skill labels (most reasoning-gym tasks) count under their source, so the
    # profile and the missing-skill tilt still mean something ("which generator is weak").
    return task.skills or (task.source or "-",)


class SkillProfile:
    """Per-skill success/attempt counts, the missing-skill profile and per-bucket pass rates.

    `missing[s]` counts failed attempts that involved skill `s` (STAT's missing-skill profile).
    `decay` < 1 multiplies every count by `decay` at each update so the profile follows the current
    student rather than the whole run; 1.0 keeps plain cumulative counts.
    """

    def __init__(self, decay: float = 1.0) -> None:
        if not 0.0 < decay <= 1.0:
            raise ConfigError(f"skill profile decay must be in (0, 1], got {decay}")
        self.decay = float(decay)
        self.success: dict[str, float] = {}
        self.attempts: dict[str, float] = {}
        self.missing: dict[str, float] = {}
        self._bucket: dict[str, list[Any]] = {}  # bucket -> [passed, attempts, source, level]

    def update(self, outcomes: Sequence[GroupOutcome]) -> None:
        if self.decay < 1.0:
            for table in (self.success, self.attempts, self.missing):
                for key in table:
                    table[key] *= self.decay
            for row in self._bucket.values():
                row[0] *= self.decay
                row[1] *= self.decay
        for o in _evidence(outcomes):
            for s in _skills_of(o.task):
                self.success[s] = self.success.get(s, 0.0) + o.passed
                self.attempts[s] = self.attempts.get(s, 0.0) + o.scored
                self.missing[s] = self.missing.get(s, 0.0) + (o.scored - o.passed)
            row = self._bucket.setdefault(o.task.bucket, [0.0, 0.0, o.task.source, o.task.level])
            row[0] += o.passed
            row[1] += o.scored

    def success_rate(self, skill: str) -> float | None:
        n = self.attempts.get(skill, 0.0)
        return self.success.get(skill, 0.0) / n if n > 0 else None

    def missing_weights(self) -> dict[str, float]:
        """Each skill's share of failure involvement, scaled so the most-missed skill has weight 1."""
        top = max(self.missing.values(), default=0.0)
        if top <= 0:
            return {}
        return {s: v / top for s, v in self.missing.items()}

    def tilt(self, tasks: Sequence[Task]) -> np.ndarray:
        """[n] in [0, 1]: how much each task exercises a missing skill (max over its skills)."""
        w = self.missing_weights()
        if not w:
            return np.zeros(len(tasks))
        return np.array([max(w.get(s, 0.0) for s in _skills_of(t)) for t in tasks])

    def bucket_rate(self, bucket: str) -> float:
        """The bucket's observed no-hint pass rate, 0.5 (unknown) before any evidence."""
        row = self.frontier().get(bucket)
        return float(row["pass_rate"]) if row is not None else 0.5

    def frontier(self) -> dict[str, dict[str, Any]]:
        """Per bucket (source@level): the estimated no-hint pass rate and the attempts behind it.

        The report reads the student's frontier off this: the levels whose pass rate is near 0.5.
        """
        out: dict[str, dict[str, Any]] = {}
        for bucket in sorted(self._bucket):
            passed, n, source, level = self._bucket[bucket]
            if n > 0:
                out[bucket] = {"source": source, "level": level, "pass_rate": passed / n, "attempts": n}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "success": dict(self.success),
            "attempts": dict(self.attempts),
            "missing": dict(self.missing),
            "buckets": {b: list(row) for b, row in self._bucket.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.success = {k: float(v) for k, v in state["success"].items()}
        self.attempts = {k: float(v) for k, v in state["attempts"].items()}
        self.missing = {k: float(v) for k, v in state["missing"].items()}
        self._bucket = {b: [float(r[0]), float(r[1]), r[2], r[3]] for b, r in state["buckets"].items()}
