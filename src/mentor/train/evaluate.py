"""Held-out evaluation: greedy accuracy and pass@k without hints, with a bootstrap interval over tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mentor.config import RunConfig
from mentor.grade.answer import answer_grade
from mentor.stats import bootstrap_mean_ci
from mentor.store import EvalRow
from mentor.types import Task


def evaluate(policy: Any, tasks: Sequence[Task], cfg: RunConfig, *, step: int, rollouts: int,
             grade: Any = None, pass_k: bool = True) -> EvalRow:
    """Greedy accuracy and, with `pass_k`, pass@k (k samples per task: ~k times the cost, so the
    loop asks for it only before and after training). A grader failure counts as not correct."""
    grade = grade or (lambda task, text: answer_grade(task, text, cfg.reward.answer_prefix))
    tasks = list(tasks[: cfg.eval.size] if cfg.eval.size else tasks)
    prompts = [policy.render(cfg.prompt.template.format(prompt=t.prompt), cfg.prompt) for t in tasks]
    greedy = policy.sample(prompts, max_new_tokens=cfg.sampling.max_new_tokens, greedy=True)
    per_task: dict[str, float] = {}
    for task, sample in zip(tasks, greedy, strict=True):
        g = grade(task, sample.text)
        per_task[task.id] = float(g.score or 0.0) if g.score is not None else 0.0
    acc = sum(per_task.values()) / len(per_task)
    lo, hi = bootstrap_mean_ci(list(per_task.values()), cfg.eval.bootstrap, seed=cfg.seed)
    pass_at_k = None
    k = cfg.eval.pass_k
    if k > 1 and pass_k:
        # k samples per task at the training temperature; with n = k samples the unbiased pass@k
        # estimator reduces to "any of the k is correct".
        samples = policy.sample([p for p in prompts for _ in range(k)], max_new_tokens=cfg.sampling.max_new_tokens,
                                temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p)
        hits = 0
        for i, task in enumerate(tasks):
            scores = [grade(task, s.text).score for s in samples[i * k : (i + 1) * k]]
            hits += any((s or 0.0) >= 1.0 for s in scores)
        pass_at_k = hits / len(tasks)
    return EvalRow(step=step, rollouts=rollouts, accuracy=acc, ci_lo=lo, ci_hi=hi, pass_k=pass_at_k,
                   k=k if pass_at_k is not None else None, n=len(tasks), per_task=per_task)
