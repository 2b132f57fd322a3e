"""The run store: whole steps or nothing, unique attempts, evaluations and tasks round-trip, clear
errors for directories that hold no store."""

from __future__ import annotations

import sqlite3

import pytest

from mentor.errors import StoreError
from mentor.store import STORE_NAME, AttemptRow, EvalRow, RunStore, open_readonly
from mentor.testing import toy_tasks


def row(grp=0, idx=0, hint_level=0, **kw) -> AttemptRow:
    base = dict(task_id="toy/0", grp=grp, idx=idx, hint_level=hint_level, hint_kind=None, hint_text=None,
                text="Answer: 3", completion_ids=[1, 2, 3], logprobs=[-0.1, -0.2, -0.3], finished=True,
                reward=1.0, components={"format": 1.0, "correct": 1.0}, extracted="3", unscorable_reason=None,
                advantage=0.5, token_advantages=[0.5, 0.5, 0.5], trained=True, policy_version=0)
    return AttemptRow(**{**base, **kw})


EVAL = EvalRow(step=1, rollouts=8, accuracy=0.25, ci_lo=0.0, ci_hi=0.5, pass_k=0.5, k=2, n=4,
               per_task={"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0})


@pytest.fixture
def store(tmp_path):
    s = RunStore.create(tmp_path / "run", '{"seed": 0}', "abc123", {"selector": {"name": "uniform"}})
    yield s
    s.close()


def visible_steps(run_dir) -> tuple[int, int, int]:
    """(steps, attempts, evals) as another process would see them."""
    conn = sqlite3.connect(f"file:{run_dir / STORE_NAME}?mode=ro", uri=True)
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("steps", "attempts", "evals"))
    finally:
        conn.close()


def commit(store, step, rows, evaluation=None, rollouts=4):
    store.commit_step(step, rollouts, rows, {"rollouts": len(rows)}, {"sample": 0.1}, {"selector": {}}, evaluation)


def test_create_records_config_hash_plugins_and_wal(store, tmp_path):
    assert store.config == {"seed": 0}
    assert store.meta("config_hash") == "abc123" and store.meta("status") == "running"
    assert '"uniform"' in store.meta("plugins")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.last_step() == 0 and store.rollouts_at(0) == 0


def test_a_step_is_committed_whole(store, tmp_path):
    commit(store, 1, [row(0, 0), row(0, 1, reward=0.0), row(0, 0, hint_level=1, hint_kind="format")], EVAL)
    assert visible_steps(tmp_path / "run") == (1, 3, 1)
    [s] = store.steps()
    assert (s["step"], s["rollouts"], s["metrics"], s["timings"]) == (1, 4, {"rollouts": 3}, {"sample": 0.1})
    attempts = list(store.attempts(1))
    assert [(a["grp"], a["idx"], a["hint_level"]) for a in attempts] == [(0, 0, 0), (0, 1, 0), (0, 0, 1)]
    first = attempts[0]
    assert first["completion_ids"] == [1, 2, 3] and first["logprobs"] == [-0.1, -0.2, -0.3]
    assert first["token_advantages"] == [0.5, 0.5, 0.5] and first["n_tokens"] == 3
    assert first["components"] == {"format": 1.0, "correct": 1.0} and first["trained"] == 1
    assert store.last_step() == 1 and store.rollouts_at(1) == 4


def test_a_failure_inside_the_step_leaves_nothing_of_it(store, tmp_path):
    commit(store, 1, [row(0, 0)])
    # The step row and the first attempt are inserted before the bad attempt (its ids are not a
    # sequence) makes the transaction fail: all of step 2 must be rolled back.
    bad = [row(0, 0), row(0, 1, completion_ids=None)]
    with pytest.raises(TypeError):
        commit(store, 2, bad, EvalRow(**{**EVAL.__dict__, "step": 2}))
    assert visible_steps(tmp_path / "run") == (1, 1, 0)
    assert store.last_step() == 1 and [a["step"] for a in store.attempts()] == [1]
    # and the step can then be written for real
    commit(store, 2, [row(0, 0), row(0, 1)])
    assert visible_steps(tmp_path / "run") == (2, 3, 0)


def test_attempts_are_unique_per_step_group_index_and_hint_level(store, tmp_path):
    with pytest.raises(sqlite3.IntegrityError):
        commit(store, 1, [row(0, 0), row(0, 1), row(0, 0)])
    assert visible_steps(tmp_path / "run") == (0, 0, 0)  # the duplicate sank its whole step
    commit(store, 1, [row(0, 0), row(0, 0, hint_level=1), row(1, 0)])
    with pytest.raises(sqlite3.IntegrityError):  # a step is written once
        commit(store, 1, [row(2, 0)])
    assert visible_steps(tmp_path / "run") == (1, 3, 0)


def test_unscorable_and_untrained_attempts_round_trip(store):
    commit(store, 1, [row(0, 0, reward=None, unscorable_reason="verifier crashed", components={"correct": None},
                          advantage=None, token_advantages=None, trained=False, extracted=None)])
    [a] = store.attempts(1)
    assert a["reward"] is None and a["unscorable_reason"] == "verifier crashed"
    assert a["token_advantages"] is None and a["advantage"] is None and a["trained"] == 0
    assert a["components"] == {"correct": None}


def test_evals_round_trip(store):
    before = EvalRow(step=0, rollouts=0, accuracy=0.0, ci_lo=0.0, ci_hi=0.0, pass_k=None, k=None, n=4,
                     per_task={"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0})
    store.save_eval(before)
    commit(store, 1, [row()], EVAL)
    assert store.evals() == [before, EVAL]


def test_tasks_round_trip_in_order(store):
    train, held = toy_tasks(6, prefix="tr"), toy_tasks(3, seed=1, prefix="ho")
    store.save_tasks(train, held)
    assert store.load_tasks("train") == train
    assert store.load_tasks("heldout") == held


def test_reopen_and_read_only(store, tmp_path):
    commit(store, 1, [row()])
    store.set_meta("status", "finished")
    with open_readonly(tmp_path / "run") as ro:
        assert ro.readonly and ro.last_step() == 1 and ro.meta("status") == "finished"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.set_meta("status", "tampered")
    again = RunStore.open(tmp_path / "run")
    assert again.config == {"seed": 0} and again.count_attempts() == 1
    again.close()


def test_create_refuses_a_directory_that_holds_a_run(store, tmp_path):
    with pytest.raises(StoreError) as info:
        RunStore.create(tmp_path / "run", "{}", "x", {})
    msg = info.value.render()
    assert str(tmp_path / "run") in msg and "already holds a run" in msg and "--resume" in msg


@pytest.mark.parametrize("readonly", [False, True])
def test_open_a_directory_without_a_store_names_it(tmp_path, readonly):
    with pytest.raises(StoreError) as info:
        RunStore.open(tmp_path, readonly=readonly)
    msg = info.value.render()
    assert msg.startswith(f"{tmp_path}: no run store here.") and "mentor runs" in msg


@pytest.mark.parametrize("readonly", [False, True])
def test_open_a_file_that_is_not_a_store(tmp_path, readonly):
    (tmp_path / STORE_NAME).write_text("not a database, just some text that is long enough " * 20)
    with pytest.raises(StoreError) as info:
        RunStore.open(tmp_path, readonly=readonly)
    assert "not a Mentor run store" in info.value.render() and str(tmp_path) in info.value.render()


def test_open_a_sqlite_file_of_another_program(tmp_path):
    conn = sqlite3.connect(tmp_path / STORE_NAME)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a Mentor run store"):
        RunStore.open(tmp_path, readonly=True)
