"""Selectors, skill profiles and the rollout budget on synthetic students with known pass rates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mentor.errors import ConfigError, StoreError
from mentor.teacher.budget import BUDGETS, allocate_rollouts, knapsack_value
from mentor.teacher.categories import SkillProfile
from mentor.teacher.outcomes import GroupOutcome
from mentor.teacher.selectors import SELECTORS, BanditSelector, BayesSelector, signal_probability
from mentor.types import Task

M = 8  # attempts per group


def build_selector(name: str, args: dict):
    return SELECTORS.build(name, args)


def build_budget(name: str, args: dict):
    return BUDGETS.build(name, args)


def make_pool(pass_rates: np.ndarray, n_levels: int = 5) -> tuple[list[Task], dict[str, float]]:
    """Tasks whose level is their pass-rate quintile (so buckets carry real information)."""
    tasks = [
        Task(id=f"t{i:04d}", prompt=f"q{i}", answer=str(i), source="toy", level=min(int(p * n_levels), n_levels - 1))
        for i, p in enumerate(pass_rates)
    ]
    return tasks, {t.id: float(p) for t, p in zip(tasks, pass_rates, strict=True)}


def outcome(task: Task, passed: int, m: int = M, hinted: bool = False) -> GroupOutcome:
    rewards = [1.0] * passed + [0.0] * (m - passed)
    mu = passed / m
    return GroupOutcome.from_rewards(task, rewards, 2 * mu * (1 - mu), hinted=hinted)


def simulate(selector, pool, truth, rounds: int, k: int, seed: int) -> list[float]:
    """Run the select → attempt → update loop; return the true p of every selected task after warm-up."""
    rng = np.random.default_rng(seed)
    student = np.random.default_rng(seed + 1000)
    picked: list[float] = []
    for r in range(rounds):
        chosen = selector.select(pool, k, rng)
        outs = [outcome(t, int(student.binomial(M, truth[t.id]))) for t in chosen]
        selector.update(outs)
        if r >= rounds // 4:
            picked.extend(truth[t.id] for t in chosen)
    return picked


# ----------------------------------------------------------------------------------------------
# Selection toward the edge of ability


@pytest.mark.parametrize("seed", [0, 1])
def test_bayes_picks_informative_tasks_far_more_than_uniform(seed: int) -> None:
    # Mostly hard tasks, as for the embedded default: uniform rarely draws a mixed group.
    truth_p = np.linspace(0.0, 1.0, 200) ** 3
    pool, truth = make_pool(truth_p)
    bayes = simulate(build_selector("bayes", {}), pool, truth, rounds=60, k=8, seed=seed)
    uniform = simulate(build_selector("uniform", {}), pool, truth, rounds=60, k=8, seed=seed)

    def near_half(ps: list[float]) -> float:
        return float(np.mean([abs(p - 0.5) <= 0.25 for p in ps]))

    def signal(ps: list[float]) -> float:
        return float(np.mean([signal_probability(p, M) for p in ps]))

    # Measured over 4 seeds: bayes 0.69-0.71 near 0.5 and 0.82-0.85 signal; uniform 0.25-0.32 and
    # 0.51-0.56. Without implicit evidence (rho=0) bayes falls to ~0.40 / ~0.62, which fails here.
    assert near_half(bayes) > 1.8 * near_half(uniform)
    assert signal(bayes) > signal(uniform) + 0.2
    assert signal(bayes) > 0.75


def test_bandit_learns_to_prefer_the_level_with_signal() -> None:
    # Level 0 all-fail, level 1 mixed, level 2 all-pass: only level 1 gives |advantage| > 0.
    ps = np.array([0.0] * 60 + [0.5] * 60 + [1.0] * 60)
    pool = [Task(id=f"t{i}", prompt="q", source="toy", level=i // 60) for i in range(180)]
    truth = {t.id: float(p) for t, p in zip(pool, ps, strict=True)}
    sel = BanditSelector(tau=0.2)
    picked = simulate(sel, pool, truth, rounds=40, k=6, seed=3)
    assert np.mean([p == 0.5 for p in picked]) > 0.8
    q = sel.arm_values()
    assert q["toy@1"] > q["toy@0"] and q["toy@1"] > q["toy@2"]


def test_bandit_update_formula_and_hinted_groups() -> None:
    a, b = Task(id="a", prompt="", source="s", level=0), Task(id="b", prompt="", source="s", level=1)
    sel = BanditSelector(alpha=0.5)
    sel.update([outcome(a, 4), outcome(a, 0)])  # mean |adv| of the arm's groups: (0.5 + 0) / 2
    assert sel.arm_values() == pytest.approx({"s@0": 0.5 * 0.25})
    sel.update([outcome(a, 4)])
    assert sel.arm_values()["s@0"] == pytest.approx(0.5 * 0.125 + 0.5 * 0.5)
    # The signal a hint bought is not the arm's: ignored unless count_hinted.
    sel.update([outcome(b, 4, hinted=True)])
    assert "s@1" not in sel.arm_values()
    counted = BanditSelector(alpha=0.5, count_hinted=True)
    counted.update([outcome(b, 4, hinted=True)])
    assert counted.arm_values() == pytest.approx({"s@1": 0.25})


def test_uniform_is_distinct_and_covers_pool_before_repeating() -> None:
    pool, _ = make_pool(np.full(10, 0.3))
    sel = build_selector("uniform", {})
    rng = np.random.default_rng(0)
    picked = sel.select(pool, 10, rng)
    assert len({t.id for t in picked}) == 10
    picked = sel.select(pool, 13, rng)
    assert len(picked) == 13 and len({t.id for t in picked[:10]}) == 10
    assert len({t.id for t in sel.select(pool, 4, rng)}) == 4


# ----------------------------------------------------------------------------------------------
# The Bayesian update, exactly


def test_bayes_update_matches_the_formula() -> None:
    a, b, c = (Task(id=x, prompt=x, source="s", level=lv) for x, lv in (("a", 0), ("b", 0), ("c", 1)))
    sel = BayesSelector(forget=0.1, rho=0.1)
    sel.select([a, b, c], 3, np.random.default_rng(0))  # registers all three at (1, 1)
    sel.update([outcome(a, 6)])  # q = 0.75 over m = 8; a is alone in its bucket this step: ρ = 0
    post = sel.posteriors()
    assert post["a"] == pytest.approx((0.9 + 0.1 + 6, 0.9 + 0.1 + 2))
    # b (unselected, same bucket) gets the implicit part only: ρ·p̃·m̄ with p̃ = 0.75, m̄ = 8.
    assert post["b"] == pytest.approx((1 + 0.1 * 0.75 * 8, 1 + 0.1 * 0.25 * 8))
    # c (another bucket, no evidence this step) only forgets; at the prior that is a no-op.
    assert post["c"] == pytest.approx((1.0, 1.0))

    # Two selected tasks of one bucket: each gets the other's pass rate as p̃ (leave-one-out).
    sel2 = BayesSelector(forget=0.0, rho=0.1)
    sel2.update([outcome(a, 8), outcome(b, 0)])
    post = sel2.posteriors()
    assert post["a"] == pytest.approx((1 + 0.9 * 8 + 0.1 * 0.0 * 8, 1 + 0.0 + 0.1 * 1.0 * 8))
    assert post["b"] == pytest.approx((1 + 0.0 + 0.1 * 1.0 * 8, 1 + 0.9 * 8 + 0.0))


def test_shape_categories_share_evidence_between_the_same_problem_with_other_numbers() -> None:
    neg = [Task(id=f"n{i}", prompt=f"Calculate -{i} - -{i + 1}.", source="s", level=0) for i in range(3)]
    pos = [Task(id=f"p{i}", prompt=f"Calculate {i} + {i + 1}.", source="s", level=0) for i in range(3)]
    sel = BayesSelector(forget=0.0, rho=0.5, implicit_by="shape")
    sel.select(neg + pos, 6, np.random.default_rng(0))
    sel.update([outcome(neg[0], 0), outcome(pos[0], 8)])
    post = sel.posteriors()
    # the unselected tasks of each shape inherit that shape's evidence, not the other's
    assert post["n1"] == pytest.approx((1.0, 1 + 0.5 * 8)) and post["p1"] == pytest.approx((1 + 0.5 * 8, 1.0))
    by_bucket = BayesSelector(forget=0.0, rho=0.5, implicit_by="bucket")
    by_bucket.select(neg + pos, 6, np.random.default_rng(0))
    by_bucket.update([outcome(neg[0], 0), outcome(pos[0], 8)])
    assert by_bucket.posteriors()["n1"] == by_bucket.posteriors()["p1"]  # one bucket: evidence pooled


def test_bayes_ignores_hinted_and_unscorable_evidence() -> None:
    a = Task(id="a", prompt="a", source="s", level=0)
    sel = BayesSelector(forget=0.1)
    sel.update([outcome(a, 0)])  # the no-hint group all-failed: that is evidence
    before = sel.posteriors()["a"]
    sel.update([outcome(a, 8, hinted=True), GroupOutcome.from_rewards(a, [None, None], 0.0)])
    after = sel.posteriors()["a"]
    assert after == pytest.approx((0.9 * before[0] + 0.1, 0.9 * before[1] + 0.1))  # forgetting only
    assert sel.pass_rate(a) < 0.2


def test_forgetting_lets_the_posterior_follow_a_student_who_improves() -> None:
    a = Task(id="a", prompt="a", source="s")
    slow, fast = BayesSelector(forget=0.0, rho=0.0), BayesSelector(forget=0.3, rho=0.0)
    for sel in (slow, fast):
        for _ in range(20):
            sel.update([outcome(a, 0)])
        for _ in range(5):
            sel.update([outcome(a, 8)])
    assert fast.pass_rate(a) > 0.75 > 0.25 > slow.pass_rate(a)
    # With no evidence at all, forgetting returns every task to the (1, 1) prior.
    for _ in range(200):
        fast.update([])
    assert fast.posteriors()["a"] == pytest.approx((1.0, 1.0), abs=1e-6)


def test_group_outcome_counts_passes_and_ignores_unscorable() -> None:
    # A pass is full credit (types.PASS): partial credit (0.4, 0.5) is scored but not passed.
    o = GroupOutcome.from_rewards(Task(id="x", prompt="x"), [1.0, 0.4, None, 0.5, 0.0, 1.0], 0.3)
    assert (o.passed, o.scored) == (2, 5)


# ----------------------------------------------------------------------------------------------
# Resume


@pytest.mark.parametrize(
    "name,args",
    [("bayes", {}), ("bayes", {"skill_weight": 1.0}), ("bandit", {}), ("uniform", {"skill_weight": 2.0}),
     ("signal", {}), ("signal", {"by": "level", "sharpness": 2.0})],
)
def test_state_round_trip_gives_identical_selections(name: str, args: dict) -> None:
    pool, truth = make_pool(np.linspace(0, 1, 50))
    pool = [Task(id=t.id, prompt=t.prompt, source=t.source, level=t.level, skills=(f"k{i % 3}",))
            for i, t in enumerate(pool)]
    first = build_selector(name, args)
    simulate(first, pool, truth, rounds=10, k=5, seed=0)
    state = json.loads(json.dumps(first.state_dict()))  # through JSON, as the run store keeps it
    second = build_selector(name, args)
    second.load_state_dict(state)
    assert second.posteriors() == first.posteriors()
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        a, b = first.select(pool, 5, rng1), second.select(pool, 5, rng2)
        assert [t.id for t in a] == [t.id for t in b]
        outs = [outcome(t, 3) for t in a]
        first.update(outs)
        second.update(outs)
    assert second.state_dict() == first.state_dict()


def test_loading_another_selectors_state_is_refused() -> None:
    with pytest.raises(StoreError):
        build_selector("bayes", {}).load_state_dict(build_selector("bandit", {}).state_dict())


def test_registry_names_unknown_selectors_and_arguments() -> None:
    with pytest.raises(ConfigError, match="bandit, bayes, signal, thompson, uniform"):
        build_selector("epsilon_greedy", {})
    with pytest.raises(ConfigError, match="forget"):
        build_selector("bayes", {"forgetting": 0.1})
    with pytest.raises(ConfigError):
        build_selector("bandit", {"by": "colour"})


def test_bayes_handles_a_thousand_tasks() -> None:
    pool, truth = make_pool(np.random.default_rng(0).random(1000))
    sel = build_selector("bayes", {})
    simulate(sel, pool, truth, rounds=50, k=32, seed=0)
    assert len(sel.posteriors()) == 1000


# ----------------------------------------------------------------------------------------------
# Skill profiles


def test_skill_profile_counts_success_and_missing_skills() -> None:
    add = Task(id="1", prompt="", skills=("add",), source="s", level=0)
    both = Task(id="2", prompt="", skills=("add", "carry"), source="s", level=1)
    bare = Task(id="3", prompt="", source="gen", level=0)
    prof = SkillProfile()
    prof.update([outcome(add, 6), outcome(both, 1), outcome(bare, 0), outcome(both, 8, hinted=True)])
    assert prof.success == {"add": 7, "carry": 1, "gen": 0}
    assert prof.attempts == {"add": 16, "carry": 8, "gen": 8}
    assert prof.missing == {"add": 9, "carry": 7, "gen": 8}
    assert prof.missing_weights() == pytest.approx({"add": 1.0, "carry": 7 / 9, "gen": 8 / 9})
    assert prof.success_rate("add") == pytest.approx(7 / 16)
    front = prof.frontier()
    assert front["s@0"]["pass_rate"] == pytest.approx(6 / 8) and front["s@1"]["pass_rate"] == pytest.approx(1 / 8)
    assert front["gen@0"] == {"source": "gen", "level": 0, "pass_rate": 0.0, "attempts": 8}
    restored = SkillProfile()
    restored.load_state_dict(json.loads(json.dumps(prof.state_dict())))
    assert restored.frontier() == front and restored.missing == prof.missing


def test_profile_decay_follows_the_current_student() -> None:
    t = Task(id="1", prompt="", skills=("add",))
    prof = SkillProfile(decay=0.5)
    prof.update([outcome(t, 0)])
    prof.update([outcome(t, 8)])
    assert prof.success_rate("add") == pytest.approx(8 / 12)


@pytest.mark.parametrize("name", ["uniform", "bayes"])
def test_skill_weight_tilts_selection_toward_missing_skills(name: str) -> None:
    pool = [Task(id=f"{s}{i}", prompt="", skills=(s,), source="s", level=0) for s in ("weak", "strong") for i in range(50)]
    counts = {}
    for w in (0.0, 4.0):
        sel = build_selector(name, {"skill_weight": w})
        # The profile saw "weak" fail and "strong" pass, on tasks outside the pool.
        sel.profile.update([outcome(Task(id="w", prompt="", skills=("weak",)), 0),
                            outcome(Task(id="s", prompt="", skills=("strong",)), 8)])
        rng = np.random.default_rng(0)
        counts[w] = sum(t.skills == ("weak",) for _ in range(50) for t in sel.select(pool, 10, rng))
    assert counts[4.0] > counts[0.0] + 100


# ----------------------------------------------------------------------------------------------
# Rollout budget


def test_knapsack_allocation_sums_respects_bounds_and_favours_the_middle() -> None:
    ps = [0.0, 0.02, 0.3, 0.5, 0.7, 0.98, 1.0]
    counts = allocate_rollouts(ps, total=40, min_per_task=2, max_per_task=20)
    assert sum(counts) == 40
    assert all(2 <= c <= 20 for c in counts)
    # Under a tight budget the middle tasks take everything above the minimum. (Value peaks at
    # p = 1/3 and a p = 0.5 group turns mixed with fewest attempts, so 0.3 and 0.7 get more than 0.5.)
    assert min(counts[2:5]) > max(counts[:2] + counts[5:])
    assert counts[:2] + counts[5:] == [2, 2, 2, 2]
    # A looser budget lets hard-but-possible tasks search for their rare success.
    counts = allocate_rollouts(ps, total=56, min_per_task=2, max_per_task=20)
    assert sum(counts) == 56 and counts[1] > counts[5] == 2


def test_knapsack_leftovers_go_to_all_fail_tasks() -> None:
    # With a large budget the mixed tasks saturate; what is left goes to the all-fail tasks.
    counts = allocate_rollouts([0.0, 0.5, 0.0, 1.0], total=200, min_per_task=2, max_per_task=128)
    assert sum(counts) == 200
    assert counts[3] == 2  # all-pass: nothing to learn, nothing to find
    assert counts[0] + counts[2] > counts[1]
    assert abs(counts[0] - counts[2]) <= 1


def test_knapsack_edge_cases() -> None:
    assert allocate_rollouts([0.5, 0.5], total=1000, max_per_task=16) == [16, 16]  # capped
    assert sum(allocate_rollouts([1.0, 1.0, 1.0], total=10)) == 10  # nothing informative: spread
    with pytest.raises(ConfigError):
        allocate_rollouts([0.5] * 5, total=8, min_per_task=2)
    assert knapsack_value(8, 0.0) == 0.0 and knapsack_value(8, 1.0) == 0.0
    assert knapsack_value(9, 0.4) > knapsack_value(8, 0.4)


def test_budget_registry() -> None:
    assert build_budget("fixed", {}).allocate([0.1, 0.5, 0.9], 10) == [4, 3, 3]
    assert sum(build_budget("knapsack", {"max_per_task": 8}).allocate([0.1, 0.5, 0.9], 20)) == 20
    with pytest.raises(ConfigError, match="fixed, knapsack"):
        build_budget("greedy", {})


def test_pass_rates_for_the_budget() -> None:
    a, b = Task(id="a", prompt="", source="s", level=0), Task(id="b", prompt="", source="s", level=1)
    bayes = build_selector("bayes", {"rho": 0.0, "forget": 0.0})
    bayes.update([outcome(a, 0)])
    assert [bayes.pass_rate(t) for t in (a, b)] == pytest.approx([1 / 10, 0.5])
    uni = build_selector("uniform", {})
    uni.update([outcome(a, 2)])
    assert [uni.pass_rate(t) for t in (a, b)] == pytest.approx([0.25, 0.5])
