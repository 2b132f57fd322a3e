"""`mentor compare` with baseline arms: arm parsing, the arms' configs (each baseline is the control plus
one change), the curve numbers (area under the held-out curve, rollouts to a threshold, per level), the
pairwise differences, and every arm end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

from mentor.config import load_config
from mentor.errors import ConfigError
from mentor.experiments.compare import ARM_PRESETS, arm_configs, pairwise, parse_arms
from mentor.experiments.curves import THRESHOLDS, curve_auc, per_level, rollouts_to, task_aucs
from mentor.store import EvalRow, open_readonly


def test_arms_are_parsed_into_report_order():
    assert parse_arms("mentor,dapo, control") == ["control", "dapo", "mentor"]
    assert parse_arms("control,dapo,prefix_hints,thompson,mentor") == list(ARM_PRESETS)


@pytest.mark.parametrize(("text", "message"), [("control,dapp", "unknown arm 'dapp'. Did you mean 'dapo'?"),
                                               ("", "no arm given"), ("control,control", "names an arm twice")])
def test_bad_arms_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_arms(text)
    assert err.value.where == "--arms" and str(err.value).count("--arms") == 1


def test_a_bad_arm_name_exits_2_before_any_work(mentor_cli, tmp_path):
    r = mentor_cli("compare", "--arms", "control,prefix_hint", "--out", str(tmp_path / "x"))
    assert r.returncode == 2, r
    assert "unknown arm 'prefix_hint'" in r.output and "Did you mean 'prefix_hints'" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "x").exists()


def _leaves(data, prefix=""):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), data


@pytest.mark.parametrize(("arm", "changed"), [("dapo", "curriculum.filter"), ("thompson", "curriculum.selector"),
                                              ("prefix_hints", "hints")])
def test_each_baseline_is_the_control_plus_one_change_at_the_same_budget(arm, changed):
    arms = arm_configs(None, ["sampling.group_size=4"], seed=1, steps=5, arms=["control", arm])
    control, other = (dict(_leaves(arms[a].model_dump(mode="json"))) for a in ("control", arm))
    differ = {k for k in control.keys() | other.keys() if control.get(k) != other.get(k)}
    assert differ - {"optim.steps", "optim.rollout_budget"}, "the arm changes nothing"
    assert all(k.startswith(changed) for k in differ - {"optim.steps", "optim.rollout_budget"}), differ
    assert arms[arm].optim.rollout_budget == 5 * arms["control"].sampling.tasks_per_step * 4
    # the overlay goes on last: a teacher in the user's config does not leak into a baseline
    teacher_on = arm_configs(None, ["curriculum.selector.name=signal", "credit.assigner.name=prefix_tree"], 0, 5,
                             [arm])[arm]
    assert teacher_on.credit.assigner.name == "outcome"


def test_new_keys_at_their_defaults_keep_stored_runs_resumable():
    # hashes of the configs before curriculum.filter and hints.loss_prompt existed
    assert load_config(None, None, None).hash() == "1c2de0173e77793ac0ba30d54dd0daf5a8a2508f730641280b6a96cdf53fa055"
    assert load_config(None, None, "control").hash() == "9772113b6b9ab06d1c5079337574e3e92a929967434aaf84c2b315af25ca0470"
    assert load_config(None, ["hints.loss_prompt=hinted"], None).hash() != load_config(None, None, None).hash()


# ------------------------------------------------------------------------------------ curve numbers


def test_auc_is_the_mean_accuracy_over_the_budget():
    assert curve_auc([(0, 0.0), (100, 1.0)], 100) == pytest.approx(0.5)  # a straight line
    assert curve_auc([(0, 0.0), (50, 1.0)], 100) == pytest.approx(0.75)  # the last value is held to the budget
    # an evaluation past the budget: the curve is cut where it crosses the budget (0.425 at 100)
    assert curve_auc([(0, 0.2), (40, 0.2), (200, 0.8)], 100) == pytest.approx(0.2 * 0.4 + 0.6 * (0.2 + 0.425) / 2)
    assert curve_auc([(10, 0.4)], 100) == pytest.approx(0.4)
    # learning sooner is a larger area, even on the same final plateau
    assert curve_auc([(0, 0), (25, 0.5), (100, 0.5)], 100) > curve_auc([(0, 0), (75, 0.5), (100, 0.5)], 100)
    with pytest.raises(ValueError):
        curve_auc([], 100)


def test_rollouts_to_threshold_is_the_first_evaluation_at_or_above_it():
    pts = [(0, 0.0), (32, 0.15), (64, 0.1), (96, 0.3)]
    assert rollouts_to(pts, 0.1) == 32 and rollouts_to(pts, 0.2) == 96 and rollouts_to(pts, 0.4) is None
    assert rollouts_to(pts, 0.3) == 96  # 0.1 * 3 is 0.30000000000000004: reached all the same
    assert THRESHOLDS[0] == 0.1 and THRESHOLDS[-1] == 1.0 and len(THRESHOLDS) == 10


def test_per_level_accuracy_groups_tasks_by_level():
    got = per_level({"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.5}, {"a": 0, "b": 0, "c": 2, "d": None})
    assert got == {"0": 0.5, "2": 1.0, "-": 0.5} and list(got) == ["0", "2", "-"]


def _run(evals: list[tuple[int, dict[str, float]]]) -> dict:
    return {"evals": [EvalRow(step=i, rollouts=x, accuracy=sum(s.values()) / len(s), ci_lo=0, ci_hi=1, pass_k=None,
                              k=None, n=len(s), per_task=s) for i, (x, s) in enumerate(evals)]}


def test_pairwise_differences_are_the_later_arm_minus_the_earlier():
    tasks = [f"t{i}" for i in range(20)]
    slow = _run([(0, dict.fromkeys(tasks, 0.0)), (50, dict.fromkeys(tasks, 0.0)), (100, dict.fromkeys(tasks, 1.0))])
    fast = _run([(0, dict.fromkeys(tasks, 0.0)), (50, dict.fromkeys(tasks, 1.0)), (100, dict.fromkeys(tasks, 1.0))])
    d = pairwise([slow], [fast], budget=100)
    assert d["gain"]["estimate"] == pytest.approx(0.0)  # the same final accuracy
    assert d["auc"]["estimate"] == pytest.approx(0.75 - 0.25)  # but the area of learning sooner
    assert d["auc"]["ci"][0] <= d["auc"]["estimate"] <= d["auc"]["ci"][1]
    assert pairwise([fast], [slow], budget=100)["auc"]["estimate"] == pytest.approx(-0.5)
    assert task_aucs([(0, {"t": 0.0}), (100, {"t": 1.0})], ["t"], 100) == [pytest.approx(0.5)]


# ------------------------------------------------------------------------------------ end to end

TINY = ["model.name=tiny", "model.sample_dtype=float32", "model.train_autocast=false",
        "tasks.train_size=32", "tasks.heldout_size=8", "sampling.group_size=4", "sampling.tasks_per_step=2",
        "sampling.max_new_tokens=8", "eval.every=1", "eval.pass_k=2", "eval.bootstrap=100", "checkpoint_every=0"]


@pytest.mark.slow
def test_every_arm_runs_at_one_budget_and_the_report_has_the_curve_numbers(mentor_cli, tmp_path):
    out = tmp_path / "cmp"
    sets = [x for kv in TINY for x in ("--set", kv)]
    args = ["compare", *sets, "--arms", "control,dapo,prefix_hints,thompson,mentor", "--seeds", "0",
            "--steps", "2", "--out", str(out), "--json"]
    r = mentor_cli(*args, timeout=600)
    assert r.returncode == 0, r
    summary = json.loads(r.stdout)
    budget = 2 * 2 * 4
    assert summary["arms"] == list(ARM_PRESETS) and summary["budget"] == budget
    for arm in ARM_PRESETS:
        s = summary[arm]
        assert 0 <= s["auc"] <= 1 and set(s["rollouts_to_threshold"]) == {f"{t:.1f}" for t in THRESHOLDS}
        assert set(s["levels_after"]) == {"0"}
        with open_readonly(out / f"{arm}-s0") as store:
            assert store.rollouts_at(store.last_step()) <= budget
            assert store.config["seed"] == 0
    assert len(summary["pairwise"]) == 10 and "mentor - control" in summary["pairwise"]
    assert summary["gain_difference"] == summary["pairwise"]["mentor - control"]["gain"]
    page = (out / "report.html").read_text()
    for section in ("Pairwise differences", "Rollouts to reach each held-out accuracy", "per level", "AUC"):
        assert section in page
    assert "dapo - control" in page
    again = mentor_cli(*args, timeout=600)  # every arm is found finished and read, nothing retrains
    assert again.returncode == 0 and json.loads(again.stdout) == summary
    assert again.stderr.count("(finished)") == 5
