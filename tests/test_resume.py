"""Kill a run with SIGKILL mid-step, resume it, and prove nothing was lost, nothing duplicated, and the
run went on exactly as an uninterrupted one with the same config."""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import sqlite3
import time
from pathlib import Path

from mentor.config import load_config
from mentor.store import RunStore, open_readonly

STEPS = 6


def train_args(rubric: Path) -> list[str]:
    # `rubric` (conftest's signal_rubric) passes about half of random text: the tiny model gets a
    # learning signal, so the updates (plain and hint-guided) really change the weights and resume
    # must restore them exactly.
    # checkpoints every 2 steps: a kill after step 3 resumes from step 2's checkpoint, then replays step 3
    return ["train", "--preset", "smoke", "--set", f"optim.steps={STEPS}", "--set", "checkpoint_every=2",
            "--set", "reward.kind=rubric", "--set", f"reward.rubric={rubric}"]


def commit_times(run_dir: Path) -> list[float]:
    """When each committed step was committed, as another process sees it (read-only)."""
    db = run_dir / "run.sqlite"
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return [r[0] for r in conn.execute("SELECT committed_at FROM steps ORDER BY step")]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not written yet
        return []


def attempts_by_step(run_dir: Path) -> dict[int, list[dict]]:
    with open_readonly(run_dir) as store:
        out: dict[int, list[dict]] = {}
        for a in store.attempts():
            out.setdefault(a["step"], []).append(a)
        return out


def test_sigkill_mid_step_then_resume_loses_and_duplicates_nothing(tmp_path, signal_rubric, mentor_cli, mentor_start):
    victim_dir, ref_dir = tmp_path / "victim", tmp_path / "reference"
    train = train_args(signal_rubric)
    # the uninterrupted run with the same config runs alongside (one thread each)
    reference = mentor_start([*train, "--run-dir", str(ref_dir), "--no-report"], tmp_path / "reference.log")
    victim = mentor_start([*train, "--run-dir", str(victim_dir)], tmp_path / "victim.log")
    try:
        deadline = time.monotonic() + 120
        while len(times := commit_times(victim_dir)) < 3:
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()
            assert time.monotonic() < deadline, "the run never committed three steps"
            time.sleep(0.02)
        # half a step after step 3 committed: inside step 4 (sampling, grading, hints or update)
        time.sleep(max(0.05, (times[2] - times[1]) / 2))
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    killed_at = len(commit_times(victim_dir))
    assert 3 <= killed_at < STEPS
    assert not (victim_dir / "report.html").exists()

    resumed = mentor_cli("train", "--resume", str(victim_dir), timeout=180)
    assert resumed.returncode == 0, resumed
    assert "Traceback" not in resumed.output
    assert reference.wait(180) == 0, (tmp_path / "reference.log").read_text()

    got, want = attempts_by_step(victim_dir), attempts_by_step(ref_dir)
    with open_readonly(victim_dir) as store:
        steps = store.steps()
        assert store.meta("status") == "finished"
        victim_evals = [(e.step, e.accuracy, e.pass_k) for e in store.evals()]
    with open_readonly(ref_dir) as store:
        ref_evals = [(e.step, e.accuracy, e.pass_k) for e in store.evals()]

    # every step exactly once, each with exactly the attempts its metrics count
    assert [s["step"] for s in steps] == list(range(1, STEPS + 1))
    assert sorted(got) == list(range(1, STEPS + 1))
    for s in steps:
        attempts = got[s["step"]]
        keys = [(a["grp"], a["idx"], a["hint_level"]) for a in attempts]
        assert len(keys) == len(set(keys)), f"step {s['step']} has duplicated attempts"
        assert len(attempts) == s["metrics"]["rollouts"], f"step {s['step']} lost attempts"
    assert [s["rollouts"] for s in steps] == list(itertools.accumulate(s["metrics"]["rollouts"] for s in steps))

    # the same task order as the uninterrupted run, and the same attempts
    def tasks_of(step_attempts):
        return sorted({(a["grp"], a["task_id"]) for a in step_attempts})

    assert [tasks_of(got[s]) for s in range(1, STEPS + 1)] == [tasks_of(want[s]) for s in range(1, STEPS + 1)]

    def sampled(step_attempts):
        return [(a["grp"], a["idx"], a["hint_level"], a["text"], a["completion_ids"]) for a in step_attempts]

    for s in range(1, STEPS + 1):
        assert sampled(got[s]) == sampled(want[s]), f"step {s} sampled differently after resume"
    assert victim_evals == ref_evals  # one evaluation per step, none repeated, same numbers
    assert (victim_dir / "report.html").is_file()


def test_resume_refuses_config_changes(mentor_cli, smoke_run):
    assert smoke_run.result.returncode == 0, smoke_run.result
    with open_readonly(smoke_run.run_dir) as store:
        before = store.last_step()
    for extra in (["--set", "optim.steps=3"], ["--preset", "control"], ["--run-dir", "elsewhere"]):
        r = mentor_cli("train", "--resume", str(smoke_run.run_dir), *extra)
        assert r.returncode == 2, r
        assert "Traceback" not in r.output
        assert "--resume uses the configuration and directory stored with the run" in r.stderr, r
        assert "drop --config/--set/--preset/--run-dir when resuming" in r.stderr, r
    with open_readonly(smoke_run.run_dir) as store:
        assert store.last_step() == before


def test_resume_of_a_finished_run_adds_nothing(mentor_cli, smoke_run, tmp_path):
    assert smoke_run.result.returncode == 0, smoke_run.result
    copy = tmp_path / "copy"
    shutil.copytree(smoke_run.run_dir, copy)
    with open_readonly(copy) as store:
        before = (store.last_step(), store.count_attempts(), len(store.evals()))
    r = mentor_cli("train", "--resume", str(copy), "--no-report")
    assert r.returncode == 0, r
    with open_readonly(copy) as store:
        assert (store.last_step(), store.count_attempts(), len(store.evals())) == before


def test_resume_after_a_kill_before_the_tasks_were_saved(mentor_cli, tmp_path):
    """The store is created, then its tasks saved: a kill between the two must still resume."""
    cfg = load_config(None, None, "smoke")
    RunStore.create(tmp_path / "run", json.dumps(cfg.model_dump(mode="json"), sort_keys=True), cfg.hash(),
                    {}).close()
    r = mentor_cli("train", "--resume", str(tmp_path / "run"), "--no-report")
    assert r.returncode == 0, r
    with open_readonly(tmp_path / "run") as store:
        assert store.last_step() == 2
        assert len(store.load_tasks("train")) == cfg.tasks.train_size
