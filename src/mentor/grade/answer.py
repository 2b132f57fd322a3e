"""Final-answer extraction and the verifier registry used by the answer reward.

A verifier is `verify(task, extracted) -> float` in [0, 1]. A verifier that raises is a grader failure
(`VerifierError`): the attempt becomes unscorable, never a silent 0. A *missing* answer line is the
student's failure and scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

from mentor.errors import VerifierError
from mentor.types import Grade, Task, Verdict

Verifier = Callable[[Task, str], float]
VERIFIERS: dict[str, Verifier] = {}


def register_verifier(name: str) -> Callable[[Verifier], Verifier]:
    def deco(fn: Verifier) -> Verifier:
        if name in VERIFIERS:
            raise ValueError(f"verifier '{name}' is already registered")
        VERIFIERS[name] = fn
        return fn

    return deco


def extract_answer(text: str, prefix: str = "Answer:") -> str | None:
    """The text after the *last* `prefix` in the attempt, up to the end of that line.

    The last one binds, so an attempt cannot plant an early answer and then hedge. Surrounding
    markup (`**`, `$`, a trailing full stop) is stripped.
    """
    # `^.*` is greedy: on a line holding two answers ("Answer: 3 ... Answer: 4") the last one binds too.
    pattern = re.compile(r"^.*" + re.escape(prefix.rstrip(":")) + r"\s*:\s*(.*)", re.IGNORECASE | re.MULTILINE)
    matches = pattern.findall(text)
    if not matches:
        return None
    value = matches[-1].strip()
    value = value.strip("*`$ ").rstrip(".").strip("*`$ ")
    value = re.sub(r"^\\boxed\{(.*)\}$", r"\1", value)
    return value or None


_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(/\d+)?$")


def as_number(s: str) -> Fraction | None:
    """The exact value of a plain number ('1,234', '-0.5', '3/4'), or None for anything else."""
    s = s.replace(",", "").replace(" ", "")
    if not _NUM.match(s):
        return None
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def normalise(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().lower()).rstrip(".")


@register_verifier("exact")
def verify_exact(task: Task, extracted: str) -> float:
    if task.answer is None:
        raise VerifierError(f"task {task.id} has no reference answer for the 'exact' verifier")
    return float(normalise(extracted) == normalise(task.answer))


@register_verifier("math")
def verify_math(task: Task, extracted: str) -> float:
    """Answer equivalence: exact numbers compared as fractions first (fast and unambiguous), then
    math-verify for everything symbolic."""
    if task.answer is None:
        raise VerifierError(f"task {task.id} has no reference answer for the 'math' verifier")
    gold_n, pred_n = as_number(task.answer), as_number(extracted)
    if gold_n is not None and pred_n is not None:
        return float(gold_n == pred_n)
    if normalise(extracted) == normalise(task.answer):
        return 1.0
    from math_verify import parse, verify

    try:
        gold = parse(f"${task.answer}$") or parse(task.answer)
        pred = parse(f"${extracted}$") or parse(extracted)
        if not gold:
            raise VerifierError(f"math-verify cannot parse the reference answer {task.answer!r} of task {task.id}")
        return float(bool(pred) and verify(gold, pred))
    except VerifierError:
        raise
    except Exception as exc:  # math-verify raises many types; each is a grader failure
        raise VerifierError(f"math-verify failed on task {task.id}: {exc!r}") from exc


@register_verifier("reasoning_gym")
def verify_reasoning_gym(task: Task, extracted: str) -> float:
    """Score with the dataset's own `score_answer` on the stored entry."""
    import reasoning_gym

    entry = task.meta.get("entry")
    dataset = task.meta.get("dataset")
    if entry is None or dataset is None:
        raise VerifierError(f"task {task.id} lacks the reasoning-gym entry needed by its scorer")
    try:
        score_fn = reasoning_gym.get_score_answer_fn(dataset)
        score = score_fn(extracted, dict(entry))
    except Exception as exc:
        raise VerifierError(f"reasoning-gym scorer for '{dataset}' failed on task {task.id}: {exc!r}") from exc
    if score is None:
        raise VerifierError(f"reasoning-gym scorer for '{dataset}' returned None on task {task.id}")
    return float(score)


def get_verifier(name: str) -> Verifier:
    try:
        return VERIFIERS[name]
    except KeyError:
        raise VerifierError(
            f"unknown verifier '{name}'", fix=f"use one of: {', '.join(sorted(VERIFIERS))}"
        ) from None


def answer_grade(task: Task, text: str, prefix: str = "Answer:") -> Grade:
    """Reward v0: extract the final answer and score it with the task's verifier.

    No answer line -> 0 (the student did not follow the format). Verifier failure -> unscorable.
    """
    extracted = extract_answer(text, prefix)
    if extracted is None:
        return Grade(score=0.0, components={"format": 0.0, "correct": 0.0}, extracted=None,
                     verdicts=(Verdict("format", 0.0, f"no '{prefix}' line"),))
    try:
        score = get_verifier(task.verifier)(task, extracted)
    except Exception as exc:  # a registered verifier may raise anything: still a grader failure, never 0
        reason = exc.message if isinstance(exc, VerifierError) else f"verifier '{task.verifier}' raised {exc!r}"
        return Grade(score=None, components={"format": 1.0, "correct": None}, extracted=extracted,
                     unscorable_reason=reason)
    return Grade(score=score, components={"format": 1.0, "correct": score}, extracted=extracted,
                 verdicts=(Verdict(task.verifier, score),))
