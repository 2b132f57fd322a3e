"""Weaver's label model: a two-class latent-variable model over binary verifier votes, fit by EM under
conditional independence; P(correct | votes) is the reward."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mentor.errors import MentorError

_EPS = 1e-6


class CombineError(MentorError):
    """The verifiers cannot be combined (too few usable ones, no shared signal, a bad class balance).

    Kept here rather than in `mentor.errors` because only this module raises it; it is a `MentorError`,
    so the CLI reports it like every other user-facing mistake (exit 2, the fix, no traceback).
    """


@dataclass(frozen=True)
class _EM:
    q: NDArray[np.float64]  # [n'] posterior P(y = 1) of the attempts with a vote
    pi: float
    tpr: NDArray[np.float64]  # [k]
    tnr: NDArray[np.float64]  # [k]
    iterations: int
    converged: bool
    log_likelihood: float


def _posterior(v: NDArray[np.float64], m: NDArray[np.float64], pi: float, tpr: NDArray[np.float64],
               tnr: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """E-step: P(y = 1 | observed votes) and the log-likelihood. Masked (abstained) terms are skipped."""
    from scipy.special import expit

    l1 = math.log(pi) + (m * (v * np.log(tpr) + (1 - v) * np.log1p(-tpr))).sum(axis=1)
    l0 = math.log1p(-pi) + (m * (v * np.log1p(-tnr) + (1 - v) * np.log(tnr))).sum(axis=1)
    return expit(l1 - l0), float(np.logaddexp(l1, l0).sum())


def _em(v: NDArray[np.float64], m: NDArray[np.float64], q: NDArray[np.float64], fixed_pi: float | None,
        smoothing: float, max_iter: int, tol: float) -> _EM:
    """Dawid–Skene EM for two classes and binary votes, from an initial posterior `q`.

    `v` [n', k] votes (0 where abstained), `m` [n', k] 1 where observed. The M-step adds `smoothing`
    pseudo-votes to each side of each accuracy (a Beta prior), which keeps a perfect verifier's TPR off
    exactly 1 (an infinite log-odds would make one vote overrule every other verifier for good).
    """
    pi = fixed_pi if fixed_pi is not None else float(np.clip(q.mean(), _EPS, 1 - _EPS))
    prev: NDArray[np.float64] | None = None
    ll = -math.inf
    iterations = 0
    converged = False
    tpr = tnr = np.full(v.shape[1], 0.5)
    while iterations < max_iter and not converged:
        iterations += 1
        if fixed_pi is None:
            pi = float(np.clip(q.mean(), _EPS, 1 - _EPS))
        w1 = q[:, None] * m
        w0 = (1 - q)[:, None] * m
        tpr = ((w1 * v).sum(0) + smoothing) / (w1.sum(0) + 2 * smoothing)
        tnr = ((w0 * (1 - v)).sum(0) + smoothing) / (w0.sum(0) + 2 * smoothing)
        tpr = np.clip(tpr, _EPS, 1 - _EPS)
        tnr = np.clip(tnr, _EPS, 1 - _EPS)
        q, ll = _posterior(v, m, pi, tpr, tnr)
        params = np.concatenate([[pi], tpr, tnr])
        converged = prev is not None and float(np.max(np.abs(params - prev))) < tol
        prev = params
    return _EM(q, pi, tpr, tnr, iterations, converged, ll)


def _fit_label_model(v: NDArray[np.float64], m: NDArray[np.float64], fixed_pi: float | None, smoothing: float,
                     max_iter: int, tol: float) -> _EM:
    """EM from majority vote, then the guard against label switching.

    The two-class model has a mirror solution (swap the classes, TPR ↔ 1 − TNR) with the same
    likelihood when the prior is free. Majority-vote initialisation already starts on the side where
    verifiers beat chance; if EM still ends where they are worse than chance on average (mean Youden's
    J = TPR + TNR − 1 < 0), restart from the mirrored posterior and keep that if it beats chance.
    """
    q0 = (v * m).sum(1) / m.sum(1)  # share of positive votes among the verifiers that voted
    em = _em(v, m, q0, fixed_pi, smoothing, max_iter, tol)
    if float(np.mean(em.tpr + em.tnr - 1)) >= 0:
        return em
    flipped = _em(v, m, 1 - em.q, fixed_pi, smoothing, max_iter, tol)
    if float(np.mean(flipped.tpr + flipped.tnr - 1)) >= 0:
        return flipped
    raise CombineError(
        "the label model finds the verifiers worse than chance on average (mean TPR + TNR − 1 < 0), so it "
        "cannot tell which class is 'correct'",
        fix="check that a higher score means 'more correct' for every verifier (negate reversed ones), and "
            "that the class balance is right",
    )
