"""`prefix_tree`: TEMPO (arXiv 2509.18314), prefix-tree values at branch points, no extra rollouts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mentor.teacher.credit.base import (
    CreditContext,
    Group,
    _args_of,
    _Out,
    _row,
    _rows_from,
    _spans,
    group_advantages,
    has_signal,
)
from mentor.types import Advantages, Rollout


def prefix_tree_values(sequences: Sequence[Sequence[int]], outcomes: Sequence[float]) -> list[np.ndarray]:
    """For each sequence, V(s_0..s_T): V(s_t) = mean outcome of the sequences sharing its first t tokens.

    Returns arrays of length T_i + 1 (V(s_0) is the mean over all sequences, V(s_T) the mean over
    the sequences identical to this one). Built on a token trie: O(total tokens).
    """
    # node -> [sum of outcomes, count]; children keyed by (node, token)
    sums: list[float] = [0.0]
    counts: list[int] = [0]
    child: dict[tuple[int, int], int] = {}
    paths: list[list[int]] = []
    for seq, y in zip(sequences, outcomes, strict=True):
        node = 0
        path = [0]
        sums[0] += y
        counts[0] += 1
        for tok in seq:
            nxt = child.get((node, tok))
            if nxt is None:
                nxt = len(sums)
                child[(node, tok)] = nxt
                sums.append(0.0)
                counts.append(0)
            node = nxt
            sums[node] += y
            counts[node] += 1
            path.append(node)
        paths.append(path)
    return [np.array([sums[n] / counts[n] for n in path]) for path in paths]


@dataclass(frozen=True)
class PrefixTreeAssigner:
    """TEMPO: A_t = Â + [t is a branch point] · (V(s_{t+1}) − V(s_t)).

    Â is the GRPO advantage of the attempt, and V(prefix) the mean Â of the group's scorable attempts
    sharing that prefix (TEMPO averages *normalised* outcomes, so both terms are on one scale). The
    term goes to token t, the first token after the branch: s_t is the shared prefix before it, s_{t+1}
    the prefix including it, so the token that chose the branch is the one credited. Along an
    unbranched edge the same attempts share s_t and s_{t+1}, V does not change and the gate is
    automatically closed; an attempt that ends where another continues also counts as a branch.
    """

    name: str = field(default="prefix_tree", init=False)

    def assign(self, groups: Sequence[Group], ctx: CreditContext) -> Advantages:
        out = _Out()
        flat = 0
        for g in groups:
            advs = group_advantages(g.rewards, ctx.std_tol, ctx.scale_by_std)
            signal = has_signal(g.rewards, ctx.std_tol)
            out.groups_with_signal += signal
            members = [i for i, a in enumerate(advs) if a is not None] if signal else []
            values = prefix_tree_values(
                [g.attempts[i].completion_ids for i in members], [advs[i] or 0.0 for i in members]
            )
            by_attempt = dict(zip(members, values, strict=True))
            for i, a in enumerate(g.attempts):
                n = len(a.completion_ids)
                if i not in by_attempt:
                    out.rows.append(_row(0.0, n))
                else:
                    td = np.diff(by_attempt[i])  # td[t] = V(s_{t+1}) − V(s_t): nonzero only at branches
                    out.rows.append(_rows_from((advs[i] or 0.0) + td))
                    if np.any(td != 0.0):
                        out.step_credit.append((flat + i, self._shade(ctx, a, td)))
            flat += len(g.attempts)
        return out.result(self.name, _args_of(self))

    @staticmethod
    def _shade(ctx: CreditContext, a: Rollout, td: np.ndarray) -> list[tuple[int, int, float]]:
        # With a segmenter, a step's credit is the value change across it (sum of its TD terms);
        # without one, each branch token is its own one-token span.
        if ctx.segmenter is not None and ctx.tokenizer is not None:
            return [(s.start, s.end, float(td[s.start : s.end].sum())) for s in _spans(ctx, a)]
        return [(int(t), int(t) + 1, float(td[t])) for t in np.flatnonzero(td)]
