"""The hint schedules (`hints.schedule`), above all the default `scaffold`: before sampling, each group gets the fewest hinted
attempts for which the whole group is expected to fail with probability at most a target, from
discounted pass rates without the hint and per rung, the rung (or none) chosen by Thompson sampling.
Budget-neutral, fades as the student passes alone, and its estimates survive resume. After grading, a
group that still failed entirely is rescued once with a drawn rung (`rescue_share`; 0 is adaptive
scaffolding alone)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mentor.config import load_config
from mentor.teacher.hints import PassRates, scaffold_size
from mentor.train.loop import train_step
from mentor.train.setup import build_run, resume_run
from mentor.types import Grade, Rollout


def _all_fail(g: int, p: float, q: float, k: int) -> float:
    return (1 - p) ** (g - k) * (1 - q) ** k


@pytest.mark.parametrize(("p", "q"), [(0.0, 0.3), (0.02, 0.35), (0.05, 0.6), (0.1, 0.2), (0.0, 0.05)])
def test_scaffold_size_is_the_fewest_hints_that_reach_the_target(p, q):
    g, target, cap = 8, 0.15, 6
    k = scaffold_size(g, p, q, target, cap)
    assert 0 <= k <= cap
    if _all_fail(g, p, q, k) <= target:
        assert k == 0 or _all_fail(g, p, q, k - 1) > target  # one fewer would miss the target
    else:
        assert k == cap  # unreachable: as many as allowed
    assert scaffold_size(g, q, p, target, cap) == 0  # the same hint hurting: never shown


def test_scaffold_size_by_hand():
    # p = 0.02, q = 0.35: 0.98^8 = 0.85, 0.98^5 * 0.65^3 = 0.248, 0.98^4 * 0.65^4 = 0.164, 0.98^3 * 0.65^5 = 0.109
    assert scaffold_size(8, 0.02, 0.35, 0.15, 6) == 5
    assert scaffold_size(8, 0.02, 0.35, 0.2, 6) == 4
    # a student that passes a fifth of the time alone needs no hint: 0.8^8 = 0.168 <= 0.2
    assert scaffold_size(8, 0.2, 0.9, 0.2, 6) == 0
    # a hint that does not raise the pass rate only displaces on-policy attempts: none
    assert scaffold_size(8, 0.0, 0.0, 0.15, 6) == 0
    assert scaffold_size(8, 0.1, 0.05, 0.15, 6) == 0
    # one that helps too little to reach the target: as many as allowed, never the whole group
    assert scaffold_size(8, 0.0, 0.05, 0.15, 6) == 6
    assert scaffold_size(8, 0.0, 0.5, 0.15, 99) <= 7
    with pytest.raises(ValueError, match="target"):
        scaffold_size(8, 0.1, 0.5, 1.0, 6)


def test_pass_rates_forget_and_start_at_the_prior():
    rates = PassRates(forget=0.5)
    assert rates.rate("b", hinted=False) == 0.5  # Beta(1, 1) mean: nothing seen yet
    rates.update({("b", False): [False] * 8, ("b", True): [True, False, False, False]})
    assert rates.rate("b", hinted=False) == pytest.approx(1 / 10)
    assert rates.rate("b", hinted=True) == pytest.approx(2 / 6)
    rates.update({("b", False): [True] * 4})  # old evidence halves, new counts whole
    assert rates.rate("b", hinted=False) == pytest.approx((4 + 1) / (4 + 4 + 2))
    assert rates.rate("b", hinted=True) == pytest.approx((0.5 + 1) / (2 + 2))
    again = PassRates(forget=0.5)
    again.load_state_dict(rates.state_dict())
    assert again.rate("b", hinted=True) == rates.rate("b", hinted=True)


def _run(tmp_path, *extra: str, name: str = "run", resume: bool = False):
    # adaptive scaffolding alone (no rescue) unless a test asks for it; the default ladder's top rung is 2
    cfg = load_config(None, ["hints.schedule.args.rescue_share=0", "sampling.group_size=8", *extra], "smoke")
    return build_run(cfg, tmp_path / name, resume=resume)


def _evidence(run, plain: float, rungs: dict[int, float], n: int = 400) -> None:
    """Decisive evidence for every bucket of the pool (the run keys its rates by bucket): n attempts
    without a hint that pass `plain` of the time, and n at each rung that pass `rungs[level]` of the
    time. With this much evidence the scaffold's Thompson draws agree with the means."""
    seen = {}
    for bucket in {t.bucket for t in run.teacher.pool}:
        seen[(bucket, False)] = [True] * round(n * plain) + [False] * (n - round(n * plain))
        for level, q in rungs.items():
            seen[(f"{bucket}@{level}", True)] = [True] * round(n * q) + [False] * (n - round(n * q))
    run.teacher.schedule.rates.update(seen)


def test_the_scaffold_shows_the_rung_that_passes_inside_the_group_at_no_extra_cost(tmp_path):
    # Evidence that rung 2 passes 90% of the time, rung 1 and the plain attempts never: every group of
    # the step gets the fewest rung-2 attempts that make an all-fail group unlikely (0.1^2 <= 0.05),
    # inside the group, so the step costs what a plain step costs.
    run = _run(tmp_path, "optim.steps=2", "hints.schedule.args.by=bucket")
    _evidence(run, plain=0.0, rungs={1: 0.0, 2: 0.9})
    g, a = run.cfg.sampling.group_size, run.teacher.schedule
    want = scaffold_size(g, 0.0, 0.9, a.target, int(g * a.max_share))
    assert want == 2 and a.hinted(run.teacher.pool[0], g) == want  # the selector plans the same count
    train_step(run, 1)
    assert run.rollouts == run.cfg.sampling.tasks_per_step * g  # part of each group, not an extra group
    by_group: dict[int, list[int]] = {}
    for row in run.store.attempts(1):
        by_group.setdefault(row["grp"], []).append(row["hint_level"])
        assert bool(row["hint_text"]) is bool(row["hint_level"])
    assert all(sorted(levels) == [0] * (g - want) + [2] * want for levels in by_group.values())
    assert run.store.steps()[-1]["metrics"]["hinted_groups"] == run.cfg.sampling.tasks_per_step
    run.store.close()


def test_with_no_evidence_every_option_is_tried_as_often_as_it_is_drawn_best():
    # Thompson sampling over "no hint" and each rung, all at the same prior: a rung is shown when its
    # draw is the best of the three, two times in three; the rung shown is either one equally often.
    from mentor.teacher.hints import HINT_SOURCES
    from mentor.teacher.hints.schedules import Scaffold
    from mentor.types import Task

    schedule = Scaffold(HINT_SOURCES.build("ladder", {"levels": ["example:1", "example:3"]}, answer_prefix="Answer:"),
                        by="bucket")
    pool = [Task(id=f"t{i}", prompt=f"Calculate {i} + 1.", answer=str(i + 1), source="s", level=0) for i in range(8)]
    rng = np.random.default_rng(0)
    shown = [next((h.level for h in schedule.scaffold(pool[0], 8, pool, rng) if h), 0) for _ in range(600)]
    assert 0.6 < np.mean([lv > 0 for lv in shown]) < 0.73
    assert abs(shown.count(1) - shown.count(2)) < 60
    assert schedule.hinted(pool[0], 8) == 0  # at the means no rung beats the plain attempts: the plan shows none


def test_adaptive_pass_rates_survive_resume(tmp_path):
    run = _run(tmp_path, "optim.steps=3")
    for step in (1, 2):
        train_step(run, step)
    state = run.teacher.schedule.rates.state_dict()
    assert state["counts"]
    run.store.close()
    torch.manual_seed(0)
    again = _run(tmp_path, "optim.steps=3", resume=True)
    assert resume_run(again) == 2
    assert again.teacher.schedule.rates.state_dict() == state
    again.store.close()


@pytest.mark.parametrize("mode", ["rescue", "adaptive"])
def test_no_hint_failures_of_hinted_groups_reach_the_selector(tmp_path, mode):
    # Every group of the tiny model fails; evidence that a hint helps (with a rescue: plain attempts
    # that pass 40% of the time, so groups are re-rolled rather than scaffolded). The no-hint attempts
    # are still the task's difficulty evidence: the Bayesian posterior of every selected task must
    # count them as failures.
    share = "1.0" if mode == "rescue" else "0"
    run = _run(tmp_path, f"hints.schedule.args.rescue_share={share}", "curriculum.selector.name=bayes",
               "optim.steps=3", "hints.schedule.args.by=bucket")
    _evidence(run, plain=0.4 if mode == "rescue" else 0.0, rungs={1: 0.0, 2: 0.9})
    steps = (1,)
    for step in steps:
        train_step(run, step)
    rows = [r for r in run.store.attempts(steps[-1])]
    assert any(r["hint_level"] for r in rows)  # the groups were hinted
    posteriors = run.teacher.selector.posteriors()
    for task_id in {r["task_id"] for r in rows}:
        plain = sum(1 for r in rows if r["task_id"] == task_id and not r["hint_level"])
        alpha, beta = posteriors[task_id]
        assert beta - alpha >= 0.9 * plain  # the no-hint failures were counted (forgetting aside)
    run.store.close()


def test_shape_rates_shrink_toward_their_bucket():
    rates = PassRates(forget=0.5, strength=4.0)
    rates.update({("b", False): [True] * 6 + [False] * 2, ("b:x", False): [False] * 2})
    bucket = rates.rate("b", hinted=False)
    assert bucket == pytest.approx(7 / 10)
    assert rates.rate("b:unseen", hinted=False, parent="b") == pytest.approx(bucket)  # reads as its bucket
    assert rates.rate("b:x", hinted=False, parent="b") == pytest.approx(4 * bucket / 6)  # 0 of 2, 4 pseudo


def test_a_pessimistic_prior_scaffolds_the_first_step_when_a_hint_is_drawn(tmp_path):
    # With no evidence every rate reads as the prior (mean 0.1): a group whose draws favour a rung is
    # scaffolded at step 1 already, by as many hinted attempts as its draws ask for.
    run = _run(tmp_path, "optim.steps=1", "hints.schedule.args.prior=[0.5,4.5]")
    train_step(run, 1)
    by_group: dict[int, list[int]] = {}
    for row in run.store.attempts(1):
        by_group.setdefault(row["grp"], []).append(row["hint_level"])
    assert all(levels[0] == 0 for levels in by_group.values())  # at least one attempt always sees no hint
    run.store.close()


@pytest.mark.parametrize("by", ["shape", "solved_shape"])
def test_shape_keyed_rates_count_each_shape_and_its_bucket(tmp_path, by):
    from mentor.teacher.categories import prompt_shape, solved_shape

    run = _run(tmp_path, "optim.steps=1", f"hints.schedule.args.by={by}")
    train_step(run, 1)
    tasks = {row["task_id"] for row in run.store.attempts(1)}
    pool = {t.id: t for t in run.teacher.pool}
    shape = prompt_shape if by == "shape" else None
    shapes = {f"{pool[t].bucket}:{shape(pool[t].prompt) if shape else solved_shape(pool[t])}" for t in tasks}
    keys = {k.rsplit("|", 1)[0] for k in run.teacher.schedule.rates.state_dict()["counts"]}
    assert shapes <= keys and {pool[t].bucket for t in tasks} <= keys
    run.store.close()


def test_the_signal_selector_plans_with_the_live_scaffold_and_survives_resume(tmp_path):
    # with decisive evidence the scaffold's draws agree with the rates the selector plans with
    run = _run(tmp_path, "curriculum.selector.name=signal", "optim.steps=3", "hints.schedule.args.by=bucket")
    _evidence(run, plain=0.0, rungs={1: 0.0, 2: 0.9})
    g = run.cfg.sampling.group_size
    for step in (1, 2):
        planned = {t.id: run.teacher.selector.context.hinted(t, g) for t in run.teacher.pool}
        train_step(run, step)
        hinted: dict[tuple[int, str], int] = {}
        for row in run.store.attempts(step):
            hinted[(row["grp"], row["task_id"])] = hinted.get((row["grp"], row["task_id"]), 0) + bool(row["hint_level"])
        # the selector scored each task with the hinted count its group then got
        assert all(planned[task_id] == k for (_, task_id), k in hinted.items())
    assert any(hinted.values())  # scaffolded, so the plan was not trivially 0
    state = run.teacher.selector.state_dict()
    plan = {t.id: run.teacher.schedule.hinted(t, g) for t in run.teacher.pool}
    assert state["rates"]["counts"]
    run.store.close()
    again = _run(tmp_path, "curriculum.selector.name=signal", "optim.steps=3", "hints.schedule.args.by=bucket",
                 resume=True)
    assert resume_run(again) == 2
    assert again.teacher.selector.state_dict() == state
    assert {t.id: again.teacher.selector.context.hinted(t, g) for t in again.teacher.pool} == plan  # bound to the restored rates
    again.store.close()
    # the report shows the selector's per-shape beliefs, from the store alone
    from mentor.report import write_report

    page = write_report(tmp_path / "run").read_text()
    assert "Selector after the last step (signal)" in page
    assert "Calculate" in page.split("Selector after the last step")[1]  # a shape category


def test_rescue_rerolls_each_all_fail_group_once_with_the_rung_that_passes_and_merges_it(tmp_path):
    # The tiny model never passes. Evidence: the plain attempts pass 40% of the time (0.6^8 <= 0.05: no
    # scaffold), rung 2 90%, rung 1 never; so each group is 8 plain attempts, then 4 re-rolled at rung 2.
    run = _run(tmp_path, "hints.schedule.args.rescue_share=0.5", "optim.steps=1", "hints.schedule.args.by=bucket")
    _evidence(run, plain=0.4, rungs={1: 0.0, 2: 0.9})
    g, tasks = run.cfg.sampling.group_size, run.cfg.sampling.tasks_per_step
    train_step(run, 1)
    assert run.rollouts == tasks * (g + g // 2)
    by_group: dict[int, list] = {}
    for row in run.store.attempts(1):
        by_group.setdefault(row["grp"], []).append(row)
    assert len(by_group) == tasks
    for rows in by_group.values():
        assert sorted(r["hint_level"] for r in rows) == [0] * g + [2] * (g // 2)  # one re-roll, at rung 2
        assert sorted(r["idx"] for r in rows) == list(range(g + g // 2))  # merged into one group
        assert all(r["trained"] for r in rows)
    metrics = run.store.steps()[-1]["metrics"]
    assert metrics["rescue_rerolls"] == tasks and metrics["rescue_mixed"] == 0
    run.store.close()


def test_rescue_rerolls_only_what_the_budget_can_pay_for(tmp_path):
    run = _run(tmp_path, "hints.schedule.args.rescue_share=0.5", "hints.schedule.args.by=bucket",
               "optim.steps=5", "optim.rollout_budget=20")
    _evidence(run, plain=0.4, rungs={1: 0.0, 2: 0.9})
    train_step(run, 1)  # 2 tasks x 8 = 16 sampled, 4 left: one rescue of 4
    assert run.rollouts == 20
    assert run.store.steps()[-1]["metrics"]["rescue_rerolls"] == 1
    run.store.close()


def test_an_llm_hinter_from_config_scaffolds_and_rescues_with_its_own_hint(tmp_path):
    # `hints.source: {name: llm}` from config: the tutor is a judge backend (scripted here, so the
    # test needs no second model); every hinted attempt, scaffolded or rescued, stores its hint.
    source = ('hints.source={"name": "llm", "args": {"backend": "scripted", '
              '"outputs": ["Write the sum, then the Answer line."]}}')
    run = _run(tmp_path, "hints.schedule.args.rescue_share=0.5", "optim.steps=1", "hints.schedule.args.by=bucket",
               source)
    _evidence(run, plain=0.0, rungs={1: 0.9, 2: 0.9})  # the scaffold hints, and the failed groups are re-rolled
    g = run.cfg.sampling.group_size
    train_step(run, 1)
    rows = [r for r in run.store.attempts(1) if r["hint_level"]]
    assert all(r["hint_kind"] == "llm" and r["hint_level"] in (1, 2) for r in rows)
    assert {r["hint_text"] for r in rows} == {"Hint: Write the sum, then the Answer line."}
    assert any(r["idx"] < g for r in rows) and any(r["idx"] >= g for r in rows)  # scaffolded and rescued
    run.store.close()


def test_rerolls_for_a_fixed_batch_are_cut_to_the_room_and_keep_no_state(tmp_path):
    # what the TRL host asks: each failed group's re-roll, at most `room` attempts, after its first slots
    run = _run(tmp_path, "hints.schedule.args.rescue_share=1", "hints.schedule.args.by=bucket")
    _evidence(run, plain=0.4, rungs={1: 0.0, 2: 0.9})  # no scaffold; a failed group's re-roll is at rung 2
    g = run.cfg.sampling.group_size
    teacher, rng = run.teacher, np.random.default_rng(0)
    plans = teacher.plan(rng)
    first = [Rollout(task=p.task, group=p.group, index=i, text="no", completion_ids=(1,), logprobs=(), finished=True,
                     grade=Grade(score=float(p.group == 0)))  # group 0 passed; the others failed
             for p in plans for i in range(g // 2)]
    for _ in range(2):  # twice: the same answer, nothing remembered between batches
        rerolls = teacher.rerolls(first, rng, room=3)
        assert [p.group for p in rerolls] == [p.group for p in plans[1:]]
        assert all(p.start == g // 2 and len(p.hints) == 3 and p.rerolls == p.group for p in rerolls)
        assert all(h is not None and h.level == 2 for p in rerolls for h in p.hints)
    run.store.close()


def test_a_hint_that_does_not_raise_the_pass_rate_is_neither_scaffolded_nor_re_rolled(tmp_path):
    # Evidence that the hinted attempts pass less often than the plain ones (a worked example that
    # misleads): the scaffold shows no hint and an all-fail group gets no re-roll; flip the evidence
    # and both come back. Per bucket, so one update moves every task.
    run = _run(tmp_path, "hints.schedule.args.rescue_share=1", "hints.schedule.args.by=bucket",
               "hints.schedule.args.forget=0")
    schedule, g, rng = run.teacher.schedule, run.cfg.sampling.group_size, np.random.default_rng(0)
    task = run.teacher.pool[0]
    failed = [Rollout(task=task, group=0, index=i, text="no", completion_ids=(1,), logprobs=(), finished=True,
                      grade=Grade(score=0.0)) for i in range(g)]
    for plain, hinted, shown in ((0.1, 0.0, False), (0.0, 0.1, True)):
        schedule.rates.counts.clear()
        _evidence(run, plain=plain, rungs={1: hinted, 2: hinted})
        assert (schedule.hinted(task, g) > 0) is shown
        assert any(schedule.scaffold(task, g, run.teacher.pool, rng)) is shown
        assert bool(schedule.rescue(failed, run.teacher.pool, rng)) is shown
    run.store.close()
