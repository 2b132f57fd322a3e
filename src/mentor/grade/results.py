"""The graded JSONL that `mentor grade` writes: one line per attempt, appended and flushed as soon as
the attempt is graded, so a stopped run loses nothing, and a rerun with the same `--output` grades only
the attempts not yet in it.

An input line is known by `row_key`: the sha256 of its canonical JSON (minus any `grade` it carries).
The output line is the input object plus `grade`, so the key reads back the same from either side.
Keys are counted, not set-membership tested: two identical input lines need two output lines.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import IO, Any

from mentor.errors import InputError


def row_key(obj: dict[str, Any]) -> str:
    body = {k: v for k, v in obj.items() if k != "grade"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _drop_torn_tail(path: Path) -> None:
    """A run killed mid-write can leave a last line without its newline: cut it (it is re-graded)."""
    with path.open("rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        data = path.read_bytes()
        fh.truncate(data.rfind(b"\n") + 1)


def done_keys(path: Path, bundle_hash: str) -> Counter[str]:
    """Keys of the attempts `path` already holds a grade for. Grades of another bundle are refused:
    appending to them would mix two rubrics in one file."""
    done: Counter[str] = Counter()
    if not path.exists() or not path.is_file():
        return done
    _drop_torn_tail(path)
    with path.open(encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputError("the output file holds a line that is not JSON, so it cannot be resumed",
                                 where=where, fix="pass a new --output, or delete the file to start over") from None
            grade = row.get("grade") if isinstance(row, dict) else None
            if not isinstance(grade, dict):
                raise InputError("the output file holds a line without a 'grade', so it cannot be resumed",
                                 where=where, fix="pass a new --output, or delete the file to start over")
            if grade.get("bundle_hash") != bundle_hash:
                raise InputError(f"the output file holds grades of another rubric bundle "
                                 f"({str(grade.get('bundle_hash'))[:12]}…, this run: {bundle_hash[:12]}…)",
                                 where=where, fix="pass a new --output for this rubric")
            done[row_key(row)] += 1
    return done


class ResultWriter:
    """Appends graded rows to the output; each batch is flushed and fsynced before the next starts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[str] = path.open("a", encoding="utf-8")

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
