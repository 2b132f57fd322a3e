"""Held-out evaluation: greedy accuracy and pass@k without hints, with a bootstrap interval over tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mentor.config import RunConfig
from mentor.errors import VerifierError
from mentor.grade.answer import answer_grade
from mentor.stats import bootstrap_mean_ci
from mentor.store import EvalRow
from mentor.student.prompt import prompt_ids
from mentor.types import PASS, Task


def evaluate(policy: Any, tasks: Sequence[Task], cfg: RunConfig, *, step: int, rollouts: int,
             grade: Any = None, pass_k: bool = True) -> EvalRow:
    """Greedy accuracy and, with `pass_k`, pass@k (k samples per task: ~k times the cost, so the
    loop asks for it only before and after training).

    A task whose greedy attempt is unscorable (the grader failed) is left out of the accuracy and of
    `per_task`, never counted as wrong: `n` is the number of tasks scored, so `len(tasks) - n` were
    unscorable. If no task can be scored the evaluation fails loudly instead of reporting 0%.
    """
    grade = grade or (lambda task, text: answer_grade(task, text, cfg.reward.answer_prefix))
    tasks = list(tasks[: cfg.eval.size] if cfg.eval.size else tasks)
    prompts = [prompt_ids(policy, cfg, t) for t in tasks]
    greedy = policy.sample(prompts, max_new_tokens=cfg.sampling.max_new_tokens, greedy=True)
    per_task: dict[str, float] = {}
    reasons: list[str] = []
    for task, sample in zip(tasks, greedy, strict=True):
        g = grade(task, sample.text)
        if g.score is None:
            reasons.append(f"{task.id}: {g.unscorable_reason}")
            continue
        per_task[task.id] = float(g.score)
    if not per_task:
        raise VerifierError(
            f"every held-out attempt at step {step} was unscorable (first: {reasons[0] if reasons else '?'}).",
            where="reward",
            fix="check the verifier or rubric: it fails on every attempt, so nothing can be measured",
        )
    acc = sum(per_task.values()) / len(per_task)
    lo, hi = bootstrap_mean_ci(list(per_task.values()), cfg.eval.bootstrap, seed=cfg.seed)
    pass_at_k = None
    k = cfg.eval.pass_k
    if k > 1 and pass_k:
        # k samples per task at the training temperature; with n = k samples the unbiased pass@k
        # estimator reduces to "any of the k is correct". Unscorable samples are left out, and a
        # task none of whose samples could be scored leaves the denominator.
        samples = policy.sample([p for p in prompts for _ in range(k)], max_new_tokens=cfg.sampling.max_new_tokens,
                                temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p)
        hits, counted = 0, 0
        for i, task in enumerate(tasks):
            scores = [s for s in (grade(task, x.text).score for x in samples[i * k : (i + 1) * k]) if s is not None]
            if scores:
                counted += 1
                hits += any(s >= PASS for s in scores)
        pass_at_k = hits / counted if counted else None
    return EvalRow(step=step, rollouts=rollouts, accuracy=acc, ci_lo=lo, ci_hi=hi, pass_k=pass_at_k,
                   k=k if pass_at_k is not None else None, n=len(per_task), per_task=per_task)
