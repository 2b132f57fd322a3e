"""`mentor train --preset smoke` end to end on the tiny model: under a minute, a full store, a report."""

from __future__ import annotations

import json
import sqlite3

from mentor.config import load_config
from mentor.store import open_readonly


def test_smoke_run_finishes_quickly(smoke_run):
    r = smoke_run.result
    assert r.returncode == 0, r
    assert r.seconds < 60, f"smoke run took {r.seconds:.1f}s"
    assert "Traceback" not in r.output
    assert "held-out accuracy" in r.stdout and "report:" in r.stdout, r


def test_smoke_run_writes_store_report_and_plots(smoke_run):
    d = smoke_run.run_dir
    assert (d / "run.sqlite").is_file() and (d / "report.html").is_file()
    plots = {p.name for p in (d / "plots").glob("*.png")}
    assert {"heldout_accuracy.png", "reward.png", "no_signal.png", "timings.png"} <= plots
    assert all((d / "plots" / name).stat().st_size > 1000 for name in plots)
    html = (d / "report.html").read_text()
    assert "Held-out accuracy" in html and "Resolved configuration" in html
    assert [p.name for p in (d / "checkpoints").glob("*.pt")] == ["step-2.pt"]


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
    """Per step: tasks_per_step × group_size no-hint attempts, plus one group_size re-roll per hint
    level a stuck group climbed; the step's `rollouts` metric counts all of them."""
    cfg = load_config(None, None, "smoke")
    g, k = cfg.sampling.group_size, cfg.sampling.tasks_per_step
    with open_readonly(smoke_run.run_dir) as store:
        cumulative = 0
        for s in store.steps():
            m = s["metrics"]
            attempts = list(store.attempts(s["step"]))
            levels = m["hint_levels"]
            assert len(levels) == m["groups"] == k
            assert all(0 <= lv <= cfg.hints.max_level for lv in levels)
            assert m["rollouts"] == len(attempts) == g * sum(1 + lv for lv in levels)
            cumulative += m["rollouts"]
            assert s["rollouts"] == cumulative
            no_hint = [a for a in attempts if a["hint_level"] == 0]
            assert len(no_hint) == k * g
            for a in attempts:
                assert a["n_tokens"] == len(a["completion_ids"]) == len(a["logprobs"]) <= cfg.sampling.max_new_tokens
                assert a["policy_version"] == s["step"] - 1
                assert (a["hint_level"] > 0) == (a["hint_text"] is not None)
                if a["trained"]:
                    assert len(a["token_advantages"]) == a["n_tokens"]
            # the group the loss sees is exactly one set of G attempts per task
            trained = {(a["grp"], a["hint_level"]) for a in attempts if a["trained"]}
            assert len(trained) == k and sum(a["trained"] for a in attempts) == k * g


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
