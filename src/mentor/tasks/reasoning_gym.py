"""reasoning-gym datasets by name, with their config keyword arguments and curriculum levels.

Each task keeps its reasoning-gym entry so it is scored by the dataset's own `score_answer`.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from mentor.config import TaskSpec
from mentor.errors import TaskError
from mentor.tasks.base import Split
from mentor.tasks.solutions import worked_solution
from mentor.types import Task

# Seed streams: held-out tasks come from a seed range training never uses.
_SPLIT_OFFSET = {"train": 0, "heldout": 1_000_003}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))


class ReasoningGymSource:
    def __init__(self, spec: TaskSpec) -> None:
        import reasoning_gym
        from reasoning_gym.factory import DATASETS

        if not spec.name:
            raise TaskError("a reasoning_gym task source needs a dataset 'name'.", where="tasks.mix",
                            fix="e.g. {source: reasoning_gym, name: basic_arithmetic}")
        if spec.name not in DATASETS:
            near = difflib.get_close_matches(spec.name, list(DATASETS), n=3)
            raise TaskError(
                f"unknown reasoning-gym dataset '{spec.name}'.",
                where="tasks.mix",
                fix=(f"did you mean {', '.join(near)}? " if near else "")
                + "`python -c 'import reasoning_gym.factory as f; print(sorted(f.DATASETS))'` lists them all",
            )
        self._rg = reasoning_gym
        self.spec = spec
        self.name = f"reasoning_gym:{spec.name}"

    def _config_for(self, level: int, seed: int, size: int) -> Any:
        from reasoning_gym.factory import DATASETS, create_curriculum, has_curriculum

        _, config_cls = DATASETS[self.spec.name]
        if has_curriculum(self.spec.name):
            curriculum = create_curriculum(self.spec.name)
            # reasoning-gym clamps a level above its top one silently; a run would then hold
            # "level 9" tasks that are really level 4 ones.
            top = max((len(a.levels) for a in curriculum.attributes.values()), default=1) - 1
            if level > top:
                raise TaskError(f"level {level} is not available for '{self.spec.name}' (its levels are 0..{top}).",
                                where="tasks.mix.levels", fix=f"use levels between 0 and {top}")
            try:
                curriculum.set_global_level(level)
            except Exception as exc:
                raise TaskError(f"level {level} is not available for '{self.spec.name}': {exc}",
                                where="tasks.mix.levels", fix="use a smaller level") from None
            base = vars(curriculum.generate_configuration({"seed": seed, "size": size}))
        elif level != 0:
            raise TaskError(f"'{self.spec.name}' has no curriculum, so only level 0 exists.",
                            where="tasks.mix.levels", fix="set levels: [0]")
        else:
            base = {"seed": seed, "size": size}
        merged = {**base, **self.spec.config, "seed": seed, "size": size}
        try:
            cfg = config_cls(**merged)
            cfg.validate()
        except (TypeError, AssertionError, ValueError) as exc:
            raise TaskError(f"invalid config for reasoning-gym dataset '{self.spec.name}': {exc}",
                            where="tasks.mix.config", fix="check the dataset's config field names and ranges") from None
        return cfg

    def tasks(self, split: Split, n: int, seed: int) -> list[Task]:
        from reasoning_gym.factory import DATASETS

        dataset_cls, _ = DATASETS[self.spec.name]
        levels = self.spec.levels or [0]
        per_level = [n // len(levels) + (1 if i < n % len(levels) else 0) for i in range(len(levels))]
        out: list[Task] = []
        for level, count in zip(levels, per_level, strict=True):
            if count == 0:
                continue
            level_seed = seed * 7919 + _SPLIT_OFFSET[split] + level * 101
            dataset = dataset_cls(config=self._config_for(level, level_seed, count))
            for i in range(count):
                entry = _jsonable(dataset[i])
                meta = entry.get("metadata", {})
                # a worked solution for hints, from the entry's own facts (tasks/solutions.py); None for
                # families without one (the hint ladder then stops earlier)
                solution = worked_solution(self.spec.name, entry)
                out.append(
                    Task(
                        id=f"{self.spec.name}/{split}/L{level}/s{seed}/{i}",
                        prompt=entry["question"],
                        answer=str(entry["answer"]),
                        solution=solution,
                        skills=(self.spec.name,),
                        level=level,
                        source=self.name,
                        verifier="reasoning_gym",
                        meta={"dataset": self.spec.name, "entry": entry, "metadata": meta},
                    )
                )
        return out
