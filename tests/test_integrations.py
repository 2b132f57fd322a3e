"""The TRL and verl adapters, called exactly as those trainers call them (neither is installed here).

`trl_call` reproduces how TRL's GRPOTrainer (`_calculate_rewards`) calls a reward function: the
prompts and completions by keyword, every dataset column but `prompt` as a keyword holding one value
per completion (each row repeated once per generation), plus `completion_ids` and `trainer_state`.
`verl_call` reproduces verl's per-sample reward managers, which add `num_turns` and
`rollout_reward_scores` to `extra_info` before calling `compute_score`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
import reasoning_gym

from mentor.config import PromptConfig, TaskSpec
from mentor.errors import ConfigError, MissingExtraError, TaskError, VerifierError
from mentor.grade import Grader, ScriptedJudge, compile_rubric, parse_rubric
from mentor.integrations import decode_task, encode_task
from mentor.integrations.trl import mentor_reward_func, to_trl_dataset
from mentor.integrations.verl import (
    make_compute_score,
    to_verl_rows,
    write_verl_dataset,
)
from mentor.tasks import build_task_source
from mentor.types import Task

PLAIN = PromptConfig(chat=False)


def trl_call(reward: Any, rows: Sequence[dict[str, Any]], completions: Sequence[Any], generations: int) -> list:
    inputs = [row for row in rows for _ in range(generations)]  # RepeatSampler: each prompt G times in a row
    assert len(inputs) == len(completions)
    prompts = [x["prompt"] for x in inputs]
    keys = [k for k in inputs[0] if k not in ("prompt", "completion", "completion_ids")]
    kwargs: dict[str, Any] = {k: [x[k] for x in inputs] for k in keys}
    kwargs["trainer_state"] = object()  # a transformers TrainerState in TRL; never a list
    return reward(prompts=prompts, completions=list(completions), completion_ids=[[1, 2]] * len(completions), **kwargs)


def chat(text: str) -> list[dict[str, str]]:
    """A conversational completion as TRL builds it."""
    return [{"role": "assistant", "content": text}]


def verl_call(fn: Any, row: dict[str, Any], response: str) -> Any:
    extra_info = dict(row["extra_info"])
    extra_info.update(num_turns=None, rollout_reward_scores={})  # what verl's reward managers add
    return fn(data_source=row["data_source"], solution_str=response,
              ground_truth=row["reward_model"]["ground_truth"], extra_info=extra_info)


@pytest.fixture(scope="module")
def arithmetic() -> list[Task]:
    spec = TaskSpec(name="basic_arithmetic", config={"min_terms": 2, "max_terms": 2})
    return build_task_source(spec).tasks("train", 3, seed=0)


def wrong(answer: str | None) -> str:
    """A wrong integer answer. Not `answer + "1"`: reasoning-gym's arithmetic scorers give partial
    credit to an answer that merely starts with the reference."""
    assert answer is not None
    return str(int(answer) + 1)


BROKEN = Task("broken", "Calculate 1 + 1.", answer="2", verifier="reasoning_gym")  # no entry: its scorer fails


# ----------------------------------------------------------------------------------------- TRL


def test_trl_standard_completions(arithmetic: list[Task]) -> None:
    rows = to_trl_dataset(arithmetic, PLAIN)
    assert all(isinstance(r["prompt"], str) and r["prompt"].endswith("\n") for r in rows)
    completions = []
    for t in arithmetic:
        completions += [f"Let me compute.\nAnswer: {t.answer}", f"Answer: {wrong(t.answer)}", "I am not sure."]
    reward = mentor_reward_func()
    assert trl_call(reward, rows, completions, 3) == [1.0, 0.0, 0.0] * len(arithmetic)
    assert reward.stats.scored == 9 and reward.stats.unscorable == 0


def test_trl_conversational_completions(arithmetic: list[Task]) -> None:
    rows = to_trl_dataset(arithmetic, PromptConfig(system="Be brief."))
    assert rows[0]["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert rows[0]["prompt"][1]["role"] == "user" and arithmetic[0].prompt in rows[0]["prompt"][1]["content"]
    completions = [c for t in arithmetic for c in (chat(f"Answer: {wrong(t.answer)}"), chat(f"Answer: {t.answer}"))]
    assert trl_call(mentor_reward_func(), rows, completions, 2) == [0.0, 1.0] * len(arithmetic)


def test_trl_unscorable_is_none_and_counted(arithmetic: list[Task]) -> None:
    rows = to_trl_dataset([arithmetic[0], BROKEN], PLAIN)
    reward = mentor_reward_func()
    out = trl_call(reward, rows, [f"Answer: {arithmetic[0].answer}", "Answer: 2"], 1)
    assert out == [1.0, None]  # the broken verifier is not the student's fault: None, never 0
    assert (reward.stats.scored, reward.stats.unscorable) == (1, 1)
    assert "reasoning-gym entry" in reward.stats.recent_reasons[0]
    metrics = reward.pop_metrics()
    assert metrics["mentor/unscorable"] == 1.0 and metrics["mentor/unscorable_frac"] == 0.5
    assert reward.pop_metrics()["mentor/attempts"] == 0.0  # the window resets; the totals do not
    assert reward.stats.attempts == 2
    strict = mentor_reward_func(on_unscorable="raise")
    with pytest.raises(VerifierError, match="broken"):
        trl_call(strict, rows, [f"Answer: {arithmetic[0].answer}", "Answer: 2"], 1)


def test_trl_user_dataset_reference_columns() -> None:
    # TRL's docs name the reference `ground_truth`; open-r1-style datasets put it in `solution`.
    for column in ("answer", "ground_truth", "solution"):
        rows = [{"prompt": "What is 6 * 7?", column: "42"}, {"prompt": "What is 1/2 + 1/4?", column: "3/4"}]
        out = trl_call(mentor_reward_func(), rows, ["Answer: 42", "Answer: 0.75"], 1)
        assert out == [1.0, 1.0], column
    rows = [{"prompt": "What is 6 * 7?", "ground_truth": "42"}]
    assert trl_call(mentor_reward_func(), rows, [r"The answer is \boxed{42}"], 1) == [0.0]  # no 'Answer:' line


def test_trl_dataset_without_reference_is_a_setup_error() -> None:
    with pytest.raises(TaskError, match="remove_unused_columns"):
        trl_call(mentor_reward_func(), [{"prompt": "What is 6 * 7?"}], ["Answer: 42"], 1)


def test_trl_rows_without_reference_are_skipped() -> None:
    # A multi-task dataset: code rows have no answer; TRL's convention is None for "not mine".
    rows = [{"prompt": "What is 6 * 7?", "answer": "42"}, {"prompt": "Write a sort function.", "answer": None}]
    reward = mentor_reward_func()
    assert trl_call(reward, rows, ["Answer: 42", "def f(): ..."], 1) == [1.0, None]
    assert (reward.stats.skipped, reward.stats.unscorable) == (1, 0)


@pytest.mark.parametrize("as_json", [False, True])
def test_trl_reasoning_gym_metadata_column(as_json: bool) -> None:
    data = reasoning_gym.create_dataset("chain_sum", size=2, seed=3)
    rows = [{"prompt": e["question"], "answer": e["answer"],
             "metadata": json.dumps(e["metadata"]) if as_json else e["metadata"]} for e in data]
    completions = [f"Answer: {data[0]['answer']}", f"Answer: {wrong(str(data[1]['answer']))}"]
    assert trl_call(mentor_reward_func(), rows, completions, 1) == [1.0, 0.0]


def test_trl_tasks_looked_up_by_id(arithmetic: list[Task]) -> None:
    rows = [{"prompt": r["prompt"], "task_id": r["task_id"]} for r in to_trl_dataset(arithmetic)]
    reward = mentor_reward_func(tasks=arithmetic)
    assert trl_call(reward, rows, [chat(f"Answer: {t.answer}") for t in arithmetic], 1) == [1.0] * len(arithmetic)
    with pytest.raises(TaskError, match="not among the tasks"):
        trl_call(reward, [{"prompt": "x", "task_id": "nope"}], ["Answer: 1"], 1)


def test_trl_check_only_rubric(signal_rubric) -> None:
    reward = mentor_reward_func(signal_rubric)  # a rubric needs no reference answer: no setup error
    rows = [{"prompt": "Name a number."}]
    assert trl_call(reward, rows, ["seven", "7"], 2) == [0.0, 1.0]


def _judge_bundle() -> Any:
    return compile_rubric(parse_rubric({"name": "expl", "judge": {"max_retries": 0}, "criteria": [
        {"name": "mechanism", "text": "Names Rayleigh scattering.", "kind": "judge", "scale": "0/1/2"}]}))


def test_trl_judge_failure_is_none(tmp_path) -> None:
    grader = Grader(_judge_bundle(), ScriptedJudge.from_outputs(["I'd give it a 2!"]))  # unparseable verdict
    reward = mentor_reward_func(grader)
    text = "Sunlight is scattered by air molecules, and blue light is scattered the most."
    assert trl_call(reward, [{"prompt": "Why is the sky blue?"}], [chat(text)], 1) == [None]
    assert reward.stats.unscorable == 1 and "judge failed" in reward.stats.recent_reasons[0]
    with pytest.raises(ConfigError, match="no judge"):
        mentor_reward_func(_judge_bundle())  # refused at construction, not on the trainer's first step


def test_trl_reward_func_contract() -> None:
    reward = mentor_reward_func()
    assert reward.__name__ == "mentor_reward"  # TRL logs rewards/<__name__>/mean
    assert mentor_reward_func(name="accuracy").__name__ == "accuracy"
    with pytest.raises(ConfigError):
        mentor_reward_func(on_unscorable="zero")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a grader"):
        mentor_reward_func(object())


def test_trl_hf_dataset_needs_datasets(arithmetic: list[Task], monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails whether or not it is installed
    with pytest.raises(MissingExtraError, match="datasets"):
        to_trl_dataset(arithmetic, as_hf_dataset=True)


def test_trl_hf_dataset_round_trip(arithmetic: list[Task]) -> None:
    pytest.importorskip("datasets")
    ds = to_trl_dataset(arithmetic, as_hf_dataset=True)
    rows = [dict(r) for r in ds]
    assert trl_call(mentor_reward_func(), rows, [chat(f"Answer: {t.answer}") for t in arithmetic], 1) == [1.0] * 3


def test_task_codec_round_trip(arithmetic: list[Task]) -> None:
    for task in [*arithmetic, BROKEN]:
        assert decode_task(encode_task(task)) == task
    with pytest.raises(TaskError):
        decode_task('{"id": "x"}')
    with pytest.raises(TaskError, match="JSON"):
        encode_task(Task("t", "p", meta={"bad": object()}))


# ---------------------------------------------------------------------------------------- verl


def compute_score(*args: Any, **kwargs: Any) -> Any:
    """verl 0.9's module-level compute_score is a coroutine function (verl awaits it)."""
    from mentor.integrations.verl import compute_score as verl_compute_score

    return asyncio.run(verl_compute_score(*args, **kwargs))


def test_verl_compute_score_right_wrong_unformatted() -> None:
    results = [compute_score("openai/gsm8k", text, "72", {"split": "test", "index": 0})
               for text in ("So 72 in all.\nAnswer: 72", "Answer: 27", "It is 72.")]
    assert [r["score"] for r in results] == [1.0, 0.0, 0.0]
    assert all(list(r) == ["score", "mentor_unscorable"] for r in results)  # verl reads one key set
    assert all(r["mentor_unscorable"] == 0.0 for r in results)


def test_verl_rows_carry_the_task(arithmetic: list[Task]) -> None:
    rows = to_verl_rows(arithmetic, split="test")
    row = rows[1]
    assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert row["data_source"] == "reasoning_gym:basic_arithmetic" and row["ability"] == "basic_arithmetic"
    assert row["prompt"][-1]["role"] == "user" and arithmetic[1].prompt in row["prompt"][-1]["content"]
    assert row["reward_model"] == {"style": "rule", "ground_truth": arithmetic[1].answer}
    assert row["extra_info"]["split"] == "test" and row["extra_info"]["index"] == 1
    assert decode_task(row["extra_info"]["mentor_task"]) == arithmetic[1]
    scorer = make_compute_score()
    for task, r in zip(arithmetic, rows, strict=True):
        assert verl_call(scorer, r, f"Answer: {task.answer}")["score"] == 1.0
        assert verl_call(scorer, r, f"Answer: {wrong(task.answer)}")["score"] == 0.0
        assert verl_call(scorer, r, "no final line")["score"] == 0.0
    assert scorer.stats.scored == 9
    with pytest.raises(ConfigError, match="chat"):
        to_verl_rows(arithmetic, PLAIN)


def test_verl_unscorable_is_nan_flagged_or_raises_or_a_chosen_fallback() -> None:
    row = to_verl_rows([BROKEN])[0]
    default = verl_call(make_compute_score(), row, "Answer: 2")  # NaN: mentor_grpo leaves it out
    assert math.isnan(default["score"]) and default["mentor_unscorable"] == 1.0
    with pytest.raises(VerifierError, match="broken"):
        verl_call(make_compute_score(on_unscorable="raise"), row, "Answer: 2")
    fallback = make_compute_score(on_unscorable=0.0)
    assert verl_call(fallback, row, "Answer: 2") == {"score": 0.0, "mentor_unscorable": 1.0}
    assert fallback.stats.unscorable == 1
    with pytest.raises(ConfigError):
        make_compute_score(on_unscorable=float("nan"))


def test_verl_reward_kwargs(signal_rubric) -> None:
    # reward_kwargs from verl's config arrive as keyword arguments on every call
    assert compute_score("src", "seven", None, None, rubric=str(signal_rubric))["score"] == 0.0
    assert compute_score("src", "7", None, None, rubric=str(signal_rubric))["score"] == 1.0
    assert compute_score("src", "Answer: 7", "7", None, reward_router_address=None)["score"] == 1.0
    with pytest.raises(ConfigError, match="rubrc"):
        compute_score("src", "7", "7", None, rubrc=str(signal_rubric))
    assert compute_score("src", "Ans: 7", "7", None, answer_prefix="Ans:")["score"] == 1.0


def test_verl_reference_errors(arithmetic: list[Task]) -> None:
    row = to_verl_rows(arithmetic)[0]
    row["reward_model"]["ground_truth"] = "12345"  # edited by hand: the encoded task would disagree
    with pytest.raises(TaskError, match="differs"):
        verl_call(make_compute_score(), row, "Answer: 12345")
    with pytest.raises(TaskError, match="no ground_truth"):
        compute_score("src", "Answer: 1", None, {"index": 3})


def test_verl_reasoning_gym_extra_info_without_mentor_task() -> None:
    entry = reasoning_gym.create_dataset("chain_sum", size=1, seed=5)[0]
    info = {"metadata": entry["metadata"], "question": entry["question"]}
    assert compute_score("chain_sum", f"Answer: {entry['answer']}", entry["answer"], info)["score"] == 1.0
    assert compute_score("chain_sum", f"Answer: {wrong(str(entry['answer']))}", entry["answer"], info)["score"] == 0.0


def test_write_verl_dataset(arithmetic: list[Task], tmp_path, monkeypatch) -> None:
    path = write_verl_dataset(arithmetic, tmp_path / "data" / "train.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == to_verl_rows(arithmetic)
    with pytest.raises(ConfigError, match="parquet or"):
        write_verl_dataset(arithmetic, tmp_path / "train.csv")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingExtraError, match="pandas"):
        write_verl_dataset(arithmetic, tmp_path / "train.parquet")


def test_adapters_import_nothing_heavy() -> None:
    # A fresh interpreter: this test process has long since imported torch through other tests.
    code = ("import sys, mentor.integrations.trl, mentor.integrations.verl; "
            "print(sorted(m for m in ('trl', 'verl', 'torch', 'datasets', 'pandas', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
