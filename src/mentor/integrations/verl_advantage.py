"""Mentor's GRPO advantages as verl advantage estimators (`algorithm.adv_estimator=mentor_grpo`).

verl 0.9.1 calls a registered estimator (`verl.trainer.ppo.core_algos.register_adv_est`) from
`compute_advantage` as `fn(token_level_rewards=, response_mask=, config=, index=)`: the rewards
[B, T] (the score on the last response token, minus the KL penalty when `use_kl_in_reward`), the
response mask [B, T], the `AlgoConfig`, and `index` [B], the uid shared by one prompt's responses.

- `mentor_grpo`: the group-relative outcome advantage computed by Mentor's own
  `group_advantages` (the one Mentor's loop uses). A NaN score (what `compute_score` returns for an
  unscorable response, `on_unscorable="nan"`) is left out of its group's mean and std and gets a
  zero advantage; a group with fewer than two scorable responses, or no spread, gets zeros.
  Differences from verl's `grpo`, on purpose: the population std (two responses [0, 1] get ±1),
  a group without signal gets 0 (verl gives a lone response its raw score), and
  `algorithm.norm_adv_by_std_in_grpo=False` is Dr.GRPO as in verl.
- `mentor_prefix_tree`: Mentor's prefix-tree credit (TEMPO), token-level. It needs the response
  token ids, which verl 0.9.1 hands to no estimator but GDPO (docs/integrations.md has the
  three-line upstream patch). Without them it raises at the first step rather than quietly
  falling back to outcome credit.

Registration is explicit, `register()`, and runs in every verl process through verl's plugin
entry point (`verl.plugins` → `mentor.integrations.verl_plugin`). This module imports torch only
inside the estimators and verl only inside `register()`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mentor.errors import ConfigError, MissingExtraError
from mentor.teacher.credit.base import group_advantages
from mentor.teacher.credit.prefix_tree import prefix_tree_values

__all__ = ["ESTIMATORS", "mentor_grpo_advantage", "mentor_prefix_tree_advantage", "register"]

# Mentor's tolerance: rewards like [1, 1, 1, 1 - 1e-9] are a group without signal (credit/base.py).
STD_TOL = 1e-6


def _scale_by_std(config: Any) -> bool:
    """`algorithm.norm_adv_by_std_in_grpo` (AlgoConfig or a mapping); GRPO's std scaling by default."""
    if config is None:
        return True
    # verl's AlgoConfig is a Mapping; an OmegaConf DictConfig has .get too
    getter = config.get if isinstance(config, Mapping) or hasattr(config, "get") else None
    value = getter("norm_adv_by_std_in_grpo", True) if getter else getattr(config, "norm_adv_by_std_in_grpo", True)
    return bool(value)


def _groups(index: Any, n: int) -> dict[Any, list[int]]:
    if index is None:
        raise ConfigError("Mentor's verl estimators need the group index (verl's 'uid'), and got none",
                          where="algorithm.adv_estimator",
                          fix="run through verl's trainer, which adds a uid per prompt, or pass index=")
    if len(index) != n:
        raise ConfigError(f"index has {len(index)} entries for {n} responses", where="algorithm.adv_estimator")
    by: dict[Any, list[int]] = {}
    for i, uid in enumerate(index):
        by.setdefault(uid, []).append(i)
    return by


def _sequence_advantages(scores: Sequence[float], index: Any, scale_by_std: bool) -> tuple[list[float], list[bool]]:
    """Per response: its group-relative advantage (0.0 when unscorable) and whether it was scorable."""
    advantages = [0.0] * len(scores)
    scorable = [math.isfinite(s) for s in scores]
    for members in _groups(index, len(scores)).values():
        rewards = [scores[i] if scorable[i] else None for i in members]
        for i, adv in zip(members, group_advantages(rewards, STD_TOL, scale_by_std), strict=True):
            advantages[i] = 0.0 if adv is None else adv
    return advantages, scorable


def mentor_grpo_advantage(token_level_rewards: Any, response_mask: Any, index: Any = None, config: Any = None,
                          **_: Any) -> tuple[Any, Any]:
    """Outcome advantages [B, T] (each response's advantage on its response tokens), returned twice as
    verl's GRPO does (advantages, returns). Extra keywords verl may add are ignored."""
    import torch

    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1).double().tolist()  # [B]; NaN = unscorable
        advantages, _ = _sequence_advantages(scores, index, _scale_by_std(config))
        out = torch.tensor(advantages, dtype=token_level_rewards.dtype, device=token_level_rewards.device)
        out = out.unsqueeze(-1) * response_mask  # [B, T]
    return out, out


def mentor_prefix_tree_advantage(token_level_rewards: Any, response_mask: Any, index: Any = None, config: Any = None,
                                 batch: Any = None, **_: Any) -> tuple[Any, Any]:
    """Prefix-tree (TEMPO) advantages [B, T]: each response's outcome advantage plus, at the tokens where
    its group's responses branch, the change in the mean advantage of the responses sharing the prefix.

    `batch` is verl's tensor batch; its `responses` [B, T] are the token ids. verl 0.9.1 passes it to
    GDPO only (module docstring)."""
    import torch

    responses = None if batch is None else (batch.get("responses") if hasattr(batch, "get") else None)
    if responses is None:
        raise ConfigError("mentor_prefix_tree needs the response token ids, and verl 0.9.1 passes them to no "
                          "advantage estimator but GDPO",
                          where="algorithm.adv_estimator",
                          fix="use algorithm.adv_estimator=mentor_grpo, or apply the upstream patch in "
                              "docs/integrations.md ('Prefix-tree credit in verl')")
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1).double().tolist()
        advantages, scorable = _sequence_advantages(scores, index, _scale_by_std(config))
        mask = response_mask.bool()
        rows = np.zeros(tuple(response_mask.shape), dtype=np.float64)  # [B, T]
        for members in _groups(index, len(scores)).values():
            # The scorable responses of a group with signal build the tree (as in PrefixTreeAssigner);
            # a group without signal has all-zero advantages and keeps its zero rows.
            live = [i for i in members if scorable[i]]
            if not any(advantages[i] != 0.0 for i in live):
                continue
            ids = [responses[i][mask[i]].tolist() for i in live]  # the response's own tokens, no padding
            for i, values in zip(live, prefix_tree_values(ids, [advantages[i] for i in live]), strict=True):
                positions = mask[i].nonzero().flatten().tolist()
                rows[i, positions] = advantages[i] + np.diff(values)
        out = torch.tensor(rows, dtype=token_level_rewards.dtype, device=token_level_rewards.device) * response_mask
    return out, out


ESTIMATORS = {"mentor_grpo": mentor_grpo_advantage, "mentor_prefix_tree": mentor_prefix_tree_advantage}


def register() -> list[str]:
    """Register Mentor's estimators with verl (idempotent); returns their names."""
    try:
        from verl.trainer.ppo.core_algos import register_adv_est
    except ImportError:
        raise MissingExtraError("verl", "verl", "registering Mentor's verl advantage estimators") from None
    for name, fn in ESTIMATORS.items():
        register_adv_est(name)(fn)
    return list(ESTIMATORS)
