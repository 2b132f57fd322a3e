"""The small typed values that flow between the stages of the loop.

Every stage is a plain function over these values: tasks are selected, attempts sampled, attempts
graded into `Grade`s, grades turned into rewards, rewards into token-level `Advantages`. They are
frozen so a stage cannot quietly edit what an earlier stage produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PASS = 1.0 - 1e-9  # an attempt passes when it earns full credit (scores are in [0, 1])


@dataclass(frozen=True)
class Task:
    """One thing to practise: a prompt with a way to check the answer.

    `verifier` names the entry of the verifier registry that scores an extracted answer (for
    reasoning-gym tasks, the dataset's own `score_answer`); `meta` carries what it needs.
    """

    id: str
    prompt: str
    answer: str | None = None
    solution: str | None = None  # a worked reference solution, used by hints and judges
    skills: tuple[str, ...] = ()
    level: int | None = None  # difficulty level (reasoning-gym curriculum level or JSONL `difficulty`)
    source: str = ""  # e.g. "reasoning_gym:basic_arithmetic" or "jsonl:path/to/file.jsonl"
    verifier: str = "math"
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        """The category a bandit or an implicit prior groups this task with."""
        return f"{self.source}@{self.level if self.level is not None else '-'}"


@dataclass(frozen=True)
class Hint:
    """Explicit prompt text shown to the student for a guided re-roll; recorded with the attempt."""

    level: int  # 0 = no hint; higher = stronger
    kind: str  # "format", "example", "prefix", "llm", ...
    text: str  # what the student is shown, as readable text (stored with the attempt)
    # Worked examples as (task prompt, worked answer) pairs. A chat student sees each as an earlier
    # user/assistant exchange (how instruct models are used to seeing demonstrations); a plain-text
    # student sees `text`.
    shots: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Verdict:
    """What one check or criterion says about one attempt.

    `score` in [0, 1]; `None` means the check abstained (not applicable), which is never read as 0.
    A check that *fails* (crashes, times out) raises `VerifierError` instead of returning a Verdict.
    """

    name: str
    score: float | None
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grade:
    """The grade of one attempt: the score, the components that explain it, or why it has none.

    `score is None` means unscorable (a grader failed): the attempt is excluded from its group's
    baseline and counted, never read as a 0.
    """

    score: float | None
    components: Mapping[str, float | None] = field(default_factory=dict)
    verdicts: tuple[Verdict, ...] = ()
    extracted: str | None = None  # the final answer the grader read, if any
    unscorable_reason: str | None = None
    bundle_hash: str | None = None  # the locked rubric this grade was made against

    @property
    def scorable(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class StepSpan:
    """A step of an attempt (a line, a sentence, a numbered step) as a half-open token range."""

    index: int
    start: int  # first completion token of the step
    end: int  # one past its last token
    text: str


@dataclass(frozen=True)
class Advantages:
    """Per-token advantages for a batch of attempts.

    `values` is a list of rows, one per attempt, each the length of that attempt's completion
    (the loss pads them to [B, T]); sequence-level GRPO is the special case of a constant row.
    `info` keeps what produced them (assigner name, extra rollouts, judge calls) for the report.
    """

    values: tuple[tuple[float, ...], ...]  # [B][T_i]
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Rollout:
    """One attempt at a task, and everything each stage learned about it: the single record that flows
    plan → sample → grade → rescue → credit → update → observe → commit. Stages return new records
    (`dataclasses.replace`); store rows, selector outcomes and loss items are all computed from it.

    `logprobs` are the sampling policy's log-probabilities of `completion_ids` under the prompt the
    student actually saw (with the hint, if any): π_old in the GRPO ratio. Compared by identity (two
    samples with the same text are still two attempts).
    """

    task: Task
    group: int  # the task's group within its step
    index: int  # position within the group
    text: str
    completion_ids: tuple[int, ...]  # [T]
    logprobs: tuple[float, ...]  # [T]
    finished: bool  # ended with EOS rather than hitting max_new_tokens
    hint: Hint | None = None
    policy_version: int = 0
    grade: Grade | None = None  # set by the grade stage; score None = unscorable
    advantages: tuple[float, ...] | None = None  # [T], set by credit; None = not trained

    @property
    def task_id(self) -> str:
        return self.task.id

    @property
    def hinted(self) -> bool:
        return self.hint is not None

    @property
    def score(self) -> float | None:
        return None if self.grade is None else self.grade.score

    @property
    def passed(self) -> bool:
        """Full credit: the one definition of "passed" (partial credit is not a pass)."""
        return self.score is not None and self.score >= PASS

    @property
    def trained(self) -> bool:
        return self.advantages is not None
