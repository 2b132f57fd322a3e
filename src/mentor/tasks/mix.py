"""The task mix: the registry of task sources, and the training and held-out tasks of a run.

A source produces a deterministic list of tasks for (seed, split, n). Training and held-out tasks are
drawn from disjoint seed streams (reasoning-gym) or disjoint slices of a shuffled file (JSONL), and the
mix removes any held-out prompt that also appears in training, so the held-out score is never trained on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from mentor.config import TasksConfig, TaskSpec
from mentor.errors import ConfigError, TaskError
from mentor.registry import Registry
from mentor.tasks.base import TaskSource
from mentor.tasks.jsonl import JsonlSource
from mentor.tasks.reasoning_gym import ReasoningGymSource
from mentor.types import Task

# A source is built from its whole TaskSpec (name, path, levels, config), which the host passes in.
TASK_SOURCES: Registry[TaskSource] = Registry("task source", "tasks.mix[].source")
TASK_SOURCES.add("reasoning_gym", ReasoningGymSource, context=("spec",))
TASK_SOURCES.add("jsonl", JsonlSource, context=("spec",))


def build_task_source(spec: TaskSpec) -> TaskSource:
    try:
        TASK_SOURCES.entry(spec.source)
    except ConfigError as exc:
        raise TaskError(exc.message, where="tasks.mix", fix=exc.fix) from None
    return TASK_SOURCES.build(spec.source, {}, spec=spec)


def _split_counts(total: int, weights: Sequence[float]) -> list[int]:
    raw = [total * w / sum(weights) for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _by_level_in_turn(tasks: Sequence[Task]) -> list[Task]:
    """Tasks taken one level at a time in turn (each level in its own order), so that the first n of
    an over-drawn list cover every level alike rather than the first level only."""
    by: dict[int | None, list[Task]] = {}
    for t in tasks:
        by.setdefault(t.level, []).append(t)
    queues = list(by.values())
    return [q[i] for i in range(max((len(q) for q in queues), default=0)) for q in queues if i < len(q)]


def load_task_mix(cfg: TasksConfig, seed: int) -> tuple[list[Task], list[Task]]:
    """Training pool and held-out set of the configured mix, disjoint by prompt."""
    sources = [build_task_source(spec) for spec in cfg.mix]
    weights = [spec.weight for spec in cfg.mix]
    train: list[Task] = []
    heldout: list[Task] = []
    for source, n_train in zip(sources, _split_counts(cfg.train_size, weights), strict=True):
        train.extend(source.tasks("train", n_train, seed))
    # Over-draw held-out tasks, then drop any whose prompt training also has, from any source (small
    # task spaces such as 1-digit arithmetic collide often; two files can share lines), and any repeats.
    seen = {t.prompt for t in train}
    for source, n_held in zip(sources, _split_counts(cfg.heldout_size, weights), strict=True):
        kept: list[Task] = []
        for task in _by_level_in_turn(source.tasks("heldout", n_held * 4, seed)):
            if task.prompt not in seen and len(kept) < n_held:
                seen.add(task.prompt)
                kept.append(task)
        heldout.extend(kept)
    if not heldout:
        raise TaskError(
            "every held-out task also appears in training.",
            where="tasks",
            fix="use a larger task space (more levels or terms) or a smaller tasks.train_size",
        )
    ids = [t.id for t in train + heldout]
    if len(set(ids)) != len(ids):
        raise TaskError("task ids are not unique across the mix.", where="tasks.mix",
                        fix="give each JSONL task a unique 'id' (or drop the field to number them)")
    # Interleave sources deterministically so a prefix of the pool is itself a mix.
    random.Random(seed).shuffle(train)
    return train, heldout
