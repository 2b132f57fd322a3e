"""What a hint source is, how a hint is shown to the student, and answer-leak detection."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from mentor.grade.answer import as_number, normalise
from mentor.types import Hint, Task


class HintSource(Protocol):
    name: str

    def hint(
        self, task: Task, level: int, failed: Sequence[str], pool: Sequence[Task], rng: np.random.Generator
    ) -> Hint | None:
        """The hint of this level, or None when the source has nothing at that level."""
        ...

    def max_level(self, task: Task) -> int: ...


# A worked example reads best before the question it prepares for; reminders and solution prefixes
# are about *this* question, so they follow it.
_BEFORE_QUESTION = frozenset({"example"})


def render_hinted_prompt(prompt: str, hint: Hint) -> str:
    """The task prompt with the hint placed in it (the loop wraps this in its chat template)."""
    if hint.kind in _BEFORE_QUESTION:
        return f"{hint.text}\n\n{prompt}"
    return f"{prompt}\n\n{hint.text}"


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
