"""`thompson`: MoPPS (arXiv 2507.04632), a Beta posterior per task, Thompson sampling toward a target pass rate.

The published selector alone, as a baseline of Mentor's selection: each task's pass rate is a latent
Beta(α, β) from a (1, 1) prior; after a step, every posterior decays toward the prior (α ← λα +
(1−λ)·1 with λ = 1 − `forget`, the same for β; the student changes whether or not a task was
practised) and a practised task adds its no-hint passes to α and its failures to β. Selection draws
p̂ ~ Beta(α, β) for every task and takes the k whose p̂ is nearest `target` (0.5: the pass rate whose
group has the largest expected learning signal). Unlike `bayes` (BOTS) there is no implicit evidence
from other tasks of a category: a task's posterior moves only on its own attempts.
"""

from __future__ import annotations

from mentor.teacher.selectors.bayes import BayesSelector


class ThompsonSelector(BayesSelector):
    name = "thompson"

    def __init__(self, target: float = 0.5, forget: float = 0.1) -> None:
        super().__init__(target=target, forget=forget, rho=0.0, implicit_by="none")
