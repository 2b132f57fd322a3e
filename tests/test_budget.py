"""A budgeted run (how `mentor compare` matches arms) never consumes more rollouts than its budget,
whatever hinted re-rolls or Monte Carlo branches cost."""

from __future__ import annotations

import pytest

from mentor.config import load_config
from mentor.train.setup import train

MONTE_CARLO = ["credit.assigner={name: monte_carlo, args: {k: 2}}", "credit.segmenter={name: lines}"]


@pytest.mark.parametrize(("budget", "preset", "extra"), [
    (37, "smoke", []),  # hints on: all-fail groups are re-rolled, each re-roll costs a group
    (37, "smoke", MONTE_CARLO),
    (8, "smoke,control", MONTE_CARLO),  # the first step's groups spend it all: no branch may follow
])
def test_budget_is_never_exceeded(tmp_path, signal_rubric, budget, preset, extra) -> None:
    rubric = signal_rubric
    cfg = load_config(None, ["optim.steps=50", f"optim.rollout_budget={budget}", "eval.every=100", "eval.pass_k=1",
                             "model.threads=1", "reward.kind=rubric", f"reward.rubric={rubric}", *extra], preset)
    run = train(cfg, tmp_path / "run")
    steps = run.store.steps()
    total = run.store.count_attempts()
    extra_rollouts = sum(s["metrics"]["credit"].get("extra_rollouts", 0) for s in steps)
    assert run.rollouts == steps[-1]["rollouts"] == total + extra_rollouts
    assert run.rollouts <= budget
    # it stopped because another step's no-hint groups (2 tasks x 4) would not fit, not earlier
    assert run.rollouts + 8 > budget
    assert run.store.meta("status") == "finished"
    assert [e.step for e in run.store.evals()][-1] == steps[-1]["step"]  # the final evaluation ran
    run.store.close()


def test_assigners_the_loop_cannot_feed_are_refused_up_front(mentor_cli, tmp_path) -> None:
    # each error names what the assigner needs and the config key that is missing it
    for name, needs, key in (("critique", "critique credit needs a critic", "credit.critic"),
                             ("min_form", "credit assigner 'min_form' needs", "credit.step_rewards")):
        r = mentor_cli("train", "--preset", "smoke", "--run-dir", str(tmp_path / name),
                       "--set", f"credit.assigner.name={name}")
        assert r.returncode == 2, r
        assert "Traceback" not in r.output
        assert needs in r.stderr and f"{key} is not set" in r.stderr, r
        assert not (tmp_path / name / "run.sqlite").exists()  # refused before anything was written
