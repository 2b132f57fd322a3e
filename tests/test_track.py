"""Tracking sinks are views of the store: metrics.jsonl rows and TensorBoard events hold what the
store holds, a rebuild from the store gives the same rows, and a missing extra fails before any work."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from mentor.config import RunConfig
from mentor.errors import ConfigError, MissingExtraError
from mentor.store import open_readonly
from mentor.track import (
    JSONL_NAME,
    JsonlSink,
    TrackioSink,
    WandbSink,
    open_sinks,
    parse_sinks,
    scalars,
    step_seconds,
    store_rows,
    write_step,
)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """A smoke run (3 steps of the tiny model) written with both file sinks."""
    from conftest import run_mentor

    run_dir = tmp_path_factory.mktemp("track") / "run"
    r = run_mentor(["train", "--preset", "smoke", "--set", "optim.steps=3", "--run-dir", str(run_dir),
                    "--report-to", "jsonl,tensorboard", "--no-report"], timeout=300)
    assert r.returncode == 0, r
    return run_dir


def test_metrics_jsonl_rows_match_the_store(tracked_run):
    rows = _rows(tracked_run / JSONL_NAME)
    with open_readonly(tracked_run) as store:
        steps, evals = store.steps(), {e.step: e for e in store.evals()}
    assert [r["step"] for r in rows] == [0] + [s["step"] for s in steps] == [0, 1, 2, 3]
    assert rows[0]["heldout"]["accuracy"] == evals[0].accuracy and rows[0]["rollouts"] == 0
    for row, s in zip(rows[1:], steps, strict=True):
        assert row["rollouts"] == s["rollouts"]  # the run's total, not the step's own count
        assert row["step_rollouts"] == s["metrics"]["rollouts"]
        for key in ("mean_reward", "signal_share", "hinted_attempt_share", "hint_reliance", "credit", "update"):
            assert row[key] == s["metrics"][key], key
        assert row["timings"] == s["timings"]
        assert row["step_seconds"] == pytest.approx(sum(s["timings"].values()))
        e = evals.get(s["step"])
        assert (row["heldout"] is None) == (e is None)
        if e is not None:
            assert (row["heldout"]["accuracy"], row["heldout"]["n"]) == (e.accuracy, e.n)


def test_tensorboard_events_read_back(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tracked_run / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/signal_share", "train/mean_reward", "heldout/accuracy", "time/sample", "update/loss"} <= tags
    with open_readonly(tracked_run) as store:
        steps, evals = store.steps(), store.evals()
    signal = [(e.step, e.value) for e in acc.Scalars("train/signal_share")]
    assert signal == [(s["step"], pytest.approx(s["metrics"]["signal_share"])) for s in steps]
    held = [(e.step, e.value) for e in acc.Scalars("heldout/accuracy")]
    assert held == [(e.step, pytest.approx(e.accuracy)) for e in evals]


def test_report_rebuilds_the_sinks_from_the_store(tracked_run, tmp_path, mentor_cli):
    copy = tmp_path / "copy"
    shutil.copytree(tracked_run, copy)
    original = _rows(copy / JSONL_NAME)
    (copy / JSONL_NAME).write_text("garbage\n")
    shutil.rmtree(copy / "tb")
    r = mentor_cli("report", str(copy), "--sinks", "jsonl,tensorboard")
    assert r.returncode == 0, r
    assert _rows(copy / JSONL_NAME) == original
    assert list((copy / "tb").glob("events.out.tfevents.*"))


def test_a_sink_that_fell_behind_catches_up_from_the_store(tracked_run, tmp_path):
    """Killed between a commit and the sink write, or cut mid-line: the next write fills the gap."""
    copy = tmp_path / "copy"
    shutil.copytree(tracked_run, copy)
    full = (copy / JSONL_NAME).read_text().splitlines()
    (copy / JSONL_NAME).write_text("\n".join(full[:2]) + "\n" + full[2][:20])  # steps 0, 1 and half of 2
    with open_readonly(copy) as store:
        sinks = open_sinks(["jsonl"], copy, fresh=False)
        assert sinks[0].last_step == 1
        write_step(store, 3, sinks)
        sinks[0].close()
        expected = store_rows(store)
    assert _rows(copy / JSONL_NAME) == json.loads(json.dumps(expected))


def test_scalars_flatten_nested_summaries_and_drop_the_rest():
    row = {"step": 4, "rollouts": 64, "committed_at": 1.0, "signal_share": 0.5, "hint_levels": [1, 2],
           "hint_reliance": None, "credit": {"judge_calls": 3, "assigner": "outcome"},
           "selector": {"frontier": {"level0": 0.25}}, "timings": {"sample": 1.5}, "step_seconds": 1.5,
           "heldout": {"accuracy": 0.4, "rollouts": 64}, "flag": True}
    assert scalars(row) == {"train/rollouts": 64.0, "train/signal_share": 0.5, "credit/judge_calls": 3.0,
                            "selector/frontier/level0": 0.25, "time/sample": 1.5, "time/step_seconds": 1.5,
                            "heldout/accuracy": 0.4, "train/flag": 1.0}
    assert step_seconds({"sample": 1.0, "update": 2.5}) == 3.5


def test_report_to_does_not_change_the_run_identity():
    assert RunConfig(report_to=["tensorboard", "wandb"]).hash() == RunConfig().hash()
    assert RunConfig().report_to == ["jsonl"]


def test_unknown_sink_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown tracking sink 'mlflow'"):
        parse_sinks("jsonl,mlflow")
    assert parse_sinks("none") == []
    assert parse_sinks("tensorboard, jsonl,tensorboard") == ["tensorboard", "jsonl"]


def test_cli_refuses_an_unknown_sink_before_any_work(mentor_cli, tmp_path):
    r = mentor_cli("train", "--preset", "smoke", "--run-dir", str(tmp_path / "run"), "--report-to", "mlflow")
    assert r.returncode == 2 and "Traceback" not in r.output, r
    assert "unknown tracking sink 'mlflow'" in r.stderr and "Fix:" in r.stderr, r
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_missing_extra_names_the_install_before_any_work(mentor_cli, tmp_path):
    r = mentor_cli("train", "--preset", "smoke", "--run-dir", str(tmp_path / "run"), "--report-to", "jsonl,wandb")
    assert r.returncode == 2 and "Traceback" not in r.output, r
    assert "pip install 'mentor-rl[wandb]'" in r.stderr, r
    assert not (tmp_path / "run").exists()
    with pytest.raises(MissingExtraError):
        open_sinks(["wandb"], tmp_path, fresh=True)


class _Recorder:
    """Stands in for the wandb and trackio modules: records init, log and finish calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def init(self, **kw):
        self.calls.append(("init", kw))
        return self

    def log(self, data, step):
        self.calls.append(("log", (step, data)))

    def finish(self):
        self.calls.append(("finish", None))


@pytest.mark.parametrize("module,cls", [("wandb", WandbSink), ("trackio", TrackioSink)])
def test_dashboard_sinks_are_offline_and_log_every_row(tracked_run, tmp_path, monkeypatch, module, cls):
    rec = _Recorder()
    monkeypatch.setitem(sys.modules, module, types.SimpleNamespace(init=rec.init, log=rec.log, finish=rec.finish))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("TRACKIO_SPACE_ID", raising=False)
    with open_readonly(tracked_run) as store:
        sinks = open_sinks([module], tracked_run, fresh=True, config=store.config)
        assert isinstance(sinks[0], cls)
        write_step(store, store.last_step(), sinks)
        sinks[0].close()
    init = rec.calls[0][1]
    assert rec.calls[0][0] == "init" and init["name"] == tracked_run.name
    if module == "wandb":
        assert init["mode"] == "offline"
    else:
        assert "space_id" not in init  # trackio stays local unless given a Space
    logged = [c[1] for c in rec.calls if c[0] == "log"]
    assert [step for step, _ in logged] == [0, 1, 2, 3]
    assert "heldout/accuracy" in logged[0][1] and "train/signal_share" in logged[1][1]
    assert rec.calls[-1][0] == "finish"


def test_jsonl_sink_opens_its_file_only_on_the_first_row(tmp_path):
    (tmp_path / JSONL_NAME).write_text('{"step": 0}\n')
    sink = JsonlSink(tmp_path, fresh=True)
    sink.close()
    assert (tmp_path / JSONL_NAME).read_text() == '{"step": 0}\n'  # a refused run keeps its file


def test_resume_can_add_a_sink_and_mend_a_lagging_one(tracked_run, tmp_path, mentor_cli):
    """`--report-to` on `--resume` (a finished run: no step left): the new TensorBoard sink gets the
    whole history, and metrics.jsonl missing its last row is completed from the store."""
    copy = tmp_path / "copy"
    shutil.copytree(tracked_run, copy)
    full = _rows(copy / JSONL_NAME)
    (copy / JSONL_NAME).write_text("".join(json.dumps(r) + "\n" for r in full[:-1]))
    shutil.rmtree(copy / "tb")
    r = mentor_cli("train", "--resume", str(copy), "--report-to", "jsonl,tensorboard", "--no-report")
    assert r.returncode == 0, r
    assert _rows(copy / JSONL_NAME) == full
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(copy / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("heldout/accuracy")] == [r["step"] for r in full if r["heldout"]]


def test_report_refuses_an_unknown_sink(tracked_run, mentor_cli):
    r = mentor_cli("report", str(tracked_run), "--sinks", "jsonl,csv")
    assert r.returncode == 2 and "Traceback" not in r.output, r
    assert "--sinks: unknown tracking sink 'csv'" in r.stderr, r
