"""The `fixed` hint schedule with the ladder's prefix rungs (the QuestA-style `prefix_hints` baseline):
what the hinted prompt shows, the fraction per stage of training, re-rolls as groups of their own, and a
loss taken under the hinted prompt."""

from __future__ import annotations

import numpy as np
import pytest

from mentor.config import load_config
from mentor.errors import ConfigError
from mentor.teacher import Teacher
from mentor.teacher.credit import ASSIGNERS
from mentor.teacher.hints import HINT_SOURCES, SCHEDULES, FixedHints, LadderHints
from mentor.teacher.selectors import UniformSelector
from mentor.train.records import train_items
from mentor.types import Grade, Hint, Rollout, Task

STEPS = [f"step {i}: add {i} to get s{i}" for i in range(1, 9)]  # 8 lines, none states the answer
TASK = Task(id="t", prompt="What is it?", answer="99", solution="\n".join(STEPS) + "\nAnswer: 99")


def _schedule(horizon: int = 100) -> FixedHints:
    source = LadderHints(levels=["prefix"], fractions=(0.25, 0.5))
    return FixedHints(source, horizon=horizon, levels=(2, 1))


def _rollout(task: Task, group: int, index: int, score: float, hint: Hint | None = None) -> Rollout:
    return Rollout(task=task, group=group, index=index, text="no idea", completion_ids=(5, 6), logprobs=(-1.0, -1.0),
                   finished=True, hint=hint, grade=Grade(score=score))


def _failed_group(task: Task = TASK, size: int = 4) -> list[Rollout]:
    return [_rollout(task, 0, i, 0.0) for i in range(size)]


def test_a_failed_group_is_re_rolled_with_half_the_solution_then_a_quarter_in_the_second_half():
    schedule, rng = _schedule(horizon=100), np.random.default_rng(0)
    hints = schedule.rescue(_failed_group(), [TASK], rng)
    assert len(hints) == 4 and len(set(hints)) == 1  # the whole group, one hint
    text = hints[0].text
    assert all(s in text for s in STEPS[:4]) and STEPS[4] not in text  # the first 50% of the steps
    assert "99" not in text and "Answer" not in text.split("\n", 1)[1]  # never the answer line
    schedule.observe([_rollout(TASK, 1, i, 0.0) for i in range(60)])  # 60 of the run's 100 rollouts seen
    late = schedule.rescue(_failed_group(), [TASK], rng)[0].text
    assert all(s in late for s in STEPS[:2]) and STEPS[2] not in late  # 25% in the second half


def test_groups_that_pass_or_were_hinted_are_not_re_rolled_and_failed_tasks_are_hinted_up_front():
    schedule, rng = _schedule(), np.random.default_rng(0)
    passing = [_rollout(TASK, 0, 0, 1.0), *(_rollout(TASK, 0, i, 0.0) for i in (1, 2, 3))]
    assert schedule.rescue(passing, [TASK], rng) == ()
    assert schedule.scaffold(TASK, 4, [TASK], rng) == (None,) * 4 and schedule.hinted(TASK, 4) == 0
    schedule.observe(_failed_group())  # the task failed without a hint: hinted in full from now on
    up_front = schedule.scaffold(TASK, 4, [TASK], rng)
    assert all(h is not None and h.kind == "prefix" for h in up_front) and schedule.hinted(TASK, 4) == 4
    hinted_fail = [_rollout(TASK, 0, i, 0.0, hint=up_front[0]) for i in range(4)]
    assert schedule.rescue(hinted_fail, [TASK], rng) == ()  # a hinted group is not re-rolled again
    schedule.observe([_rollout(TASK, 0, i, 1.0, hint=up_front[0]) for i in range(4)])  # solved with the hint
    assert schedule.hinted(TASK, 4) == 0
    again = FixedHints(schedule.source, horizon=100)
    again.load_state_dict(schedule.state_dict())
    assert again.failed == schedule.failed and again.seen == schedule.seen


def test_a_task_without_a_solution_gets_no_hint():
    bare = Task(id="b", prompt="q", answer="3")
    assert _schedule().rescue(_failed_group(bare), [bare], np.random.default_rng(0)) == ()


def test_bad_levels_are_config_errors():
    source = HINT_SOURCES.build("ladder", {"levels": ["prefix"]})
    with pytest.raises(ConfigError, match="levels"):
        SCHEDULES.build("fixed", {"levels": [0]}, source=source, horizon=10)


def test_with_a_hinted_loss_a_re_roll_is_a_group_of_its_own():
    def teacher(hinted_loss: bool) -> Teacher:
        return Teacher([TASK], UniformSelector(), _schedule(), ASSIGNERS.build("outcome"), tasks_per_step=1,
                       group_size=4, hinted_loss=hinted_loss)

    rng = np.random.default_rng(0)
    own = teacher(True).rescue(_failed_group(), rng, None)
    assert [(p.group, p.start, p.rerolls) for p in own] == [(1, 0, 0)]
    joined = teacher(False).rescue(_failed_group(), rng, None)
    assert [(p.group, p.start, p.rerolls) for p in joined] == [(0, 4, 0)]


def test_train_items_take_a_guided_attempt_under_the_prompt_it_saw_when_asked():
    hint = Hint(level=2, kind="prefix", text="Here is the beginning")
    rollouts = [_rollout(TASK, 1, i, float(i == 0), hint=hint) for i in range(2)] + [_rollout(TASK, 0, 0, 0.0)]
    rollouts = [r.__class__(**{**r.__dict__, "advantages": (1.0, 1.0)}) for r in rollouts]
    no_hint = {TASK.id: (1, 2, 3)}
    under_hint = train_items(rollouts, no_hint, lambda r: (1, 2, 3, 9, 9))
    assert [(it.prompt_ids, it.guided) for it in under_hint] == [((1, 2, 3, 9, 9), False)] * 2 + [((1, 2, 3), False)]
    shaped = train_items(rollouts, no_hint)
    assert [(it.prompt_ids, it.guided) for it in shaped] == [((1, 2, 3), True)] * 2 + [((1, 2, 3), False)]


def test_prefix_hints_in_the_loop_train_on_the_hinted_prompt(tmp_path, monkeypatch):
    # The tiny model fails every group: each is re-rolled with a prefix of its reference solution (the
    # arithmetic tasks carry "expr = answer") as a group of its own, and the loss sees the hinted prompt.
    import mentor.train.loop as loop
    from mentor.student.prompt import prompt_ids
    from mentor.train.setup import build_run

    seen = []
    real = loop.grpo_update
    monkeypatch.setattr(loop, "grpo_update", lambda policy, opt, items, *a, **k: seen.extend(items) or real(
        policy, opt, items, *a, **k))
    cfg = load_config(None, ["optim.steps=1"],
                      "smoke,prefix_hints")
    assert cfg.hints.loss_prompt == "hinted" and cfg.credit.assigner.name == "outcome"
    run = build_run(cfg, tmp_path / "run")
    metrics = loop.train_step(run, 1)
    rows = list(run.store.attempts(1))
    hinted = [r for r in rows if r["hint_level"]]
    assert hinted and all(r["hint_kind"] == "prefix" for r in hinted)
    assert metrics["rescue_rerolls"] == len({r["grp"] for r in hinted})
    assert {r["grp"] for r in hinted}.isdisjoint({r["grp"] for r in rows if not r["hint_level"]})
    assert run.rollouts == len(rows)  # the re-rolls are charged
    tasks = {t.id: t for t in run.teacher.pool}
    by_group = {r["grp"]: r for r in hinted}
    assert any(it.group in by_group for it in seen)
    for item in seen:  # every item is trained under the prompt its attempt was sampled with
        row = by_group.get(item.group)
        if row is not None:
            hint = Hint(level=row["hint_level"], kind=row["hint_kind"], text=row["hint_text"])
            assert item.prompt_ids == tuple(prompt_ids(run.policy, cfg, tasks[row["task_id"]], hint))
            assert not item.guided
    run.store.close()
