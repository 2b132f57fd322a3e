"""One summary record per run, read from its store: `mentor runs` (table and --json) and the report's
headline use it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from mentor.store import STORE_NAME, EvalRow, open_readonly


def find_runs(root: str | Path) -> list[Path]:
    """Run directories under `root` (one level down), or `root` itself when it is a run directory."""
    root = Path(root)
    if (root / STORE_NAME).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/{STORE_NAME}"))


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds")


def eval_record(e: EvalRow | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"step": e.step, "rollouts": e.rollouts, "accuracy": e.accuracy, "ci": [e.ci_lo, e.ci_hi], "n": e.n,
            "pass_k": e.pass_k, "k": e.k}


def setup_summary(config: dict[str, Any]) -> dict[str, Any]:
    """What a reader needs to tell runs apart: the selector, the group filter (None: every group trained),
    the hint schedule ("none" is off), the credit."""
    schedule = ((config.get("hints") or {}).get("schedule") or {}).get("name", "?")
    return {
        "selector": ((config.get("curriculum") or {}).get("selector") or {}).get("name", "?"),
        "filter": ((config.get("curriculum") or {}).get("filter") or {}).get("name"),
        "hints": "off" if schedule == "none" else schedule,
        "credit": ((config.get("credit") or {}).get("assigner") or {}).get("name", "?"),
        "steps": (config.get("optim") or {}).get("steps"),
        "rollout_budget": (config.get("optim") or {}).get("rollout_budget"),
        "seed": config.get("seed"),
    }


def run_record(run_dir: str | Path) -> dict[str, Any]:
    """A run as plain JSON-able data: when it started, on which model, set up how, how far it got and
    its held-out accuracy before training and at the last evaluation."""
    with open_readonly(run_dir) as store:
        config = store.config
        steps = store.steps()
        evals = store.evals()
        created = store.meta("created_at")
        started = float(created) if created else None
        last_commit = steps[-1]["committed_at"] if steps else None
        return {
            "run_dir": str(run_dir),
            "started_at": _iso(started),
            "last_step_at": _iso(last_commit),
            # from the store's creation to the last commit: model loading and the first evaluation
            # included, time between a kill and a resume too
            "wall_seconds": None if started is None or last_commit is None else last_commit - started,
            "model": (config.get("model") or {}).get("name", "?"),
            "setup": setup_summary(config),
            "status": store.meta("status") or "?",
            "steps": store.last_step(),
            "rollouts": store.rollouts_at(store.last_step()),
            "heldout_before": eval_record(evals[0] if evals else None),
            "heldout_last": eval_record(evals[-1] if evals else None),
            "config_hash": store.meta("config_hash") or "",
        }
