"""Credit assignment on hand-built groups, checked against hand computation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from mentor.errors import JudgeError, MentorError
from mentor.teacher.credit import ASSIGNERS, SEGMENTERS
from mentor.teacher.credit.base import (
    CreditContext,
    CritiqueResult,
    Group,
    StepFlag,
    group_advantages,
    has_signal,
)
from mentor.teacher.credit.critique import combine_flags
from mentor.teacher.credit.min_form import soft_min_values
from mentor.teacher.credit.prefix_tree import prefix_tree_values
from mentor.types import Rollout, StepSpan, Task

TASK = Task(id="t1", prompt="2+3*4?", answer="14")


class CharTokenizer:
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return "".join(chr(i) for i in ids)


TOK = CharTokenizer()


def attempt(text: str = "", ids: Sequence[int] | None = None, index: int = 0, group: int = 0) -> Rollout:
    ids = tuple(ord(c) for c in text) if ids is None else tuple(ids)
    return Rollout(
        task=TASK,
        group=group,
        index=index,
        text=text,
        completion_ids=ids,
        logprobs=(0.0,) * len(ids),
        finished=True,
    )


def group_of(texts: Sequence[str], rewards: Sequence[float | None], task: Task = TASK) -> Group:
    return Group(task, tuple(attempt(t, index=i) for i, t in enumerate(texts)), tuple(rewards))


def ctx(**kw: object) -> CreditContext:
    return CreditContext(tokenizer=TOK, segmenter=SEGMENTERS.build("blank_lines"), **kw)  # type: ignore[arg-type]


# A shared, correct prefix of two steps; the attempts differ only at the third step.
GOOD, BAD = "3*4=12\n\n2+12=14\n\nso 14", "3*4=12\n\n2+12=14\n\nso 15"
PREFIX_STEPS = [(0, 8), (8, 17)]  # token ranges of the two shared steps
LAST = (17, 22)


# ---------------------------------------------------------------- the baseline and `outcome`


def test_no_signal_detected_with_tolerance() -> None:
    assert not has_signal([1, 1, 1, 1 - 1e-9], 1e-6)
    assert has_signal([1, 1, 1, 0], 1e-6)
    assert not has_signal([1, None], 1e-6)  # one scorable attempt: nothing to compare with
    g = group_of(["ab", "cde", "f", "gh"], [1, 1, 1, 1 - 1e-9])
    adv = ASSIGNERS.build("outcome", {}).assign([g], ctx())
    assert adv.values == ((0.0, 0.0), (0.0, 0.0, 0.0), (0.0,), (0.0, 0.0))
    assert adv.info["groups_with_signal"] == 0


def test_unscorable_excluded_from_baseline() -> None:
    g = group_of(["ab", "c", "de", "f"], [1.0, 0.0, None, 1.0])
    mean, std = 2 / 3, math.sqrt(2 / 9)  # over the three scorable rewards only
    adv = ASSIGNERS.build("outcome", {}).assign([g], ctx())
    assert adv.values[2] == (0.0, 0.0)
    assert adv.values[0] == pytest.approx(((1 - mean) / std,) * 2)
    assert adv.values[1] == pytest.approx(((0 - mean) / std,))
    assert group_advantages([1.0, 0.0, None, 1.0], 1e-6, False) == pytest.approx([1 / 3, -2 / 3, None, 1 / 3])


def test_outcome_rows_flattened_in_group_order() -> None:
    g1 = group_of(["ab", "c"], [1.0, 0.0])
    g2 = group_of(["xyz", "w"], [0.0, 0.0])
    adv = ASSIGNERS.build("outcome", {}).assign([g1, g2], ctx())
    assert adv.values == ((1.0, 1.0), (-1.0,), (0.0, 0.0, 0.0), (0.0,))
    info = adv.info
    assert (info["assigner"], info["args"], info["extra_rollouts"], info["judge_calls"]) == (
        "outcome",
        {},
        0,
        0,
    )
    assert info["groups_with_signal"] == 1 and info["step_credit"] == []


# ---------------------------------------------------------------- prefix_tree


def test_prefix_tree_values_and_branch_terms_by_hand() -> None:
    #      1 ─┬─ 2 ─┬─ 3   A r=1
    #         │     └─ 4   B r=0
    #         └─ 5 ─── 6   C r=0, D r=0 (identical)
    seqs = [(1, 2, 3), (1, 2, 4), (1, 5, 6), (1, 5, 6)]
    rewards = [1.0, 0.0, 0.0, 0.0]
    # Mean-only scale so the numbers stay readable: Â = r − 0.25.
    a_hat = [0.75, -0.25, -0.25, -0.25]
    vals = prefix_tree_values(seqs, a_hat)
    # V(root)=0, V(1)=0, V(1,2)=mean(.75,-.25)=.25, V(1,5)=-.25, leaves = own Â (or the twins' mean)
    assert vals[0] == pytest.approx([0, 0, 0.25, 0.75])
    assert vals[1] == pytest.approx([0, 0, 0.25, -0.25])
    assert vals[2] == pytest.approx([0, 0, -0.25, -0.25])

    g = Group(TASK, tuple(attempt(ids=s, index=i) for i, s in enumerate(seqs)), tuple(rewards))
    adv = ASSIGNERS.build("prefix_tree", {}).assign([g], CreditContext(tokenizer=None, scale_by_std=False))
    # Token 0 (the shared "1") gets no branch term; token 1 is the first token after the branch at
    # (1,) and gets V(s_2) − V(s_1); token 2 is the first after the branch at (1,2) for A and B.
    assert adv.values[0] == pytest.approx([0.75, 0.75 + 0.25, 0.75 + 0.5])
    assert adv.values[1] == pytest.approx([-0.25, -0.25 + 0.25, -0.25 - 0.5])
    assert adv.values[2] == pytest.approx([-0.25, -0.25 - 0.25, -0.25])  # (1,5)→(1,5,6): no branch
    assert adv.values[3] == adv.values[2]
    assert adv.info["step_credit"][0] == (0, [(1, 2, pytest.approx(0.25)), (2, 3, pytest.approx(0.5))])

    # With the z-score both terms scale by 1/σ together.
    z = ASSIGNERS.build("prefix_tree", {}).assign([g], CreditContext(tokenizer=None))
    sigma = float(np.std(rewards))
    assert np.allclose(np.array(z.values[0]) * sigma, adv.values[0])


def test_prefix_tree_shared_correct_prefix_gets_no_step_credit() -> None:
    g = group_of([GOOD, BAD, GOOD, BAD], [1.0, 0.0, 1.0, 0.0])
    adv = ASSIGNERS.build("prefix_tree", {}).assign([g], ctx())
    row = np.array(adv.values[1])
    assert np.allclose(row[: LAST[0]], -1.0)  # the prefix keeps only the outcome advantage
    credit = dict(adv.info["step_credit"])[1]
    assert [c for _, _, c in credit[:2]] == [0.0, 0.0]
    assert credit[2][:2] == LAST and credit[2][2] < 0  # the branch ("4" vs "5") is in the last step
    assert row[LAST[0] + 4] == pytest.approx(-2.0)  # the token that chose "5": −1 + (−1 − 0)


def test_prefix_tree_unscorable_attempt_not_in_tree() -> None:
    # C (unscorable) shares A's branch; if it were in the tree it would pull V(1,2) down.
    seqs = [(1, 2), (1, 3), (1, 2)]
    g = Group(TASK, tuple(attempt(ids=s, index=i) for i, s in enumerate(seqs)), (1.0, 0.0, None))
    adv = ASSIGNERS.build("prefix_tree", {}).assign([g], CreditContext(tokenizer=None, scale_by_std=False))
    assert adv.values[0] == pytest.approx([0.5, 1.0])
    assert adv.values[2] == (0.0, 0.0)


# ---------------------------------------------------------------- monte_carlo


class FakeRollout:
    """Continuations from a prefix succeed half the time if the prefix is correct so far."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, task: Task, prefix: tuple[int, ...], k: int) -> list[float | None]:
        self.calls.append(prefix)
        text = "".join(map(chr, prefix))
        p = 0.0 if "15" in text or "x" in text else 0.5
        return [1.0 if j < p * k else 0.0 for j in range(k)]


def test_monte_carlo_blames_the_wrong_step_and_shares_prefixes() -> None:
    roll = FakeRollout()
    g = group_of([GOOD, BAD, GOOD, BAD], [1.0, 0.0, 1.0, 0.0])
    adv = ASSIGNERS.build("monte_carlo", {"k": 4}).assign([g], ctx(rollout=roll))
    # Two boundaries, shared by all four attempts: sampled once each.
    assert len(roll.calls) == 2 and adv.info["extra_rollouts"] == 8
    # V: mean 0.5 → 0.5 → 0.5 → r; σ = 0.5. Prefix steps 0, the last step ±1.
    bad = np.array(adv.values[1])
    assert np.allclose(bad[: LAST[0]], 0.0) and np.allclose(bad[LAST[0] :], -1.0)
    assert np.allclose(adv.values[0][LAST[0] :], 1.0)
    assert dict(adv.info["step_credit"])[1] == [(0, 8, 0.0), (8, 17, 0.0), (17, 22, -1.0)]
    # Summed over steps the credit is the GRPO advantage (the steps telescope).
    assert sum(c for *_, c in dict(adv.info["step_credit"])[1]) == pytest.approx(-1.0)


def test_monte_carlo_respects_budget_and_counts_rollouts() -> None:
    roll = FakeRollout()
    texts = ["a\n\nb\n\nc", "a\n\nx\n\nc", "d\n\ne", "a\n\nb\n\nz"]
    g = group_of(texts, [1.0, 0.0, 1.0, 0.0])
    # k=2, budget 6: attempt 0 needs 2 prefixes (4 rollouts); attempt 1 needs 1 new ("a\n\nx\n\n"; "a\n\n"
    # is shared): 2 more = 6; attempt 2 needs 1 new, over budget: branching stops. Attempt 3's
    # prefixes were all sampled for attempt 0, so it still gets step credit for free.
    adv = ASSIGNERS.build("monte_carlo", {"k": 2}).assign([g], ctx(rollout=roll, max_extra_rollouts=6))
    assert adv.info["extra_rollouts"] == 6 == 2 * len(roll.calls)
    assert adv.info["attempts_over_budget"] == 1
    assert len(set(adv.values[2])) == 1  # outcome row for the attempt over budget
    assert adv.values[2][0] == pytest.approx(1.0)
    assert [i for i, _ in adv.info["step_credit"]] == [0, 1, 3]
    # A budget of 0 spends nothing and falls back to outcome everywhere.
    roll0 = FakeRollout()
    adv0 = ASSIGNERS.build("monte_carlo", {}).assign([g], ctx(rollout=roll0, max_extra_rollouts=0))
    assert roll0.calls == [] and adv0.info["extra_rollouts"] == 0
    assert adv0.values == ASSIGNERS.build("outcome", {}).assign([g], ctx()).values


def test_monte_carlo_spends_nothing_on_groups_without_signal() -> None:
    roll = FakeRollout()
    g = group_of([BAD, BAD + "!"], [0.0, 0.0])
    adv = ASSIGNERS.build("monte_carlo", {}).assign([g], ctx(rollout=roll))
    assert roll.calls == [] and adv.values == ((0.0,) * 22, (0.0,) * 23)
    with pytest.raises(MentorError, match="rollout"):
        ASSIGNERS.build("monte_carlo", {}).assign([g], ctx())


# ---------------------------------------------------------------- critique


def critic_of(*critiques: Sequence[StepFlag], fail_on: str | None = None):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def critic(task: Task, text: str, steps: list[StepSpan]) -> list[CritiqueResult]:
        calls.append(text)
        if fail_on is not None and fail_on in text:
            raise JudgeError("unparseable critique")
        return [CritiqueResult(flags=tuple(c)) for c in critiques]

    critic.calls = calls  # type: ignore[attr-defined]
    return critic


def test_critique_penalises_verified_flag_only() -> None:
    g = group_of([GOOD, BAD], [1.0, 0.0])
    flag = [StepFlag(2, "so   15")]  # whitespace differs from the text: still verbatim
    critic = critic_of(flag, flag, flag, flag)
    adv = ASSIGNERS.build("critique", {}).assign([g], ctx(critic=critic))
    # Outcome part: (2r − 2·0.5)/(2·0.5) = ±1; the flagged step loses w_flag/(w_outcome·σ) = 1.
    assert np.allclose(adv.values[1][: LAST[0]], -1.0) and np.allclose(adv.values[1][LAST[0] :], -2.0)
    assert adv.info["judge_calls"] == 8  # 4 critiques × 2 attempts
    assert dict(adv.info["step_credit"])[1] == [(17, 22, -1.0)]
    # GOOD's critiques flag "so 15", which GOOD does not contain: no penalty.
    assert np.allclose(adv.values[0], 1.0) and adv.info["flags_rejected"] == 4


def test_critique_ignores_quotes_not_in_the_attempt_or_in_another_step() -> None:
    g = group_of([GOOD, BAD], [1.0, 0.0])
    outcome = ASSIGNERS.build("outcome", {}).assign([g], ctx()).values
    for flags in (
        [StepFlag(2, "so 16")],  # invented quote
        [StepFlag(0, "so 15")],  # real quote, wrong step
        [StepFlag(7, "so 15")],  # no such step
        [StepFlag(2, "  ")],  # empty quote
    ):
        adv = ASSIGNERS.build("critique", {}).assign([g], ctx(critic=critic_of(flags, flags)))
        assert adv.values == outcome and adv.info["step_credit"] == []


def test_critique_intersection_vs_majority() -> None:
    a, b = StepFlag(0, "3*4=12"), StepFlag(1, "2+12=14")
    per = [{0, 1}, {0}, {0, 1}]
    assert combine_flags(per, "intersection") == {0}
    assert combine_flags(per, "majority") == {0, 1}
    assert combine_flags([{0}, {1}], "majority") == set()  # a tie is not a majority
    g = group_of([GOOD, BAD], [1.0, 0.0])
    critic = critic_of([a, b], [a], [a, b])
    inter = ASSIGNERS.build("critique", {}).assign([g], ctx(critic=critic))
    major = ASSIGNERS.build("critique", {"combine": "majority"}).assign([g], ctx(critic=critic))
    assert [s for s, _, _ in dict(inter.info["step_credit"])[1]] == [0]
    assert [s for s, _, _ in dict(major.info["step_credit"])[1]] == [0, 8]


def test_critique_judge_failure_falls_back_to_outcome_and_no_calls_without_signal() -> None:
    g = group_of([GOOD, BAD], [1.0, 0.0])
    flag = [StepFlag(2, "so 15")]
    adv = ASSIGNERS.build("critique", {}).assign([g], ctx(critic=critic_of(flag, fail_on="15")))
    assert np.allclose(adv.values[1], -1.0) and adv.info["critique_failures"] == 1
    quiet = critic_of(flag)
    ASSIGNERS.build("critique", {}).assign([group_of([GOOD, BAD], [0.0, 0.0])], ctx(critic=quiet))
    assert quiet.calls == []  # type: ignore[attr-defined]
    no_top = critic_of(flag)
    ASSIGNERS.build("critique", {"critique_correct": False}).assign([g], ctx(critic=no_top))
    assert no_top.calls == [BAD]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- min_form


def test_soft_min_tends_to_the_minimum_of_future_rewards() -> None:
    r = [0.9, 0.2, 0.7, 0.5]
    assert soft_min_values(r, 0.0) == pytest.approx([0.2, 0.2, 0.5, 0.5])
    assert soft_min_values(r, 1e-4) == pytest.approx([0.2, 0.2, 0.5, 0.5], abs=1e-9)
    soft = soft_min_values(r, 0.1)
    assert np.all(soft >= np.array([0.2, 0.2, 0.5, 0.5]) - 1e-12)
    assert np.all(soft[:3] < np.array([np.mean(r[t:]) for t in range(3)]))  # below the mean: min-form
    # A pile of good steps cannot hide one bad step (the sum would).
    assert soft_min_values([1, 1, 1, 1, 0], 0.01)[0] == pytest.approx(0.0, abs=1e-6)


def test_min_form_leave_one_out_by_hand() -> None:
    texts = ["a\n\nb", "c\n\nd", "e"]
    g = group_of(texts, [1.0, 0.0, 1.0])
    steps = [[1.0, 0.5], [0.0, 1.0], [0.8]]
    spec = {"temperature": 0.0, "outcome_weight": 0.0, "step_rewards": steps}
    adv = ASSIGNERS.build("min_form", spec).assign([g], ctx())
    # V (hard min): A = [.5, .5], B = [0, 1], C = [.8]. Baseline of A at step 0: mean(0, .8) = .4;
    # step 1: mean(1, .8) = .9 (C, with one step, stands at its last value).
    assert adv.values[0] == pytest.approx([0.5 - 0.4] * 3 + [0.5 - 0.9])
    assert adv.values[2] == pytest.approx([0.8 - 0.25])
    assert adv.info["args"]["step_rewards"] == "<given>"
    with_outcome = ASSIGNERS.build("min_form", {**spec, "outcome_weight": 1.0}).assign([g], ctx())
    a_hat = (1 - 2 / 3) / math.sqrt(2 / 9)
    assert np.allclose(np.array(with_outcome.values[0]) - adv.values[0], a_hat)


def test_min_form_from_context_callable_and_mismatch() -> None:
    g = group_of(["a\n\nb", "c\n\nd"], [1.0, 0.0])
    adv = ASSIGNERS.build("min_form", {}).assign([g], ctx(step_rewards=lambda t, a, s: [1.0] * len(s)))
    assert np.allclose(adv.values[0], 1.0) and np.allclose(adv.values[1], -1.0)  # equal steps: outcome only
    with pytest.raises(MentorError, match="2 steps but 1 step rewards"):
        ASSIGNERS.build("min_form", {}).assign([g], ctx(step_rewards=lambda t, a, s: [1.0]))
    with pytest.raises(MentorError, match="step rewards"):
        ASSIGNERS.build("min_form", {}).assign([g], ctx())


# ---------------------------------------------------------------- registry


def test_registry_names_args_and_info() -> None:
    assert ASSIGNERS.names() == ["critique", "min_form", "monte_carlo", "outcome", "prefix_tree"]
    with pytest.raises(MentorError, match="critique, min_form, monte_carlo, outcome, prefix_tree"):
        ASSIGNERS.build("vine", {})
    with pytest.raises(MentorError, match="monte_carlo"):
        ASSIGNERS.build("monte_carlo", {"kk": 3})
    with pytest.raises(MentorError):
        ASSIGNERS.build("critique", {"combine": "union"})
    assert ASSIGNERS.build("critique", {"w_flag": 0.5}).assign([], ctx(critic=critic_of())).info["args"] == {
        "combine": "intersection",
        "w_outcome": 2.0,
        "w_flag": 0.5,
        "critique_correct": True,
    }
    with pytest.raises(MentorError, match="rewards"):
        Group(TASK, (attempt("a"),), ())
