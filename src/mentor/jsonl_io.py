"""Reading JSONL input that users write by hand: one JSON object per line, every mistake reported
with `file:line` and the fix, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mentor.errors import MentorError


def read_json_objects(path: Path, error: type[MentorError], example: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Yield (line number, `file:line`, object) for each non-blank line; a line that is not a JSON object raises
    `error` naming the line, with `example` (one valid line) as the fix."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise error(f"not UTF-8 text (byte {exc.start + 1} of the line is 0x{raw[exc.start]:02x}).",
                            where=f"{path}:{lineno}",
                            fix=f"save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > fixed.jsonl") from None
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj: Any = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"not valid JSON ({exc.msg} at column {exc.colno}).", where=where,
                            fix=f"write one JSON object per line, e.g. {example}") from None
            if not isinstance(obj, dict):
                raise error("each line must be a JSON object.", where=where, fix=f"e.g. {example}")
            yield lineno, where, obj
