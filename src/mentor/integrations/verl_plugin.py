"""verl's plugin hook for Mentor: importing this module registers Mentor's advantage estimators.

verl imports every `verl.plugins` entry point when `verl` itself is imported (verl/__init__.py,
`VERL_USE_EXTERNAL_PLUGINS`, default "auto"), in the driver and in every Ray worker, so
`algorithm.adv_estimator=mentor_grpo` resolves wherever verl computes advantages. Mentor's
pyproject declares the entry point; `VERL_USE_EXTERNAL_MODULES=mentor.integrations.verl_plugin`
does the same where the entry point is not installed. Registering on import is this module's only
job: nothing else in Mentor registers anything as a side effect.

verl logs a failing plugin only at debug level, so if `mentor_grpo` is "Unknown", run
`python -c "import mentor.integrations.verl_plugin"` in the training environment to see why.
"""

from __future__ import annotations

from mentor.integrations.verl_advantage import register

REGISTERED = register()
