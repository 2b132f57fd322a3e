"""Thin adapters so TRL and verl users can grade with Mentor without Mentor's own loop.

- `mentor.integrations.trl`: a reward function for TRL's `GRPOTrainer` and a dataset helper.
- `mentor.integrations.verl`: a custom `compute_score` for verl and a parquet/JSONL data-prep helper.

Neither adapter imports TRL or verl: both are written against those projects' documented call
contracts (docs/integrations.md names the versions checked), so they import, and are tested,
without either package installed.

This module holds what the two adapters share, so that both read a dataset row the same way:

- a codec that carries a whole `Task` through one string column (`mentor_task`): the reasoning-gym
  entry its scorer needs, the verifier name and the id survive any Arrow/parquet round trip, which a
  nested column of per-dataset metadata does not (Arrow needs one schema for every row);
- the rules that turn a row of a user's own dataset (answer / ground_truth / solution columns, or a
  reasoning-gym `metadata` column) into a `Task`;
- grading dispatch (answer grading, or a rubric `Grader`), and `RewardStats`, the counter of
  unscorable attempts: a trainer that only sees numbers cannot tell a grader failure from a wrong
  answer, so the adapters count failures where users can log them.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.config import PromptConfig
from mentor.errors import ConfigError, JudgeError, TaskError, VerifierError
from mentor.grade.answer import answer_grade
from mentor.grade.backends import JudgeBackend
from mentor.grade.bundle import Bundle
from mentor.grade.grader import Grader, load_grader
from mentor.student.prompt import user_text
from mentor.types import Grade, Task

__all__ = [
    "TASK_COLUMN",
    "RewardStats",
    "decode_task",
    "encode_task",
]

# The dataset column (TRL) / extra_info key (verl) that carries a whole encoded Task.
TASK_COLUMN = "mentor_task"
# Columns of a user's own dataset that may hold the reference answer, in order of preference. TRL's
# docs use `ground_truth`; open-r1-style datasets put the final answer in `solution`.
REFERENCE_COLUMNS = ("answer", "ground_truth", "solution")
# Every column the adapters read; anything else in a row is ignored (TRL passes all dataset columns).
ROW_COLUMNS = (TASK_COLUMN, "task_id", "metadata", "question", "verifier", "data_source", *REFERENCE_COLUMNS)

_TASK_FIELDS = ("id", "prompt", "answer", "solution", "skills", "level", "source", "verifier", "meta")


# ------------------------------------------------------------------------------------------ codec


def encode_task(task: Task) -> str:
    """The task as one JSON string, for a dataset column that must survive Arrow and parquet."""
    data = {
        "id": task.id,
        "prompt": task.prompt,
        "answer": task.answer,
        "solution": task.solution,
        "skills": list(task.skills),
        "level": task.level,
        "source": task.source,
        "verifier": task.verifier,
        "meta": dict(task.meta),
    }
    try:
        return json.dumps(data, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TaskError(f"task {task.id} cannot be written to a dataset column: {exc}",
                        fix="keep Task.meta to JSON values (str, number, bool, None, list, dict)") from None


def decode_task(encoded: str) -> Task:
    """The inverse of `encode_task`; a malformed value is a dataset error, never a silent default."""
    try:
        data = json.loads(encoded)
    except (TypeError, json.JSONDecodeError) as exc:
        raise TaskError(f"the '{TASK_COLUMN}' value is not valid JSON ({exc})",
                        fix="write the column with to_trl_dataset / to_verl_rows") from None
    if not isinstance(data, dict) or set(data) != set(_TASK_FIELDS):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise TaskError(f"the '{TASK_COLUMN}' value does not hold a Mentor task (fields: {got})",
                        fix="write the column with to_trl_dataset / to_verl_rows")
    return Task(
        id=str(data["id"]),
        prompt=str(data["prompt"]),
        answer=data["answer"],
        solution=data["solution"],
        skills=tuple(data["skills"]),
        level=data["level"],
        source=str(data["source"]),
        verifier=str(data["verifier"]),
        meta=dict(data["meta"]),
    )


# ---------------------------------------------------------------------------------------- prompts


def render_prompt(task: Task, prompt_cfg: PromptConfig, answer_prefix: str = "Answer:") -> str | list[dict[str, str]]:
    """What the student is shown, the way Mentor's own loop shows it (`PromptConfig`).

    Chat: system message (if any) then the templated task as the user turn; the trainer applies the
    tokenizer's chat template. Plain text: the templated task plus a newline, as Mentor's policy
    renders a plain prompt, so the model starts its answer on a fresh line.
    """
    text = user_text(prompt_cfg, answer_prefix, task.prompt)
    if not prompt_cfg.chat:
        return text + "\n"
    messages = [{"role": "system", "content": prompt_cfg.system}] if prompt_cfg.system else []
    messages.append({"role": "user", "content": text})
    return messages


def completion_text(completion: Any) -> str:
    """The text TRL generated: a string (standard format) or the assistant messages' contents
    (conversational format; TRL passes one assistant message, tool-using runs may pass several)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return message_text(completion.get("content"))
    if isinstance(completion, Sequence):
        parts = [message_text(m.get("content")) for m in completion
                 if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"]
        return "\n".join(parts)
    raise TaskError(f"a completion of type {type(completion).__name__} is neither text nor chat messages",
                    fix="pass TRL's completions unchanged")


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of typed parts (multimodal chat format)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return "" if content is None else str(content)


# -------------------------------------------------------------------------------------- rows -> tasks


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    """A metadata value as a mapping: dicts pass, JSON strings (how parquet users often store it) parse."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def task_index(tasks: Iterable[Task] | Mapping[str, Task] | None) -> dict[str, Task] | None:
    """Tasks by id, for datasets that carry only a `task_id` column; duplicate ids are refused."""
    if tasks is None:
        return None
    if isinstance(tasks, Mapping):
        return {str(k): v for k, v in tasks.items()}
    index: dict[str, Task] = {}
    for t in tasks:
        if t.id in index:
            raise ConfigError(f"two tasks share the id '{t.id}'", fix="give every task a unique id")
        index[t.id] = t
    return index


def task_from_row(row: Mapping[str, Any], prompt_text: str, *, tasks: Mapping[str, Task] | None,
                  default_id: str) -> Task | None:
    """The task a dataset row stands for, or None when the row carries no reference to grade against.

    In order: an encoded Mentor task (`mentor_task`); a `task_id` looked up in `tasks`; a
    reasoning-gym entry (a `metadata` mapping naming its `source_dataset`, plus the `answer`, scored
    by that dataset's own `score_answer`); a reference in `answer`, `ground_truth` or `solution`,
    checked by the row's `verifier` (default "math": exact numbers, then math-verify).
    """
    encoded = row.get(TASK_COLUMN)
    if encoded is not None:
        return decode_task(encoded)
    task_id = row.get("task_id")
    if tasks is not None:
        if task_id is None:
            raise TaskError("tasks= was given but the row has no 'task_id' to look the task up by",
                            fix="add a task_id column (to_trl_dataset writes one), or drop tasks=")
        try:
            return tasks[str(task_id)]
        except KeyError:
            raise TaskError(f"task_id '{task_id}' is not among the tasks given",
                            fix="pass the same task list the dataset was built from") from None
    ref_column = next((c for c in REFERENCE_COLUMNS if row.get(c) is not None), None)
    answer = None if ref_column is None else str(row[ref_column])
    ident = str(task_id) if task_id is not None else default_id
    metadata = _as_mapping(row.get("metadata"))
    if metadata is not None and isinstance(metadata.get("source_dataset"), str):
        dataset = metadata["source_dataset"]
        question = row.get("question") if isinstance(row.get("question"), str) else prompt_text
        entry = {"question": question, "answer": answer, "metadata": dict(metadata)}
        return Task(id=ident, prompt=question, answer=answer, source=f"reasoning_gym:{dataset}",
                    verifier="reasoning_gym", meta={"dataset": dataset, "entry": entry, "metadata": dict(metadata)})
    if answer is None:
        return None
    # A `solution` column that is not serving as the reference is kept as the worked solution.
    solution = row.get("solution") if ref_column != "solution" else None
    return Task(id=ident, prompt=prompt_text, answer=answer, solution=None if solution is None else str(solution),
                source=str(row.get("data_source") or ""), verifier=str(row.get("verifier") or "math"))


def bare_task(row: Mapping[str, Any], prompt_text: str, default_id: str) -> Task:
    """A task with no reference, for rubric graders whose criteria do not need one."""
    task_id = row.get("task_id")
    return Task(id=str(task_id) if task_id is not None else default_id, prompt=prompt_text,
                source=str(row.get("data_source") or ""))


# ------------------------------------------------------------------------------------------ grading


def resolve_grader(grader_or_rubric: Grader | Any | str | Path | Bundle | None,
                   judge: JudgeBackend | None = None) -> Any:
    """None (answer grading), a ready grader, or a rubric file / bundle loaded into a `Grader`.

    A rubric with judge criteria but no judge is refused here, at construction, rather than on the
    trainer's first step.
    """
    if grader_or_rubric is None:
        if judge is not None:
            raise ConfigError("a judge was given without a rubric", fix="pass the rubric whose criteria it judges")
        return None
    if isinstance(grader_or_rubric, str | Path | Bundle):
        grader: Any = load_grader(grader_or_rubric, judge=judge)
    else:
        if judge is not None:
            raise ConfigError("judge= only applies when a rubric path or bundle is given",
                              fix="build the grader with load_grader(rubric, judge=...) and pass it alone")
        grader = grader_or_rubric
        if not callable(getattr(grader, "grade", None)):
            raise ConfigError(f"{type(grader).__name__} is not a grader (it has no .grade(task, text))",
                              fix="pass None, a rubric path, a Bundle, or mentor.grade.load_grader(...)")
    if isinstance(grader, Grader) and grader.bundle.rubric.judge_criteria and grader.judge is None:
        raise ConfigError(f"rubric '{grader.bundle.rubric.name}' has judge criteria but no judge backend",
                          fix="pass judge=... (e.g. mentor.grade.make_judge('openai', url=..., model=...))")
    return grader


def grade_attempts(grader: Any, items: Sequence[tuple[Task, str]], answer_prefix: str) -> list[Grade]:
    """Grades in order. A `Grader` gets the whole batch at once so its judge calls run together."""
    if not items:
        return []
    if grader is None:
        return [answer_grade(task, text, answer_prefix) for task, text in items]
    if isinstance(grader, Grader):
        return [r.grade for r in grader.grade_many(items)]
    grades = []
    for task, text in items:
        try:
            grades.append(grader.grade(task, text))
        except (VerifierError, JudgeError) as exc:  # a typed grader failure: unscorable, never 0
            grades.append(Grade(score=None, unscorable_reason=exc.message))
    return grades


# ------------------------------------------------------------------------------------------- counts


@dataclass(eq=False)
class RewardStats:
    """Counts of what an adapter graded, so unscorable attempts can be logged next to the rewards.

    `unscorable`: the grader failed (score None, with a reason). `skipped`: the row had no reference
    to grade against (in a multi-task TRL dataset, rows another reward function is for). Safe to
    update from several threads (verl scores in an executor).
    """

    attempts: int = 0
    scored: int = 0
    unscorable: int = 0
    skipped: int = 0
    score_sum: float = 0.0
    recent_reasons: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, grade: Grade) -> None:
        with self._lock:
            self.attempts += 1
            if grade.score is None:
                self.unscorable += 1
                self.recent_reasons.append((grade.unscorable_reason or "no reason given")[:200])
            else:
                self.scored += 1
                self.score_sum += float(grade.score)

    def record_skip(self) -> None:
        with self._lock:
            self.attempts += 1
            self.skipped += 1

    def metrics(self, prefix: str = "mentor/") -> dict[str, float]:
        """Flat numbers for a logger: counts, the unscorable fraction and the mean scored reward."""
        with self._lock:
            graded = self.scored + self.unscorable
            return {
                f"{prefix}attempts": float(self.attempts),
                f"{prefix}scored": float(self.scored),
                f"{prefix}unscorable": float(self.unscorable),
                f"{prefix}skipped": float(self.skipped),
                f"{prefix}unscorable_frac": self.unscorable / graded if graded else 0.0,
                # NaN, not 0, when nothing was scored: a 0 would read as "every attempt was wrong"
                f"{prefix}mean_score": self.score_sum / self.scored if self.scored else float("nan"),
            }

    def reset(self) -> None:
        with self._lock:
            self.attempts = self.scored = self.unscorable = self.skipped = 0
            self.score_sum = 0.0
            self.recent_reasons.clear()
