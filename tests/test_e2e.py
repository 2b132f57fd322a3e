"""`mentor train --preset smoke` end to end on the tiny model: a clean exit, a full store, a report.

No wall-clock bound here: a timed test fails on a loaded machine for no fault of the code (speed is
measured in benchmarks/)."""

from __future__ import annotations

import json
import sqlite3

from mentor.config import load_config
from mentor.store import open_readonly


def test_smoke_run_finishes_cleanly(smoke_run):
    r = smoke_run.result
    assert r.returncode == 0, r
    assert "Traceback" not in r.output
    assert "held-out accuracy" in r.stdout and "report:" in r.stdout, r


def test_smoke_run_writes_store_report_and_plots(smoke_run):
    d = smoke_run.run_dir
    assert (d / "run.sqlite").is_file() and (d / "report.html").is_file()
    plots = {p.name for p in (d / "plots").glob("*.png")}
    assert {"heldout_accuracy.png", "reward.png", "signal.png", "timings.png"} <= plots
    assert all((d / "plots" / name).stat().st_size > 1000 for name in plots)
    html = (d / "report.html").read_text()
    assert "Held-out accuracy" in html and "Resolved configuration" in html
    assert [p.name for p in (d / "checkpoints").iterdir()] == ["step-2"]  # an HF directory, the newest only


def test_smoke_store_holds_the_run(smoke_run):
    cfg = load_config(None, None, "smoke")
    with open_readonly(smoke_run.run_dir) as store:
        assert store.meta("status") == "finished"
        assert store.meta("config_hash") == cfg.hash()
        assert store.config == json.loads(json.dumps(cfg.model_dump(mode="json")))
        steps = store.steps()
        assert [s["step"] for s in steps] == [1, 2]
        evals = store.evals()
        assert [e.step for e in evals] == [0, 1, 2]  # before training, every step (eval.every=1), at the end
        assert all(e.n == cfg.tasks.heldout_size for e in evals)
        assert evals[0].pass_k is not None and evals[-1].pass_k is not None and evals[-1].k == cfg.eval.pass_k
        assert all(e.ci_lo <= e.accuracy <= e.ci_hi for e in evals)
        assert len(store.load_tasks("train")) == cfg.tasks.train_size
        assert len(store.load_tasks("heldout")) == cfg.tasks.heldout_size
        for s in steps:
            assert set(s["timings"]) >= {"sample", "grade", "update"}
            assert s["state"]["policy_version"] == s["step"]


def test_attempts_match_what_the_config_implies(smoke_run):
    """Per step (the default hints are rescue: adaptive scaffolds, then one re-roll of a group that
    still failed entirely): tasks_per_step groups of group_size attempts, each without a hint or with
    one rung's (the rung the scaffold drew for the group), at least one per group without; a rescued
    group failed entirely and continues with rescue_share × group_size attempts at one rung. The step's `rollouts` metric counts all of them,
    and each group is trained whole."""
    from mentor.types import PASS

    cfg = load_config(None, None, "smoke")
    assert cfg.hints.schedule.name == "scaffold"
    g, k = cfg.sampling.group_size, cfg.sampling.tasks_per_step
    extra = max(1, round(g * 1.0))  # the default rescue_share
    rungs = (1, 2)  # the default ladder: one worked example, three
    rescued_total = 0
    with open_readonly(smoke_run.run_dir) as store:
        cumulative = 0
        for s in store.steps():
            m = s["metrics"]
            attempts = list(store.attempts(s["step"]))
            levels = m["hint_levels"]
            assert len(levels) == m["groups"] == k
            assert all(lv in (0, *rungs) for lv in levels)
            assert m["rollouts"] == len(attempts) == g * k + m["rescue_rerolls"] * extra
            cumulative += m["rollouts"]
            assert s["rollouts"] == cumulative
            by_group: dict[int, list[dict]] = {}
            for a in sorted(attempts, key=lambda a: (a["grp"], a["idx"])):
                by_group.setdefault(a["grp"], []).append(a)
            assert len(by_group) == k
            rescued = 0
            for group in by_group.values():
                assert [a["idx"] for a in group] == list(range(len(group)))
                first, reroll = group[:g], group[g:]
                assert 0 in [a["hint_level"] for a in first]
                assert len({a["hint_level"] for a in first} - {0}) <= 1  # one rung per scaffolded group
                if reroll:
                    rescued += 1
                    assert len(reroll) == extra
                    assert len({a["hint_level"] for a in reroll}) == 1 and reroll[0]["hint_level"] in rungs
                    assert all(a["reward"] is None or a["reward"] < PASS for a in first)
            assert m["rescue_rerolls"] == rescued
            rescued_total += rescued
            assert m["hinted_groups"] == sum(any(a["hint_level"] for a in v) for v in by_group.values())
            for a in attempts:
                assert a["n_tokens"] == len(a["completion_ids"]) == len(a["logprobs"]) <= cfg.sampling.max_new_tokens
                assert a["policy_version"] == s["step"] - 1
                assert (a["hint_level"] > 0) == (a["hint_text"] is not None)
                if a["trained"]:
                    assert len(a["token_advantages"]) == a["n_tokens"]
            # the group the loss sees is the whole group, hinted and re-rolled attempts included
            assert sum(a["trained"] for a in attempts) == len(attempts)
    assert rescued_total > 0  # the tiny model fails everything: the rescue path ran


def test_task_ids_in_the_store_are_its_training_tasks(smoke_run):
    with open_readonly(smoke_run.run_dir) as store:
        train = {t.id for t in store.load_tasks("train")}
        held = {t.id for t in store.load_tasks("heldout")}
        used = {a["task_id"] for a in store.attempts()}
        evaluated = set().union(*(e.per_task for e in store.evals()))
    assert used <= train and not used & held
    assert evaluated == held


def test_store_is_in_wal_mode(smoke_run):
    conn = sqlite3.connect(f"file:{smoke_run.run_dir / 'run.sqlite'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
