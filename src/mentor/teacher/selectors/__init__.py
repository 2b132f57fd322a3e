"""Selectors: which tasks the student practises next.

- `uniform`: the control, k distinct tasks uniformly at random.
- `signal` (default): tasks drawn by the chance that their group, scaffolded by the hint schedule, is
  mixed (docs/decisions/selection.md).
- `bayes`: BOTS (arXiv 2510.26374), Thompson sampling toward a target pass rate.
- `thompson`: MoPPS (arXiv 2507.04632), a Beta posterior per task and Thompson sampling toward
  pass rate 0.5, with no implicit evidence (the published selector alone, a baseline).
- `bandit`: SEC (arXiv 2505.14970), categories as bandit arms.

A selector sees only `GroupOutcome`s with `hinted=False` as difficulty evidence: a hinted pass says how
hard the task is with help, not for the no-hint policy that is evaluated.
"""

from __future__ import annotations

from mentor.registry import Registry
from mentor.teacher.selectors.bandit import BanditSelector
from mentor.teacher.selectors.base import Selector, SelectorContext
from mentor.teacher.selectors.bayes import BayesSelector
from mentor.teacher.selectors.signal import SignalSelector, signal_probability
from mentor.teacher.selectors.thompson import ThompsonSelector
from mentor.teacher.selectors.uniform import UniformSelector

SELECTORS: Registry[Selector] = Registry("selector", "curriculum.selector")
SELECTORS.add("uniform", UniformSelector)
SELECTORS.add("signal", SignalSelector, context=("context",))
SELECTORS.add("bayes", BayesSelector)
SELECTORS.add("bandit", BanditSelector)
SELECTORS.add("thompson", ThompsonSelector)

__all__ = ["SELECTORS", "BanditSelector", "BayesSelector", "Selector", "SelectorContext", "SignalSelector",
           "ThompsonSelector", "UniformSelector", "signal_probability"]
