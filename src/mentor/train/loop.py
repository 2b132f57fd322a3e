"""The training loop. One step, top to bottom:

    select tasks → sample G attempts each → grade → hints for all-fail groups → credit → GRPO update
    → curriculum update → (held-out eval) → commit the step to the store

`train_step` is the whole algorithm; everything else here sets up, resumes, and records.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mentor.config import RunConfig
from mentor.credit import CreditContext, Group, build_assigner
from mentor.credit_sources import CreditSources, build_credit_sources
from mentor.curriculum import (
    GroupOutcome,
    SelectorContext,
    build_budget,
    build_selector,
    expected_pass_rates,
    task_category,
)
from mentor.errors import StoreError
from mentor.grade.answer import answer_grade
from mentor.hints import PassRates, build_hint_source, hint_reliance, render_hinted_prompt, scaffold_size
from mentor.store import AttemptRow, RunStore
from mentor.student.policy import HFPolicy, load_policy
from mentor.tasks import load_task_mix
from mentor.train import checkpoint
from mentor.train.evaluate import evaluate
from mentor.train.grpo import TrainItem, grpo_update
from mentor.types import Attempt, Grade, Hint, Task

PASS = 1.0 - 1e-9  # an attempt "passes" when it earns full credit
GradeFn = Callable[[Task, str], Grade]


@dataclass
class Run:
    """Everything a step needs, built once per run (or per resume)."""

    cfg: RunConfig
    run_dir: Path
    store: RunStore
    policy: HFPolicy
    optimizer: torch.optim.Optimizer
    pool: list[Task]
    heldout: list[Task]
    grade: GradeFn
    selector: Any
    budget: Any
    hints: Any
    credit: Any
    rollouts: int = 0
    reference: Any = None
    policy_version: int = 0
    task_by_id: dict[str, Task] = field(default_factory=dict)
    segmenter: Any = None
    staircase: dict[str, int] = field(default_factory=dict)  # bucket -> hint level (hints.mode "staircase")
    pass_rates: PassRates = field(default_factory=PassRates)  # per bucket, with and without hint ("adaptive")
    scaffold: Callable[[Task, int], int] = lambda task, size: 0  # hinted attempts of a group (scaffold_planner)
    credit_sources: CreditSources = field(default_factory=CreditSources)  # critic, step rewards


@dataclass
class GroupRecord:
    """A task's attempts in this step: the no-hint group and any guided re-rolls (in staircase mode,
    the hinted part of a scaffolded group)."""

    task: Task
    grp: int
    attempts: list[Attempt]
    grades: list[Grade]
    rerolls: list[tuple[Hint, list[Attempt], list[Grade]]] = field(default_factory=list)

    merge_failed: bool = False
    scaffold: bool = False  # the re-roll entry is the hinted part of one group sampled with it
    rescued: bool = False  # had a rescue re-roll (hints.mode "rescue")

    @property
    def trained(self) -> tuple[list[Attempt], list[Grade]]:
        """The attempts the loss sees: a scaffolded group whole (no-hint and hinted attempts share one
        baseline); else the last guided re-roll if one was kept (with `merge_failed`, together with
        the failed no-hint attempts, which then carry negative credit), else the no-hint group."""
        if self.scaffold:
            return (self.attempts + [a for _, att, _ in self.rerolls for a in att],
                    self.grades + [gr for _, _, grs in self.rerolls for gr in grs])
        for _hint, attempts, grades in reversed(self.rerolls):
            if _is_mixed(grades):
                if self.merge_failed:
                    return self.attempts + attempts, self.grades + grades
                return attempts, grades
        return self.attempts, self.grades


# ----------------------------------------------------------------------------------- the step


def train_step(run: Run, step: int) -> dict[str, Any]:
    cfg = run.cfg
    rng = np.random.default_rng([cfg.seed, step])
    torch.manual_seed(cfg.seed * 1_000_003 + step)  # sampling draws from torch's generator
    timings: dict[str, float] = {}
    rollouts_before = run.rollouts

    # 1. choose what to practise (and how many attempts each task gets)
    t0 = time.perf_counter()
    tasks = run.selector.select(run.pool, cfg.sampling.tasks_per_step, rng)
    sizes = _group_sizes(run, tasks)
    timings["select"] = time.perf_counter() - t0

    # 2. sample a group of attempts per task, without hints (in staircase and adaptive mode, part of
    #    the group of a task that needs scaffolding sees a hint)
    t0 = time.perf_counter()
    mode = cfg.hints.mode if cfg.hints.enabled else None
    if mode == "staircase":
        scaffolds = staircase_hints(run, tasks, rng)
        counts = [_hinted_count(n, cfg.hints.staircase_share) if h is not None else 0
                  for n, h in zip(sizes, scaffolds, strict=True)]
    elif mode in ("adaptive", "rescue"):
        scaffolds, counts = adaptive_scaffolds(run, tasks, sizes, rng)
    else:
        scaffolds, counts = [None] * len(tasks), [0] * len(tasks)
    groups, hinted_parts = sample_step_groups(run, tasks, sizes, scaffolds, counts)
    timings["sample"] = time.perf_counter() - t0

    # 3. grade every attempt (a grader failure makes it unscorable, never 0)
    t0 = time.perf_counter()
    for g in groups:
        g.grades = [run.grade(g.task, a.text) for a in g.attempts]
    for i, (hint, attempts) in hinted_parts.items():
        g = groups[i]
        g.rerolls.append((hint, attempts, [run.grade(g.task, a.text) for a in attempts]))
    timings["grade"] = time.perf_counter() - t0

    # 4. hints: re-roll all-fail groups with an escalating hint until the group is mixed, or move each
    #    bucket's hint level (staircase) or pass-rate estimates (adaptive) on this step's evidence
    t0 = time.perf_counter()
    reliance = None
    if mode == "staircase":
        update_staircase(run, groups)
    elif mode == "adaptive":
        run.pass_rates.update(_observed_passes(run, groups))
    elif mode == "rescue":
        rescue_stuck_groups(run, groups, rng)
        run.pass_rates.update(_observed_passes(run, groups))
    elif mode == "reroll":
        reroll_stuck_groups(run, groups, rng)
    if cfg.hints.enabled:
        # measured before the update, so both log-probs come from the policy that sampled
        reliance = _reliance(run, groups)
    timings["hints"] = time.perf_counter() - t0

    # 5. credit: group-relative (and step-level) advantages for every trained token
    t0 = time.perf_counter()
    credit_groups = []
    for g in groups:
        attempts, grades = g.trained
        credit_groups.append(Group(g.task, tuple(attempts), tuple(gr.score for gr in grades)))
    rollout, cap = functools.partial(branch_rollouts, run), _branch_cap(run)
    sources = run.credit_sources.for_step(credit_groups, rollout, cap)  # step rewards branch via `rollout` too
    ctx = CreditContext(tokenizer=run.policy.tokenizer, std_tol=cfg.optim.std_tol,
                        scale_by_std=cfg.optim.scale_by_std, segmenter=run.segmenter, rollout=rollout,
                        critic=sources.critic, step_rewards=sources.step_rewards, max_extra_rollouts=cap)
    advantages = sources.account(run.credit.assign(credit_groups, ctx))  # + the sources' judge calls, rollouts
    # At store precision from here on: the update trains on exactly what a resume replays.
    rows = [tuple(round(x, 6) for x in row) for row in advantages.values]
    timings["credit"] = time.perf_counter() - t0

    # 6. the GRPO update, every loss term under the no-hint prompt
    t0 = time.perf_counter()
    items = _train_items(run, groups, credit_groups, rows)
    update = grpo_update(run.policy, run.optimizer, items, cfg.optim, temperature=cfg.sampling.temperature,
                         gamma_quantile=cfg.hints.gamma_quantile, gamma=cfg.hints.gamma, reference=run.reference,
                         guided_weight=cfg.hints.guided_weight)
    run.policy_version += 1
    timings["update"] = time.perf_counter() - t0

    # 7. tell the curriculum what it learned about each task
    offsets = np.cumsum([0] + [len(cg.attempts) for cg in credit_groups])
    run.selector.update([o for i, (g, cg) in enumerate(zip(groups, credit_groups, strict=True))
                         for o in _outcomes(g, cg.attempts, rows[offsets[i] : offsets[i + 1]])])

    # 8. held-out evaluation (no hints), then commit the whole step in one transaction
    evaluation = None
    last = is_last_step(cfg, step, run.rollouts)
    if step % cfg.eval.every == 0 or last:
        t0 = time.perf_counter()
        evaluation = evaluate(run.policy, run.heldout, cfg, step=step, rollouts=run.rollouts, grade=run.grade,
                              pass_k=last)
        timings["eval"] = time.perf_counter() - t0
    metrics = _step_metrics(groups, advantages, update, run.rollouts - rollouts_before, reliance)
    attempt_rows = _attempt_rows(groups, credit_groups, rows)
    t0 = time.perf_counter()
    run.store.commit_step(step, run.rollouts, attempt_rows, metrics, timings, _state(run), evaluation)
    timings["store"] = time.perf_counter() - t0
    if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
        save_checkpoint(run, step)
    metrics["timings"] = timings
    if evaluation is not None:
        metrics["heldout_accuracy"] = evaluation.accuracy
    return metrics


# ----------------------------------------------------------------------------------- stages


def sample_groups(run: Run, tasks: Sequence[Task], sizes: Sequence[int],
                  hints: Sequence[Hint | None] | None) -> list[list[Attempt]]:
    """G_i attempts per task in one batched call; with `hints`, the student sees the hinted prompt."""
    cfg = run.cfg
    prompts: list[list[int]] = []
    for i, (task, size) in enumerate(zip(tasks, sizes, strict=True)):
        prompts.extend([prompt_ids(run, task, hints[i] if hints else None)] * size)
    samples = run.policy.sample(prompts, max_new_tokens=cfg.sampling.max_new_tokens,
                                temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p)
    run.rollouts += len(samples)
    out, k = [], 0
    for i, size in enumerate(sizes):
        hint = hints[i] if hints else None
        out.append([
            Attempt(task_id=tasks[i].id, group=i, index=j, text=s.text, completion_ids=s.completion_ids,
                    logprobs=tuple(round(x, 6) for x in s.logprobs), finished=s.finished, hint=hint,
                    policy_version=run.policy_version)
            for j, s in enumerate(samples[k : k + size])
        ])
        k += size
    return out


def sample_step_groups(run: Run, tasks: Sequence[Task], sizes: Sequence[int], scaffolds: Sequence[Hint | None],
                       hinted: Sequence[int]) -> tuple[list[GroupRecord], dict[int, tuple[Hint, list[Attempt]]]]:
    """One batched sampling call for the step: each task's no-hint attempts and, for a scaffolded
    task, `hinted[i]` of its group sampled with the scaffold hint instead."""
    cfg = run.cfg
    plain = [size - k if h is not None else size for size, h, k in zip(sizes, scaffolds, hinted, strict=True)]
    scaffolded = [i for i, h in enumerate(scaffolds) if h is not None]
    samples = sample_groups(run, [*tasks, *(tasks[i] for i in scaffolded)],
                            [*plain, *(sizes[i] - plain[i] for i in scaffolded)],
                            [*([None] * len(tasks)), *(scaffolds[i] for i in scaffolded)])
    groups = [GroupRecord(task, i, samples[i], [], merge_failed=cfg.hints.merge_failed, scaffold=scaffolds[i] is not None)
              for i, task in enumerate(tasks)]
    hinted_parts: dict[int, tuple[Hint, list[Attempt]]] = {}
    for i, attempts in zip(scaffolded, samples[len(tasks):], strict=True):
        hint = scaffolds[i]
        assert hint is not None
        hinted_parts[i] = (hint, [replace(a, group=i, index=plain[i] + j) for j, a in enumerate(attempts)])
    return groups, hinted_parts


def _hinted_count(size: int, share: float) -> int:
    """Attempts of a scaffolded group that see the hint: at least one, and at least one without."""
    return min(max(round(size * share), 1), size - 1) if size > 1 else 0


def _staircase_cap(run: Run, task: Task) -> int:
    return min(run.cfg.hints.max_level, run.hints.max_level(task))


def staircase_hints(run: Run, tasks: Sequence[Task], rng: np.random.Generator) -> list[Hint | None]:
    """The scaffold hint of each task's bucket at its current staircase level (None at level 0)."""
    out: list[Hint | None] = []
    for task in tasks:
        level = min(run.staircase.get(task.bucket, 0), _staircase_cap(run, task))
        out.append(run.hints.hint(task, level, [], run.pool, rng) if level > 0 else None)
    return out


def adaptive_scaffolds(run: Run, tasks: Sequence[Task], sizes: Sequence[int], rng: np.random.Generator,
                       ) -> tuple[list[Hint | None], list[int]]:
    """Per task, the hint at the top rung allowed and how many of its attempts see it: the fewest for
    which the whole group is expected to fail with probability at most `hints.adaptive.target`, from
    the current pass rates with and without the hint, per `hints.adaptive.by` (`scaffold_planner`; 0,
    and no hint, once the task's kind passes alone)."""
    hints: list[Hint | None] = []
    counts: list[int] = []
    for task, size in zip(tasks, sizes, strict=True):
        k = run.scaffold(task, size)
        hint = run.hints.hint(task, _staircase_cap(run, task), [], run.pool, rng) if k else None
        hints.append(hint)
        counts.append(k if hint is not None else 0)
    return hints, counts


def scaffold_planner(cfg: RunConfig, rates: PassRates) -> Callable[[Task, int], int]:
    """How many attempts of a group of `size` the adaptive scaffold hints for a task, from the live
    pass-rate estimates in `rates` (always 0 in any other hint mode). The selector plans with it too."""
    a = cfg.hints.adaptive
    if not (cfg.hints.enabled and cfg.hints.mode in ("adaptive", "rescue")):
        return lambda task, size: 0

    def hinted(task: Task, size: int) -> int:
        key, parent = _rate_keys(cfg, task)
        return scaffold_size(size, rates.rate(key, hinted=False, parent=parent),
                             rates.rate(key, hinted=True, parent=parent), a.target, int(size * a.max_share))

    return hinted


def _rate_keys(cfg: RunConfig, task: Task) -> tuple[str, str | None]:
    """The pass-rate key of a task and the key it shrinks toward (`hints.adaptive.by`)."""
    by = cfg.hints.adaptive.by
    return (task.bucket, None) if by == "bucket" else (task_category(task, by), task.bucket)


def _observed_passes(run: Run, groups: Sequence[GroupRecord]) -> dict[tuple[str, bool], list[bool]]:
    """This step's scored attempts as pass/fail, by (rate key, hinted): the bucket's, and the shape's
    too when rates are kept per shape."""
    seen: dict[tuple[str, bool], list[bool]] = {}
    for g in groups:
        key, parent = _rate_keys(run.cfg, g.task)
        keys = [key] if parent is None else [key, parent]
        parts = [(False, g.grades), *((True, grades) for _hint, _attempts, grades in g.rerolls)]
        for hinted, grades in parts:
            passed = [s >= PASS for s in _scored(grades)]
            for k in keys:
                seen.setdefault((k, hinted), []).extend(passed)
    return seen


def update_staircase(run: Run, groups: Sequence[GroupRecord]) -> None:
    """At most one rung per bucket and step: up when every group of the bucket failed throughout
    (hinted attempts included), down once a no-hint attempt of the bucket passed; hints fade as the
    student stops needing them."""
    by_bucket: dict[str, list[GroupRecord]] = {}
    for g in groups:
        by_bucket.setdefault(g.task.bucket, []).append(g)
    for bucket, members in by_bucket.items():
        level = run.staircase.get(bucket, 0)
        if all(_all_fail(g.trained[1]) for g in members):
            run.staircase[bucket] = min(level + 1, min(_staircase_cap(run, g.task) for g in members))
        elif level > 0 and any(s >= PASS for g in members for s in _scored(g.grades)):
            run.staircase[bucket] = level - 1


def reroll_stuck_groups(run: Run, groups: Sequence[GroupRecord], rng: np.random.Generator) -> None:
    """Guided re-rolls: escalate the hint level only as far as needed to get a mixed group."""
    cfg = run.cfg
    stuck = [g for g in groups if _all_fail(g.grades)]
    level = 1
    while stuck and level <= cfg.hints.max_level:
        batch, hints = [], []
        for g in stuck:
            failed = [a.text for a in g.attempts]
            hint = None
            if level <= run.hints.max_level(g.task):
                hint = run.hints.hint(g.task, level, failed, run.pool, rng)
            if hint is not None:
                batch.append(g)
                hints.append(hint)
        left = _budget_left(run)
        if left is not None:  # re-roll only the groups the rollout budget can still pay for
            keep = np.cumsum([_reroll_size(cfg, g) for g in batch]) <= left
            batch = [g for g, k in zip(batch, keep, strict=True) if k]
            hints = [h for h, k in zip(hints, keep, strict=True) if k]
        if not batch:
            break
        sizes = [_reroll_size(cfg, g) for g in batch]
        rerolled = sample_groups(run, [g.task for g in batch], sizes, hints)
        still_stuck = []
        for g, hint, attempts in zip(batch, hints, rerolled, strict=True):
            attempts = [replace(a, group=g.grp) for a in attempts]
            grades = [run.grade(g.task, a.text) for a in attempts]
            g.rerolls.append((hint, attempts, grades))
            if _all_fail(grades):
                still_stuck.append(g)  # too hard even with this hint: escalate
            # all-pass with a hint: a stronger hint cannot add signal, so stop here
        stuck = still_stuck
        level += 1


def rescue_stuck_groups(run: Run, groups: Sequence[GroupRecord], rng: np.random.Generator) -> None:
    """`hints.mode: rescue`: a group that failed entirely, its scaffolded attempts included, gets one
    guided re-roll at the top rung allowed (`hints.reroll_share` of its size, fresh worked examples),
    merged into the group: its failures keep their negative credit beside the rescued passes. The
    re-rolls are extra rollouts, paid from the budget while it lasts."""
    stuck = [g for g in groups if _all_fail(g.trained[1])]
    batch, hints, sizes = [], [], []
    left = _budget_left(run)
    for g in stuck:
        attempts = g.trained[0]
        hint = run.hints.hint(g.task, _staircase_cap(run, g.task), [a.text for a in attempts], run.pool, rng)
        size = max(1, round(len(attempts) * run.cfg.hints.reroll_share))
        if hint is None or (left is not None and sum(sizes) + size > left):
            continue
        batch.append(g)
        hints.append(hint)
        sizes.append(size)
    if not batch:
        return
    for g, hint, attempts in zip(batch, hints, sample_groups(run, [g.task for g in batch], sizes, hints), strict=True):
        start = len(g.trained[0])
        attempts = [replace(a, group=g.grp, index=start + j) for j, a in enumerate(attempts)]
        g.rerolls.append((hint, attempts, [run.grade(g.task, a.text) for a in attempts]))
        g.scaffold = g.rescued = True  # trained whole: one baseline for all its attempts


def _reroll_size(cfg: RunConfig, g: GroupRecord) -> int:
    """Attempts in a guided re-roll: `hints.reroll_share` of the group (at least one)."""
    return max(1, round(len(g.attempts) * cfg.hints.reroll_share))


def branch_rollouts(run: Run, task: Task, prefix: tuple[int, ...], k: int) -> list[float | None]:
    """Monte Carlo credit: k continuations of the no-hint prompt plus a completion prefix, graded.
    They are extra rollouts and count against the run's rollout budget."""
    cfg = run.cfg
    prompt = prompt_ids(run, task, None) + list(prefix)
    remaining = max(cfg.sampling.max_new_tokens - len(prefix), 1)
    samples = run.policy.sample([prompt] * k, max_new_tokens=remaining, temperature=cfg.sampling.temperature,
                                top_p=cfg.sampling.top_p)
    run.rollouts += len(samples)
    head = run.policy.tokenizer.decode(list(prefix), skip_special_tokens=True)
    return [run.grade(task, head + s.text).score for s in samples]


def _train_items(run: Run, groups: Sequence[GroupRecord], credit_groups: Sequence[Group],
                 rows: Sequence[Sequence[float]]) -> list[TrainItem]:
    items, k = [], 0
    for g, cg in zip(groups, credit_groups, strict=True):
        prompt = tuple(prompt_ids(run, g.task, None))
        for a in cg.attempts:
            items.append(TrainItem(group=g.grp, prompt_ids=prompt, completion_ids=a.completion_ids,
                                   advantages=tuple(rows[k]), sample_logprobs=a.logprobs,
                                   guided=a.hint is not None))
            k += 1
    return items


# ----------------------------------------------------------------------------------- set-up


def build_run(cfg: RunConfig, run_dir: str | Path, *, resume: bool = False) -> Run:
    run_dir = Path(run_dir)
    _check_loop_support(cfg)
    credit_sources = build_credit_sources(cfg.credit)  # a bad critic or step-reward source fails before loading
    # Plug-ins next, for the same reason: a bad name or argument must fail before a run directory,
    # a store or a model exists.
    a = cfg.hints.adaptive
    pass_rates = PassRates(forget=a.forget, prior=a.prior, strength=a.strength)
    scaffold = scaffold_planner(cfg, pass_rates)
    selector = build_selector(cfg.curriculum.selector.name, dict(cfg.curriculum.selector.args),
                              SelectorContext(group_size=cfg.sampling.group_size, hinted=scaffold))
    budget = build_budget(cfg.curriculum.budget.name, dict(cfg.curriculum.budget.args)) if cfg.curriculum.budget else None
    hints = build_hint_source(cfg.hints.source.name, dict(cfg.hints.source.args)) if cfg.hints.enabled else None
    credit = build_assigner(cfg.credit.assigner.name, dict(cfg.credit.assigner.args))
    segmenter = None
    if cfg.credit.segmenter is not None:
        from mentor.segment import build_segmenter

        segmenter = build_segmenter(cfg.credit.segmenter.name, dict(cfg.credit.segmenter.args))
    grade = _build_grader(cfg)
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
    else:
        pool, heldout = load_task_mix(cfg.tasks, cfg.seed)
        plugins = {"selector": cfg.curriculum.selector.model_dump(), "credit": cfg.credit.assigner.model_dump(),
                   "hints": cfg.hints.source.model_dump() if cfg.hints.enabled else None,
                   "budget": cfg.curriculum.budget.model_dump() if cfg.curriculum.budget else None,
                   "reward": cfg.reward.model_dump()}
        store = RunStore.create(run_dir, json.dumps(cfg.model_dump(mode="json"), sort_keys=True), cfg.hash(),
                                plugins)
        store.save_tasks(pool, heldout)
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
    return Run(cfg=cfg, run_dir=run_dir, store=store, policy=policy, optimizer=optimizer, pool=pool,
               heldout=heldout, grade=grade, selector=selector, budget=budget, hints=hints, credit=credit,
               reference=reference, task_by_id={t.id: t for t in pool}, segmenter=segmenter,
               credit_sources=credit_sources, pass_rates=pass_rates, scaffold=scaffold)


# Assigners whose inputs the loop must be given: (config key, what it supplies, how to set it). Checked
# up front rather than failing at the first step after minutes of loading.
_LOOP_NEEDS = {
    "critique": ("credit.critic", "a critic (a judge that lists wrong steps with quotes)",
                 "set credit.critic, e.g. {name: openai, args: {url: http://localhost:8000/v1, model: NAME}}"),
    "min_form": ("credit.step_rewards", "a per-step reward source",
                 "set credit.step_rewards to {name: monte_carlo, args: {k: 4}} or {name: critique} with credit.critic"),
}


def _check_loop_support(cfg: RunConfig) -> None:
    name = cfg.credit.assigner.name
    if name not in _LOOP_NEEDS:
        return
    key, what, fix = _LOOP_NEEDS[name]
    if getattr(cfg.credit, key.split(".")[-1]) is None:
        from mentor.errors import ConfigError

        raise ConfigError(f"credit assigner '{name}' needs {what}, but {key} is not set.", where=key,
                          fix=f"{fix}; or choose another credit.assigner.name")


def _build_grader(cfg: RunConfig) -> GradeFn:
    if cfg.reward.kind == "rubric":
        from mentor.grade import load_grader

        if not cfg.reward.rubric:
            from mentor.errors import ConfigError

            raise ConfigError("reward.kind is 'rubric' but no reward.rubric file is named.", where="reward.rubric",
                              fix="set reward.rubric to a rubric YAML or locked bundle, e.g. examples/rubrics/math_answer.yaml")
        grader = load_grader(cfg.reward.rubric)
        return grader.grade
    prefix = cfg.reward.answer_prefix
    return lambda task, text: answer_grade(task, text, prefix)


def resume_run(run: Run) -> int:
    """Bring a reopened run to its last committed step: load the newest checkpoint at or before it,
    then replay the updates of the later steps from their stored attempts (no sampling, no grading:
    the store holds the exact tokens, log-probs and advantages). Returns the last committed step."""
    last = run.store.last_step()
    ckpt_step = checkpoint.load_checkpoint(run.run_dir, run.policy.model, run.optimizer, upto_step=last)
    if ckpt_step:
        run.policy.sync_sampler()
    for step in range(ckpt_step + 1, last + 1):
        items = _items_from_store(run, step)
        grpo_update(run.policy, run.optimizer, items, run.cfg.optim, temperature=run.cfg.sampling.temperature,
                    gamma_quantile=run.cfg.hints.gamma_quantile, gamma=run.cfg.hints.gamma, reference=run.reference,
                    guided_weight=run.cfg.hints.guided_weight)
    run.policy_version = last
    run.rollouts = run.store.rollouts_at(last)
    if last:
        state = run.store.step_state(last)
        run.selector.load_state_dict(state.get("selector", {}))
        run.staircase = {str(k): int(v) for k, v in state.get("staircase", {}).items()}
        run.pass_rates.load_state_dict(state.get("pass_rates", {}))
    return last


def _items_from_store(run: Run, step: int) -> list[TrainItem]:
    items = []
    prompts: dict[str, tuple[int, ...]] = {}
    for a in run.store.attempts(step):
        if not a["trained"] or a["token_advantages"] is None:
            continue
        task = run.task_by_id[a["task_id"]]
        if task.id not in prompts:
            prompts[task.id] = tuple(prompt_ids(run, task, None))
        items.append(TrainItem(group=a["grp"], prompt_ids=prompts[task.id], completion_ids=tuple(a["completion_ids"]),
                               advantages=tuple(a["token_advantages"]), sample_logprobs=tuple(a["logprobs"]),
                               guided=a["hint_level"] > 0))
    return items


def save_checkpoint(run: Run, step: int) -> None:
    # an HF directory (checkpoints/step-N/, optimizer.pt beside the weights); the newest only
    checkpoint.save_checkpoint(run.run_dir, step, run.policy.model, run.policy.tokenizer, run.optimizer)


def train(cfg: RunConfig, run_dir: str | Path, *, resume: bool = False,
          on_step: Callable[[int, dict[str, Any]], None] | None = None,
          on_phase: Callable[[str], None] | None = None) -> Run:
    """Run (or resume) a whole training run; returns the run with its store still open."""
    notify = on_phase or (lambda msg: None)
    notify("loading the student and the tasks")
    run = build_run(cfg, run_dir, resume=resume)
    start = resume_run(run) if resume else 0
    if start == 0 and not run.store.evals():
        notify("evaluating the student before training")
        run.store.save_eval(evaluate(run.policy, run.heldout, cfg, step=0, rollouts=0, grade=run.grade))
    step = start
    while not (step and is_last_step(cfg, step, run.rollouts)) and step < cfg.optim.steps:
        step += 1
        metrics = train_step(run, step)
        if on_step:
            on_step(step, metrics)
    if step and is_last_step(cfg, step, run.rollouts):
        save_checkpoint(run, run.store.last_step())
        run.store.set_meta("status", "finished")
    return run


# ----------------------------------------------------------------------------------- helpers


def is_last_step(cfg: RunConfig, step: int, rollouts: int) -> bool:
    """Last step: `steps` reached, or the rollout budget cannot pay for another step's no-hint
    groups (so a budgeted run never ends above its budget)."""
    budget = cfg.optim.rollout_budget
    step_cost = cfg.sampling.tasks_per_step * cfg.sampling.group_size
    return step >= cfg.optim.steps or (budget is not None and rollouts + step_cost > budget)


def _budget_left(run: Run) -> int | None:
    budget = run.cfg.optim.rollout_budget
    return None if budget is None else budget - run.rollouts


def _branch_cap(run: Run) -> int:
    """Monte Carlo branches this step may sample: the configured cap, and never more than the budget
    has left (which may be 0)."""
    left = _budget_left(run)
    cap = run.cfg.credit.max_extra_rollouts
    return cap if left is None else max(min(cap, left), 0)


def _user_text(cfg: RunConfig, task: Task, hint: Hint | None) -> str:
    text = cfg.prompt.template.format(prompt=task.prompt)
    return render_hinted_prompt(text, hint) if hint is not None else text


def prompt_ids(run: Run, task: Task, hint: Hint | None) -> list[int]:
    """The prompt the student sees: worked-example hints as earlier chat turns, other hints as text."""
    cfg = run.cfg
    if hint is not None and hint.shots and cfg.prompt.chat:
        history = [(cfg.prompt.template.format(prompt=q), a) for q, a in hint.shots]
        return run.policy.render(cfg.prompt.template.format(prompt=task.prompt), cfg.prompt, history)
    return run.policy.render(_user_text(cfg, task, hint), cfg.prompt)


def _group_sizes(run: Run, tasks: Sequence[Task]) -> list[int]:
    g = run.cfg.sampling.group_size
    if run.budget is None:
        return [g] * len(tasks)
    return list(run.budget.allocate(expected_pass_rates(run.selector, tasks), g * len(tasks)))


def _scored(grades: Sequence[Grade]) -> list[float]:
    return [g.score for g in grades if g.score is not None]


def _all_fail(grades: Sequence[Grade]) -> bool:
    s = _scored(grades)
    return bool(s) and max(s) < PASS


def _is_mixed(grades: Sequence[Grade]) -> bool:
    s = _scored(grades)
    return len(s) >= 2 and (max(s) - min(s)) > 1e-6


def _outcomes(g: GroupRecord, trained: Sequence[Attempt], rows: Sequence[Sequence[float]]) -> list[GroupOutcome]:
    """What the curriculum learns from a group: its no-hint attempts, always reported with
    `hinted=False` (even all-fail and re-rolled: that failure *is* the difficulty evidence), and, when
    the group had hinted attempts, those as a second outcome with `hinted=True`, which the selectors
    keep out of difficulty estimates (a hinted pass says little about the task alone) and the bandit
    out of its reward unless asked. Each carries the mean |advantage| of its own trained attempts."""
    def mean_abs(hinted: bool) -> float:
        own = [r for a, r in zip(trained, rows, strict=True) if (a.hint is not None) == hinted]
        return float(np.mean([np.mean(np.abs(r)) if len(r) else 0.0 for r in own])) if own else 0.0

    def outcome(grades: Sequence[Grade], hinted: bool) -> GroupOutcome:
        scores = _scored(grades)
        return GroupOutcome(task=g.task, rewards=tuple(gr.score for gr in grades), passed=sum(s >= PASS for s in scores),
                            scored=len(scores), mean_abs_advantage=mean_abs(hinted), hinted=hinted)

    out = [outcome(g.grades, hinted=False)]
    if g.rerolls:
        out.append(outcome([gr for _, _, grades in g.rerolls for gr in grades], hinted=True))
    return out


def _step_metrics(groups: Sequence[GroupRecord], advantages: Any, update: dict[str, float], rollouts: int,
                  reliance: float | None) -> dict[str, Any]:
    all_grades = [gr for g in groups for gr in g.grades] + [gr for g in groups for _, _, grs in g.rerolls for gr in grs]
    no_hint = [gr for g in groups for gr in g.grades]
    signal = sum(_is_mixed(g.trained[1]) for g in groups)
    hinted_kept = sum(1 for g in groups if g.rerolls and _is_mixed(g.trained[1]))
    scored = _scored(no_hint)
    return {
        "groups": len(groups),
        "signal_groups": signal,
        "signal_share": signal / max(len(groups), 1),
        "nohint_signal_groups": sum(_is_mixed(g.grades) for g in groups),
        "hinted_groups": sum(1 for g in groups if g.rerolls),
        # share of the step's sampled attempts that saw a hint (re-rolls or a scaffold's hinted part)
        "hinted_attempt_share": sum(len(att) for g in groups for _, att, _ in g.rerolls) / max(len(all_grades), 1),
        "hint_rescued_groups": hinted_kept,
        "rescue_rerolls": sum(g.rescued for g in groups),
        "rescue_mixed": sum(g.rescued and _is_mixed(g.trained[1]) for g in groups),
        "hint_levels": [max((h.level for h, _, _ in g.rerolls), default=0) for g in groups],
        "mean_reward": float(np.mean(scored)) if scored else None,
        "pass_rate": float(np.mean([s >= PASS for s in scored])) if scored else None,
        "format_rate": float(np.mean([gr.extracted is not None for gr in no_hint])),
        "unscorable": sum(gr.score is None for gr in all_grades),
        "rollouts": rollouts,
        "credit": {k: v for k, v in dict(advantages.info).items() if k != "step_credit"},
        "update": {k: v for k, v in update.items() if not k.startswith("_")},
        "hint_reliance": reliance,
    }


def _reliance(run: Run, groups: Sequence[GroupRecord]) -> float | None:
    """Hint reliance of this step's correct guided attempts: mean per-token log-prob gap between the
    hinted context they were sampled in and the no-hint context the student is evaluated in."""
    with_hint, without = [], []
    for g in groups:
        attempts, grades = g.trained
        correct = [a for a, gr in zip(attempts, grades, strict=True) if a.hint is not None and (gr.score or 0) >= PASS]
        if not correct:
            continue
        prompt = prompt_ids(run, g.task, None)
        with torch.no_grad():
            lps = run.policy.completion_logprobs(prompt, [a.completion_ids for a in correct], run.cfg.sampling.temperature)
        for a, lp in zip(correct, lps, strict=True):
            without.append(float(lp.mean()))
            with_hint.append(float(np.mean(a.logprobs)))
    if not with_hint:
        return None
    return float(hint_reliance(without, with_hint))


def _attempt_rows(groups: Sequence[GroupRecord], credit_groups: Sequence[Group],
                  rows: Sequence[Sequence[float]]) -> list[AttemptRow]:
    trained_adv: dict[tuple[int, int, int], Sequence[float]] = {}
    k = 0
    for g, cg in zip(groups, credit_groups, strict=True):
        for a in cg.attempts:
            trained_adv[(g.grp, a.index, a.hint.level if a.hint else 0)] = rows[k]
            k += 1
    out = []
    for g in groups:
        sets = [(g.attempts, g.grades)] + [(att, grs) for _, att, grs in g.rerolls]
        for attempts, grades in sets:
            for a, gr in zip(attempts, grades, strict=True):
                level = a.hint.level if a.hint else 0
                adv = trained_adv.get((g.grp, a.index, level))
                out.append(AttemptRow(
                    task_id=a.task_id, grp=g.grp, idx=a.index, hint_level=level,
                    hint_kind=a.hint.kind if a.hint else None, hint_text=a.hint.text if a.hint else None,
                    text=a.text, completion_ids=a.completion_ids, logprobs=a.logprobs, finished=a.finished,
                    reward=gr.score, components=dict(gr.components), extracted=gr.extracted,
                    unscorable_reason=gr.unscorable_reason,
                    advantage=float(np.mean(adv)) if adv else None, token_advantages=adv,
                    trained=adv is not None, policy_version=a.policy_version,
                ))
    return out


def _state(run: Run) -> dict[str, Any]:
    return {"selector": run.selector.state_dict(), "policy_version": run.policy_version,
            "staircase": dict(run.staircase), "pass_rates": run.pass_rates.state_dict()}
