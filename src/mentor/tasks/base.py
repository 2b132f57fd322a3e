"""The task-source protocol and the task mix.

A source produces a deterministic list of tasks for (seed, split, n). Training and held-out tasks are
drawn from disjoint seed streams (reasoning-gym) or disjoint slices of a shuffled file (JSONL), and the
mix removes any held-out prompt that also appears in training, so the held-out score is never trained on.
"""

from __future__ import annotations

from typing import Literal, Protocol

from mentor.types import Task

Split = Literal["train", "heldout"]


class TaskSource(Protocol):
    name: str

    def tasks(self, split: Split, n: int, seed: int) -> list[Task]:
        """`n` tasks of `split`, identical for the same (split, n, seed)."""
        ...
