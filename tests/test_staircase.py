"""Staircase hints (hints.mode = "staircase"): budget-neutral scaffolding of stuck buckets.

A bucket's hint level rises by one after a group in which every attempt failed, falls by one once a
no-hint attempt passes, and never leaves [0, cap]; a scaffolded group is one group of G attempts, part
of them hinted, trained together; the levels survive resume.
"""

from __future__ import annotations

import torch

from mentor.config import load_config
from mentor.train.loop import GroupRecord, build_run, resume_run, train_step, update_staircase
from mentor.types import Attempt, Grade, Hint


def _grade(score: float) -> Grade:
    return Grade(score=score, components={}, extracted="1" if score else None)


def _group(run, task, scores: list[float], hinted_scores: list[float] = (), level: int = 1) -> GroupRecord:
    mk = lambda i, h: Attempt(task_id=task.id, group=0, index=i, text="x", completion_ids=(1,), logprobs=(0.0,),  # noqa: E731
                              finished=True, hint=h, policy_version=0)
    g = GroupRecord(task, 0, [mk(i, None) for i in range(len(scores))], [_grade(s) for s in scores],
                    scaffold=bool(hinted_scores))
    if hinted_scores:
        hint = Hint(level=level, kind="example", text="e.g.")
        g.rerolls.append((hint, [mk(len(scores) + i, hint) for i in range(len(hinted_scores))],
                          [_grade(s) for s in hinted_scores]))
    return g


def _run(tmp_path, *extra: str, name: str = "run", resume: bool = False):
    cfg = load_config(None, ["hints.mode=staircase", "hints.max_level=2", *extra], "smoke")
    return build_run(cfg, tmp_path / name, resume=resume)


def test_staircase_climbs_on_all_fail_up_to_the_cap_and_fades_on_a_no_hint_pass(tmp_path) -> None:
    run = _run(tmp_path)
    task = run.pool[0]
    update_staircase(run, [_group(run, task, [0, 0, 0, 0])])
    assert run.staircase[task.bucket] == 1
    # hinted attempts failing too: one rung up
    update_staircase(run, [_group(run, task, [0, 0], [0, 0])])
    assert run.staircase[task.bucket] == 2
    update_staircase(run, [_group(run, task, [0, 0], [0, 0], level=2)])
    assert run.staircase[task.bucket] == 2  # capped at hints.max_level
    # a hinted pass alone keeps the level: the student still needs the hint
    update_staircase(run, [_group(run, task, [0, 0], [1, 0], level=2)])
    assert run.staircase[task.bucket] == 2
    # a no-hint pass: one rung down, and never below 0
    update_staircase(run, [_group(run, task, [1, 0], [1, 1], level=2)])
    assert run.staircase[task.bucket] == 1
    update_staircase(run, [_group(run, task, [1, 0], [1, 1])])
    update_staircase(run, [_group(run, task, [1, 1, 0, 0])])
    assert run.staircase[task.bucket] == 0
    run.store.close()


def test_scaffolded_group_is_trained_whole_with_one_baseline(tmp_path) -> None:
    run = _run(tmp_path)
    g = _group(run, run.pool[0], [0, 0], [1, 0])
    attempts, grades = g.trained
    assert [a.hint is not None for a in attempts] == [False, False, True, True]
    assert [gr.score for gr in grades] == [0, 0, 1, 0]
    run.store.close()


def test_scaffolded_steps_cost_no_extra_rollouts_and_split_each_group(tmp_path) -> None:
    # The tiny model never writes an 'Answer:' line: every group fails, so after step 1 each bucket
    # is scaffolded, and the hinted part of a group of 4 at share 0.5 is 2 attempts.
    run = _run(tmp_path, "optim.steps=3")
    g_size, per_step = run.cfg.sampling.group_size, run.cfg.sampling.tasks_per_step * run.cfg.sampling.group_size
    train_step(run, 1)
    assert run.rollouts == per_step and set(run.staircase.values()) == {1}
    train_step(run, 2)
    assert run.rollouts == 2 * per_step
    rows = list(run.store.attempts(2))
    by_group: dict[int, list[int]] = {}
    for a in rows:
        by_group.setdefault(a["grp"], []).append(a["hint_level"])
    assert all(sorted(levels) == [0] * (g_size // 2) + [1] * (g_size // 2) for levels in by_group.values())
    hinted = [a for a in rows if a["hint_level"]]
    assert all(a["hint_text"] for a in hinted)
    assert len({a["idx"] for a in rows if a["grp"] == rows[0]["grp"]}) == g_size  # distinct indices in a group
    run.store.close()


def test_staircase_levels_survive_resume(tmp_path) -> None:
    run = _run(tmp_path, "optim.steps=3")
    for step in (1, 2):
        train_step(run, step)
    levels = dict(run.staircase)
    assert levels
    run.store.close()
    torch.manual_seed(0)
    again = _run(tmp_path, "optim.steps=3", resume=True)
    assert resume_run(again) == 2
    assert again.staircase == levels
    again.store.close()


def test_reroll_share_rerolls_part_of_each_stuck_group(tmp_path) -> None:
    # reroll mode: the tiny model fails every group, so each group is re-rolled at both ladder rungs
    cfg = load_config(None, ["hints.mode=reroll", "hints.max_level=2", "hints.reroll_share=0.5",
                             "hints.merge_failed=true"], "smoke")
    run = build_run(cfg, tmp_path / "run")
    g_size, n_groups = cfg.sampling.group_size, cfg.sampling.tasks_per_step
    train_step(run, 1)
    rows = list(run.store.attempts(1))
    per_level: dict[int, int] = {}
    for a in rows:
        per_level[a["hint_level"]] = per_level.get(a["hint_level"], 0) + 1
    assert per_level[0] == n_groups * g_size
    assert all(n == n_groups * (g_size // 2) for level, n in per_level.items() if level)  # half-size re-rolls
    assert run.rollouts == len(rows)
    run.store.close()
