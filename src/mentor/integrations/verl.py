"""Mentor inside verl 0.9.x: the reward function, the data rows, and where the rest lives.

- **Reward** (this module): `compute_score`, an `async` function verl's reward loop loads with
  `reward.custom_reward_function.path=pkg://mentor.integrations.verl` and `name=compute_score`;
  `reward_kwargs` configure it (`rubric`, `answer_prefix`, `judge`, `on_unscorable`, `deadline_s`).
  `make_compute_score(...)` builds the same scorer from Python, for a reward file of your own.
- **Advantages**: `mentor.integrations.verl_advantage` (`algorithm.adv_estimator=mentor_grpo`).
- **Task selection**: `mentor.integrations.verl_tasks` (`data.custom_cls`, a Mentor selector).
- **Data**: `to_verl_rows` / `write_verl_dataset` (below) write what verl's `RLHFDataset` reads.

How verl 0.9.1 calls a reward function (verl/trainer/ppo/reward.py `get_custom_reward_fn`,
verl/experimental/reward_loop/reward_manager/naive.py): once per response, with keywords
`data_source, solution_str, ground_truth, extra_info` and the configured `reward_kwargs` merged in;
it awaits the call when the function is a coroutine function, and otherwise runs it in a thread.
A dict return's "score" is the reward and every key is kept per sample as `reward_extra_info`, read
with the first sample's keys (so every return here has the same keys).

**Unscorable responses.** verl has no "no score" value: a `None` score fails when the reward loop
builds its tensor (`new_tensor(scores)` in `RewardManagerBase.assemble_rm_scores`; the agent loop
first drops `rm_scores` for the batch, then the trainer's fallback scoring fails on it). So
`on_unscorable` chooses, explicitly:

- `"nan"` (default): the score is NaN and `mentor_unscorable` is 1. `mentor_grpo` reads NaN as
  unscorable: out of the group baseline, zero advantage. verl's own `grpo` would turn the whole
  group's advantages to NaN, so use NaN only with a Mentor estimator. Step metrics that average raw
  scores (`critic/score/mean`) show NaN for a step that had one; `mentor_unscorable` counts them.
- `"raise"`: stop training with the grader's reason.
- a number: an explicit fallback reward, flagged `mentor_unscorable=1`, which every estimator trains
  on as if it were a real score.

Never a silent 0. With `reward.reward_manager.name=rate_limited` keep `"nan"`: that manager turns an
exception or its own timeout (`reward.timeout`, default 300 s) into a reward of 0.0, so set
`deadline_s` below that timeout and Mentor reports a slow judge as unscorable instead.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mentor.config import PromptConfig
from mentor.errors import ConfigError, MissingExtraError, TaskError, VerifierError
from mentor.grade.backends import JudgeBackend, make_judge
from mentor.grade.bundle import Bundle
from mentor.grade.grader import Grader
from mentor.integrations import (
    REFERENCE_COLUMNS,
    TASK_COLUMN,
    RewardStats,
    bare_task,
    decode_task,
    encode_task,
    grade_attempts,
    render_prompt,
    resolve_grader,
    task_from_row,
)
from mentor.types import Grade, Task

__all__ = [
    "UNSCORABLE_KEY",
    "VerlScorer",
    "compute_score",
    "make_compute_score",
    "to_verl_rows",
    "write_verl_dataset",
]

# Keyword arguments verl itself adds to the call when a reward model router is configured
# (reward_loop reward managers). They are accepted and ignored; any other unknown keyword is a typo
# in `reward_kwargs` and is refused.
VERL_CALL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
# The per-sample flag in verl's reward_extra_info: 1.0 when Mentor could not score the response.
UNSCORABLE_KEY = "mentor_unscorable"
# The keys of every dict returned to verl (it reads the first sample's keys from all samples).
RESULT_KEYS = ("score", UNSCORABLE_KEY)


def _check_on_unscorable(value: str | float) -> str | float:
    if value in ("raise", "nan"):
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"on_unscorable must be 'nan', 'raise' or a finite number, not {value!r}",
                          where="reward.custom_reward_function.reward_kwargs.on_unscorable",
                          fix="'nan' (with algorithm.adv_estimator=mentor_grpo) leaves the response out of the "
                              "baseline; 'raise' stops training; a number is a flagged fallback reward")
    return float(value)


def _check_deadline(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or not math.isfinite(value):
        raise ConfigError(f"deadline_s must be a positive number of seconds, not {value!r}",
                          where="reward.custom_reward_function.reward_kwargs.deadline_s",
                          fix="e.g. 120, below reward.timeout when the rate_limited manager is used")
    return float(value)


def _check_call_kwargs(kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(kwargs) - VERL_CALL_KWARGS)
    if unknown:
        raise ConfigError(f"unknown keyword argument(s) {unknown} for Mentor's compute_score",
                          where="reward.custom_reward_function.reward_kwargs",
                          fix="reward_kwargs may set: rubric, answer_prefix, judge, on_unscorable, deadline_s")


class VerlScorer:
    """verl's `compute_score` contract backed by a Mentor grader. Build it with `make_compute_score`.

    Calling it scores one response (synchronously: verl runs a plain function in a thread);
    `await scorer.score_async(...)` does the same off the event loop, with the deadline. `stats`
    counts what this process graded; verl runs reward workers as separate processes, so across
    workers read the `mentor_unscorable` extra info instead.
    """

    def __init__(self, grader: Any, *, answer_prefix: str, on_unscorable: str | float,
                 deadline_s: float | None = None) -> None:
        self.__name__ = "compute_score"  # what verl's docs call it; shows in logs and reprs
        self.grader = grader
        self.answer_prefix = answer_prefix
        self.on_unscorable = _check_on_unscorable(on_unscorable)
        self.deadline_s = _check_deadline(deadline_s)
        self.stats = RewardStats()

    def __call__(self, data_source: str, solution_str: str, ground_truth: Any,
                 extra_info: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, float]:
        _check_call_kwargs(kwargs)
        task = self._task(data_source, ground_truth, extra_info)
        return self._result(task, self._grade(task, solution_str))

    async def score_async(self, data_source: str, solution_str: str, ground_truth: Any,
                          extra_info: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, float]:
        _check_call_kwargs(kwargs)
        task = self._task(data_source, ground_truth, extra_info)
        # Grading may call a judge over HTTP or run a sandbox: a thread keeps verl's event loop (which
        # scores the rest of the batch concurrently) free.
        work = asyncio.to_thread(self._grade, task, solution_str)
        try:
            grade = await (work if self.deadline_s is None else asyncio.wait_for(work, self.deadline_s))
        except TimeoutError:
            grade = Grade(score=None, unscorable_reason=f"grading took longer than deadline_s={self.deadline_s:g}")
        return self._result(task, grade)

    def _grade(self, task: Task, text: str) -> Grade:
        return grade_attempts(self.grader, [(task, text)], self.answer_prefix)[0]

    def _result(self, task: Task, grade: Grade) -> dict[str, float]:
        self.stats.record(grade)
        if grade.score is not None:
            return {"score": float(grade.score), UNSCORABLE_KEY: 0.0}
        if self.on_unscorable == "raise":
            raise VerifierError(f"unscorable response for task {task.id}: {grade.unscorable_reason}",
                                fix="fix the grader, or set reward_kwargs.on_unscorable to 'nan' (with "
                                    "algorithm.adv_estimator=mentor_grpo)")
        fallback = math.nan if self.on_unscorable == "nan" else float(self.on_unscorable)
        return {"score": fallback, UNSCORABLE_KEY: 1.0}

    def _task(self, data_source: str, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> Task:
        info = dict(extra_info or {})
        if info.get(TASK_COLUMN) is not None:
            task = decode_task(info[TASK_COLUMN])
            # The parquet's ground_truth is what a reader of the data sees; if someone edited it, the
            # encoded task would silently grade against another answer.
            if ground_truth is not None and task.answer is not None and str(ground_truth) != task.answer:
                raise TaskError(f"ground_truth {ground_truth!r} differs from task {task.id}'s answer {task.answer!r}",
                                fix="rebuild the rows with to_verl_rows instead of editing ground_truth")
            return task
        # verl's ground_truth is the reference; reference-like keys in extra_info do not override it.
        row = {k: v for k, v in info.items() if k not in REFERENCE_COLUMNS}
        row.update(ground_truth=ground_truth, data_source=data_source)
        question = info.get("question") if isinstance(info.get("question"), str) else ""
        default_id = f"verl-{info.get('index', 0)}"
        task = task_from_row(row, question, tasks=None, default_id=default_id)
        if task is not None:
            return task
        if self.grader is None:
            raise TaskError(f"a verl sample from '{data_source}' has no ground_truth to grade against",
                            fix="set reward_model.ground_truth in the data (to_verl_rows does), or grade with a rubric")
        return bare_task(row, question, default_id)


def make_compute_score(rubric: Grader | Any | str | Path | Bundle | None = None, *,
                       answer_prefix: str = "Answer:", judge: JudgeBackend | None = None,
                       on_unscorable: str | float = "nan", deadline_s: float | None = None) -> VerlScorer:
    """A verl `compute_score` grading with Mentor: answer grading when `rubric` is None, else the
    rubric (path, locked bundle, `Bundle`, or a ready grader; `judge=` for judge criteria).

    `on_unscorable`: "nan" (default; pair with `mentor_grpo`), "raise", or a flagged fallback number
    (module docstring). `deadline_s` bounds one response's grading in `score_async`.
    """
    return VerlScorer(resolve_grader(rubric, judge), answer_prefix=answer_prefix, on_unscorable=on_unscorable,
                      deadline_s=deadline_s)


@functools.lru_cache(maxsize=8)
def _configured(rubric: str | None, answer_prefix: str, judge: tuple[tuple[str, Any], ...] | None,
                on_unscorable: str | float, deadline_s: float | None) -> VerlScorer:
    """One scorer per distinct `reward_kwargs`: verl calls the module function per response, and the
    rubric must be compiled (and a judge client opened) once, not per call. A cache, not state: the
    scorer is rebuilt identically from its arguments."""
    backend = None
    if judge is not None:
        try:
            backend = make_judge(**dict(judge))
        except TypeError as exc:
            raise ConfigError(f"bad judge settings {dict(judge)}: {exc}",
                              where="reward.custom_reward_function.reward_kwargs.judge",
                              fix="judge takes kind (local|openai), url, model, api_key, max_concurrency, "
                                  "timeout_s") from None
    return make_compute_score(rubric, answer_prefix=answer_prefix, judge=backend, on_unscorable=on_unscorable,
                              deadline_s=deadline_s)


def _plain(value: Any) -> Any:
    """reward_kwargs arrive as OmegaConf containers; the cache key needs plain, hashable values."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


async def compute_score(data_source: str, solution_str: str, ground_truth: Any,
                        extra_info: Mapping[str, Any] | None = None, *, rubric: str | Path | None = None,
                        answer_prefix: str = "Answer:", judge: Mapping[str, Any] | None = None,
                        on_unscorable: str | float = "nan", deadline_s: float | None = None,
                        **verl_kwargs: Any) -> dict[str, float]:
    """verl's per-response contract, configured by `reward_kwargs` (module docstring).

    `judge` is a mapping of `mentor.grade.make_judge` arguments, e.g. `{kind: openai, url: ..., model: ...}`.
    """
    frozen_judge = None if judge is None else _plain(judge)
    scorer = _configured(None if rubric is None else str(rubric), answer_prefix, frozen_judge, on_unscorable,
                         deadline_s)
    return await scorer.score_async(data_source, solution_str, ground_truth, extra_info, **verl_kwargs)


# -------------------------------------------------------------------------------------- data prep


def to_verl_rows(tasks: Iterable[Task], prompt_cfg: PromptConfig | None = None, *, split: str = "train",
                 data_source: str | None = None) -> list[dict[str, Any]]:
    """verl's dataset rows (docs/preparation/prepare_data.rst): `data_source`, `prompt` as chat
    messages, `ability`, `reward_model: {style: rule, ground_truth}` and `extra_info`, which carries
    the whole task (`mentor_task`) so reasoning-gym entries and verifiers reach `compute_score`.

    `data_source` defaults to each task's source: verl groups validation metrics by it.
    """
    cfg = prompt_cfg or PromptConfig()
    if not cfg.chat:
        raise ConfigError("verl prompts are chat messages (its dataset applies the chat template)",
                          fix="use PromptConfig(chat=True)")
    rows = []
    for index, task in enumerate(tasks):
        rows.append({
            "data_source": data_source or task.source or "mentor",
            "prompt": render_prompt(task, cfg),
            "ability": task.skills[0] if task.skills else "mentor",
            "reward_model": {"style": "rule", "ground_truth": task.answer},
            "extra_info": {"split": split, "index": index, "task_id": task.id, TASK_COLUMN: encode_task(task)},
        })
    if not rows:
        raise TaskError("no tasks to write", fix="pass at least one task")
    return rows


def write_verl_dataset(tasks: Iterable[Task], path: str | Path, prompt_cfg: PromptConfig | None = None, *,
                       split: str = "train", data_source: str | None = None) -> Path:
    """Write `to_verl_rows` to `path`: `.parquet` (what verl's RLHFDataset reads; needs pandas and
    pyarrow) or `.jsonl` (no dependencies; convert with `datasets` where pandas is missing)."""
    out = Path(path)
    rows = to_verl_rows(tasks, prompt_cfg, split=split, data_source=data_source)
    if out.suffix == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            raise MissingExtraError("pandas", "verl", "writing verl parquet files") from None
        try:
            import pyarrow  # noqa: F401  (pandas needs a parquet engine; say which one to install)
        except ImportError:
            raise MissingExtraError("pyarrow", "verl", "writing verl parquet files") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_parquet(out, index=False)
        return out
    if out.suffix == ".jsonl":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return out
    raise ConfigError(f"cannot tell the format of '{out}'", where=str(out), fix="name it *.parquet or *.jsonl")
