"""Mentor's grading as a reward function for TRL's `GRPOTrainer`, and the dataset it reads.

    from mentor.integrations.trl import mentor_reward_func, to_trl_dataset

    reward = mentor_reward_func()                     # answer grading ('Answer: <x>'), or a rubric path
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=to_trl_dataset(tasks, as_hf_dataset=True))

The contract followed (TRL docs "Using a custom reward function", grpo_trainer.py `_calculate_rewards`):
the trainer calls `reward(prompts=..., completions=..., completion_ids=..., trainer_state=..., **columns)`
with every dataset column except `prompt` as a keyword argument holding one value per completion
(the prompt's row repeated for each of its generations). Completions are strings for a standard
dataset and lists of message dicts (`[{"role": "assistant", "content": ...}]`) for a conversational
one. It returns one reward per completion; TRL accepts None ("reward not applicable").

**Unscorable attempts are returned as None, never 0.** TRL turns None into NaN and ignores it in the
per-function mean it logs. Beware: TRL releases that predate huggingface/trl PR #5902 (merged June
2026) then sum each completion's rewards with `nansum`, so a completion for which *every* reward
function returned None enters the group baseline as reward 0. Recent TRL excludes it from the
baseline and gives it zero advantage. On an older TRL, either add a reward function that always
scores, or pass `on_unscorable="raise"` to stop training at the first grader failure instead.
Either way `reward.stats` counts the failures (`reward.pop_metrics()` for a logger).

The reward function alone brings grading, not the teacher. `MentorGRPOTrainer` (module `trl_host`,
loaded on first use) is the whole teacher inside TRL: selection, hints and token-level credit.
See docs/integrations.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from mentor.config import PromptConfig
from mentor.errors import ConfigError, MissingExtraError, TaskError, VerifierError
from mentor.grade.backends import JudgeBackend
from mentor.grade.bundle import Bundle
from mentor.grade.grader import Grader
from mentor.integrations import (
    REFERENCE_COLUMNS,
    ROW_COLUMNS,
    TASK_COLUMN,
    RewardStats,
    bare_task,
    completion_text,
    encode_task,
    grade_attempts,
    message_text,
    render_prompt,
    resolve_grader,
    task_from_row,
    task_index,
)
from mentor.types import Task

if TYPE_CHECKING:
    from mentor.integrations.trl_host import MentorGRPOTrainer, TeacherSampler, grpo_args, train_trl

__all__ = ["MentorGRPOTrainer", "MentorRewardFunc", "TeacherSampler", "completion_text", "grpo_args",
           "mentor_reward_func", "to_trl_dataset", "train_trl"]

_HOST = ("MentorGRPOTrainer", "TeacherSampler", "grpo_args", "train_trl")


def __getattr__(name: str) -> Any:
    """The teacher host (`trl_host`) imports TRL and torch: loaded on first use, with an install hint."""
    if name not in _HOST:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import trl  # noqa: F401
    except ImportError:
        raise MissingExtraError("trl", "trl", f"mentor.integrations.trl.{name}") from None
    from mentor.integrations import trl_host

    return getattr(trl_host, name)

OnUnscorable = Literal["none", "raise"]


def prompt_text(prompt: Any) -> str:
    """The user's request inside a TRL prompt: the string, or the last user message of a chat."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        users = [m for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
        if users:
            return message_text(users[-1].get("content"))
    return ""


class MentorRewardFunc:
    """A TRL reward function backed by a Mentor grader. Build it with `mentor_reward_func`.

    A class rather than a closure so the counters hang off it: `stats` (since construction) and
    `pop_metrics()` (since the last call), and so `__name__` (TRL logs rewards under it) is explicit.
    """

    def __init__(self, grader: Any, *, answer_prefix: str, tasks: Mapping[str, Task] | None,
                 on_unscorable: OnUnscorable, name: str) -> None:
        if on_unscorable not in ("none", "raise"):
            raise ConfigError(f"on_unscorable must be 'none' or 'raise', not {on_unscorable!r}",
                              fix="'none' returns None (TRL ignores it); 'raise' stops training")
        self.grader = grader
        self.answer_prefix = answer_prefix
        self.tasks = tasks
        self.on_unscorable = on_unscorable
        self.__name__ = name
        self.stats = RewardStats()
        self._window = RewardStats()

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        if len(prompts) != n:
            raise TaskError(f"{len(prompts)} prompts for {n} completions", fix="pass TRL's arguments unchanged")
        columns = {k: v for k, v in kwargs.items() if k in ROW_COLUMNS}
        for key, values in columns.items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) != n:
                raise TaskError(f"column '{key}' must hold one value per completion ({n})",
                                fix="pass the dataset columns as TRL does: one list per column")
        self._check_reference_columns(columns)
        rewards: list[float | None] = [None] * n
        items: list[tuple[Task, str]] = []
        where: list[int] = []
        for i in range(n):
            row = {key: values[i] for key, values in columns.items()}
            text_of_prompt = prompt_text(prompts[i])
            task = task_from_row(row, text_of_prompt, tasks=self.tasks, default_id=f"trl-row-{i}")
            if task is None:
                if self.grader is None:
                    # No reference in this row: in a multi-task dataset it belongs to another reward
                    # function. None is TRL's "not applicable"; it is counted, not scored.
                    self.stats.record_skip()
                    self._window.record_skip()
                    continue
                task = bare_task(row, text_of_prompt, f"trl-row-{i}")
            items.append((task, completion_text(completions[i])))
            where.append(i)
        grades = grade_attempts(self.grader, items, self.answer_prefix)
        for i, (task, _), grade in zip(where, items, grades, strict=True):
            self.stats.record(grade)
            self._window.record(grade)
            if grade.score is None:
                if self.on_unscorable == "raise":
                    raise VerifierError(f"unscorable attempt for task {task.id}: {grade.unscorable_reason}",
                                        fix="fix the grader, or use on_unscorable='none' on a TRL that "
                                            "excludes None rewards from the group baseline")
                continue
            rewards[i] = float(grade.score)
        return rewards

    def _check_reference_columns(self, columns: Mapping[str, Any]) -> None:
        """Answer grading with no column a reference could come from is a setup error (every attempt
        would be skipped), most often a dataset built without them or `remove_unused_columns=True`."""
        if self.grader is not None or self.tasks is not None:
            return
        if not set(columns) & {TASK_COLUMN, "metadata", *REFERENCE_COLUMNS}:
            raise TaskError(
                "the reward function received no column with a reference answer "
                f"(looked for {', '.join([TASK_COLUMN, *REFERENCE_COLUMNS, 'metadata'])})",
                fix="build the dataset with to_trl_dataset(tasks), or add an 'answer' column; keep "
                    "GRPOConfig(remove_unused_columns=False) (its default) so TRL passes the columns on")

    def pop_metrics(self, prefix: str = "mentor/") -> dict[str, float]:
        """Counts since the previous call, then reset: call it from a logging callback."""
        out = self._window.metrics(prefix)
        self._window.reset()
        return out


def mentor_reward_func(grader_or_rubric: Grader | Any | str | Path | Bundle | None = None, *,
                       answer_prefix: str = "Answer:",
                       tasks: Iterable[Task] | Mapping[str, Task] | None = None,
                       judge: JudgeBackend | None = None,
                       on_unscorable: OnUnscorable = "none",
                       name: str = "mentor_reward") -> MentorRewardFunc:
    """A reward function for `GRPOTrainer(reward_funcs=[...])` that grades with Mentor.

    `grader_or_rubric`: None grades the final `answer_prefix` line against the task's reference with
    the task's verifier (the reward of Mentor's own loop); a rubric YAML path, a locked bundle or a
    `Bundle` is loaded with `load_grader` (pass `judge=` if it has judge criteria; the rubric's own
    answer prefix applies then); any object with `.grade(task, text) -> Grade` is used as is.

    `tasks`: optional tasks the dataset refers to by a `task_id` column, so the dataset itself can
    stay lean. Without it each row must carry its task (`to_trl_dataset` writes it) or a reference
    in an `answer` / `ground_truth` / `solution` column, or a reasoning-gym `metadata` column.
    """
    grader = resolve_grader(grader_or_rubric, judge)
    return MentorRewardFunc(grader, answer_prefix=answer_prefix, tasks=task_index(tasks),
                            on_unscorable=on_unscorable, name=name)


@overload
def to_trl_dataset(tasks: Iterable[Task], prompt_cfg: PromptConfig | None = None, *,
                   as_hf_dataset: Literal[False] = False) -> list[dict[str, Any]]: ...


@overload
def to_trl_dataset(tasks: Iterable[Task], prompt_cfg: PromptConfig | None = None, *,
                   as_hf_dataset: Literal[True]) -> Any: ...


def to_trl_dataset(tasks: Iterable[Task], prompt_cfg: PromptConfig | None = None, *,
                   as_hf_dataset: bool = False) -> list[dict[str, Any]] | Any:
    """Rows for `GRPOTrainer(train_dataset=...)`: `prompt` plus the columns the reward reads.

    `prompt` is rendered as Mentor's loop renders it (`PromptConfig`: chat messages by default, so
    TRL applies the model's chat template). `mentor_task` carries the whole task (reference,
    verifier, reasoning-gym entry); `answer` and `task_id` are there for people reading the data.
    `as_hf_dataset=True` returns a `datasets.Dataset` (needs the `datasets` package).
    """
    cfg = prompt_cfg or PromptConfig()
    rows = [{"prompt": render_prompt(t, cfg), "answer": t.answer, "task_id": t.id, TASK_COLUMN: encode_task(t)}
            for t in tasks]
    if not rows:
        raise TaskError("no tasks to write", fix="pass at least one task")
    if not as_hf_dataset:
        return rows
    try:
        from datasets import Dataset
    except ImportError:
        raise MissingExtraError("datasets", "trl", "to_trl_dataset(..., as_hf_dataset=True)") from None
    return Dataset.from_list(rows)
