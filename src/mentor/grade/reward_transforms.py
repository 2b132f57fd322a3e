"""Baselines and transforms around combined rewards: majority vote, a per-prompt reference quantile, and
the log-sigmoid transform that makes summed rewards a soft AND (arXiv 2402.00742)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mentor.errors import InputError


def _none_for_nan(p: NDArray[np.float64]) -> tuple[float | None, ...]:
    return tuple(None if math.isnan(v) else float(v) for v in p.tolist())



def majority_vote(votes: ArrayLike) -> tuple[float | None, ...]:
    """The baseline: the share of non-abstaining verifiers voting 'correct' per attempt ([n, k] of 0/1/NaN).

    None where all abstained. Thresholding it at 0.5 is majority vote; a tie is exactly 0.5.
    """
    v = np.asarray(votes, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nansum(v, axis=1) / (~np.isnan(v)).sum(axis=1)
    return _none_for_nan(share)


def reference_quantile(samples: Sequence[ArrayLike], quantile: float = 0.5) -> NDArray[np.float64]:
    """Per-prompt reference rewards r_ref: a quantile of each prompt's reference rewards.

    `samples[p]` holds the rewards of prompt p's reference (e.g. base-policy) completions, [s] or
    [s, k] for k properties; None/NaN entries are ignored. Returns [P] or [P, k]; NaN where a prompt has
    no reference reward (its transformed rewards then abstain).
    """
    if not 0.0 <= quantile <= 1.0:
        raise InputError(f"quantile must be in [0, 1], got {quantile}", where="quantile", fix="e.g. 0.5")
    out = []
    for group in samples:
        g = np.array(group, dtype=float)
        if g.size == 0 or np.isnan(g).all(axis=0).any():
            out.append(np.full(g.shape[1:] if g.ndim > 1 else (), np.nan))
            continue
        out.append(np.nanquantile(g, quantile, axis=0))
    return np.array(out, dtype=float)


def log_sigmoid_transform(r: ArrayLike, r_ref: ArrayLike) -> tuple[float | None, ...]:
    """u = Σ_k log σ(r_k − r_ref,k): transformed rewards summed across properties (arXiv 2402.00742).

    `r` is [n] (one property) or [n, k]; `r_ref` the reference reward of each attempt's prompt: a scalar,
    [n] (one per attempt, shared by its properties), or [n, k]. Typically r_ref is a quantile of the
    base policy's rewards on that prompt (`reference_quantile`), expanded to the prompt's attempts.

    Why the transform: log σ saturates at 0 once r is well above the reference, so pushing an already
    good property further earns almost nothing, while a property below its reference costs about
    r − r_ref. Summed across properties this is a soft AND ("good in every property"): one excellent
    property cannot buy off a bad one, unlike a plain sum of raw rewards. The transform is meant for
    rewards on a logit-like scale (reward-model outputs); for probabilities p ∈ (0, 1) pass logit(p).

    u ≤ 0 always. An attempt abstains (None) if any of its properties, or its reference, is missing:
    "good in every property" cannot be judged with one property unknown, and a missing one is not a 0.
    """
    x = np.array(r, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise InputError(f"rewards must be [n] or [n, properties], got shape {x.shape}", where="r",
                         fix="one row per attempt")
    ref = np.array(r_ref, dtype=float)
    if ref.ndim == 1:
        if len(ref) != x.shape[0]:
            raise InputError(f"r_ref has {len(ref)} entries for {x.shape[0]} attempts", where="r_ref",
                             fix="give each attempt its prompt's reference reward (or an [n, k] array)")
        ref = ref[:, None]
    try:
        diff = x - ref
    except ValueError:
        raise InputError(f"r_ref of shape {ref.shape} does not match rewards of shape {x.shape}", where="r_ref",
                         fix="use a scalar, [n] or [n, k]") from None
    with np.errstate(invalid="ignore"):  # NaN (a missing property) is handled below
        u = -np.logaddexp(0.0, -diff)  # log σ(d), stable for large |d|
    total = np.where(np.isnan(u).any(axis=1), np.nan, np.nansum(u, axis=1))
    return _none_for_nan(total)
