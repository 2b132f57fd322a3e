"""Which tasks verl trains on next, chosen by a Mentor selector from the outcomes of the last batch.

verl 0.9.1 has no curriculum sampler any more (`data.sampler.class_path` and
`AbstractCurriculumSampler` are gone; `create_rl_sampler` builds a random or sequential sampler and
nothing else). What it still has is `data.custom_cls` (any `torch.utils.data.Dataset`) and, in the
`RayPPOTrainer` loop (`trainer.use_v1=False`), a call to `train_dataset.on_batch_end(batch=...)`
after every step with the whole trained batch. `mentor.integrations.verl_dataset.MentorTaskDataset`
uses both; this module is the part that does not need verl:

- `TaskSelection` hands out the tasks of the next batch, a whole batch at a time
  (`selector.select(pool, train_batch_size, rng)`), and refuses to pick a second batch before the
  outcomes of the first arrived: with verl's v1 trainer (the default, `trainer.use_v1=True`), which
  never calls `on_batch_end`, selection would silently run blind.
- `outcomes_from_batch` turns verl's batch (task ids, uids, summed scores with NaN = unscorable,
  advantages) into Mentor's `GroupOutcome`s, grouped by uid, never by position (verl reorders the
  batch to balance sequence lengths).

No lag: with `data.dataloader_num_workers=0` verl draws batch t+1 after `on_batch_end(batch t)`, so
every selection sees every earlier outcome. Worker processes would select from copies of the selector
that never see an outcome, so `MentorTaskDataset` refuses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError, StoreError, TaskError
from mentor.teacher.outcomes import GroupOutcome
from mentor.teacher.selectors import SELECTORS, Selector, SelectorContext
from mentor.types import Task

__all__ = ["TaskSelection", "build_selection", "outcomes_from_batch"]

WHERE = "data.mentor"


class TaskSelection:
    """The next tasks for verl's dataloader, one batch of `batch_size` at a time, from `selector`."""

    def __init__(self, pool: Sequence[Task], selector: Selector, *, batch_size: int, seed: int) -> None:
        if not pool:
            raise TaskError("no tasks to select from", fix="point data.train_files at rows written by "
                                                          "mentor.integrations.verl.write_verl_dataset")
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}", where="data.train_batch_size")
        self.pool = list(pool)
        self.by_id = {t.id: t for t in self.pool}
        if len(self.by_id) != len(self.pool):
            raise TaskError("two rows carry the same task id", fix="give every task a unique id")
        self.selector, self.batch_size = selector, batch_size
        self.rng = np.random.default_rng(seed)
        self.queue: list[str] = []  # task ids still to hand out from the current batch
        self.batches = 0  # batches selected
        self.observed = 0  # batches whose outcomes arrived

    def next_task(self) -> Task:
        if not self.queue:
            if self.batches > self.observed:
                raise ConfigError(
                    "Mentor's task selection was asked for a new batch before the outcomes of the last one "
                    "arrived: this verl trainer does not call the dataset's on_batch_end",
                    where="trainer.use_v1",
                    fix="set trainer.use_v1=False (verl 0.9.1's RayPPOTrainer calls on_batch_end after each step) "
                        "and data.dataloader_num_workers=0, or drop data.custom_cls")
            self.queue = [t.id for t in self.selector.select(self.pool, self.batch_size, self.rng)]
            self.batches += 1
        return self.by_id[self.queue.pop(0)]

    def observe(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.selector.update(outcomes)
        self.observed = self.batches
        self.queue = []  # a batch's leftovers (a partial last batch) are not carried over

    def state_dict(self) -> dict[str, Any]:
        return {"selector": self.selector.state_dict(), "rng": self.rng.bit_generator.state,
                "queue": list(self.queue), "batches": self.batches, "observed": self.observed,
                "pool": sorted(self.by_id)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if sorted(state.get("pool", [])) != sorted(self.by_id):
            raise StoreError("the saved task selection was made over other tasks than these rows",
                             fix="resume with the same data.train_files")
        self.selector.load_state_dict(dict(state["selector"]))
        self.rng.bit_generator.state = dict(state["rng"])
        self.queue = list(state["queue"])
        self.batches, self.observed = int(state["batches"]), int(state["observed"])


def build_selection(pool: Sequence[Task], settings: Mapping[str, Any] | None, *, batch_size: int) -> TaskSelection:
    """`TaskSelection` from verl's `data.mentor` settings: `selector: {name, args}` (a Mentor selector,
    default `signal`), `group_size` (required: `${actor_rollout_ref.rollout.n}`), `seed` (default 0)."""
    s = dict(settings or {})
    unknown = sorted(set(s) - {"selector", "group_size", "seed"})
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}", where=WHERE, fix="data.mentor takes selector, group_size, seed")
    group_size = s.get("group_size")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ConfigError(f"data.mentor.group_size must be verl's responses per prompt, got {group_size!r}",
                          where=f"{WHERE}.group_size", fix="add +data.mentor.group_size=${actor_rollout_ref.rollout.n}")
    spec = dict(s.get("selector") or {"name": "signal"})
    if set(spec) - {"name", "args"} or not isinstance(spec.get("name"), str):
        raise ConfigError(f"selector must be {{name, args}}, got {spec!r}", where=f"{WHERE}.selector",
                          fix="e.g. +data.mentor.selector.name=signal")
    # verl shows no hints, so the selector plans with no hinted attempts (k = 0 in the signal model).
    context = SelectorContext(group_size=group_size, hinted=lambda task, size: 0)
    selector = SELECTORS.build(spec["name"], dict(spec.get("args") or {}), where=f"{WHERE}.selector", context=context)
    seed = s.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}", where=f"{WHERE}.seed")
    return TaskSelection(pool, selector, batch_size=batch_size, seed=seed)


def outcomes_from_batch(by_id: Mapping[str, Task], task_ids: Sequence[str], uids: Sequence[Any],
                        scores: Sequence[float], mean_abs_advantages: Sequence[float]) -> list[GroupOutcome]:
    """One `GroupOutcome` per uid (one prompt's responses), in first-seen order. A NaN score is
    unscorable (None for the selector); `mean_abs_advantages` [B] are per response."""
    if not len(task_ids) == len(uids) == len(scores) == len(mean_abs_advantages):
        raise TaskError("the batch's task ids, uids, scores and advantages differ in length")
    groups: dict[Any, list[int]] = {}
    for i, uid in enumerate(uids):
        groups.setdefault(uid, []).append(i)
    out = []
    for members in groups.values():
        ids = {str(task_ids[i]) for i in members}
        if len(ids) != 1:
            raise TaskError(f"one verl group (uid) holds several tasks: {sorted(ids)}")
        (task_id,) = ids
        if task_id not in by_id:
            raise TaskError(f"the batch holds task '{task_id}', which is not among the dataset's tasks")
        rewards = [float(scores[i]) if np.isfinite(scores[i]) else None for i in members]
        trained = [float(mean_abs_advantages[i]) for i in members if np.isfinite(scores[i])]
        out.append(GroupOutcome.from_rewards(by_id[task_id], rewards, float(np.mean(trained)) if trained else 0.0))
    return out
