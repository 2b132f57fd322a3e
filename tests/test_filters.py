"""Group filters (teacher/filters.py): DAPO's dynamic sampling drops groups without a learning signal and
refills the batch with fresh tasks, for a capped number of rounds, and every rollout it samples is
charged: in the teacher driven by a scripted host, and in Mentor's own loop on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from mentor.config import load_config
from mentor.errors import ConfigError
from mentor.teacher import Teacher
from mentor.teacher.credit import ASSIGNERS
from mentor.teacher.filters import FILTERS, DynamicSampling
from mentor.teacher.hints import NoHints
from mentor.teacher.selectors import UniformSelector
from mentor.train.loop import train_step
from mentor.train.setup import build_run
from mentor.types import Grade, Rollout, Task

G = 4


def _pool(n: int, mixed: set[int]) -> list[Task]:
    """Tasks whose groups come out mixed (index in `mixed`) or all-fail (the rest)."""
    return [Task(id=f"t{i}", prompt=f"q{i}", answer="1", meta={"mixed": i in mixed}) for i in range(n)]


def _host(teacher: Teacher, budget: int | None = None) -> tuple[list[Rollout], int, int]:
    """A scripted host: samples the plans (a mixed task passes its first attempt only), runs the
    rescue rounds as Mentor's loop does; returns the credited rollouts, rollouts sampled and rounds."""
    rng = np.random.default_rng(0)
    sampled = 0

    def sample(plans):
        nonlocal sampled
        out = []
        for p in plans:
            for i, h in enumerate(p.hints):
                score = 1.0 if p.task.meta["mixed"] and i == 0 else 0.0
                out.append(Rollout(task=p.task, group=p.group, index=p.start + i, text="x", completion_ids=(1, 2),
                                   logprobs=(-0.1, -0.1), finished=True, hint=h, grade=Grade(score=score)))
        sampled += len(out)
        return out

    rollouts = sample(teacher.plan(rng, None if budget is None else budget))
    rounds = 0
    while extra := teacher.rescue(rollouts, rng, None if budget is None else budget - sampled):
        rounds += 1
        rollouts = sorted(rollouts + sample(extra), key=lambda r: (r.group, r.index))
    credited, _ = teacher.advantages(rollouts, tokenizer=None)
    return credited, sampled, rounds


def _teacher(pool: list[Task], **filter_args) -> Teacher:
    return Teacher(pool, UniformSelector(), NoHints(), ASSIGNERS.build("outcome"), tasks_per_step=3, group_size=G,
                   filter=DynamicSampling(**filter_args))


def test_dynamic_sampling_refills_until_the_batch_has_k_mixed_groups_and_trains_only_those():
    pool = _pool(40, mixed=set(range(0, 40, 3)))  # a third of the tasks give a signal
    credited, sampled, rounds = _host(_teacher(pool, oversample=2.0, max_rounds=10))
    groups = {r.group for r in credited}
    trained = {r.group for r in credited if r.trained}
    assert len(trained) == 3  # exactly the batch: the first three mixed groups, in sampling order
    assert all(next(r for r in credited if r.group == g).task.meta["mixed"] for g in trained)
    mixed_groups = sorted(g for g in groups if next(r for r in credited if r.group == g).task.meta["mixed"])
    assert sorted(trained) == mixed_groups[:3]
    assert sampled == len(credited) == len(groups) * G  # every sampled rollout is returned, trained or not
    assert rounds >= 1 and len(groups) >= 6  # planned 2 × 3 up front, then refills
    # no task twice in one step while the pool has fresh ones
    assert len({r.task.id for r in credited}) == len(groups)


def test_dynamic_sampling_stops_after_max_rounds_and_trains_what_it_found():
    pool = _pool(60, mixed=set())  # nothing ever gives a signal
    credited, sampled, rounds = _host(_teacher(pool, oversample=1.0, max_rounds=2))
    assert rounds == 2
    assert sampled == (3 + 3 + 3) * G  # the batch, then two refills of the 3 missing groups
    assert not any(r.trained for r in credited)


def test_dynamic_sampling_never_plans_past_the_budget():
    pool = _pool(60, mixed=set())
    _, sampled, _ = _host(_teacher(pool, oversample=2.0, max_rounds=10), budget=5 * G + 2)
    assert sampled == 5 * G  # 6 groups wanted up front, 5 affordable; no refill fits in the 2 left


def test_without_a_filter_every_group_is_trained_and_nothing_is_refilled():
    pool = _pool(10, mixed={0})
    teacher = Teacher(pool, UniformSelector(), NoHints(), ASSIGNERS.build("outcome"), tasks_per_step=3, group_size=G)
    credited, sampled, rounds = _host(teacher)
    assert rounds == 0 and sampled == 3 * G and all(r.trained for r in credited)


def test_bad_filter_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="oversample"):
        FILTERS.build("dynamic_sampling", {"oversample": 0.5})
    with pytest.raises(ConfigError, match="unknown group filter 'dynamic'"):
        FILTERS.build("dynamic", {})


def test_dapo_in_the_loop_charges_every_dropped_rollout(tmp_path):
    # The tiny model never answers, so no group has a signal: DAPO samples 2 × the batch, refills twice,
    # trains nothing, and every rollout is in the budget, the store and the signal share's denominator.
    cfg = load_config(None, ["optim.steps=1", "curriculum.filter.args.max_rounds=2", "tasks.train_size=64"],
                      "smoke,dapo")
    assert cfg.curriculum.filter is not None and cfg.hints.schedule.name == "none"
    run = build_run(cfg, tmp_path / "run")
    k, g = cfg.sampling.tasks_per_step, cfg.sampling.group_size
    metrics = train_step(run, 1)
    rows = list(run.store.attempts(1))
    expected = (2 * k + 2 * (2 * k)) * g  # planned 2k groups, then two refills of 2 × the k missing
    assert run.rollouts == len(rows) == metrics["rollouts"] == expected
    assert metrics["groups"] == expected // g and metrics["untrained_groups"] == metrics["groups"]
    assert metrics["signal_share"] == 0 and not any(r["trained"] for r in rows)
    run.store.close()
