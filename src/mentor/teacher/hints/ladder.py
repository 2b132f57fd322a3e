"""`ladder`: format reminder → worked examples of the same (solved) shape → growing prefixes of the reference solution."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.categories import prompt_shape, solved_shape
from mentor.teacher.hints.base import leaks_answer
from mentor.types import Hint, Task


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


def _worked(task: Task, prefix: str) -> str:
    """A reference solution ending with the answer line (the format we want the student to copy)."""
    body = (task.solution or "").strip()
    if body and _answer_line(prefix).search(body):
        return body
    if not body:
        body = "Work it out step by step, then give only the final value."
    return f"{body}\n{prefix} {task.answer}"


# the format rung's method reminder, unless the task source gives one (task.meta["method"])
DEFAULT_METHOD = "Work through the problem step by step before answering."


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
        hide_answer_value: bool = True,
        levels: Sequence[str] = ("format", "example", "prefix"),
        match_shape: bool = True,
        match_answer: bool = False,
    ) -> None:
        if not fractions or any(not 0 < f < 1 for f in fractions) or list(fractions) != sorted(fractions):
            raise ConfigError(f"ladder: fractions must be increasing values in (0, 1), got {list(fractions)}")
        self.answer_prefix = answer_prefix
        self.fractions = tuple(float(f) for f in fractions)
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
        method = str(task.meta.get("method", DEFAULT_METHOD))
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
