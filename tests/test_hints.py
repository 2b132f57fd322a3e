"""The hint ladder, its escalation, answer-leak rejection, the hint measures and the scaffold schedule."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from mentor.errors import ConfigError
from mentor.teacher.categories import prompt_shape, solved_shape, task_category
from mentor.teacher.hints import (
    HINT_SOURCES,
    SCHEDULES,
    LadderHints,
    LLMHinter,
    Scaffold,
    hint_reliance,
    hint_value,
    leaks_answer,
    render_hinted_prompt,
)
from mentor.testing import toy_tasks
from mentor.types import Grade, Hint, Rollout, Task


def build_hint_source(name: str, args: dict):
    return HINT_SOURCES.build(name, args)

SOLUTION = "Add the tens: 30 + 40 = 70.\nAdd the ones: 2 + 5 = 7.\nCombine: 70 + 7 = 77.\nAnswer: 77"


def task(i: int, source: str = "rg:add", level: int = 0, solution: str | None = SOLUTION, answer: str = "77") -> Task:
    return Task(id=f"t{i}", prompt=f"What is 32 + 45? ({i})", answer=answer, solution=solution,
                source=source, level=level)


POOL = [task(0), task(1, answer="12"), task(2, level=1, answer="13"), task(3, source="rg:mul", answer="14")]


def climb(source, t: Task, pool=POOL, seed: int = 0, up_to: int | None = None) -> list[Hint]:
    """Every hint the source has for a task, weakest first (levels it has nothing at are skipped)."""
    rng = np.random.default_rng(seed)
    top = source.max_level(t) if up_to is None else min(up_to, source.max_level(t))
    return [h for level in range(1, top + 1) if (h := source.hint(t, level, ["wrong"], pool, rng)) is not None]


def test_ladder_escalates_in_order() -> None:
    ladder = build_hint_source("ladder", {})
    hints = climb(ladder, POOL[0])
    assert [(h.level, h.kind) for h in hints] == [(1, "format"), (2, "example"), (3, "prefix"), (4, "prefix")]
    assert len(hints[3].text) > len(hints[2].text)  # the prefix grows
    assert "Answer: <answer>" in hints[0].text


def test_task_without_solution_stops_at_the_example() -> None:
    ladder = LadderHints()
    bare = task(9, solution=None)
    assert ladder.max_level(bare) == 2
    assert [h.level for h in climb(ladder, bare)] == [1, 2]


def test_worked_example_is_another_task_of_the_same_bucket() -> None:
    ladder = LadderHints()
    pool = [task(i, answer=str(i + 100), solution=None) for i in range(6)] + [task(50, level=3), task(51, source="rg:mul")]
    seen = set()
    for seed in range(20):
        h = ladder.hint(pool[0], 2, ["x"], pool, np.random.default_rng(seed))
        assert h is not None and h.kind == "example"
        shown = re.search(r"\((\d+)\)", h.text).group(1)
        assert shown in {"1", "2", "3", "4", "5"}  # same bucket, never the task itself
        seen.add(shown)
        assert h.text.rstrip().endswith("Now solve the next problem the same way.")
        assert f"Answer: {int(shown) + 100}" in h.text  # solved by its own reference
    assert len(seen) > 1
    # Deterministic for a seed, whatever the pool's order.
    a = ladder.hint(pool[0], 2, [], pool, np.random.default_rng(5))
    b = ladder.hint(pool[0], 2, [], list(reversed(pool)), np.random.default_rng(5))
    assert a == b


def test_prompt_shape_masks_numbers_only() -> None:
    assert prompt_shape("Calculate -12 - -8.") == prompt_shape("Calculate  -3 - -4.") == "Calculate -# - -#."
    assert prompt_shape("Calculate 3 * 4.") != prompt_shape("Calculate 3 + 4.")
    assert prompt_shape("What is 2.5 + 1?") == "What is # + #?"


def test_worked_examples_prefer_the_same_shape_and_show_it_last() -> None:
    def arith(i: int, prompt: str, answer: str) -> Task:
        return Task(id=f"a{i}", prompt=prompt, answer=answer, solution=None, source="rg:arith", level=0)

    target = arith(0, "Calculate -3 - -5.", "2")
    same = arith(1, "Calculate -6 - -1.", "-5")
    pool = [target, same] + [arith(10 + i, f"Calculate {i} + {i + 1}.", str(2 * i + 1)) for i in range(6)]
    for seed in range(10):
        one = LadderHints(levels=["example:1"]).hint(target, 1, [], pool, np.random.default_rng(seed))
        assert one is not None and [q for q, _ in one.shots] == [same.prompt]  # the only same-shape task
        three = LadderHints(levels=["example:3"]).hint(target, 1, [], pool, np.random.default_rng(seed))
        assert three is not None and len(three.shots) == 3  # filled up from the bucket
        assert three.shots[-1][0] == same.prompt and len({q for q, _ in three.shots}) == 3
    # match_shape off: any task of the bucket, as before
    picks = {LadderHints(levels=["example:1"], match_shape=False).hint(target, 1, [], pool,
                                                                       np.random.default_rng(seed)).shots[0][0]
             for seed in range(20)}
    assert len(picks) > 1


def test_worked_examples_can_match_the_form_of_the_answer_too() -> None:
    def chain(i: int, a: int, b: int) -> Task:
        return Task(id=f"c{i}", prompt=f"State the final answer: {a} - {b} =", answer=str(a - b), source="rg:chain", level=0)

    target = chain(0, 3, 7)  # -4: the student must write a sign it has never written
    negative = chain(1, 2, 9)
    pool = [target, negative] + [chain(10 + i, 9, i) for i in range(6)]  # positive results, same prompt shape
    assert solved_shape(target) == solved_shape(negative) == "State the final answer: # - # = → -#"
    assert solved_shape(pool[2]) == "State the final answer: # - # = → #"
    assert task_category(target, "solved_shape") != task_category(pool[2], "solved_shape")
    assert task_category(target, "shape") == task_category(pool[2], "shape")
    for seed in range(10):
        hint = LadderHints(levels=["example:1"], match_answer=True).hint(target, 1, [], pool, np.random.default_rng(seed))
        assert hint is not None and [q for q, _ in hint.shots] == [negative.prompt]
        three = LadderHints(levels=["example:3"], match_answer=True).hint(target, 1, [], pool, np.random.default_rng(seed))
        assert three is not None and three.shots[-1][0] == negative.prompt  # most similar last, then same shape
    # off (the default): any example of the same prompt shape
    picks = {LadderHints(levels=["example:1"]).hint(target, 1, [], pool, np.random.default_rng(seed)).shots[0][0]
             for seed in range(20)}
    assert len(picks) > 1


def test_example_falls_back_to_source_and_avoids_sharing_the_answer() -> None:
    ladder = LadderHints()
    same_answer = task(1)  # same bucket, same answer 77: showing it would hand over the answer
    other_level = task(2, level=4, answer="5", solution=None)
    h = ladder.hint(task(0), 2, [], [task(0), same_answer, other_level], np.random.default_rng(0))
    assert h is not None and "(2)" in h.text and "Answer: 5" in h.text and "77" not in h.text
    # Nothing else in the pool: no example, and the loop skips straight to the solution prefix.
    assert ladder.hint(task(0), 2, [], [task(0)], np.random.default_rng(0)) is None
    hints = climb(ladder, task(0), pool=[task(0)], up_to=3)
    assert [h.kind for h in hints] == ["format", "prefix"]


@pytest.mark.parametrize(
    "solution,shown",
    [
        (SOLUTION, 2),
        ("32 plus 45 is 77 so the answer is clear\nAnswer: 77", 2),
        ("Step 1: 32 + 45.\nAnswer: 77\nStep 2: check it.\nStep 3: done.", 2),  # answer line mid-text
        ("**Answer:** 77", 0),
        ("first second third fourth fifth sixth seventh eighth ninth", 4),
    ],
)
@pytest.mark.parametrize("hide_value", [True, False])
def test_prefix_hints_never_show_the_answer(solution: str, shown: int, hide_value: bool) -> None:
    ladder = LadderHints(fractions=(0.25, 0.5, 0.75, 0.99), hide_answer_value=hide_value)
    t = task(0, solution=solution)
    bodies = []
    for level in range(3, 7):
        h = ladder.hint(t, level, [], POOL, np.random.default_rng(0))
        if h is None:
            continue
        assert h.kind == "prefix" and h.level == level
        body = h.text.split("\n", 1)[1]
        assert not re.search(r"answer\s*:", body, re.IGNORECASE)  # never the final answer line
        assert len(body) < len(solution.strip())
        if hide_value:
            assert not leaks_answer(body, t.answer)  # nor the answer's value
        bodies.append(body)
    assert len(bodies) >= shown
    assert bodies == sorted(bodies, key=len) and len(set(bodies)) == len(bodies)  # strictly growing


def test_prefix_is_cut_at_steps_and_grows() -> None:
    ladder = LadderHints()
    t = task(0)
    third = ladder.hint(t, 3, [], POOL, np.random.default_rng(0))
    two_thirds = ladder.hint(t, 4, [], POOL, np.random.default_rng(0))
    assert third is not None and two_thirds is not None
    assert third.text.endswith("Add the tens: 30 + 40 = 70.")
    assert two_thirds.text.endswith("Add the ones: 2 + 5 = 7.")
    assert ladder.hint(t, 5, [], POOL, np.random.default_rng(0)) is None


def test_hint_placement_in_the_prompt() -> None:
    q = "What is 2 + 2?"
    assert render_hinted_prompt(q, Hint(2, "example", "EXAMPLE")).startswith("EXAMPLE")
    assert render_hinted_prompt(q, Hint(1, "format", "REMIND")) == f"{q}\n\nREMIND"
    assert render_hinted_prompt(q, Hint(3, "prefix", "PREFIX")).startswith(q)


# ----------------------------------------------------------------------------------------------
# The LLM hinter


def scripted(replies: list[str]):
    calls: list[str] = []

    def generate(prompt: str) -> str:
        calls.append(prompt)
        return replies[len(calls) - 1]

    return generate, calls


def test_llm_hinter_rejects_leaking_hints() -> None:
    t = task(0)
    gen, calls = scripted(["The answer is 77.", "It comes to 77.0 in total", "Line up the tens and the ones first."])
    hinter = LLMHinter(generate=gen, candidates=3)
    h = hinter.hint(t, 1, ["Answer: 7"], POOL, np.random.default_rng(0))
    assert h == Hint(1, "llm", "Hint: Line up the tens and the ones first.")
    assert len(calls) == 3 and hinter.rejected == 2
    assert "What is 32 + 45?" in calls[0] and "Answer: 7" in calls[0] and SOLUTION in calls[0]


def test_llm_hinter_returns_none_when_every_candidate_leaks() -> None:
    gen, _ = scripted(["77", "it is seventy-seven, i.e. 154/2", "  "])
    hinter = LLMHinter(gen, candidates=3)
    assert hinter.hint(task(0), 1, ["x"], POOL, np.random.default_rng(0)) is None
    assert hinter.hint(task(0), 3, ["x"], POOL, np.random.default_rng(0)) is None  # above its levels


def test_leak_detection() -> None:
    assert leaks_answer("so we get 1,234", "1234")
    assert leaks_answer("subtract: 5-3", "3")
    assert leaks_answer("the result is -0.5", "-1/2")
    assert leaks_answer("It is Paris.", "paris")
    assert not leaks_answer("It is Parisian food.", "paris")
    assert not leaks_answer("carry the one", "77")
    assert not leaks_answer("77", None)


def test_registry_rejects_unknown_sources_and_arguments() -> None:
    with pytest.raises(ConfigError, match="ladder, llm"):
        build_hint_source("oracle", {})
    with pytest.raises(ConfigError, match="backend"):
        build_hint_source("llm", {"backend": "nope"})
    with pytest.raises(ConfigError, match="fraction"):
        build_hint_source("ladder", {"fraction": [0.5]})
    with pytest.raises(ConfigError):
        build_hint_source("ladder", {"fractions": [0.7, 0.3]})


# ----------------------------------------------------------------------------------------------
# Measures


def test_hint_value_and_reliance() -> None:
    assert hint_value(0.5) == 0.25 and hint_value(0.0) == 0.0 and hint_value(1.0) == 0.0
    assert hint_value(0.5, n=2) == pytest.approx(0.5)
    # Guided answers far more likely with the hint than without: high reliance; equal: none.
    assert hint_reliance([-3.0, -2.0], [-0.5, -0.5]) == pytest.approx(2.0)
    assert hint_reliance([-0.5, -0.7], [-0.5, -0.7]) == 0.0
    assert math.isnan(hint_reliance([], []))
    with pytest.raises(ValueError):
        hint_reliance([-1.0], [])


def test_llm_hinter_from_config_asks_a_judge_backend():
    # the config route: a judge backend behind the hinter, leaking candidates dropped as before
    hinter = build_hint_source("llm", {"backend": "scripted", "candidates": 2,
                                       "outputs": ["The answer is 77.", "Add the tens, then the ones."]})
    h = hinter.hint(task(0), 1, ["Answer: 7"], POOL, np.random.default_rng(0))
    assert h == Hint(1, "llm", "Hint: Add the tens, then the ones.") and hinter.rejected == 1


def test_judge_text_generator_samples_again_for_the_same_prompt_and_raises_failures():
    from mentor.errors import JudgeError
    from mentor.grade.backends import ScriptedJudge
    from mentor.teacher.credit.critic import judge_text_generator

    seen = []

    def respond(req):
        seen.append(req)
        return f"hint {req.sample}"

    gen = judge_text_generator(ScriptedJudge(respond), temperature=0.5, max_tokens=40)
    assert [gen("p"), gen("p"), gen("q")] == ["hint 0", "hint 1", "hint 0"]  # sample 0 is the greedy one
    assert all(r.prefill == "" and r.max_new_tokens == 40 and r.temperature == 0.5 for r in seen)
    assert seen[0].messages == ({"role": "user", "content": "p"},)

    class Broken:
        name, model = "broken", "broken"

        def generate(self, requests):
            return [JudgeError("server down") for _ in requests]

    with pytest.raises(JudgeError, match="server down"):
        judge_text_generator(Broken(), temperature=0.5, max_tokens=40)("p")


@pytest.mark.parametrize(("args", "where", "key"), [
    ({"backend": "oracle"}, "hints.source.args", "backend"),
    ({"backend": "openai", "model": "m"}, "hints.source.args.url", "url"),
    ({"backend": "local", "url": "http://x"}, "hints.source.args", "url"),
    ({"backend": "scripted", "outputs": ["x"], "candidates": 0}, "hints.source.args", "candidates"),
])
def test_llm_hinter_config_errors_name_the_setting(args, where, key):
    with pytest.raises(ConfigError) as err:
        build_hint_source("llm", args)
    assert err.value.where == where and key in err.value.message and "critic" not in err.value.message


# ----------------------------------------------------------------------------------------------
# The scaffold schedule: a pure state machine over rollouts, no model needed


def _rollout(t: Task, group: int, index: int, score: float | None, hint: Hint | None = None) -> Rollout:
    return Rollout(task=t, group=group, index=index, text=f"attempt {index}", completion_ids=(1, 2),
                   logprobs=(-1.0, -1.0), finished=True, hint=hint, grade=Grade(score=score))


# the recommended run's source (the schema default): one, then three worked examples of the same solved shape
LADDER = {"levels": ["example:1", "example:3"], "match_answer": True}


def _scaffold(**args) -> Scaffold:
    return SCHEDULES.build("scaffold", args, source=HINT_SOURCES.build("ladder", LADDER, answer_prefix="Answer:"))


def _hint_helps(sched: Scaffold, t: Task) -> Scaffold:
    """Evidence for `t`'s category: eight attempts at the top rung pass, eight without a hint fail."""
    top = Hint(2, "example", "h")
    sched.observe([_rollout(t, 0, i, float(i >= 8), top if i >= 8 else None) for i in range(16)])
    return sched


def test_scaffold_fades_as_the_category_passes_without_the_hint() -> None:
    pool = toy_tasks(20)
    t = next(x for x in pool if x.level == 0)
    other = next(x for x in pool if x.level == 1)  # another bucket: its own pass rates
    top = Hint(2, "example", "h")

    assert _scaffold().hinted(t, 8) == 0  # one prior for every rate: before evidence no rung beats no hint
    sched = _hint_helps(_scaffold(), t)
    start = sched.hinted(t, 8)
    assert start > 0
    hints = sched.scaffold(t, 8, pool, np.random.default_rng(0))
    k = sum(h is not None for h in hints)
    assert len(hints) == 8 and 0 < k < 8 and hints[: 8 - k] == (None,) * (8 - k)  # no-hint attempts first
    assert all(h.level == 2 and len(h.shots) == 3 for h in hints[8 - k:])  # the rung that passes
    counts = [start]
    for passes in (1, 1, 2, 2, 3, 3, 4, 4):  # the category passes more and more often on its own
        k = counts[-1]  # its groups as the scaffold plans them: k hinted attempts, which pass
        sched.observe([_rollout(t, 0, i, float(i < passes or i >= 8 - k), top if i >= 8 - k else None)
                       for i in range(8)])
        counts.append(sched.hinted(t, 8))
    assert counts == sorted(counts, reverse=True) and len(set(counts)) > 2 and counts[-1] == 0, counts
    assert sched.hinted(other, 8) == 0  # evidence stays with its category
    # a hinted pass is evidence about the hint, not about the student alone: the hint fades less
    plain, hinted = _scaffold(), _scaffold()
    plain.observe([_rollout(t, 0, i, float(i >= 4)) for i in range(8)])
    hinted.observe([_rollout(t, 0, i, float(i >= 4), top if i >= 4 else None) for i in range(8)])
    assert hinted.hinted(t, 8) > plain.hinted(t, 8)
    assert _hint_helps(_scaffold(max_share=0.25), t).hinted(t, 8) == 2  # capped at max_share of the group


def test_scaffold_leans_toward_a_hint_while_no_evidence_tells_them_apart() -> None:
    """Each rung draws against the one plain draw, so with the default's two rungs at the prior a hint
    is shown about two times in three (even odds measured no better: docs/decisions/baselines.md), and
    evidence that the hint helps shows it nearly always."""
    pool = toy_tasks(20)
    t = next(x for x in pool if x.level == 0)
    rng = np.random.default_rng(0)

    def shown(sched: Scaffold) -> float:
        return float(np.mean([sched.scaffold(t, 8, pool, rng)[-1] is not None for _ in range(2000)]))

    assert 0.61 < shown(_scaffold()) < 0.72
    assert shown(_hint_helps(_scaffold(), t)) > 0.95


def test_rescue_hints_only_a_scored_all_fail_group() -> None:
    pool = toy_tasks(20)
    t = pool[0]
    sched = _hint_helps(_scaffold(), t)  # evidence that the top rung passes and the plain attempts do not
    rng = np.random.default_rng(0)
    failed = [_rollout(t, 0, i, 0.0) for i in range(4)]
    rescue = sched.rescue(failed, pool, rng)
    assert len(rescue) == 4 and all(h is not None for h in rescue)
    assert sched.rescue([*failed[:3], _rollout(t, 0, 3, None)], pool, rng)  # unscorable is not a pass
    assert sched.rescue([*failed[:3], _rollout(t, 0, 3, 1.0)], pool, rng) == ()  # one pass: mixed already
    assert sched.rescue([*failed[:3], _rollout(t, 0, 3, 0.5)], pool, rng)  # partial credit is not a pass
    assert sched.rescue([_rollout(t, 0, i, None) for i in range(4)], pool, rng) == ()  # nothing scored
    assert len(_scaffold(rescue_share=0.5).rescue(failed, pool, rng)) == 2
    assert _scaffold(rescue_share=0.0).rescue(failed, pool, rng) == ()
    assert SCHEDULES.build("none", {}).rescue(failed, pool, rng) == ()


def test_scaffold_state_round_trip() -> None:
    pool = toy_tasks(20)
    first = _scaffold()
    for step in range(3):
        first.observe([_rollout(t, g, i, float((g + i + step) % 3 == 0)) for g, t in enumerate(pool[:6]) for i in range(4)])
    second = _scaffold()
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))  # through JSON, as the store keeps it
    assert [second.hinted(t, 8) for t in pool] == [first.hinted(t, 8) for t in pool]
    more = [_rollout(pool[0], 0, i, 1.0) for i in range(8)]
    first.observe(more)
    second.observe(more)
    assert second.state_dict() == first.state_dict()


def test_scaffold_arguments_are_checked_and_named() -> None:
    with pytest.raises(ConfigError) as err:
        _scaffold(target=1.5)
    assert err.value.where == "hints.schedule.args.target"
    with pytest.raises(ConfigError, match=r"hints\.schedule\.args"):
        _scaffold(targt=0.1)
    with pytest.raises(ConfigError, match="none, scaffold"):
        SCHEDULES.build("staircase", {})
