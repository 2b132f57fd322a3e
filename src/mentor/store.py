"""The run store: one SQLite file (WAL mode) per run, the source of truth for reports and resume.

The loop writes each step in one transaction: its attempts, grades, advantages, metrics, timings,
selector state and any evaluation. A run killed at any moment therefore holds whole steps only, and
resume continues after the last committed one. Reports open the store read-only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.errors import StoreError
from mentor.types import Task

STORE_NAME = "run.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, split TEXT NOT NULL, ord INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY, committed_at REAL NOT NULL, rollouts INTEGER NOT NULL,
    metrics TEXT NOT NULL, timings TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL, task_id TEXT NOT NULL, grp INTEGER NOT NULL, idx INTEGER NOT NULL,
    hint_level INTEGER NOT NULL DEFAULT 0, hint_kind TEXT, hint_text TEXT,
    text TEXT NOT NULL, completion_ids TEXT NOT NULL, logprobs TEXT NOT NULL, n_tokens INTEGER NOT NULL,
    finished INTEGER NOT NULL, reward REAL, components TEXT NOT NULL, extracted TEXT,
    unscorable_reason TEXT, advantage REAL, token_advantages TEXT, trained INTEGER NOT NULL,
    policy_version INTEGER NOT NULL,
    UNIQUE (step, grp, idx, hint_level));
CREATE INDEX IF NOT EXISTS attempts_step ON attempts (step);
CREATE TABLE IF NOT EXISTS evals (
    step INTEGER PRIMARY KEY, rollouts INTEGER NOT NULL, accuracy REAL NOT NULL, ci_lo REAL NOT NULL,
    ci_hi REAL NOT NULL, pass_k REAL, k INTEGER, n INTEGER NOT NULL, per_task TEXT NOT NULL);
"""


@dataclass(frozen=True)
class AttemptRow:
    """One attempt as written to the store (a flattened Attempt + its Grade + its credit)."""

    task_id: str
    grp: int
    idx: int
    hint_level: int
    hint_kind: str | None
    hint_text: str | None
    text: str
    completion_ids: Sequence[int]
    logprobs: Sequence[float]
    finished: bool
    reward: float | None
    components: dict[str, Any]
    extracted: str | None
    unscorable_reason: str | None
    advantage: float | None
    token_advantages: Sequence[float] | None
    trained: bool
    policy_version: int


@dataclass(frozen=True)
class EvalRow:
    step: int
    rollouts: int
    accuracy: float
    ci_lo: float
    ci_hi: float
    pass_k: float | None
    k: int | None
    n: int
    per_task: dict[str, float]


class RunStore:
    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.conn = conn
        self.readonly = readonly

    # ------------------------------------------------------------- opening
    @classmethod
    def create(cls, run_dir: str | Path, config_json: str, config_hash: str, plugins: dict[str, Any]) -> RunStore:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / STORE_NAME
        if path.exists():
            raise StoreError(
                "this run directory already holds a run.",
                where=str(run_dir),
                fix=f"resume it with `mentor train --resume {run_dir}`, or choose another --run-dir",
            )
        conn = _connect(path)
        with conn:
            conn.executescript(_SCHEMA)
            meta = {
                "schema_version": str(SCHEMA_VERSION),
                "config": config_json,
                "config_hash": config_hash,
                "plugins": json.dumps(plugins, sort_keys=True),
                "created_at": str(time.time()),
                "status": "running",
            }
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        return cls(path, conn, readonly=False)

    @classmethod
    def open(cls, run_dir: str | Path, readonly: bool = False) -> RunStore:
        path = Path(run_dir) / STORE_NAME
        if not path.is_file():
            raise StoreError(
                "no run store here.",
                where=str(run_dir),
                fix="pass a directory written by `mentor train` (it holds run.sqlite); `mentor runs` lists them",
            )
        # Check the file read-only first, so a foreign SQLite file is refused before anything
        # (such as switching it to WAL mode) is written to it.
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            what = "corrupted" if "malformed" in str(exc) else "not a Mentor run store"
            raise StoreError(f"{what} ({exc}).", where=str(path),
                             fix="point to a run directory written by `mentor train`") from None
        if version is None or int(version[0]) != SCHEMA_VERSION:
            conn.close()
            raise StoreError("run store schema version mismatch.", where=str(path),
                             fix="open it with the Mentor version that wrote it")
        try:  # a damaged page is reported as what it is, not found later as a DatabaseError mid-report
            check = conn.execute("PRAGMA quick_check(3)").fetchall()
        except sqlite3.DatabaseError as exc:
            check = [(str(exc),)]
        if [r[0] for r in check] != ["ok"]:
            conn.close()
            detail = " ".join(" ".join(str(r[0]) for r in check).split())[:240]
            raise StoreError(f"the run store is corrupted ({detail}).", where=str(path),
                             fix="restore run.sqlite from a backup; the weights of committed steps are in "
                             f"{path.parent / 'checkpoints'}")
        if not readonly:
            conn.close()
            conn = _connect(path)
        return cls(path, conn, readonly)

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------- meta
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.meta("config") or "{}")

    # ------------------------------------------------------------- tasks
    def save_tasks(self, train: Sequence[Task], heldout: Sequence[Task]) -> None:
        rows = [(t.id, "train", i, _task_json(t)) for i, t in enumerate(train)]
        rows += [(t.id, "heldout", i, _task_json(t)) for i, t in enumerate(heldout)]
        with self.conn:
            self.conn.executemany("INSERT INTO tasks (task_id, split, ord, json) VALUES (?, ?, ?, ?)", rows)

    def load_tasks(self, split: str) -> list[Task]:
        rows = self.conn.execute("SELECT json FROM tasks WHERE split=? ORDER BY ord", (split,)).fetchall()
        return [_task_from_json(r[0]) for r in rows]

    # ------------------------------------------------------------- steps
    def last_step(self) -> int:
        """The last committed step, or 0 when none is (step numbers start at 1)."""
        row = self.conn.execute("SELECT MAX(step) FROM steps").fetchone()
        return int(row[0] or 0)

    def commit_step(
        self,
        step: int,
        rollouts: int,
        attempts: Sequence[AttemptRow],
        metrics: dict[str, Any],
        timings: dict[str, float],
        state: dict[str, Any],
        evaluation: EvalRow | None = None,
    ) -> None:
        """Write a whole step in one transaction: all of it is there afterwards, or none of it."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO steps (step, committed_at, rollouts, metrics, timings, state) VALUES (?, ?, ?, ?, ?, ?)",
                (step, time.time(), rollouts, json.dumps(metrics), json.dumps(timings), json.dumps(state)),
            )
            self.conn.executemany(
                "INSERT INTO attempts (step, task_id, grp, idx, hint_level, hint_kind, hint_text, text,"
                " completion_ids, logprobs, n_tokens, finished, reward, components, extracted,"
                " unscorable_reason, advantage, token_advantages, trained, policy_version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        step, a.task_id, a.grp, a.idx, a.hint_level, a.hint_kind, a.hint_text, a.text,
                        json.dumps(list(a.completion_ids)), json.dumps([round(x, 6) for x in a.logprobs]),
                        len(a.completion_ids), int(a.finished), a.reward, json.dumps(a.components),
                        a.extracted, a.unscorable_reason, a.advantage,
                        None if a.token_advantages is None else json.dumps([round(x, 6) for x in a.token_advantages]),
                        int(a.trained), a.policy_version,
                    )
                    for a in attempts
                ],
            )
            if evaluation is not None:
                self._insert_eval(evaluation)

    def save_eval(self, evaluation: EvalRow) -> None:
        with self.conn:
            self._insert_eval(evaluation)

    def _insert_eval(self, e: EvalRow) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO evals (step, rollouts, accuracy, ci_lo, ci_hi, pass_k, k, n, per_task)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.step, e.rollouts, e.accuracy, e.ci_lo, e.ci_hi, e.pass_k, e.k, e.n, json.dumps(e.per_task)),
        )

    def steps(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT step, committed_at, rollouts, metrics, timings, state FROM steps ORDER BY step")
        return [
            {"step": r[0], "committed_at": r[1], "rollouts": r[2], "metrics": json.loads(r[3]),
             "timings": json.loads(r[4]), "state": json.loads(r[5])}
            for r in rows
        ]

    def step_state(self, step: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT state FROM steps WHERE step=?", (step,)).fetchone()
        return {} if row is None else json.loads(row[0])

    def rollouts_at(self, step: int) -> int:
        row = self.conn.execute("SELECT rollouts FROM steps WHERE step=?", (step,)).fetchone()
        return 0 if row is None else int(row[0])

    def evals(self) -> list[EvalRow]:
        rows = self.conn.execute(
            "SELECT step, rollouts, accuracy, ci_lo, ci_hi, pass_k, k, n, per_task FROM evals ORDER BY step"
        )
        return [EvalRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8])) for r in rows]

    def attempts(self, step: int | None = None) -> Iterator[dict[str, Any]]:
        sql = "SELECT * FROM attempts" + (" WHERE step=?" if step is not None else "") + " ORDER BY id"
        cur = self.conn.execute(sql, () if step is None else (step,))
        cols = [c[0] for c in cur.description]
        for row in cur:
            d = dict(zip(cols, row, strict=True))
            for key in ("completion_ids", "logprobs", "components", "token_advantages"):
                if d.get(key) is not None:
                    d[key] = json.loads(d[key])
            yield d

    def count_attempts(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level="DEFERRED")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed step survives a power cut too, not only a killed process.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _task_json(task: Task) -> str:
    return json.dumps(
        {
            "id": task.id, "prompt": task.prompt, "answer": task.answer, "solution": task.solution,
            "skills": list(task.skills), "level": task.level, "source": task.source,
            "verifier": task.verifier, "meta": dict(task.meta),
        },
        sort_keys=True,
    )


def _task_from_json(text: str) -> Task:
    d = json.loads(text)
    return Task(
        id=d["id"], prompt=d["prompt"], answer=d["answer"], solution=d["solution"], skills=tuple(d["skills"]),
        level=d["level"], source=d["source"], verifier=d["verifier"], meta=d["meta"],
    )


@contextmanager
def open_readonly(run_dir: str | Path) -> Iterator[RunStore]:
    store = RunStore.open(run_dir, readonly=True)
    try:
        yield store
    finally:
        store.close()
