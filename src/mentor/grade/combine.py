"""Label-free combination of weak verifiers into one reward, and reward transforms.

A grade often has several imperfect signals for the same attempt: an answer check that only parses
some answers, a regex, two LLM judges, a reward model. Averaging them lets the noisiest one move the
reward as much as the best one; majority vote ignores that one verifier is far better than the rest.
Weaver (arXiv 2506.18203) learns how far to trust each verifier from how they agree with each other,
without labels:

1. normalise each verifier's scores to [0, 1] (`"minmax"` or `"quantile"`, i.e. mid-rank CDF);
2. binarise each at a threshold: the cut whose positive rate is closest to the class balance (the
   (1 − balance) quantile of its scores, with ties kept on one side of the cut);
3. drop verifiers whose positive rate is outside (0.1, 0.9): a verifier that says "correct" to almost
   everything (or nothing) carries no information about which attempt is correct, and makes the
   latent-class model degenerate;
4. fit a two-class latent-variable model (Dawid–Skene EM for binary votes): a hidden label y ∈ {0, 1}
   with prior P(y = 1) = class balance, each verifier j independent given y with TPR_j = P(vote = 1 | y = 1)
   and TNR_j = P(vote = 0 | y = 0). The reward is the posterior P(y = 1 | votes).

Abstention is not a vote. A verifier that abstained on an attempt (NaN score: not applicable, or it
failed) contributes no factor to that attempt's likelihood, so it moves the posterior neither up nor
down; reading it as 0 would make "the check crashed" look like "the student was wrong". An attempt on
which every kept verifier abstained gets reward None (it abstains), not 0 and not the prior.

The class balance decides both the thresholds and the model's prior, so its source is explicit:
`Balance.given(0.3)`, `Balance.estimated()` (the EM's own prior, re-cutting the thresholds until the two
agree) or `Balance.dev(scores, labels)` (a small labelled split; the fitted model is also scored on it).

    combiner = fit_combiner(scores, names=names, balance=Balance.estimated())   # scores [n, m], NaN = abstain
    combiner.rewards          # P(correct | votes) per attempt of the batch, None where all abstained
    combiner.reward({"judge": 0.8, "regex": None, ...})   # a new attempt, same model

What the model assumes, and what breaks it (numbers in docs/decisions/combine.md): verifiers independent given
correctness (a block of verifiers that copy each other's mistakes reads as strong agreement and can
outvote a good verifier); abstention uninformative about correctness (a verifier that abstains mostly
on correct attempts biases its fitted accuracy: turn such abstention into a score of its own); and
verifiers better than chance on average (the two classes are otherwise interchangeable, and the
model's "correct" would be the verifiers' "wrong").

Reward transform (arXiv 2402.00742): `log_sigmoid_transform(r, r_ref)` = Σ_k log σ(r_k − r_ref_k), a
soft AND across properties; see its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mentor.errors import InputError
from mentor.grade.label_model import CombineError, _fit_label_model
from mentor.grade.reward_transforms import (
    _none_for_nan,
    log_sigmoid_transform,
    majority_vote,
    reference_quantile,
)

__all__ = [
    "Balance",
    "BalanceSource",
    "CombineError",
    "Combiner",
    "NormaliseKind",
    "VerifierFit",
    "fit_combiner",
    "log_sigmoid_transform",
    "majority_vote",
    "reference_quantile",
    "score_matrix",
]

BalanceSource = Literal["given", "estimated", "dev"]
NormaliseKind = Literal["minmax", "quantile"]

MIN_VERIFIERS = 3  # a two-class model with conditionally independent binary votes is identifiable from 3 on
MIN_ATTEMPTS = 10  # fewer and the positive rates (and the drop rule) are too coarse to mean anything
_BALANCE_ROUNDS = 10  # re-cuts for an estimated balance; it settled in 2-5 on every benchmark regime
_EPS = 1e-6

_IDENTIFIABILITY = (
    "A latent-class (Dawid–Skene) label model needs at least 3 conditionally independent verifiers to "
    "be identifiable: with 2, many settings of the accuracies and the class balance explain the same "
    "agreement pattern, so P(correct | votes) is not determined."
)
_IDENTIFIABILITY_FIX = (
    "add verifiers that fail in different ways (another judge, a programmatic check, an answer "
    "check), or widen rate_bounds if verifiers were dropped for their positive rate; with fewer than "
    "3, use the single best verifier or a labelled dev set instead of this combiner"
)




# ---------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Balance:
    """Where the class balance P(correct) comes from. Build it with `given`, `estimated` or `dev`.

    Weaver's defaults take the balance from labels without saying so; here the caller has to choose,
    and the choice is reported with the result.
    """

    source: BalanceSource
    value: float | None = None  # the given balance
    dev_scores: tuple[tuple[float, ...], ...] = ()  # [k, m] NaN = abstained, same verifiers as the batch
    dev_labels: tuple[int, ...] = ()  # [k] 1 = correct

    @classmethod
    def given(cls, value: float) -> Balance:
        """A known share of correct attempts (e.g. the student's recent pass rate)."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if isinstance(value, bool) or not 0.0 < v < 1.0:
            raise CombineError(f"a given class balance must be a number strictly between 0 and 1, got {value!r}",
                               where="balance", fix="pass the expected share of correct attempts, e.g. 0.3")
        return cls("given", v)

    @classmethod
    def estimated(cls) -> Balance:
        """Learn the balance as the label model's prior (EM), without labels."""
        return cls("estimated")

    @classmethod
    def dev(cls, scores: ArrayLike, labels: Sequence[int] | ArrayLike) -> Balance:
        """The share of correct attempts in a small labelled split (`scores` [k, m], `labels` [k] of 0/1).

        The scores are kept so the fitted model can be checked against the labels (`dev_accuracy`).
        """
        x = _as_matrix(scores, "dev scores")
        y = np.asarray(labels, dtype=float).reshape(-1)
        if len(y) != x.shape[0]:
            raise CombineError(f"dev split has {x.shape[0]} score rows but {len(y)} labels", where="dev split",
                               fix="give one 0/1 label per row of dev scores")
        if not np.all((y == 0) | (y == 1)):
            raise CombineError("dev labels must be 0 or 1", where="dev split", fix="use 1 = correct, 0 = incorrect")
        if y.min() == y.max():
            raise CombineError(f"every dev label is {int(y[0])}: the class balance would be {y[0]:.0f}",
                               where="dev split", fix="label a dev split with both correct and incorrect attempts")
        rows = tuple(tuple(float(v) for v in row) for row in x)
        return cls("dev", float(y.mean()), rows, tuple(int(v) for v in y))

    @classmethod
    def parse(cls, text: str) -> Balance:
        """`given:0.3` or `estimated` (a dev balance needs labelled data: use `Balance.dev`)."""
        t = text.strip().lower()
        if t == "estimated":
            return cls.estimated()
        if t.startswith("given:"):
            try:
                v = float(t.split(":", 1)[1])
            except ValueError:
                v = math.nan
            if not 0.0 < v < 1.0:
                raise CombineError(f"bad class balance {text!r}: the number after 'given:' must be in (0, 1)",
                                   where="--balance", fix="e.g. --balance given:0.3")
            return cls.given(v)
        raise CombineError(f"unknown class balance source {text!r}", where="--balance",
                           fix="use given:NUMBER, estimated, or dev (with labelled lines)")


def _as_matrix(scores: ArrayLike, what: str) -> NDArray[np.float64]:
    """A float [n, m] matrix with None read as NaN (abstained); infinities are a caller's bug."""
    try:
        x = np.array(scores, dtype=float)  # None -> nan
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numbers or None (abstained): {exc}", where=what,
                         fix="pass an [attempts, verifiers] array, NaN/None where a verifier abstained") from None
    if x.ndim != 2:
        raise InputError(f"{what} must be 2-D [attempts, verifiers], got shape {x.shape}", where=what,
                         fix="one row per attempt, one column per verifier")
    if np.isinf(x).any():
        i, j = np.argwhere(np.isinf(x))[0]
        raise InputError(f"{what} has an infinite score at row {i}, verifier {j}", where=what,
                         fix="use NaN/None for an abstention and finite numbers otherwise")
    return x


def score_matrix(rows: Sequence[Mapping[str, float | None]], names: Sequence[str] | None = None
                 ) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Stack per-attempt {verifier: score} mappings (e.g. `Grade.components`) into an [n, m] matrix.

    A verifier missing from a row, or None there, is an abstention (NaN). Columns follow `names`, or the
    order in which names first appear.
    """
    if names is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        names = tuple(seen)
    cols = {n: j for j, n in enumerate(names)}
    x = np.full((len(rows), len(cols)), np.nan)
    for i, r in enumerate(rows):
        for k, v in r.items():
            if k not in cols:
                raise InputError(f"row {i} has a score for unknown verifier {k!r}", where="scores",
                                 fix=f"use one of {sorted(cols)} or pass names=None")
            if v is not None:
                x[i, cols[k]] = float(v)
    return x, tuple(names)


# ---------------------------------------------------------------------------------------------------
# Result


@dataclass(frozen=True)
class VerifierFit:
    """What the combiner made of one verifier: kept or dropped (and why), its cut, its fitted accuracy.

    `tpr` = P(vote correct | correct) and `tnr` = P(vote incorrect | incorrect) are the label model's
    estimates, fitted without labels; None for a dropped verifier. `knots` is the normaliser: raw scores
    are mapped to [0, 1] by linear interpolation through (raw, normalised) knots, clipped at the ends.
    """

    name: str
    kept: bool
    reason: str  # why it was dropped, or "" when kept
    votes: int  # attempts of the batch on which it did not abstain
    positive_rate: float | None  # share of its votes at or above the threshold
    threshold: float | None  # on the normalised scale: vote = normalised score >= threshold
    raw_threshold: float | None  # the same cut on the verifier's own scale
    tpr: float | None
    tnr: float | None
    knots: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())

    @property
    def balanced_accuracy(self) -> float | None:
        """(TPR + TNR) / 2: 0.5 is chance, whatever the class balance."""
        return None if self.tpr is None or self.tnr is None else (self.tpr + self.tnr) / 2

    def normalise(self, raw: ArrayLike) -> NDArray[np.float64]:
        """Raw scores -> [0, 1] with the normaliser fitted on the batch (NaN stays NaN)."""
        x = np.asarray(raw, dtype=float)
        kx, ky = self.knots
        if not kx:
            return np.full_like(x, np.nan)
        return np.where(np.isnan(x), np.nan, np.interp(x, kx, ky))


@dataclass(frozen=True)
class Combiner:
    """A fitted label model over weak verifiers: the rewards of the batch it was fitted on, and how.

    Reusable: `reward(row)` / `posteriors(matrix)` score new attempts with the same normalisers,
    thresholds, accuracies and prior (no refit), so a batch can be fitted once and applied to the next.
    """

    rewards: tuple[float | None, ...]  # [n] P(correct | votes); None: every kept verifier abstained
    verifiers: tuple[VerifierFit, ...]  # [m] in input order
    class_balance: float  # P(correct): the model's prior
    balance_source: BalanceSource
    threshold_balance: float  # the balance the thresholds were cut at (≈ class_balance unless clamped to rate_bounds)
    normalise: NormaliseKind
    iterations: int  # EM iterations of the final fit
    converged: bool
    log_likelihood: float  # of the kept votes under the fitted model (nats)
    balance_rounds: int = 1  # threshold re-cuts (estimated balance only)
    dev_accuracy: float | None = None  # accuracy of reward >= 0.5 on the dev split (dev balance only)
    dev_n: int = 0  # dev attempts with at least one kept vote

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verifiers)

    @property
    def kept(self) -> tuple[VerifierFit, ...]:
        return tuple(v for v in self.verifiers if v.kept)

    @property
    def dropped(self) -> tuple[VerifierFit, ...]:
        return tuple(v for v in self.verifiers if not v.kept)

    @cached_property
    def _weights(self) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        # log-likelihood ratio of a positive / negative vote, per kept verifier, and the prior log-odds
        tpr = np.array([v.tpr for v in self.kept], dtype=float)
        tnr = np.array([v.tnr for v in self.kept], dtype=float)
        pos = np.log(tpr) - np.log1p(-tnr)
        neg = np.log1p(-tpr) - np.log(tnr)
        return pos, neg, math.log(self.class_balance) - math.log1p(-self.class_balance)

    def votes(self, scores: ArrayLike) -> NDArray[np.float64]:
        """Binary votes of the kept verifiers: [n, k] of 1.0 / 0.0, NaN where a verifier abstained.

        `scores` is [n, m] over all verifiers, in `names` order. Columns follow `kept`.
        """
        x = _as_matrix(scores, "scores")
        if x.shape[1] != len(self.verifiers):
            raise InputError(f"scores have {x.shape[1]} verifiers, the combiner was fitted on {len(self.verifiers)}",
                             where="scores", fix=f"pass columns in this order: {list(self.names)}")
        cols = [j for j, v in enumerate(self.verifiers) if v.kept]
        out = np.full((x.shape[0], len(cols)), np.nan)
        for c, j in enumerate(cols):
            v = self.verifiers[j]
            s = v.normalise(x[:, j])
            assert v.threshold is not None  # kept verifiers always have one
            out[:, c] = np.where(np.isnan(s), np.nan, (s >= v.threshold).astype(float))
        return out

    def posteriors(self, scores: ArrayLike) -> NDArray[np.float64]:
        """P(correct | votes) per row of `scores` [n, m]; NaN where every kept verifier abstained."""
        v = self.votes(scores)
        observed = ~np.isnan(v)
        pos, neg, prior = self._weights
        # Abstention: no factor at all for that verifier (the 0 contribution of a masked term), which is
        # what marginalising an unobserved vote out of a conditionally independent model gives.
        logit = prior + np.where(observed, np.where(v == 1.0, pos, neg), 0.0).sum(axis=1)
        from scipy.special import expit

        return np.where(observed.any(axis=1), expit(logit), np.nan)

    def rewards_for(self, scores: ArrayLike) -> tuple[float | None, ...]:
        """`posteriors` with None for abstained attempts, like `rewards`."""
        return _none_for_nan(self.posteriors(scores))

    def reward(self, row: Mapping[str, float | None] | Sequence[float | None] | ArrayLike) -> float | None:
        """P(correct | votes) for one new attempt; None when every kept verifier abstained.

        `row` is a {verifier: score} mapping (a missing name is an abstention) or a sequence in `names` order.
        """
        if isinstance(row, Mapping):
            x, _ = score_matrix([row], self.names)
        else:
            x = np.array([list(row)], dtype=float)  # type: ignore[arg-type]  # None -> NaN
        return _none_for_nan(self.posteriors(x))[0]




# ---------------------------------------------------------------------------------------------------
# Fitting


def _fit_knots(col: NDArray[np.float64], kind: NormaliseKind) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Knots of a monotone map raw -> [0, 1] fitted on one verifier's non-abstained scores.

    The binarisation below is a quantile cut, which no monotone map changes; the normalisation puts the
    reported thresholds of differently-scaled verifiers (a judge's 1-10, a reward model's logits) on one
    [0, 1] scale, and fixes how unseen scores of new attempts are placed.
    """
    from scipy.stats import rankdata

    x = col[~np.isnan(col)]
    if len(x) == 0:
        return (), ()
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return (lo,), (0.5,)
    if kind == "minmax":
        return (lo, hi), (0.0, 1.0)
    # quantile: mid-rank of each distinct value, stretched so the smallest is 0 and the largest 1
    ranks = (rankdata(x, method="average") - 1) / (len(x) - 1)
    ux, first = np.unique(x, return_index=True)
    return tuple(map(float, ux)), tuple(float(r) for r in ranks[first])


def _cut(s: NDArray[np.float64], balance: float) -> tuple[float, float] | None:
    """The threshold t (an observed value) whose positive rate mean(s >= t) is closest to `balance`.

    This is the (1 − balance) quantile of s with ties kept together: for a 0/1 verifier the only cut is
    between 0 and 1, whatever the balance. The lowest value is not a candidate (every attempt positive).
    None for a constant verifier.
    """
    x = np.sort(s[~np.isnan(s)])
    u = np.unique(x)
    if len(u) < 2:
        return None
    rates = (len(x) - np.searchsorted(x, u[1:], side="left")) / len(x)
    k = int(np.argmin(np.abs(rates - balance)))
    return float(u[1:][k]), float(rates[k])


def fit_combiner(
    scores: ArrayLike,
    *,
    balance: Balance,
    names: Sequence[str] | None = None,
    normalise: NormaliseKind = "minmax",
    rate_bounds: tuple[float, float] = (0.1, 0.9),
    min_votes: int = 10,
    smoothing: float = 1.0,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> Combiner:
    """Fit the label model on a batch of verifier scores and return its rewards and parameters.

    `scores` [n, m]: one row per attempt, one column per verifier, NaN/None where a verifier abstained.
    `balance` (required, so its source is a decision): `Balance.given(p)`, `Balance.estimated()` or
    `Balance.dev(dev_scores, dev_labels)`. A verifier is dropped, with the reason recorded, if it has
    fewer than `min_votes` votes, a constant score, or a positive rate outside the open `rate_bounds`.

    Raises `CombineError` when fewer than 3 verifiers are usable (the model is not identifiable) or
    when they are worse than chance on average, and `InputError` for malformed scores.
    """
    x = _as_matrix(scores, "scores")
    n, m_all = x.shape
    names = tuple(names) if names is not None else tuple(f"v{j}" for j in range(m_all))
    if len(names) != m_all or len(set(names)) != m_all:
        raise InputError(f"need {m_all} distinct verifier names, got {list(names)}", where="names",
                         fix="one unique name per column of scores")
    if normalise not in ("minmax", "quantile"):
        raise InputError(f"unknown normalisation {normalise!r}", where="normalise", fix="use 'minmax' or 'quantile'")
    lo, hi = rate_bounds
    if not 0.0 <= lo < hi <= 1.0:
        raise InputError(f"rate_bounds must satisfy 0 <= low < high <= 1, got {rate_bounds}", where="rate_bounds",
                         fix="e.g. (0.1, 0.9)")
    if m_all < MIN_VERIFIERS:
        raise CombineError(f"only {m_all} verifier(s) given. {_IDENTIFIABILITY}", fix=_IDENTIFIABILITY_FIX)
    if n < MIN_ATTEMPTS:
        raise CombineError(f"only {n} attempts: too few to estimate positive rates and accuracies",
                           fix=f"fit on a batch of at least {MIN_ATTEMPTS} attempts (hundreds is better)")
    if balance.source == "dev" and len(balance.dev_scores[0]) != m_all:
        raise CombineError(f"the dev split has {len(balance.dev_scores[0])} verifiers, the batch {m_all}",
                           where="dev split", fix="score the dev split with the same verifiers, same column order")

    knots = [_fit_knots(x[:, j], normalise) for j in range(m_all)]
    s = np.column_stack([np.where(np.isnan(x[:, j]), np.nan, np.interp(x[:, j], *knots[j]))
                         if knots[j][0] else np.full(n, np.nan) for j in range(m_all)])
    fixed_pi = balance.value if balance.source in ("given", "dev") else None
    # A cut at an extreme balance would give every verifier a positive rate outside the bounds and drop
    # them all; the cut is clamped inside the bounds while the prior keeps the balance itself.
    margin = 0.02 * (hi - lo)
    cut_balance = float(np.clip(fixed_pi if fixed_pi is not None else 0.5, lo + margin, hi - margin))

    prev: tuple[list[int], NDArray[np.float64]] | None = None
    rounds = 0
    while True:
        rounds += 1
        cuts = [_cut(s[:, j], cut_balance) for j in range(m_all)]
        fits, kept_cols = _select(names, x, s, cuts, knots, (lo, hi), min_votes)
        if len(kept_cols) < MIN_VERIFIERS:
            why = "; ".join(f"{f.name}: {f.reason}" for f in fits if not f.kept)
            raise CombineError(f"only {len(kept_cols)} of {m_all} verifiers are usable ({why}). {_IDENTIFIABILITY}",
                               fix=_IDENTIFIABILITY_FIX)
        thr = np.array([fits[j].threshold for j in kept_cols], dtype=float)
        sk = s[:, kept_cols]
        obs = ~np.isnan(sk)
        votes = np.where(obs, (np.nan_to_num(sk, nan=-1.0) >= thr).astype(float), 0.0)
        if prev is not None and prev[0] == kept_cols and np.array_equal(prev[1], votes):
            break  # the re-cut changed no vote: the last fit stands
        rows = obs.any(axis=1)
        mask = obs.astype(float)
        em = _fit_label_model(votes[rows], mask[rows], fixed_pi, smoothing, max_iter, tol)
        prev = (kept_cols, votes)
        if fixed_pi is not None or rounds >= _BALANCE_ROUNDS:
            break
        new_cut = float(np.clip(em.pi, lo + margin, hi - margin))
        if abs(new_cut - cut_balance) < 5e-3:
            break
        cut_balance = new_cut

    final: list[VerifierFit] = []
    for j, f in enumerate(fits):
        if f.kept:
            c = kept_cols.index(j)
            f = replace(f, tpr=float(em.tpr[c]), tnr=float(em.tnr[c]))
        final.append(f)
    q = np.full(n, np.nan)
    q[rows] = em.q
    combiner = Combiner(
        rewards=_none_for_nan(q), verifiers=tuple(final), class_balance=em.pi, balance_source=balance.source,
        threshold_balance=cut_balance, normalise=normalise, iterations=em.iterations, converged=em.converged,
        log_likelihood=em.log_likelihood, balance_rounds=rounds,
    )
    if balance.source == "dev":
        p = combiner.posteriors(np.array(balance.dev_scores, dtype=float))
        y = np.array(balance.dev_labels, dtype=float)
        ok = ~np.isnan(p)
        acc = float(np.mean((p[ok] >= 0.5) == (y[ok] == 1))) if ok.any() else None
        combiner = replace(combiner, dev_accuracy=acc, dev_n=int(ok.sum()))
    return combiner


def _select(names: tuple[str, ...], x: NDArray[np.float64], s: NDArray[np.float64],
            cuts: list[tuple[float, float] | None], knots: list[tuple[tuple[float, ...], tuple[float, ...]]],
            bounds: tuple[float, float], min_votes: int) -> tuple[list[VerifierFit], list[int]]:
    """Apply the drop rules; return a VerifierFit per verifier (accuracies still unset) and the kept columns."""
    lo, hi = bounds
    fits: list[VerifierFit] = []
    kept: list[int] = []
    for j, name in enumerate(names):
        n_votes = int((~np.isnan(x[:, j])).sum())
        cut = cuts[j]
        thr = rate = raw = None
        if n_votes == 0:
            reason = "abstained on every attempt"
        elif n_votes < min_votes:
            reason = f"only {n_votes} votes (< {min_votes})"
        elif cut is None:
            reason = "constant score: every attempt gets the same vote"
        else:
            thr, rate = cut
            col = x[:, j][~np.isnan(x[:, j])]
            raw = float(col[np.interp(col, *knots[j]) >= thr].min())
            reason = "" if lo < rate < hi else (
                f"positive rate {rate:.3f} outside ({lo:g}, {hi:g}): it says 'correct' to almost "
                f"{'every' if rate >= hi else 'no'} attempt, so it tells attempts apart too little")
        if not reason:
            kept.append(j)
        fits.append(VerifierFit(name=name, kept=not reason, reason=reason, votes=n_votes, positive_rate=rate,
                                threshold=thr, raw_threshold=raw, tpr=None, tnr=None, knots=knots[j]))
    return fits, kept


# ---------------------------------------------------------------------------------------------------
# Baseline and transforms


