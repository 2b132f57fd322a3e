"""`mentor compare` end to end on the tiny model: both arms at the same budget, the JSON the issue
asks for, one report, and a second invocation that resumes the finished arms instead of retraining."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mentor.store import open_readonly

TINY = ["model.name=tiny", "model.sample_dtype=float32", "model.train_autocast=false",
        "tasks.train_size=16", "tasks.heldout_size=8", "sampling.group_size=4", "sampling.tasks_per_step=2",
        "sampling.max_new_tokens=8", "eval.every=1", "eval.pass_k=2", "eval.bootstrap=100", "checkpoint_every=0"]


def _args(out) -> list[str]:
    sets = [x for kv in TINY for x in ("--set", kv)]
    return ["compare", *sets, "--seeds", "0,1", "--steps", "2", "--out", str(out), "--json"]


def test_compare_runs_both_arms_at_one_budget_and_resumes(mentor_cli, tmp_path) -> None:
    out = tmp_path / "cmp"
    r = mentor_cli(*_args(out), timeout=300)
    assert r.returncode == 0, r
    summary = json.loads(r.stdout)
    budget = 2 * 2 * 4  # steps × tasks per step × group size
    for arm in ("control", "mentor"):
        s = summary[arm]
        assert {"signal_share", "heldout_before", "heldout_after", "gain", "gain_ci", "rollouts"} <= set(s)
        assert s["gain"] == s["heldout_after"] - s["heldout_before"]
        assert s["gain_ci"][0] <= s["gain_ci"][1]
        assert [p["seed"] for p in s["per_seed"]] == [0, 1]
        for seed in (0, 1):
            with open_readonly(out / f"{arm}-s{seed}") as store:
                assert store.rollouts_at(store.last_step()) <= budget
    assert summary["control"]["rollouts"] == budget
    assert summary["control"]["hinted_attempt_share"] == summary["control"]["hinted_share"] == 0
    assert 0 < summary["mentor"]["hinted_attempt_share"] <= 1 and 0 < summary["mentor"]["hinted_share"] <= 1
    assert "rollouts_to_control_final" in summary["mentor"] and len(summary["mentor"]["rollouts_to_control_final"]) == 2
    lo, hi = summary["gain_difference"]["ci"]
    assert lo <= summary["gain_difference"]["estimate"] <= hi
    assert (out / "report.html").is_file() and (out / "compare.json").is_file()
    page = (out / "report.html").read_text()
    assert "Mentor vs vanilla GRPO" in page
    # the page leads with the gain difference and its interval, before the arms and the curves
    lead = page.index("Mentor gain − control gain")
    assert lead < page.index("<h2>Arms</h2>") < page.index("<h2>Curves</h2>")
    assert f"{summary['gain_difference']['estimate'] * 100:+.1f} points" in page[lead:page.index("<h2>Arms</h2>")]
    assert "<pre>" not in page  # no raw JSON dump
    # two seeds: the page and the terminal say how little an interval over so few seeds shows
    assert "Few seeds." in page and "With 2 seeds the intervals sample the seed level thinly" in page
    assert "With 2 seeds the intervals sample the seed level thinly" in " ".join(r.stderr.split())

    # again: every arm is finished, so nothing retrains and the numbers are the same
    again = mentor_cli(*_args(out), timeout=300)
    assert again.returncode == 0, again
    assert json.loads(again.stdout) == summary
    assert "(finished)" in again.stderr and "resuming" not in again.stderr
    for seed in (0, 1):
        with open_readonly(out / f"control-s{seed}") as store:
            assert store.last_step() == 2


def test_drop_checkpoints_frees_finished_arms_and_resume_saves_the_same_weights(mentor_cli, tmp_path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "cmp"
    args = [x for kv in TINY for x in ("--set", kv)] + ["--arms", "mentor", "--seeds", "0", "--steps", "2",
                                                      "--out", str(out), "--json"]
    first = mentor_cli("compare", *args, timeout=300)
    assert first.returncode == 0, first
    arm = out / "mentor-s0"
    (kept,) = (arm / "checkpoints").iterdir()
    weights = load_file(kept / "model.safetensors")

    dropped = mentor_cli("compare", *args, "--drop-checkpoints", timeout=300)
    assert dropped.returncode == 0, dropped
    assert json.loads(dropped.stdout) == json.loads(first.stdout)  # nothing retrained, the numbers stand
    assert not (arm / "checkpoints").exists()
    assert "checkpoints deleted" in dropped.stderr and f"mentor train --resume {arm}" in " ".join(dropped.stderr.split())
    with open_readonly(arm) as store:
        assert store.meta("status") == "finished"

    rebuilt = mentor_cli("train", "--resume", str(arm), timeout=300)
    assert rebuilt.returncode == 0, rebuilt
    (again,) = (arm / "checkpoints").iterdir()
    assert again.name == kept.name
    replayed = load_file(again / "model.safetensors")
    assert replayed.keys() == weights.keys()
    assert all(torch.equal(replayed[k], weights[k]) for k in weights)  # the store replays the updates exactly


def test_drop_checkpoints_is_refused_on_the_trl_host(mentor_cli, tmp_path) -> None:
    r = mentor_cli("compare", "--host", "trl", "--drop-checkpoints", "--out", str(tmp_path / "cmp"))
    assert r.returncode == 2
    assert "--drop-checkpoints" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "cmp").exists()


def test_the_ceiling_benchmark_samples_a_finished_arm_and_the_page_shows_it_per_level(mentor_cli, tmp_path) -> None:
    import subprocess
    import sys

    from conftest import cli_env

    out = tmp_path / "cmp"
    args = [a for a in _args(out) if a != "0,1"]
    args[args.index("--seeds") + 1:args.index("--seeds") + 1] = ["0"]
    args = [a.replace("checkpoint_every=0", "checkpoint_every=1") for a in args]
    assert mentor_cli(*args, timeout=300).returncode == 0
    bench = Path(__file__).resolve().parents[1] / "benchmarks/ceiling.py"
    r = subprocess.run([sys.executable, str(bench), str(out / "mentor-s0"), "--samples", "4", "--per-level", "2",
                        "--json", str(out / "ceiling.json")], capture_output=True, text=True, env=cli_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    (result,) = json.loads((out / "ceiling.json").read_text())
    for row in result["buckets"].values():  # the smoke preset's groups are 4 attempts
        assert row["tasks"] == 2 and 0 <= row["pass@1"] <= row["pass@4"] <= row["pass@4, any hint"] <= 1
        assert 0 <= row["mixed@4"] <= row["mixed@4, best condition"] <= 1
    signal = result["signal"]
    assert signal["group_size"] == 4 and 0 <= signal["blind"] <= signal["best condition"] <= 1
    assert 0 <= signal["tasks at 0.8"] <= 1
    assert "basic_arithmetic@0" in r.stdout and "mixed@4 over all tasks" in r.stdout
    assert mentor_cli(*args, timeout=300).returncode == 0  # resumes the finished arms, rewrites the page
    page = (out / "report.html").read_text()
    assert "ceiling, mentor-s0: pass@4 with hints" in page.split("Held-out accuracy per level")[1]


def test_the_few_seeds_note_stops_at_three() -> None:
    from mentor.report.compare_page import seed_caution

    assert "With 1 seed the" in seed_caution(1) and "With 2 seeds the" in seed_caution(2)
    assert seed_caution(3) is None and seed_caution(5) is None


def test_the_ceiling_estimate_of_a_mixed_group_is_unbiased() -> None:
    """Averaged over how many of n samples pass at rate p, the estimate is 1 − p^g − (1 − p)^g exactly."""
    import importlib.util
    import math

    spec = importlib.util.spec_from_file_location("ceiling", Path(__file__).resolve().parents[1] / "benchmarks/ceiling.py")
    assert spec is not None and spec.loader is not None
    ceiling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ceiling)
    n, g = 16, 8
    for p in (0.0, 0.05, 0.3, 0.5, 0.9, 1.0):
        expected = sum(math.comb(n, c) * p**c * (1 - p) ** (n - c) * ceiling.mixed_at_g(n, c, g) for c in range(n + 1))
        assert math.isclose(expected, 1 - p**g - (1 - p) ** g, abs_tol=1e-12)
    assert ceiling.mixed_at_g(16, 0, 8) == 0 and ceiling.mixed_at_g(16, 16, 8) == 0
    assert ceiling.mixed_at_g(16, 1, 8) == 0.5  # the one pass lands in half the groups of 8
    assert ceiling.mixed_at_g(4, 2, 8) is None  # too few samples to say


def test_compare_refuses_a_mentor_arm_identical_to_the_control(mentor_cli, tmp_path) -> None:
    r = mentor_cli("compare", "--set", "hints.schedule.name=none", "--set", "curriculum.selector.name=uniform",
                   "--seeds", "0", "--out", str(tmp_path / "x"))
    assert r.returncode == 2, r
    assert "configured exactly like the control" in r.output and "Traceback" not in r.output


def test_compare_with_the_default_config_file_builds_a_vanilla_control() -> None:
    """The shipped default.yaml turns the teacher on; the control must still be vanilla GRPO (the
    control overlay goes on last), and only the budget and the teacher differ between the arms."""
    from mentor.experiments.compare import arm_configs

    arms = arm_configs(Path(__file__).resolve().parents[1] / "examples/configs/default.yaml", ["sampling.group_size=4"], seed=3, steps=5)
    control, mentor = arms["control"], arms["mentor"]
    assert control.hints.schedule.name == "none"
    assert control.curriculum.selector.name == "uniform" and control.curriculum.budget is None
    assert control.credit.assigner.name == "outcome"
    assert mentor.hints.schedule.name == "scaffold" and mentor.curriculum.selector.name == "signal"
    assert mentor.credit.assigner.name == "prefix_tree"
    assert control.seed == mentor.seed == 3 and control.sampling == mentor.sampling
    assert mentor.optim.rollout_budget == 5 * control.sampling.tasks_per_step * 4


def test_compare_json_with_the_default_config_reports_a_vanilla_control(mentor_cli, tmp_path) -> None:
    out = tmp_path / "cmp"
    sets = [x for kv in TINY for x in ("--set", kv)]
    r = mentor_cli("compare", "--config", str(Path(__file__).resolve().parents[1] / "examples/configs/default.yaml"), *sets, "--seeds", "0", "--steps", "1",
                   "--out", str(out), "--json", timeout=300)
    assert r.returncode == 0, r
    with open_readonly(out / "control-s0") as store:
        cfg = store.config
    assert cfg["hints"]["schedule"]["name"] == "none"
    assert cfg["curriculum"]["selector"]["name"] == "uniform" and cfg["credit"]["assigner"]["name"] == "outcome"
    assert json.loads(r.stdout)["control"]["hinted_share"] == 0
