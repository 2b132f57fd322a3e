"""Hints for groups in which every attempt failed.

A group with no success carries no learning signal. The loop re-rolls it with a hint, escalating only
as far as needed to get a mixed group (Guide-GRPO, arXiv 2506.13923; the ladder of ALGORITHMS.md)::

    level, used = 0, rerolls_this_step
    while all_failed(rewards) and (h := next_hint(source, task, level, failed, pool, rng, policy, used)):
        prompt = render_hinted_prompt(task.prompt, h)   # the student sees this; record h with each attempt
        rewards = ... re-roll and grade ...
        level, used = h.level, used + 1

The loss of a guided attempt is computed under the plain task prompt (the lead's Guide-GRPO loss);
`hint_reliance` measures how much a correct guided answer still depends on the hint.

Hint sources (explicit registry, `build_hint_source`):

- `ladder` — 1: format/method reminder; 2: one worked example of a similar task from the pool;
  3..: a growing prefix of this task's reference solution, never its final answer line.
- `llm` — a model writes the hint from the question, a failed attempt and the reference; hints that
  leak the answer are rejected.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mentor.errors import ConfigError
from mentor.grade.answer import as_number, normalise
from mentor.types import Hint, Task

__all__ = [
    "HINT_SOURCES",
    "HintPolicy",
    "HintSource",
    "LLMHinter",
    "LadderHints",
    "PassRates",
    "all_failed",
    "build_hint_source",
    "escalate",
    "hint_reliance",
    "hint_value",
    "leaks_answer",
    "next_hint",
    "render_hinted_prompt",
    "scaffold_size",
    "solved_shape",
]


class HintSource(Protocol):
    name: str

    def hint(
        self, task: Task, level: int, failed: Sequence[str], pool: Sequence[Task], rng: np.random.Generator
    ) -> Hint | None:
        """The hint of this level, or None when the source has nothing at that level."""
        ...

    def max_level(self, task: Task) -> int: ...


# --------------------------------------------------------------------------------------------
# Placing a hint in the prompt

# A worked example reads best before the question it prepares for; reminders and solution prefixes
# are about *this* question, so they follow it.
_BEFORE_QUESTION = frozenset({"example"})


def render_hinted_prompt(prompt: str, hint: Hint) -> str:
    """The task prompt with the hint placed in it (the loop wraps this in its chat template)."""
    if hint.kind in _BEFORE_QUESTION:
        return f"{hint.text}\n\n{prompt}"
    return f"{prompt}\n\n{hint.text}"


# --------------------------------------------------------------------------------------------
# Escalation


def all_failed(rewards: Sequence[float | None], threshold: float = 0.5) -> bool:
    """True when at least one attempt was scored and none passed (unscorable ones are ignored)."""
    scored = [r for r in rewards if r is not None]
    return bool(scored) and all(r < threshold for r in scored)


@dataclass(frozen=True)
class HintPolicy:
    """How far hints may go: `max_level` per task, `max_rerolls` re-rolled groups per step."""

    max_level: int = 3
    max_rerolls: int = 8

    def __post_init__(self) -> None:
        if self.max_level < 1 or self.max_rerolls < 0:
            raise ConfigError(
                f"hint policy needs max_level >= 1 and max_rerolls >= 0, got {self.max_level}, {self.max_rerolls}"
            )


def escalate(last_level: int, task_max_level: int, policy: HintPolicy, rerolls_used: int) -> int | None:
    """The next hint level to try after a group all-failed at `last_level` (0 = no hint), or None.

    Pure: one level up, never past the smaller of the policy cap and what the source has for this
    task, and never once the step's re-roll budget is spent.
    """
    if rerolls_used >= policy.max_rerolls:
        return None
    level = last_level + 1
    return level if level <= min(policy.max_level, task_max_level) else None


def next_hint(
    source: HintSource,
    task: Task,
    last_level: int,
    failed: Sequence[str],
    pool: Sequence[Task],
    rng: np.random.Generator,
    policy: HintPolicy,
    rerolls_used: int,
) -> Hint | None:
    """The next hint for a group that all-failed at `last_level`, or None to stop re-rolling.

    A level the source cannot fill for this task (say, no similar task in the pool for an example)
    is skipped for the next one up, within the cap.
    """
    cap = source.max_level(task)
    level = escalate(last_level, cap, policy, rerolls_used)
    while level is not None:
        h = source.hint(task, level, failed, pool, rng)
        if h is not None:
            return h
        level = escalate(level, cap, policy, rerolls_used)
    return None


# --------------------------------------------------------------------------------------------
# Answer-leak detection

_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?")


def leaks_answer(text: str, answer: str | None) -> bool:
    """Whether `text` gives away `answer`: the answer string as a whole word (case and spacing
    normalised), or any number in the text equal to the answer's numeric value (so 12.0, 12 and 24/2
    all leak an answer of 12). Deliberately strict: a hint that mentions the value for another reason
    is rejected too."""
    if answer is None or not answer.strip():
        return False
    ans = normalise(answer)
    if re.search(rf"(?<!\w){re.escape(ans)}(?!\w)", normalise(text)):
        return True
    value = as_number(answer)
    if value is None:
        return False
    for m in _NUMBER.finditer(text):
        found = as_number(m.group())
        if found is not None and found == value:
            return True
        # "-3" in "5-3": the sign may belong to an operator; check the unsigned number too.
        if m.group()[0] in "+-":
            found = as_number(m.group()[1:])
            if found is not None and found == value:
                return True
    return False


# --------------------------------------------------------------------------------------------
# The ladder


def _parse_rungs(levels: Sequence[str]) -> list[tuple[str, int]]:
    """Ladder rungs from names: "format", "example" or "example:K" (K worked examples), "prefix"
    (expands to one rung per solution fraction). Order is escalation order."""
    rungs: list[tuple[str, int]] = []
    for raw in levels:
        name, _, count = str(raw).partition(":")
        if name not in ("format", "example", "prefix") or (count and (name != "example" or not count.isdigit()
                                                                     or int(count) < 1)):
            raise ConfigError(
                f"ladder: unknown level '{raw}'.",
                where="hints.source.args.levels",
                fix="use format, example, example:K (K worked examples) or prefix, in escalation order",
            )
        rungs.append((name, int(count) if count else (1 if name == "example" else 0)))
    if not rungs:
        raise ConfigError("ladder: no levels given.", where="hints.source.args.levels",
                          fix="e.g. levels: [format, example, prefix]")
    return rungs


def _answer_line(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*\W*{re.escape(prefix.rstrip(':'))}\s*:.*$", re.IGNORECASE | re.MULTILINE)


_NUMERAL = re.compile(r"\d+(?:\.\d+)?")


def prompt_shape(prompt: str) -> str:
    """A prompt with its numbers masked and its spacing normalised: tasks of one shape are the same
    problem with other numbers ("Calculate -# - -#.")."""
    return " ".join(_NUMERAL.sub("#", prompt).split())


def solved_shape(task: Task) -> str:
    """The shape of the problem and of its reference answer ("3 - 7 =" and "9 - 2 =" share a prompt
    shape, but "-#" and "#" answers are different problems for a small student: one needs a sign it
    has never written). What the teacher knows from the reference, never shown to the student."""
    return f"{prompt_shape(task.prompt)} → {prompt_shape(task.answer or '')}"


def _worked(task: Task, prefix: str) -> str:
    """A reference solution ending with the answer line (the format we want the student to copy)."""
    body = (task.solution or "").strip()
    if body and _answer_line(prefix).search(body):
        return body
    if not body:
        body = "Work it out step by step, then give only the final value."
    return f"{body}\n{prefix} {task.answer}"


class LadderHints:
    """Format reminder → one worked example → growing prefixes of the reference solution.

    Level 1 (`format`): restates the required final line and a method reminder (`task.meta["method"]`
    if the task source provides one). Level 2 (`example`): a different task with a reference answer,
    of the same shape (`prompt_shape`: the same problem with other numbers, with `match_shape`; with
    `match_answer` too, first of those whose answer has this task's form, `solved_shape`), else
    of the same bucket, else the same source, else any; one whose text does not contain this task's
    answer is preferred so the example cannot hand it over. K worked examples fill from the most
    similar tier down, the most similar shown last. Levels 3.. (`prefix`):
    the first `fractions[i]` of this task's solution, cut at step (line) boundaries when it has at
    least 3 lines and at words otherwise, with the answer line removed and strictly growing with the
    level. With `hide_answer_value` (default) a prefix also stops before the first step that states
    the answer's value (`leaks_answer`): a prefix ending in "... = 77" would let the student copy
    rather than reason, which teaches the no-hint policy nothing. A level that cannot show more than
    the level below returns None. A task without a solution stops at level 2.
    """

    name = "ladder"

    def __init__(
        self,
        answer_prefix: str = "Answer:",
        fractions: Sequence[float] = (1 / 3, 2 / 3),
        method: str = "Work through the problem step by step before answering.",
        hide_answer_value: bool = True,
        levels: Sequence[str] = ("format", "example", "prefix"),
        match_shape: bool = True,
        match_answer: bool = False,
    ) -> None:
        if not fractions or any(not 0 < f < 1 for f in fractions) or list(fractions) != sorted(fractions):
            raise ConfigError(f"ladder: fractions must be increasing values in (0, 1), got {list(fractions)}")
        self.answer_prefix = answer_prefix
        self.fractions = tuple(float(f) for f in fractions)
        self.method = method
        self.hide_answer_value = bool(hide_answer_value)
        self.rungs = _parse_rungs(levels)
        self.match_shape = bool(match_shape)
        self.match_answer = bool(match_answer)

    def max_level(self, task: Task) -> int:
        fixed = [r for r in self.rungs if r[0] != "prefix"]
        return len(fixed) + (len(self.fractions) if self._body(task) and ("prefix", 0) in self.rungs else 0)

    def _body(self, task: Task) -> str:
        """The reference solution without its answer line(s)."""
        answer_line = _answer_line(self.answer_prefix)
        return "\n".join(ln for ln in (task.solution or "").splitlines() if not answer_line.match(ln)).strip()

    def hint(
        self, task: Task, level: int, failed: Sequence[str], pool: Sequence[Task], rng: np.random.Generator
    ) -> Hint | None:
        if not 1 <= level <= self.max_level(task):
            return None
        kind, shots = self._rung(task, level)
        if kind == "format":
            return Hint(level=level, kind="format", text=self._format(task).text)
        if kind == "example":
            hint = self._example(task, pool, rng, shots)
            return None if hint is None else Hint(level=level, kind=hint.kind, text=hint.text, shots=hint.shots)
        prefix_level = 3 + (shots - 1)  # the i-th prefix rung, in the numbering `_prefix` expects
        hint = self._prefix(task, prefix_level)
        return None if hint is None else Hint(level=level, kind=hint.kind, text=hint.text)

    def _rung(self, task: Task, level: int) -> tuple[str, int]:
        """(kind, n) of a level: n = number of worked examples, or which prefix fraction (1-based)."""
        expanded: list[tuple[str, int]] = []
        for kind, n in self.rungs:
            if kind == "prefix":
                if self._body(task):
                    expanded.extend(("prefix", i + 1) for i in range(len(self.fractions)))
            else:
                expanded.append((kind, n))
        return expanded[level - 1]

    def _format(self, task: Task) -> Hint:
        method = str(task.meta.get("method", self.method))
        text = (
            f"Reminder: {method} Your reply must end with a final line of the form "
            f"'{self.answer_prefix} <answer>', with only the answer after '{self.answer_prefix}'."
        )
        return Hint(level=1, kind="format", text=text)

    def _example(self, task: Task, pool: Sequence[Task], rng: np.random.Generator, shots: int = 1) -> Hint | None:
        others = [t for t in pool if t.id != task.id and t.answer is not None]
        # Prefer examples that do not show this task's answer anywhere (same answer, or the value
        # appearing in their working); fall back to any example rather than none.
        safe = [
            t for t in others
            if not leaks_answer(f"{t.prompt}\n{_worked(t, self.answer_prefix)}", task.answer)
        ]
        others = safe or others
        tiers = [
            [t for t in others if t.bucket == task.bucket],
            [t for t in others if t.source == task.source],
            others,
        ]
        if self.match_shape:
            # Most similar of all: the same problem with other numbers ("Calculate -# - -#."). On the
            # bundled student a same-shape example rescues groups a random one of the bucket does not.
            shape = prompt_shape(task.prompt)
            tiers.insert(0, [t for t in tiers[0] if prompt_shape(t.prompt) == shape])
            if self.match_answer:
                # ... and, before those, with an answer of the same form: "3 - 7 =" learns from "2 - 9 = -7",
                # not from "9 - 2 = 7" (it shows that the answer can be negative, not which number it is).
                solved = solved_shape(task)
                tiers.insert(0, [t for t in tiers[0] if solved_shape(t) == solved])
        examples: list[Task] = []
        for tier in tiers:  # fill the shots from the most similar tier down
            shown = {t.prompt for t in examples}
            # sorted by id so the pick depends on the rng only, not on the pool's order; one task per
            # distinct prompt: a repeated example shows nothing new
            tier = [t for t in sorted(tier, key=lambda t: t.id) if t.prompt not in shown]
            tier = list({t.prompt: t for t in reversed(tier)}.values())[::-1]
            if tier:
                picks = rng.choice(len(tier), size=min(shots - len(examples), len(tier)), replace=False)
                examples += [tier[int(i)] for i in picks]
            if len(examples) == shots:
                break
        if not examples:
            return None
        # the most similar example last, next to the question it prepares for
        pairs = tuple((ex.prompt, _worked(ex, self.answer_prefix)) for ex in reversed(examples))
        intro = ("Here is a solved example of a similar problem." if len(pairs) == 1
                 else f"Here are {len(pairs)} solved examples of similar problems.")
        body = "\n\n".join(f"Problem: {q}\nSolution: {a}" for q, a in pairs)
        text = f"{intro}\n\n{body}\n\nNow solve the next problem the same way."
        return Hint(level=2, kind="example", text=text, shots=pairs)

    def _units(self, body: str) -> list[int]:
        """End offsets of the steps (lines) or, for short solutions, of the words of `body`."""
        lines = [m.end() for m in re.finditer(r"[^\n]*\S[^\n]*", body)]
        return lines if len(lines) >= 3 else [m.end() for m in re.finditer(r"\S+", body)]

    def _prefix(self, task: Task, level: int) -> Hint | None:
        body = self._body(task)
        ends = self._units(body)
        n = len(ends)
        if n < 2:
            return None
        allowed = n - 1  # a "prefix" that is the whole solution would be no prefix
        if self.hide_answer_value:
            starts = [0, *ends[:-1]]
            for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
                if leaks_answer(body[a:b], task.answer):
                    allowed = min(allowed, i)  # stop before the first step that states the answer
                    break
        taken: list[int] = []
        for f in self.fractions[: level - 2]:
            k = max((taken[-1] if taken else 0) + 1, math.ceil(f * n))  # strictly longer at each level
            taken.append(min(k, allowed))
        if not taken or taken[-1] < 1 or (len(taken) > 1 and taken[-1] <= taken[-2]):
            return None  # nothing longer than the last level can be shown
        text = body[: ends[taken[-1] - 1]].rstrip()
        # Second guard: never show an answer line, even one the solution wrote mid-line.
        cut = re.search(rf"{re.escape(self.answer_prefix.rstrip(':'))}\s*:", text, re.IGNORECASE)
        if cut:
            text = text[: cut.start()].rstrip()
        if not text:
            return None
        return Hint(
            level=level,
            kind="prefix",
            text=f"Here is the beginning of a solution. Continue it and finish with the answer line:\n{text}",
        )


# --------------------------------------------------------------------------------------------
# A model as hinter (HiLL, arXiv 2604.00698)

LLM_HINT_TEMPLATE = """You are a tutor. A student failed the problem below. Write ONE short hint \
(at most two sentences) that helps with the next step. Do NOT state the final answer or any number \
equal to it.
Hint strength: {strength}

Problem:
{question}

Reference solution (for you only, do not copy it):
{reference}

The student's failed attempt:
<<<
{attempt}
>>>

Hint:"""

_STRENGTH = {1: "a gentle nudge about the method", 2: "name the key step the student missed"}


class LLMHinter:
    """Asks `generate(prompt) -> str` for a hint; rejects candidates that leak the answer.

    `generate` is any callable (`build_hint_source("llm", {"generate": fn, ...})`); from config,
    `build_hint_source("llm", {"backend": ..., ...})` puts a judge backend behind it
    (`mentor.credit_sources.build_llm_hinter`). Up to `candidates` calls per hint; the
    first non-leaking, non-empty one wins; None if all leak. Errors from `generate` propagate: a broken
    hinter is an error, not "no hint".
    """

    name = "llm"

    def __init__(
        self,
        generate: Callable[[str], str],
        candidates: int = 3,
        levels: int = 2,
        answer_prefix: str = "Answer:",
        template: str = LLM_HINT_TEMPLATE,
        max_attempt_chars: int = 2000,
    ) -> None:
        if not callable(generate):
            raise ConfigError("llm hinter needs a callable 'generate'", fix="the loop passes the model's generate fn")
        if candidates < 1 or levels < 1:
            raise ConfigError(f"llm hinter needs candidates >= 1 and levels >= 1, got {candidates}, {levels}")
        self.generate = generate
        self.candidates = int(candidates)
        self.levels = int(levels)
        self.answer_prefix = answer_prefix
        self.template = template
        self.max_attempt_chars = int(max_attempt_chars)
        self.rejected = 0  # leaking candidates thrown away, for the report

    def max_level(self, task: Task) -> int:
        return self.levels

    def hint(
        self, task: Task, level: int, failed: Sequence[str], pool: Sequence[Task], rng: np.random.Generator
    ) -> Hint | None:
        if not 1 <= level <= self.levels:
            return None
        attempt = failed[int(rng.integers(len(failed)))] if failed else "(no attempt recorded)"
        # The attempt is the student's text: keep it short and fenced so it cannot pose as instructions.
        attempt = attempt[-self.max_attempt_chars :].replace(">>>", "> > >").replace("<<<", "< < <")
        reference = (task.solution or "").strip() or f"{self.answer_prefix} {task.answer}"
        prompt = self.template.format(
            strength=_STRENGTH.get(level, "point out the decisive step, without the result"),
            question=task.prompt,
            reference=reference,
            attempt=attempt,
        )
        for _ in range(self.candidates):
            text = self.generate(prompt).strip()
            if not text:
                continue
            if leaks_answer(text, task.answer):
                self.rejected += 1
                continue
            return Hint(level=level, kind="llm", text=f"Hint: {text}")
        return None


HINT_SOURCES: dict[str, type] = {"ladder": LadderHints, "llm": LLMHinter}


def build_hint_source(name: str, args: Mapping[str, Any] | None = None) -> HintSource:
    """Build a hint source from its registry name and arguments (the config's `{name, args}`)."""
    args = dict(args or {})
    cls = HINT_SOURCES.get(name)
    if cls is None:
        raise ConfigError(f"unknown hint source '{name}'", fix=f"use one of: {', '.join(sorted(HINT_SOURCES))}")
    if name == "llm" and "generate" not in args:  # from config: a model behind a judge backend
        from mentor.credit_sources import build_llm_hinter

        return build_llm_hinter(args)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown argument(s) {', '.join(unknown)} for hint source '{name}'",
            fix=f"valid arguments: {', '.join(valid)}",
        )
    return cls(**args)


# --------------------------------------------------------------------------------------------
# Measuring hints


def hint_value(pass_rate: float, n: int | None = None) -> float:
    """What a hint is worth by the group it creates: p̂(1−p̂), or with `n` the chance the group of n
    is mixed, 1 − p̂ⁿ − (1−p̂)ⁿ (HiLL)."""
    p = min(max(float(pass_rate), 0.0), 1.0)
    return p * (1 - p) if n is None else 1.0 - p**n - (1.0 - p) ** n


def hint_reliance(logp_without: Sequence[float], logp_with: Sequence[float]) -> float:
    """How much correct guided answers still depend on the hint: mean log p(y|q,h) − mean log p(y|q).

    Each input holds, per correct guided attempt y (same attempts, same order), the *per-token mean*
    log-probability of y's tokens under the policy: `logp_without` with the plain prompt q, `logp_with`
    with the hinted prompt. Per-token means keep long answers from dominating.

    Sign: ALGORITHMS.md writes Δ = mean log p(y|q) − mean log p(y|q,h), which is ≤ 0 when the hint
    helps and *rises* to 0 as the student internalises it. We return −Δ, the gap, so that it is ≥ 0 and
    *falls* toward 0 as the issue asks to plot it (0 = the success transfers to the no-hint policy).
    NaN when there is no correct guided attempt to measure.
    """
    if len(logp_without) != len(logp_with):
        raise ValueError(f"hint_reliance: {len(logp_without)} no-hint values vs {len(logp_with)} hinted")
    if not logp_with:
        return math.nan
    return float(np.mean(logp_with) - np.mean(logp_without))


# --------------------------------------------------------------------------------------------
# Adaptive scaffolding: hint part of a group, just enough that the group is likely to teach


def scaffold_size(group_size: int, p_plain: float, p_hinted: float, target: float, max_hinted: int) -> int:
    """How many of a group's `group_size` attempts should see the hint: the fewest k (0..max_hinted)
    for which the group is expected to fail entirely with probability at most `target`,

        P(all fail) = (1 − p_plain)^(G − k) · (1 − p_hinted)^k ,

    with `p_plain` and `p_hinted` the estimated pass rates without and with the hint; `max_hinted`
    when no k reaches the target. k = 0 once the student passes often enough on its own: the hint
    fades as it stops being needed, and on-policy attempts are never displaced without cause.
    """
    if not 0 < target < 1:
        raise ValueError(f"scaffold_size: target must be in (0, 1), got {target}")
    max_hinted = max(0, min(max_hinted, group_size - 1))  # at least one attempt always sees no hint
    miss_plain, miss_hinted = 1.0 - min(max(p_plain, 0.0), 1.0), 1.0 - min(max(p_hinted, 0.0), 1.0)
    for k in range(max_hinted + 1):
        if miss_plain ** (group_size - k) * miss_hinted**k <= target:
            return k
    return max_hinted


@dataclass
class PassRates:
    """Discounted pass counts per (bucket, with or without hint): the scaffold's estimate of how often
    the student passes a bucket's tasks, tracking a student that changes every step.

    Each `update` first multiplies every count by (1 − forget), then adds the step's attempts; the
    estimate is the posterior mean under a Beta prior (`prior` without the hint, `prior_hinted` with
    it), so a bucket never seen reads as the prior mean. Unscorable attempts are not counted (neither
    pass nor fail).

    A key may have a `parent` (a task's shape within its bucket): its estimate then shrinks toward the
    parent's with `strength` pseudo-attempts, so a shape seen once moves only part of the way from its
    bucket, and an unseen shape reads as its bucket."""

    forget: float = 0.5
    prior: tuple[float, float] = (1.0, 1.0)
    prior_hinted: tuple[float, float] = (1.0, 1.0)
    strength: float = 4.0
    counts: dict[str, list[float]] = field(default_factory=dict)  # "key|plain" -> [passes, fails]

    def rate(self, bucket: str, hinted: bool, parent: str | None = None) -> float:
        a, b = self.beta(bucket, hinted, parent)
        return a / (a + b)

    def beta(self, bucket: str, hinted: bool, parent: str | None = None) -> tuple[float, float]:
        """The Beta posterior (α, β) behind `rate`: the key's discounted passes and fails on top of
        its prior, which is the parent's mean at `strength` pseudo-attempts when it has a parent."""
        passes, fails = self.counts.get(_rate_key(bucket, hinted), (0.0, 0.0))
        if parent is not None:
            mean = self.rate(parent, hinted)
            return passes + self.strength * mean, fails + self.strength * (1 - mean)
        a, b = self.prior_hinted if hinted else self.prior
        return passes + a, fails + b

    def update(self, observed: Mapping[tuple[str, bool], Sequence[bool]]) -> None:
        """`observed[(bucket, hinted)]` = pass/fail of this step's scored attempts."""
        for c in self.counts.values():
            c[0] *= 1 - self.forget
            c[1] *= 1 - self.forget
        for (bucket, hinted), passed in observed.items():
            c = self.counts.setdefault(_rate_key(bucket, hinted), [0.0, 0.0])
            c[0] += sum(passed)
            c[1] += len(passed) - sum(passed)

    def state_dict(self) -> dict[str, Any]:
        return {"counts": {k: list(v) for k, v in self.counts.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.counts = {str(k): [float(v[0]), float(v[1])] for k, v in state.get("counts", {}).items()}


def _rate_key(bucket: str, hinted: bool) -> str:
    return f"{bucket}|{'hinted' if hinted else 'plain'}"
