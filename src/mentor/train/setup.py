"""A whole run: building it, resuming it exactly, checkpointing it, and driving its steps."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mentor import preflight
from mentor.config import RunConfig
from mentor.errors import ConfigError, StoreError
from mentor.grade.answer import answer_grade
from mentor.store import RunStore
from mentor.student.policy import load_policy
from mentor.student.prompt import prompt_ids
from mentor.tasks import load_task_mix
from mentor.teacher import build_teacher, check_plugins
from mentor.train import checkpoint
from mentor.train.evaluate import evaluate
from mentor.train.grpo import TrainItem, grpo_update
from mentor.train.loop import GradeFn, Run, is_last_step, train_step
from mentor.types import Task


def build_run(cfg: RunConfig, run_dir: str | Path, *, resume: bool = False) -> Run:
    run_dir = Path(run_dir)
    # Plug-ins and the grader first: a bad name or argument fails before a run directory, a store or a
    # model exists.
    check_plugins(cfg)
    preflight.check_model_name(cfg.model.name)
    grade = build_grader(cfg)
    if resume:
        store = RunStore.open(run_dir)
        stored = RunConfig.model_validate(store.config)
        if stored.hash() != cfg.hash():
            raise StoreError("the run was started with another configuration.", where=str(run_dir),
                             fix="resume without --config/--set (the stored config is used), or start a new run")
        pool, heldout = store.load_tasks("train"), store.load_tasks("heldout")
        if not pool:  # killed between creating the store and saving its tasks: the mix is deterministic
            pool, heldout = load_task_mix(cfg.tasks, cfg.seed)
            store.save_tasks(pool, heldout)
        teacher = build_teacher(cfg, pool)
    else:
        pool, heldout = load_task_mix(cfg.tasks, cfg.seed)
        teacher = build_teacher(cfg, pool)  # a plug-in that cannot be built leaves no run directory behind
        store = create_store(cfg, run_dir, pool, heldout)
    torch.manual_seed(cfg.seed)
    policy = load_policy(cfg.model)
    # what "auto" resolved to on this machine: the same config samples in bf16 on one CPU, fp32 on another
    store.set_meta("numerics", json.dumps({"sample_dtype": policy.sample_dtype, "train_autocast": policy.autocast,
                                           "threads": torch.get_num_threads()}))
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    reference = None
    if cfg.optim.kl_coef > 0:
        reference = load_policy(cfg.model.model_copy(update={"sample_dtype": "float32"}))
        reference.model.requires_grad_(False)
    return Run(cfg=cfg, run_dir=run_dir, store=store, policy=policy, optimizer=optimizer, teacher=teacher,
               heldout=heldout, grade=grade, reference=reference)


def create_store(cfg: RunConfig, run_dir: Path, pool: Sequence[Task], heldout: Sequence[Task],
                 **host: Any) -> RunStore:
    """A new run's store: the config and its hash, the plug-ins it names (plus a host's own keys,
    e.g. `host="trl"`), and its tasks."""
    plugins = {"selector": cfg.curriculum.selector.model_dump(),
               "budget": cfg.curriculum.budget and cfg.curriculum.budget.model_dump(),
               "hints": {"schedule": cfg.hints.schedule.model_dump(), "source": cfg.hints.source.model_dump()},
               "credit": cfg.credit.assigner.model_dump(), "reward": cfg.reward.model_dump(), **host}
    store = RunStore.create(run_dir, json.dumps(cfg.model_dump(mode="json"), sort_keys=True), cfg.hash(), plugins)
    store.save_tasks(pool, heldout)
    return store


def build_grader(cfg: RunConfig) -> GradeFn:
    if cfg.reward.kind == "rubric":
        from mentor.grade import load_grader

        if not cfg.reward.rubric:
            raise ConfigError("reward.kind is 'rubric' but no reward.rubric file is named.", where="reward.rubric",
                              fix="set reward.rubric to a rubric YAML or locked bundle, e.g. examples/rubrics/math_answer.yaml")
        return load_grader(cfg.reward.rubric).grade
    prefix = cfg.reward.answer_prefix
    return lambda task, text: answer_grade(task, text, prefix)


def resume_run(run: Run, notify: Callable[[str], None] = lambda msg: None) -> int:
    """Bring a reopened run to its last committed step: load the newest checkpoint at or before it,
    then replay the updates of the later steps from their stored attempts (no sampling, no grading:
    the store holds the exact tokens, log-probs and advantages). Returns the last committed step."""
    last = run.store.last_step()
    ckpt_step = checkpoint.load_checkpoint(run.run_dir, run.policy.model, run.optimizer, upto_step=last)
    if ckpt_step:
        run.policy.sync_sampler()
    if last > ckpt_step:
        notify(f"replaying the updates of steps {ckpt_step + 1}–{last} from the store")
    cfg = run.cfg
    for step in range(ckpt_step + 1, last + 1):
        grpo_update(run.policy, run.optimizer, _items_from_store(run, step), cfg.optim,
                    temperature=cfg.sampling.temperature, gamma=cfg.hints.gamma, reference=run.reference)
    run.policy_version = last
    run.rollouts = run.store.rollouts_at(last)
    if last:
        run.teacher.load_state_dict(run.store.step_state(last).get("teacher", {}))
    return last


def _items_from_store(run: Run, step: int) -> list[TrainItem]:
    tasks = {t.id: t for t in run.teacher.pool}
    prompts: dict[str, tuple[int, ...]] = {}
    items = []
    for a in run.store.attempts(step):
        if not a["trained"] or a["token_advantages"] is None:
            continue
        if a["task_id"] not in prompts:
            prompts[a["task_id"]] = tuple(prompt_ids(run.policy, run.cfg, tasks[a["task_id"]]))
        items.append(TrainItem(group=a["grp"], prompt_ids=prompts[a["task_id"]], completion_ids=tuple(a["completion_ids"]),
                               advantages=tuple(a["token_advantages"]), sample_logprobs=tuple(a["logprobs"]),
                               guided=a["hint_level"] > 0))
    return items


def save_checkpoint(run: Run, step: int) -> None:
    """An HF directory (checkpoints/step-N/, optimizer.pt beside the weights): it loads in transformers,
    TRL and vLLM. The newest only: the store replays the steps after it."""
    checkpoint.save_checkpoint(run.run_dir, step, run.policy.model, run.policy.tokenizer, run.optimizer)


def train(cfg: RunConfig, run_dir: str | Path, *, resume: bool = False,
          on_step: Callable[[int, dict[str, Any]], None] | None = None,
          on_phase: Callable[[str], None] | None = None) -> Run:
    """Run (or resume) a whole training run; returns the run with its store still open."""
    notify = on_phase or (lambda msg: None)
    notify("loading the student and the tasks")
    run = build_run(cfg, run_dir, resume=resume)
    start = resume_run(run, notify) if resume else 0
    if start == 0 and not run.store.evals():
        notify("evaluating the student before training")
        run.store.save_eval(evaluate(run.policy, run.heldout, cfg, step=0, rollouts=0, grade=run.grade))
    step = start
    while not (step and is_last_step(cfg, step, run.rollouts)) and step < cfg.optim.steps:
        step += 1
        metrics = train_step(run, step)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            save_checkpoint(run, step)
        if on_step:
            on_step(step, metrics)
    if step and is_last_step(cfg, step, run.rollouts):
        save_checkpoint(run, run.store.last_step())
        run.store.set_meta("status", "finished")
    return run
