"""The verl host's logic without verl: the estimators on plain tensors, task selection, the async
reward's deadline. tests/test_verl_host.py runs the same pieces through verl 0.9.1's own classes."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest
import torch

from mentor.errors import ConfigError, StoreError, TaskError
from mentor.integrations.verl import make_compute_score, to_verl_rows
from mentor.integrations.verl_advantage import mentor_grpo_advantage, mentor_prefix_tree_advantage
from mentor.integrations.verl_tasks import TaskSelection, build_selection, outcomes_from_batch
from mentor.teacher.credit import CreditContext, Group
from mentor.teacher.credit.prefix_tree import PrefixTreeAssigner
from mentor.testing import toy_tasks
from mentor.types import Grade, Rollout, Task

NAN = float("nan")


def rewards(scores: list[float], width: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.zeros((len(scores), width))
    r[:, -1] = torch.tensor(scores)
    return r, torch.ones((len(scores), width))


# ------------------------------------------------------------------------------------ estimators


def test_mentor_grpo_leaves_unscorable_out_of_the_baseline() -> None:
    r, mask = rewards([1.0, 0.0, NAN, 0.0, 1.0, 1.0])
    mask[1, -1] = 0  # padding
    index = np.array(["a", "a", "a", "a", "b", "b"], dtype=object)
    adv, ret = mentor_grpo_advantage(r, mask, index=index, config={"norm_adv_by_std_in_grpo": True})
    assert adv is ret
    # group a: scorable [1, 0, 0]: mean 1/3, population std sqrt(2)/3; the NaN response gets 0
    expect = (np.array([1.0, 0.0, 0.0]) - 1 / 3) / (math.sqrt(2) / 3)
    assert adv[[0, 1, 3], 0].tolist() == pytest.approx(expect.tolist())
    assert adv[2].tolist() == [0.0] * 4 and adv[1, -1].item() == 0.0
    assert adv[4:].abs().sum().item() == 0.0  # [1, 1]: no signal
    unscaled, _ = mentor_grpo_advantage(r, mask, index=index, config={"norm_adv_by_std_in_grpo": False})
    assert unscaled[0, 0].item() == pytest.approx(2 / 3)  # Dr.GRPO: mean only
    with pytest.raises(ConfigError, match="uid"):
        mentor_grpo_advantage(r, mask, index=None)


def test_mentor_prefix_tree_matches_mentors_assigner() -> None:
    ids = [[5, 6, 7, 8], [5, 6, 9, 9], [5, 1, 2, 3], [4, 4, 4, 4]]
    scores = [1.0, 0.0, 0.0, NAN]
    r, mask = rewards(scores)
    index = np.array(["g"] * 4, dtype=object)
    with pytest.raises(ConfigError, match="token ids"):
        mentor_prefix_tree_advantage(r, mask, index=index)
    adv, _ = mentor_prefix_tree_advantage(r, mask, index=index, batch={"responses": torch.tensor(ids)})
    task = toy_tasks(1)[0]
    attempts = tuple(Rollout(task=task, group=0, index=i, text="", completion_ids=tuple(x), logprobs=(0.0,) * len(x),
                             finished=True, grade=Grade(score=None if math.isnan(s) else s))
                     for i, (x, s) in enumerate(zip(ids, scores, strict=True)))
    expected = PrefixTreeAssigner().assign([Group(task, attempts, tuple(a.score for a in attempts))],
                                           CreditContext(tokenizer=None))
    assert adv.numpy() == pytest.approx(np.array(expected.values), abs=1e-6)
    assert adv[3].abs().sum().item() == 0.0 and adv[0, 2].item() != adv[0, 0].item()  # branch credit


# --------------------------------------------------------------------------------------- reward


class SlowGrader:
    def grade(self, task: Task, text: str) -> Grade:
        time.sleep(0.5)
        return Grade(score=1.0)


def test_async_score_deadline_is_unscorable_not_zero() -> None:
    row = to_verl_rows(toy_tasks(1))[0]
    scorer = make_compute_score(SlowGrader(), deadline_s=0.05)
    out = asyncio.run(scorer.score_async(row["data_source"], "Answer: 1", row["reward_model"]["ground_truth"],
                                         row["extra_info"]))
    assert math.isnan(out["score"]) and out["mentor_unscorable"] == 1.0
    assert "deadline_s" in scorer.stats.recent_reasons[-1]
    with pytest.raises(ConfigError, match="deadline_s"):
        make_compute_score(deadline_s=0)


# ------------------------------------------------------------------------------------- selection


def test_task_selection_needs_outcomes_between_batches_and_resumes() -> None:
    pool = toy_tasks(10)
    sel = build_selection(pool, {"group_size": 4, "selector": {"name": "signal"}, "seed": 1}, batch_size=3)
    first = [sel.next_task().id for _ in range(3)]
    assert len(set(first)) == 3
    with pytest.raises(ConfigError, match="use_v1"):
        sel.next_task()
    outcomes = outcomes_from_batch(sel.by_id, [t for t in first for _ in range(4)],
                                   [u for u in "abc" for _ in range(4)], [1.0, 0.0, NAN, 1.0] * 3, [0.5] * 12)
    assert [o.rewards for o in outcomes] == [(1.0, 0.0, None, 1.0)] * 3 and outcomes[0].scored == 3
    sel.observe(outcomes)
    state = sel.state_dict()
    again = build_selection(pool, {"group_size": 4, "seed": 1}, batch_size=3)
    again.load_state_dict(state)
    assert [sel.next_task().id for _ in range(3)] == [again.next_task().id for _ in range(3)]
    with pytest.raises(StoreError, match="other tasks"):
        build_selection(pool[:5], {"group_size": 4}, batch_size=3).load_state_dict(state)


def test_outcomes_group_by_uid_not_position() -> None:
    pool = {t.id: t for t in toy_tasks(2)}
    ids, uids = ["toy/0", "toy/1", "toy/0", "toy/1"], ["u", "v", "u", "v"]
    out = outcomes_from_batch(pool, ids, uids, [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0])
    assert [(o.task.id, o.rewards, o.mean_abs_advantage) for o in out] == [
        ("toy/0", (1.0, 0.0), 1.0), ("toy/1", (0.0, 0.0), 0.0)]
    with pytest.raises(TaskError, match="several tasks"):
        outcomes_from_batch(pool, ids, ["u"] * 4, [0.0] * 4, [0.0] * 4)
    with pytest.raises(TaskError, match="not among"):
        outcomes_from_batch(pool, ["toy/9"], ["u"], [0.0], [0.0])


@pytest.mark.parametrize(("settings", "match"), [
    ({}, "actor_rollout_ref.rollout.n"),
    ({"group_size": 4, "selecter": "x"}, "unknown key"),
    ({"group_size": 4, "selector": {"name": "nope"}}, "nope"),
    ({"group_size": 4, "selector": {"name": "signal", "args": {"sharpness": "high"}}}, "sharpness"),
])
def test_build_selection_refuses_bad_settings(settings: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_selection(toy_tasks(3), settings, batch_size=2)
    with pytest.raises(TaskError):
        TaskSelection([], None, batch_size=1, seed=0)  # type: ignore[arg-type]
