"""Tracking sinks: views of the run store for the tools people watch runs in.

The SQLite store stays the source of truth. A sink never sees the loop's in-memory metrics: after a
step is committed, `write_step` reads it back from the store and hands each sink the same row, and
`rebuild` regenerates any sink from the store alone (`mentor report DIR --sinks jsonl,tensorboard`).

Sinks: `jsonl` (`metrics.jsonl` in the run directory, one row per step), `tensorboard` (event files
under `tb/`), `trackio` and `wandb` (both offline by default; set WANDB_MODE=online, or
TRACKIO_SPACE_ID, to publish). The last three are optional extras, imported on first use.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from mentor.errors import ConfigError, MissingExtraError
from mentor.store import RunStore, open_readonly

SinkName = Literal["jsonl", "tensorboard", "trackio", "wandb"]
SINK_NAMES: tuple[str, ...] = get_args(SinkName)
JSONL_NAME = "metrics.jsonl"
TB_DIR = "tb"


# ------------------------------------------------------------------------------------------ rows


def step_seconds(timings: dict[str, float]) -> float:
    """Seconds of one step: the sum of its stage timings. The progress bar, metrics.jsonl and the
    report all use this one definition (eval included on the steps that evaluate)."""
    return float(sum(v for v in timings.values() if isinstance(v, int | float)))


def _eval_dict(e: Any) -> dict[str, Any]:
    return {"accuracy": e.accuracy, "ci_lo": e.ci_lo, "ci_hi": e.ci_hi, "pass_k": e.pass_k, "k": e.k,
            "n": e.n, "rollouts": e.rollouts}


def store_rows(store: RunStore, after: int = -1, upto: int | None = None) -> list[dict[str, Any]]:
    """The rows of steps `after < step <= upto`, built from the store only.

    A row is the step's stored metrics (reward, signal share, hint usage and reliance, credit and
    update summaries, and any selector or frontier summary the loop stores) with its timings, its
    rollout count and commit time, and the held-out evaluation made at that step if any. Step 0 is the
    evaluation before training, when the store holds one.
    """
    evals = {e.step: e for e in store.evals()}
    rows: list[dict[str, Any]] = []
    if after < 0 and 0 in evals and (upto is None or upto >= 0):
        rows.append({"step": 0, "rollouts": 0, "committed_at": None, "timings": {}, "step_seconds": 0.0,
                     "heldout": _eval_dict(evals[0])})
    for s in store.steps():
        if s["step"] <= after or (upto is not None and s["step"] > upto):
            continue
        e = evals.get(s["step"])
        metrics = dict(s["metrics"])
        # the metrics' own `rollouts` is this step's count; the row's is the run's total so far
        step_rollouts = metrics.pop("rollouts", None)
        for key in ("timings", "heldout", "heldout_accuracy"):
            metrics.pop(key, None)
        rows.append({"step": s["step"], "rollouts": s["rollouts"], "step_rollouts": step_rollouts,
                     "committed_at": s["committed_at"], **metrics, "timings": s["timings"],
                     "step_seconds": step_seconds(s["timings"]), "heldout": None if e is None else _eval_dict(e)})
    return rows


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """A row flattened to named scalars for dashboards: `train/…` (the step's own numbers),
    `<group>/…` for nested summaries (credit, update, selector, …), `time/…` and `heldout/…`.
    Lists, text and missing values are left out."""
    out: dict[str, float] = {}

    def put(name: str, v: Any) -> None:
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int | float) and math.isfinite(v):
            out[name] = float(v)

    for key, v in row.items():
        if key in ("step", "committed_at"):
            continue
        if key == "timings":
            for k, t in v.items():
                put(f"time/{k}", t)
        elif key == "heldout":
            for k, x in (v or {}).items():
                if k != "rollouts":
                    put(f"heldout/{k}", x)
        elif key == "step_seconds":
            put("time/step_seconds", v)
        elif isinstance(v, dict):
            for k, x in _flatten(v).items():
                put(f"{key}/{k}", x)
        else:
            put(f"train/{key}", v)
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, name + "/"))
        else:
            flat[name] = v
    return flat


# ------------------------------------------------------------------------------------------ sinks


class Sink(Protocol):
    """A view of the store. `last_step` is the last step it already holds (-1: none); `write` gets
    rows in step order; `close` flushes."""

    name: str
    last_step: int

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """`metrics.jsonl`: one JSON object per step, as `store_rows` builds it. On a resumed run the
    rows already in the file are kept and writing continues after the last one."""

    name = "jsonl"

    def __init__(self, run_dir: Path, fresh: bool) -> None:
        self.path = run_dir / JSONL_NAME
        self.last_step = -1
        self._fresh = fresh
        self._fh: Any = None
        if not fresh and self.path.is_file():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    kept.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut by a kill: everything from here on is rewritten from the store
            self.last_step = max((r["step"] for r in kept), default=-1)
            self._kept = kept
        else:
            self._kept = None

    def write(self, row: dict[str, Any]) -> None:
        if self._fh is None:
            # opened on the first row (after the store committed it), so a refused run directory keeps
            # whatever file it had
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")
            for r in self._kept or []:
                self._fh.write(json.dumps(r) + "\n")
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        self.last_step = row["step"]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class TensorBoardSink:
    """Event files under `RUN_DIR/tb`, read by `tensorboard --logdir RUN_DIR/tb`."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, fresh: bool, start_after: int = -1) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingExtraError("tensorboard", "tensorboard", "report_to: tensorboard") from None
        self._cls = SummaryWriter
        self.logdir = run_dir / TB_DIR
        self._fresh = fresh
        # a sink added on resume has no events yet: it gets the whole history
        self.last_step = start_after if self.logdir.is_dir() else -1
        self._writer: Any = None

    def write(self, row: dict[str, Any]) -> None:
        if self._writer is None:
            if self._fresh and self.logdir.exists():
                shutil.rmtree(self.logdir)  # on the first row, so a refused run directory keeps its files
            # purge_step: a resumed run drops any events an earlier process wrote past this step
            self._writer = self._cls(log_dir=str(self.logdir), purge_step=row["step"])
        for tag, v in scalars(row).items():
            self._writer.add_scalar(tag, v, global_step=row["step"])
        self._writer.flush()
        self.last_step = row["step"]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class TrackioSink:
    """A trackio run, local by default (trackio publishes only when given a Space)."""

    name = "trackio"

    def __init__(self, run_dir: Path, config: dict[str, Any], start_after: int = -1) -> None:
        try:
            import trackio
        except ImportError:
            raise MissingExtraError("trackio", "trackio", "report_to: trackio") from None
        self._mod = trackio
        self._init = {"project": os.environ.get("TRACKIO_PROJECT", "mentor"), "name": run_dir.name,
                      "config": config, "resume": "allow"}
        if os.environ.get("TRACKIO_SPACE_ID"):
            self._init["space_id"] = os.environ["TRACKIO_SPACE_ID"]
        self.last_step = start_after
        self._run: Any = None

    def write(self, row: dict[str, Any]) -> None:
        if self._run is None:
            self._run = self._mod.init(**self._init)
        self._mod.log(scalars(row), step=row["step"])
        self.last_step = row["step"]

    def close(self) -> None:
        if self._run is not None:
            self._mod.finish()
            self._run = None


class WandbSink:
    """A Weights & Biases run in offline mode unless WANDB_MODE says otherwise (`wandb sync` uploads)."""

    name = "wandb"

    def __init__(self, run_dir: Path, config: dict[str, Any], start_after: int = -1) -> None:
        try:
            import wandb
        except ImportError:
            raise MissingExtraError("wandb", "wandb", "report_to: wandb") from None
        self._mod = wandb
        self._init = {"project": os.environ.get("WANDB_PROJECT", "mentor"), "name": run_dir.name,
                      "dir": str(run_dir), "config": config, "mode": os.environ.get("WANDB_MODE", "offline")}
        self.last_step = start_after
        self._run: Any = None

    def write(self, row: dict[str, Any]) -> None:
        if self._run is None:
            self._run = self._mod.init(**self._init)
        self._run.log(scalars(row), step=row["step"])
        self.last_step = row["step"]

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None


def parse_sinks(value: str | Sequence[str], where: str = "--report-to") -> list[str]:
    """Sink names from `jsonl,tensorboard` or a list; an unknown name is a ConfigError. `none` (or an
    empty value) means no sink."""
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    if names == ["none"]:
        return []
    bad = [n for n in names if n not in SINK_NAMES]
    if bad:
        raise ConfigError(f"unknown tracking sink {bad[0]!r}.", where=where,
                          fix=f"use a comma-separated subset of: {', '.join(SINK_NAMES)} (or none)")
    return list(dict.fromkeys(names))


# sink -> (module it needs, extra that installs it)
_EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "trackio": ("trackio", "trackio"), "wandb": ("wandb", "wandb")}


def check_sinks(names: Iterable[str]) -> None:
    """Fail (with the install hint) if a named sink's package is missing: call before any work, even
    before a run directory exists."""
    import importlib.util

    for name in parse_sinks(list(names), where="report_to"):
        module, extra = _EXTRAS.get(name, (None, None))
        if module is not None and importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, extra, f"report_to: {name}")


def open_sinks(names: Iterable[str], run_dir: str | Path, *, fresh: bool, config: dict[str, Any] | None = None,
               start_after: int = -1) -> list[Sink]:
    """Build the named sinks for a run directory. Each optional package is imported here, so a
    missing one fails (with its install hint) before any training starts. `fresh`: a new run, whose
    sinks start empty; otherwise dashboards continue after `start_after` (the store's last step) and
    metrics.jsonl after its own last row."""
    run_dir = Path(run_dir)
    sinks: list[Sink] = []
    for name in parse_sinks(list(names), where="report_to"):
        if name == "jsonl":
            sinks.append(JsonlSink(run_dir, fresh))
        elif name == "tensorboard":
            sinks.append(TensorBoardSink(run_dir, fresh, start_after))
        elif name == "trackio":
            sinks.append(TrackioSink(run_dir, config or {}, start_after))
        else:
            sinks.append(WandbSink(run_dir, config or {}, start_after))
    return sinks


def write_step(store: RunStore, step: int, sinks: Sequence[Sink]) -> list[dict[str, Any]]:
    """After `step` is committed: give every sink the rows it lacks up to `step`, read from the store
    (so a sink that missed steps, e.g. after a kill between commit and write, catches up). Returns
    the rows written to the sink furthest behind."""
    if not sinks:
        return []
    rows = store_rows(store, after=min(s.last_step for s in sinks), upto=step)
    for sink in sinks:
        for row in rows:
            if row["step"] > sink.last_step:
                sink.write(row)
    return rows


def close_sinks(sinks: Sequence[Sink]) -> None:
    for sink in sinks:
        sink.close()


def rebuild(run_dir: str | Path, names: Iterable[str]) -> list[str]:
    """Regenerate the named sinks from the store alone (a run's `metrics.jsonl` and `tb/` are
    replaced). Returns what was written, for the user."""
    run_dir = Path(run_dir)
    with open_readonly(run_dir) as store:
        sinks = open_sinks(names, run_dir, fresh=True, config=store.config)
        try:
            write_step(store, store.last_step(), sinks)
        finally:
            close_sinks(sinks)
    written = []
    for s in sinks:
        if isinstance(s, JsonlSink):
            written.append(str(s.path))
        elif isinstance(s, TensorBoardSink):
            written.append(str(s.logdir))
        else:
            written.append(s.name)
    return written
