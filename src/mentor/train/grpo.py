"""The GRPO update on token-level advantages.

Groups whose advantages are all zero (no learning signal) are not even run through the model: they
contribute nothing and, because the loss is normalised by the number of tokens that *do* carry
signal, they do not dilute it either.

Guided attempts (sampled with a hint) are scored under the **no-hint** prompt. Their importance
ratio r = π_θ(o_t | q, o_<t) / π_old(o_t | q, h, o_<t) is shaped as r / (r + γ) with a fixed γ
(LUFFY's policy shaping; Guide-GRPO takes a batch quantile, which measured worse here:
docs/decisions/hints.md), without clipping: bounded in [0, 1), so a token the no-hint policy finds
very unlikely cannot blow up the update. A guided attempt trains only where it did better than its
group: its negative advantages are dropped (set to 0), as LUFFY learns from off-policy traces only
when they are right; the student's own failures carry the negative signal (docs/decisions/baselines.md,
"Guided attempts teach only upward"). Ordinary tokens use the usual
clipped ratio against the policy that sampled them. With `hints.loss_prompt: hinted` (the QuestA-style
baseline) a guided attempt is an ordinary item under the hinted prompt it was sampled with.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mentor.config import OptimConfig


@dataclass(frozen=True)
class TrainItem:
    """One attempt, ready for the loss."""

    group: int  # items of one group and one prompt are run as one batch
    prompt_ids: tuple[int, ...]  # [P] the NO-HINT prompt, for guided attempts too (unless hints.loss_prompt: hinted)
    completion_ids: tuple[int, ...]  # [T]
    advantages: tuple[float, ...]  # [T]
    sample_logprobs: tuple[float, ...]  # [T] π_old under the context it was sampled in
    guided: bool


def shape_guided_log_ratio(log_ratio: torch.Tensor, gamma: float) -> torch.Tensor:
    """Guide-GRPO's r / (r + γ) (monotone in r, 0 at r = 0, 1/2 at r = γ, below 1), computed from
    log r as sigmoid(log r − log γ): the same value, but it never overflows (exp of a large
    log-ratio) and keeps its gradient where r/(r+γ) rounds to 1."""
    return torch.sigmoid(log_ratio - math.log(gamma))


def guided_credit(advantages: Sequence[float]) -> tuple[float, ...]:
    """What a guided attempt trains on: its credit where it beat its group, 0 elsewhere (module doc).
    Mentor's loss and the TRL host both take it from here."""
    return tuple(max(a, 0.0) for a in advantages)


def grpo_update(
    policy: Any,
    optimizer: torch.optim.Optimizer,
    items: Sequence[TrainItem],
    cfg: OptimConfig,
    *,
    temperature: float = 1.0,
    gamma: float = 0.1,
    reference: Any | None = None,
) -> dict[str, float]:
    """Run `cfg.epochs` optimisation passes over `items`; returns metrics of the last pass."""
    items = [dataclasses.replace(it, advantages=guided_credit(it.advantages)) if it.guided else it for it in items]
    live = [it for it in items if any(abs(a) > 0 for a in it.advantages)]
    metrics: dict[str, float] = {"trained_attempts": float(len(live)), "loss": 0.0, "grad_norm": 0.0}
    if not live:
        return metrics
    # one forward batch per (group, prompt): a group trained under several prompts (hinted ones as
    # sampled, hints.loss_prompt: hinted) is run once per prompt
    groups: dict[tuple[int, tuple[int, ...]], list[TrainItem]] = defaultdict(list)
    for it in live:
        groups[(it.group, it.prompt_ids)].append(it)
    n_tokens = sum(len(it.completion_ids) for it in live)
    # π_old for ordinary tokens: the current policy before the first pass (exact on-policy ratio 1,
    # computed in the training numerics); for guided tokens: the hinted sampling log-probs.
    old: dict[tuple[int, tuple[int, ...]], list[torch.Tensor]] = {}
    ref_logp: dict[tuple[int, tuple[int, ...]], list[torch.Tensor]] = {}

    for _ in range(cfg.epochs):
        optimizer.zero_grad(set_to_none=True)
        logps: dict[tuple[int, tuple[int, ...]], list[torch.Tensor]] = {}
        for key, members in groups.items():
            logps[key] = policy.completion_logprobs(
                members[0].prompt_ids, [m.completion_ids for m in members], temperature
            )
            if key not in old:
                old[key] = [lp.detach() for lp in logps[key]]
                if reference is not None and cfg.kl_coef > 0:
                    with torch.no_grad():
                        ref_logp[key] = [lp.detach() for lp in reference.completion_logprobs(
                            members[0].prompt_ids, [m.completion_ids for m in members], temperature)]
        loss = torch.zeros(())
        clipped, guided_tokens, ratio_sum = 0, 0, 0.0
        for key, members in groups.items():
            for j, (item, logp) in enumerate(zip(members, logps[key], strict=True)):
                adv = torch.tensor(item.advantages, dtype=torch.float32)  # [T]
                if item.guided:
                    log_ratio = logp - torch.tensor(item.sample_logprobs, dtype=torch.float32)
                    ratio = torch.exp(log_ratio.detach())  # for the metrics only
                    per_token = -shape_guided_log_ratio(log_ratio, gamma) * adv
                    guided_tokens += len(adv)
                else:
                    ratio = torch.exp(logp - old[key][j])
                    unclipped = ratio * adv
                    clipped_r = torch.clamp(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv
                    per_token = -torch.minimum(unclipped, clipped_r)
                    clipped += int((unclipped != clipped_r).sum())
                if reference is not None and cfg.kl_coef > 0:
                    delta = ref_logp[key][j] - logp  # k3 estimator of KL(π_θ || π_ref), always >= 0
                    per_token = per_token + cfg.kl_coef * (torch.exp(delta) - delta - 1)
                ratio_sum += float(ratio.detach().sum())
                loss = loss + per_token.sum()
        # token-level normalisation over the whole batch (not per sequence, not per group)
        loss = loss / n_tokens
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        metrics.update(
            loss=float(loss.detach()),
            grad_norm=float(grad_norm),
            clip_frac=clipped / n_tokens,
            mean_ratio=ratio_sum / n_tokens,
            guided_tokens=float(guided_tokens),
            guided_gamma=float(gamma),
            trained_tokens=float(n_tokens),
        )
    policy.sync_sampler()
    return metrics
