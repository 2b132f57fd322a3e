"""Mentor's verl host checked against verl's own classes. Run by tests/test_verl_host.py inside a venv
that has verl 0.9.1 (verl pins transformers < 5.11, so it cannot share Mentor's test environment).

    python tests/verl_host_checks.py OUT.json     # with PYTHONPATH=src, in the verl venv

Each check runs on its own; the JSON maps its name to {"ok": bool, "detail": str} and the pytest
side turns each into one test. Nothing here is mocked on verl's side: the config objects, the reward
loader and managers, RLHFDataset, the dataloader and sampler, DataProto and compute_advantage are
verl's. The batches stand in for what generation would produce.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECKS: dict[str, Callable[[Path], str]] = {}


def check(fn: Callable[[Path], str]) -> Callable[[Path], str]:
    CHECKS[fn.__name__] = fn
    return fn


def _tasks() -> list[Any]:
    from mentor.testing import toy_tasks

    return toy_tasks(16, seed=3)


def _tokenizer() -> Any:
    from mentor.testing import tiny_tokenizer

    return tiny_tokenizer()


def _data_config(tmp: Path, **extra: Any) -> Any:
    from omegaconf import OmegaConf

    from mentor.integrations.verl import write_verl_dataset

    tasks = _tasks()
    train = write_verl_dataset(tasks[:12], tmp / "train.parquet")  # 3 batches of 4 per epoch
    val = write_verl_dataset(tasks[12:], tmp / "test.parquet", split="test")
    base = OmegaConf.load(Path(inspect.getfile(__import__("verl"))).parent / "trainer/config/data/legacy_data.yaml")
    cfg = OmegaConf.merge(base, {"train_files": str(train), "val_files": str(val), "train_batch_size": 4,
                                 "max_prompt_length": 256, "filter_overlong_prompts": True,
                                 "cache_dir": str(tmp / "cache"), "dataloader_num_workers": 0,
                                 "tool_config_path": None, "function_tool_path": None}, extra)
    return cfg


def _responses(tok: Any, texts: list[str], width: int = 24) -> tuple[Any, Any]:
    import torch

    ids = torch.full((len(texts), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    for i, text in enumerate(texts):
        row = tok(text, add_special_tokens=False)["input_ids"][:width]
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


# --------------------------------------------------------------------------------------- reward


def _reward_config(manager: str, **reward_kwargs: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.create({"reward": {
        "custom_reward_function": {"path": "pkg://mentor.integrations.verl", "name": "compute_score",
                                   "reward_kwargs": reward_kwargs},
        "reward_manager": {"source": "register", "name": manager, "module": {"path": None, "name": None}},
        "sandbox_fusion": None, "max_concurrent": 4, "timeout": 30.0,
    }})


def _reward_batch(rows: list[dict[str, Any]], texts: list[str]) -> Any:
    import numpy as np
    import torch
    from verl import DataProto

    tok = _tokenizer()
    responses, resp_mask = _responses(tok, texts)
    prompts = torch.full((len(rows), 4), tok.pad_token_id, dtype=torch.long)
    attention = torch.cat([torch.ones_like(prompts), resp_mask], dim=1)
    return DataProto.from_single_dict({
        "prompts": prompts, "responses": responses, "attention_mask": attention,
        "data_source": np.array([r["data_source"] for r in rows], dtype=object),
        "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
        "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
    })


@check
def reward_loads_through_pkg_path(tmp: Path) -> str:
    from verl.trainer.ppo.reward import get_custom_reward_fn, load_reward_manager

    from mentor.integrations.verl import to_verl_rows

    fn = get_custom_reward_fn(_reward_config("naive"))
    assert inspect.iscoroutinefunction(fn), "verl must see an async compute_score (it awaits it, no thread hop)"
    task = _tasks()[0]
    rows = to_verl_rows([task] * 3)
    texts = [f"Answer: {task.answer}", "Answer: 99", "no answer line"]
    batch = _reward_batch(rows, texts)

    async def score_all() -> tuple[Any, list[dict[str, Any]]]:
        # built inside the running loop, as in verl's reward worker (the manager keeps the loop)
        manager = load_reward_manager(_reward_config("naive"), _tokenizer())
        return manager, list(await asyncio.gather(*(manager.run_single(batch[i : i + 1]) for i in range(len(batch)))))

    manager, out = asyncio.run(score_all())
    assert type(manager).__name__ == "NaiveRewardManager" and manager.is_async_reward_score
    scores = [o["reward_score"] for o in out]
    assert scores == [1.0, 0.0, 0.0], scores
    assert all(set(o["reward_extra_info"]) == {"score", "mentor_unscorable"} for o in out)
    rm = type(manager).assemble_rm_scores(batch, scores)  # what the reward loop builds from the scores
    assert rm.sum(dim=-1).tolist() == scores
    return f"naive manager, pkg:// path, async: scores {scores}"


@check
def unscorable_is_nan_not_none_or_zero(tmp: Path) -> str:
    import torch
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import load_reward_manager

    from mentor.integrations.verl import to_verl_rows
    from mentor.types import Task

    broken = Task("broken", "2 + 2?", answer="4", verifier="no_such_verifier")
    rows = to_verl_rows([broken])
    batch = _reward_batch(rows, ["Answer: 4"])
    # why not None: verl builds its reward tensor with new_tensor(scores), which refuses None
    try:
        NaiveRewardManager.assemble_rm_scores(batch, [None])
        none_fails = False
    except (TypeError, RuntimeError):
        none_fails = True
    assert none_fails, "verl 0.9.1 now accepts a None score: revisit on_unscorable"
    details = []
    async def run(name: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        manager = load_reward_manager(_reward_config(name, **kwargs), _tokenizer())
        return manager, await manager.run_single(batch[0:1])

    for name in ("naive", "rate_limited"):
        manager, out = asyncio.run(run(name))
        assert math.isnan(out["reward_score"]), (name, out)
        assert out["reward_extra_info"]["mentor_unscorable"] == 1.0, (name, out)
        rm = type(manager).assemble_rm_scores(batch, [out["reward_score"]])
        assert torch.isnan(rm.sum()).item()
        details.append(f"{name}: NaN + mentor_unscorable=1")
    # on_unscorable=raise under naive stops the step with the grader's reason
    try:
        asyncio.run(run("naive", on_unscorable="raise"))
        raise AssertionError("on_unscorable=raise did not raise")
    except Exception as exc:  # what verl raises around it varies; the message is checked
        assert "unscorable" in str(exc), exc
    return "; ".join(details) + "; None refused by assemble_rm_scores"


# --------------------------------------------------------------------------------------- dataset


@check
def rlhf_dataset_reads_mentor_parquet(tmp: Path) -> str:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from mentor.integrations import decode_task
    from mentor.integrations.verl import compute_score

    cfg = _data_config(tmp)
    ds = RLHFDataset(data_files=cfg.train_files, tokenizer=_tokenizer(), config=cfg)
    assert len(ds) == 12, len(ds)
    row = ds[2]
    task = decode_task(row["extra_info"]["mentor_task"])
    assert task == _tasks()[2]
    assert row["raw_prompt"][-1]["role"] == "user" and task.prompt in row["raw_prompt"][-1]["content"]
    good = asyncio.run(compute_score(row["data_source"], f"Answer: {task.answer}", row["reward_model"]["ground_truth"],
                                     row["extra_info"]))
    assert good == {"score": 1.0, "mentor_unscorable": 0.0}, good
    return f"RLHFDataset: {len(ds)} rows, task round-trips, compute_score on the row = 1.0"


def _loader(ds: Any, cfg: Any) -> Any:
    from torchdata.stateful_dataloader import StatefulDataLoader
    from verl.trainer.ppo.utils import create_rl_sampler
    from verl.utils.dataset.rl_dataset import collate_fn

    # as RayPPOTrainer._create_dataloader builds it
    return StatefulDataLoader(dataset=ds, batch_size=cfg.get("gen_batch_size") or cfg.train_batch_size,
                              num_workers=cfg.dataloader_num_workers, drop_last=True, collate_fn=collate_fn,
                              sampler=create_rl_sampler(cfg, ds))


def _trained(batch_dict: dict[str, Any], n: int, passes: Callable[[str, int], float]) -> Any:
    """What RayPPOTrainer hands on_batch_end: the batch with uids, repeated n times, scored."""
    import uuid

    import numpy as np
    import torch
    from verl import DataProto

    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
    batch = batch.repeat(repeat_times=n, interleave=True)
    ids = [info["task_id"] for info in batch.non_tensor_batch["extra_info"]]
    scores = torch.tensor([passes(t, j % n) for j, t in enumerate(ids)])
    width = 6
    token_scores = torch.zeros((len(batch), width))
    token_scores[:, -1] = scores
    batch.batch["token_level_scores"] = token_scores
    batch.batch["response_mask"] = torch.ones((len(batch), width))
    batch.batch["advantages"] = torch.zeros((len(batch), width))
    perm = torch.randperm(len(batch))  # verl reorders the batch to balance lengths
    return batch[perm]


@check
def custom_cls_selects_and_learns(tmp: Path) -> str:
    from verl.utils.dataset.rl_dataset import get_dataset_class

    from mentor.errors import ConfigError

    cfg = _data_config(tmp, custom_cls={"path": "pkg://mentor.integrations.verl_dataset", "name": "MentorTaskDataset"},
                       mentor={"group_size": 4, "selector": {"name": "signal"}, "seed": 0})
    cls = get_dataset_class(cfg)
    assert cls.__name__ == "MentorTaskDataset"
    val = cls(data_files=cfg.val_files, tokenizer=_tokenizer(), config=cfg)
    assert val.selection is None and len(val) == 4  # validation rows: verl's dataset unchanged
    ds = cls(data_files=cfg.train_files, tokenizer=_tokenizer(), config=cfg)
    loader = _loader(ds, cfg)
    it = iter(loader)
    first = next(it)
    assert len(first["extra_info"]) == 4
    # tasks 0-3 always pass, 4-7 always fail: no learning signal in either; the selector learns that
    solved = {t.id for t in _tasks()[:4]}
    seen = [info["task_id"] for info in first["extra_info"]]
    before = json.dumps(ds.selection.selector.state_dict(), sort_keys=True, default=str)
    ds.on_batch_end(_trained(first, 4, lambda t, j: 1.0 if t in solved else 0.0))
    assert json.dumps(ds.selection.selector.state_dict(), sort_keys=True, default=str) != before
    state = loader.state_dict()
    second = next(it)
    after = [info["task_id"] for info in second["extra_info"]]
    # a fresh loader from the saved state picks the same next batch (resume)
    ds2 = cls(data_files=cfg.train_files, tokenizer=_tokenizer(), config=cfg)
    loader2 = _loader(ds2, cfg)
    loader2.load_state_dict(state)
    again = [info["task_id"] for info in next(iter(loader2))["extra_info"]]
    assert again == after, (again, after)
    # no outcomes for the second batch: a third batch is refused (v1 trainer), not picked blind
    try:
        next(it)
        raise AssertionError("a batch was selected without the last batch's outcomes")
    except ConfigError as exc:
        assert "trainer.use_v1" in str(exc)
    try:
        cls(data_files=cfg.train_files, tokenizer=_tokenizer(), config=_data_config(
            tmp, custom_cls=cfg.custom_cls, mentor={"group_size": 4}, dataloader_num_workers=2))
        raise AssertionError("worker processes were accepted")
    except ConfigError as exc:
        assert "dataloader_num_workers" in str(exc)
    return f"batch 1 {seen}; after outcomes {after}; resumed loader agrees"


# ---------------------------------------------------------------------------------------- example


def example_overrides() -> list[str]:
    lines = (Path(__file__).resolve().parents[1] / "examples/verl/grpo_overrides.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


@check
def example_overrides_compose(tmp: Path) -> str:
    import runpy

    from hydra import compose, initialize_config_dir
    from verl.utils.dataset.rl_dataset import get_dataset_class

    from mentor.integrations import decode_task
    from mentor.integrations.verl import compute_score

    # the example's own data step, on the embedded default's task mix (smaller)
    argv, sys.argv = sys.argv, ["prepare_data.py", "--out", str(tmp / "data"), "--set", "tasks.train_size=32",
                                "--set", "tasks.heldout_size=8"]
    try:
        runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples/verl/prepare_data.py"), run_name="__main__")
    finally:
        sys.argv = argv
    config_dir = Path(inspect.getfile(__import__("verl"))).parent / "trainer/config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        cfg = compose("ppo_trainer", overrides=[*example_overrides(), "actor_rollout_ref.model.path=/models/x",
                                                f"data.train_files={tmp / 'data/train.parquet'}",
                                                f"data.val_files={tmp / 'data/test.parquet'}",
                                                f"+data.cache_dir={tmp / 'cache'}"])
    assert cfg.algorithm.adv_estimator == "mentor_grpo" and cfg.trainer.use_v1 is False
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    # what main_ppo checks before starting Ray: batch sizes, GPU counts, the estimator's needs
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    ds = get_dataset_class(cfg.data)(data_files=cfg.data.train_files, tokenizer=_tokenizer(), config=cfg.data)
    assert ds.selection is not None and ds.selection.selector.name == "signal"
    assert ds.selection.batch_size == cfg.data.train_batch_size == 16 and len(ds.selection.pool) == 32
    row = ds[0]  # a selected task's row, as verl's agent loop and reward worker receive it
    task = decode_task(row["extra_info"]["mentor_task"])
    got = asyncio.run(compute_score(row["data_source"], f"Working.\nAnswer: {task.answer}",
                                    row["reward_model"]["ground_truth"], row["extra_info"]))
    assert got["score"] == 1.0, (task, got)
    # ${actor_rollout_ref.rollout.n} resolved through the composed config
    return (f"{len(example_overrides())} overrides compose and pass validate_config; "
            "MentorTaskDataset built from the composed data config")


# ----------------------------------------------------------------------------------- advantages


def _adv_batch(scores: list[float], uids: list[str], width: int = 5) -> Any:
    import numpy as np
    import torch
    from verl import DataProto

    rewards = torch.zeros((len(scores), width))
    rewards[:, -1] = torch.tensor(scores)
    mask = torch.ones((len(scores), width))
    mask[0, -2:] = 0  # a shorter response: its tail is padding
    rewards[0, -1], rewards[0, 2] = 0.0, scores[0]
    return DataProto.from_single_dict({"token_level_rewards": rewards, "response_mask": mask,
                                       "uid": np.array(uids, dtype=object)})


@check
def estimator_registered_and_called_by_verl(tmp: Path) -> str:
    import torch
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.ray_trainer import compute_advantage

    from mentor.integrations.verl_advantage import mentor_grpo_advantage

    # registered by `import verl` through the plugin hook, not by this script
    assert get_adv_estimator_fn("mentor_grpo") is mentor_grpo_advantage
    nan = float("nan")
    scores = [1.0, 0.0, 1.0, nan, 0.0, 0.0, 0.0, 0.0, 1.0, nan]
    uids = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    out = compute_advantage(_adv_batch(scores, uids), adv_estimator="mentor_grpo",
                            config=AlgoConfig(adv_estimator="mentor_grpo", norm_adv_by_std_in_grpo=True))
    adv = out.batch["advantages"]
    assert torch.isfinite(adv).all(), adv
    per = adv[:, 0].tolist()
    # group a: scorable [1, 0, 1, 0] -> mean .5, population std .5 -> ±1; the NaN response gets 0
    assert per[:5] == [1.0, -1.0, 1.0, 0.0, -1.0], per
    assert per[5:8] == [0.0, 0.0, 0.0] and per[8:] == [0.0, 0.0], per  # no signal; one scorable
    assert adv[0, -2:].tolist() == [0.0, 0.0]  # padding stays 0
    # without NaN, Dr.GRPO mode: verl's own grpo gives the same numbers
    clean = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    ours = compute_advantage(_adv_batch(clean, uids), adv_estimator="mentor_grpo",
                             config=AlgoConfig(adv_estimator="mentor_grpo", norm_adv_by_std_in_grpo=False))
    theirs = compute_advantage(_adv_batch(clean, uids), adv_estimator="grpo", norm_adv_by_std_in_grpo=False,
                               config=AlgoConfig(adv_estimator="grpo", norm_adv_by_std_in_grpo=False))
    assert torch.allclose(ours.batch["advantages"], theirs.batch["advantages"], atol=1e-6)
    # verl's grpo on the NaN batch: the whole group turns NaN (why NaN needs mentor_grpo)
    stock = compute_advantage(_adv_batch(scores, uids), adv_estimator="grpo",
                              config=AlgoConfig(adv_estimator="grpo"))
    assert torch.isnan(stock.batch["advantages"][:5]).all()
    return f"mentor_grpo via compute_advantage: {per}; equals verl grpo (Dr.GRPO) without NaN"


@check
def prefix_tree_needs_token_ids(tmp: Path) -> str:
    import numpy as np
    import torch
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.ray_trainer import compute_advantage

    from mentor.errors import ConfigError
    from mentor.teacher.credit.prefix_tree import prefix_tree_values

    try:
        compute_advantage(_adv_batch([1.0, 0.0], ["a", "a"]), adv_estimator="mentor_prefix_tree",
                          config=AlgoConfig(adv_estimator="mentor_prefix_tree"))
        raise AssertionError("verl 0.9.1 passed token ids to a registered estimator: update the docs")
    except ConfigError as exc:
        assert "token ids" in str(exc)
    # with the upstream patch (batch passed, as verl does for GDPO) it runs
    fn = get_adv_estimator_fn("mentor_prefix_tree")
    responses = torch.tensor([[5, 6, 7, 8], [5, 6, 9, 9], [5, 1, 2, 3]])
    rewards = torch.zeros((3, 4))
    rewards[:, -1] = torch.tensor([1.0, 0.0, 0.0])
    mask = torch.ones((3, 4))
    adv, _ = fn(token_level_rewards=rewards, response_mask=mask, index=np.array(["a"] * 3, dtype=object),
                config=AlgoConfig(adv_estimator="mentor_prefix_tree"), batch={"responses": responses})
    r = np.array([1.0, 0.0, 0.0])
    base = (r - r.mean()) / r.std()
    expect = [base[i] + np.diff(v) for i, v in enumerate(prefix_tree_values(responses.tolist(), base.tolist()))]
    assert np.allclose(adv.numpy(), np.array(expect), atol=1e-5), (adv, expect)
    return "compute_advantage refuses mentor_prefix_tree (no token ids); with batch= it matches prefix_tree_values"


def main() -> int:
    out_path = Path(sys.argv[1])
    results: dict[str, dict[str, Any]] = {}
    only = set(os.environ.get("MENTOR_VERL_CHECKS", "").split(",")) - {""}
    for name, fn in CHECKS.items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                results[name] = {"ok": True, "detail": fn(Path(tmp))}
            except Exception:  # reported per check, not raised
                results[name] = {"ok": False, "detail": traceback.format_exc()}
    import verl

    results["_versions"] = {"ok": True, "detail": verl.__version__}
    out_path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
