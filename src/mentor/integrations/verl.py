"""Mentor's grading as a verl custom reward function, and the data rows verl trains on.

verl loads a reward function from `reward.custom_reward_function.{path,name,reward_kwargs}` (older
releases: top-level `custom_reward_function`) and calls it once per response as
`compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`, merging the configured
`reward_kwargs` in as keyword arguments (verl/trainer/ppo/reward.py `get_custom_reward_fn`). It takes
a float, or a dict whose "score" is the reward and whose other keys are kept per sample as
`reward_extra_info` (reward managers `naive`/`batch`); the keys of the batch's first sample are read
from every sample, so every return here has the same keys. The `batch` reward manager calls one
function with plural arguments instead: that is `compute_score_batch`.

**verl has no "unscorable" value.** `None` fails when verl builds its reward tensor
(`torch.tensor(scores)` in reward_loop.py), and NaN is accepted but poisons the mean and standard
deviation of the whole GRPO group. So by default a grader failure raises (`on_unscorable="raise"`):
training stops with the reason instead of learning from a made-up score. `on_unscorable=<float>`
opts into a fixed fallback reward instead; it is then flagged `mentor_unscorable=1` in the sample's
extra info (validation logs its mean as `val-aux/<data_source>/mentor_unscorable/...`), but verl's
group baseline still counts the fallback as a real score, which Mentor's own loop never does.

Point verl at it, either through a two-line file of your own (works with every verl release)::

    # mentor_reward.py
    from mentor.integrations.verl import make_compute_score
    compute_score = make_compute_score(rubric="/abs/path/rubric.yaml")   # or no rubric: answer grading

    reward.custom_reward_function.path=mentor_reward.py reward.custom_reward_function.name=compute_score

or, on verl releases whose loader understands `pkg://` module paths, at this module directly, with
Mentor's options as `reward_kwargs` (`rubric`, `answer_prefix`, `judge`, `on_unscorable`)::

    reward.custom_reward_function.path=pkg://mentor.integrations.verl
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.rubric=/abs/path/rubric.yaml

Not available through this adapter: Mentor's curriculum, hints and step-level credit (docs/integrations.md).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
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
from mentor.types import Task

__all__ = [
    "VerlScorer",
    "compute_score",
    "compute_score_batch",
    "make_compute_score",
    "to_verl_rows",
    "write_verl_dataset",
]

# Keyword arguments verl itself adds to the call when a reward model router is configured
# (reward_loop reward managers). They are accepted and ignored; any other unknown keyword is a typo
# in `reward_kwargs` and is refused.
VERL_CALL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})
# The keys of every dict returned to verl (it reads the first sample's keys from all samples).
RESULT_KEYS = ("score", "mentor_unscorable")


def _check_on_unscorable(value: str | float) -> str | float:
    if value == "raise":
        return "raise"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"on_unscorable must be 'raise' or a finite number, not {value!r}",
                          fix="'raise' stops training at a grader failure; a number is a flagged fallback reward")
    return float(value)


def _check_call_kwargs(kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(kwargs) - VERL_CALL_KWARGS)
    if unknown:
        raise ConfigError(f"unknown keyword argument(s) {unknown} for Mentor's compute_score",
                          fix="reward_kwargs may set: rubric, answer_prefix, judge, on_unscorable")


class VerlScorer:
    """verl's `compute_score` contract backed by a Mentor grader. Build it with `make_compute_score`.

    Calling it scores one response; `.batch(...)` is the plural contract of verl's `batch` reward
    manager (one call per chunk, so a rubric's judge calls run together). `stats` counts what this
    process graded; verl runs reward workers as separate processes, so across workers read the
    `mentor_unscorable` extra info instead.
    """

    def __init__(self, grader: Any, *, answer_prefix: str, on_unscorable: str | float) -> None:
        self.__name__ = "compute_score"  # what verl's docs call it; shows in logs and reprs
        self.grader = grader
        self.answer_prefix = answer_prefix
        self.on_unscorable = _check_on_unscorable(on_unscorable)
        self.stats = RewardStats()

    def __call__(self, data_source: str, solution_str: str, ground_truth: Any,
                 extra_info: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, float]:
        _check_call_kwargs(kwargs)
        return self._score([data_source], [solution_str], [ground_truth], [extra_info])[0]

    def batch(self, data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
              extra_infos: Sequence[Mapping[str, Any] | None] | None = None, **kwargs: Any) -> list[dict[str, float]]:
        _check_call_kwargs(kwargs)
        infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
        if not len(data_sources) == len(solution_strs) == len(ground_truths) == len(infos):
            raise TaskError("data_sources, solution_strs, ground_truths and extra_infos differ in length",
                            fix="pass verl's batch arguments unchanged")
        return self._score(list(data_sources), list(solution_strs), list(ground_truths), infos)

    def _score(self, data_sources: list[str], solution_strs: list[str], ground_truths: list[Any],
               extra_infos: list[Mapping[str, Any] | None]) -> list[dict[str, float]]:
        items = [(self._task(ds, gt, info, i), text)
                 for i, (ds, text, gt, info) in enumerate(zip(data_sources, solution_strs, ground_truths, extra_infos,
                                                              strict=True))]
        out = []
        for (task, _), grade in zip(items, grade_attempts(self.grader, items, self.answer_prefix), strict=True):
            self.stats.record(grade)
            if grade.score is not None:
                out.append({"score": float(grade.score), "mentor_unscorable": 0.0})
            elif self.on_unscorable == "raise":
                raise VerifierError(f"unscorable response for task {task.id}: {grade.unscorable_reason}",
                                    fix="fix the grader, or set reward_kwargs.on_unscorable to a fallback "
                                        "reward (flagged as mentor_unscorable, but trained on)")
            else:
                out.append({"score": float(self.on_unscorable), "mentor_unscorable": 1.0})
        return out

    def _task(self, data_source: str, ground_truth: Any, extra_info: Mapping[str, Any] | None, i: int) -> Task:
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
        default_id = f"verl-{info.get('index', i)}"
        task = task_from_row(row, question, tasks=None, default_id=default_id)
        if task is not None:
            return task
        if self.grader is None:
            raise TaskError(f"a verl sample from '{data_source}' has no ground_truth to grade against",
                            fix="set reward_model.ground_truth in the data (to_verl_rows does), or grade with a rubric")
        return bare_task(row, question, default_id)


def make_compute_score(rubric: Grader | Any | str | Path | Bundle | None = None, *,
                       answer_prefix: str = "Answer:", judge: JudgeBackend | None = None,
                       on_unscorable: str | float = "raise") -> VerlScorer:
    """A verl `compute_score` grading with Mentor: answer grading when `rubric` is None, else the
    rubric (path, locked bundle, `Bundle`, or a ready grader; `judge=` for judge criteria).

    `on_unscorable`: "raise" (default) stops training at a grader failure; a number is returned as a
    fallback reward for that response, flagged with `mentor_unscorable=1` (module docstring).
    """
    return VerlScorer(resolve_grader(rubric, judge), answer_prefix=answer_prefix, on_unscorable=on_unscorable)


@functools.lru_cache(maxsize=8)
def _configured(rubric: str | None, answer_prefix: str, judge: tuple[tuple[str, Any], ...] | None,
                on_unscorable: str | float) -> VerlScorer:
    """One scorer per distinct `reward_kwargs`: verl calls the module function per response, and the
    rubric must be compiled (and a judge client opened) once, not per call. A cache, not state: the
    scorer is rebuilt identically from its arguments."""
    backend = None
    if judge is not None:
        try:
            backend = make_judge(**dict(judge))
        except TypeError as exc:
            raise ConfigError(f"bad judge settings {dict(judge)}: {exc}",
                              fix="judge takes kind (local|openai), url, model, api_key, max_concurrency") from None
    return make_compute_score(rubric, answer_prefix=answer_prefix, judge=backend, on_unscorable=on_unscorable)


def _scorer_from_kwargs(rubric: str | Path | None, answer_prefix: str, judge: Mapping[str, Any] | None,
                        on_unscorable: str | float) -> VerlScorer:
    frozen_judge = None if judge is None else tuple(sorted(dict(judge).items()))
    return _configured(None if rubric is None else str(rubric), answer_prefix, frozen_judge, on_unscorable)


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  *, rubric: str | Path | None = None, answer_prefix: str = "Answer:",
                  judge: Mapping[str, Any] | None = None, on_unscorable: str | float = "raise",
                  **verl_kwargs: Any) -> dict[str, float]:
    """verl's per-response contract, configured by `reward_kwargs` (module docstring).

    `judge` is a mapping of `mentor.grade.make_judge` arguments, e.g. `{kind: openai, url: ..., model: ...}`.
    """
    scorer = _scorer_from_kwargs(rubric, answer_prefix, judge, on_unscorable)
    return scorer(data_source, solution_str, ground_truth, extra_info, **verl_kwargs)


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None] | None = None, *,
                        rubric: str | Path | None = None, answer_prefix: str = "Answer:",
                        judge: Mapping[str, Any] | None = None, on_unscorable: str | float = "raise",
                        **verl_kwargs: Any) -> list[dict[str, float]]:
    """The plural contract of verl's `batch` reward manager (`reward_manager.name=batch`)."""
    scorer = _scorer_from_kwargs(rubric, answer_prefix, judge, on_unscorable)
    return scorer.batch(data_sources, solution_strs, ground_truths, extra_infos, **verl_kwargs)


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
