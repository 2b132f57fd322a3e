"""Tasks from a JSONL file: one object per line with `prompt`, `answer`, and optional `solution`,
`skills`, `difficulty`, `id`, `verifier`.

Every bad line is reported with its number and the fix; nothing is skipped silently.
"""

from __future__ import annotations

import random
from pathlib import Path

from mentor.config import TaskSpec
from mentor.errors import TaskError
from mentor.jsonl_io import read_json_objects
from mentor.tasks.base import Split
from mentor.types import Task

_ALLOWED = {"id", "prompt", "answer", "solution", "skills", "difficulty", "verifier", "meta"}
HELDOUT_FRACTION = 0.2


def read_jsonl_tasks(path: str | Path) -> list[Task]:
    from mentor.grade.answer import VERIFIERS

    p = Path(path)
    if not p.is_file():
        raise TaskError("task file not found.", where=str(p), fix="pass the path of an existing JSONL file")
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for lineno, where, obj in read_json_objects(p, TaskError, '{"prompt": "2+2?", "answer": "4"}'):
        unknown = set(obj) - _ALLOWED
        if unknown:
            raise TaskError(f"unknown field(s) {sorted(unknown)}.", where=where,
                            fix=f"allowed fields: {', '.join(sorted(_ALLOWED))}")
        if not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
            raise TaskError("missing or empty 'prompt'.", where=where, fix="add a non-empty \"prompt\" string")
        if "answer" not in obj or obj["answer"] is None:
            raise TaskError("missing 'answer'.", where=where, fix="add the reference \"answer\" for the verifier")
        verifier = obj.get("verifier", "math")
        if verifier not in VERIFIERS:
            raise TaskError(f"unknown verifier '{verifier}'.", where=where,
                            fix=f"use one of: {', '.join(sorted(VERIFIERS))}")
        difficulty = obj.get("difficulty")
        if difficulty is not None and not isinstance(difficulty, int):
            raise TaskError("'difficulty' must be an integer level.", where=where, fix='e.g. "difficulty": 2')
        skills = obj.get("skills", [])
        if isinstance(skills, str):
            skills = [skills]
        task_id = str(obj.get("id", f"{p.stem}/{lineno}"))
        if task_id in seen:
            raise TaskError(f"duplicate id '{task_id}' (first on line {seen[task_id]}).", where=where,
                            fix="give every task a unique id")
        seen[task_id] = lineno
        tasks.append(
            Task(
                id=task_id,
                prompt=obj["prompt"],
                answer=str(obj["answer"]),
                solution=obj.get("solution"),
                skills=tuple(str(s) for s in skills),
                level=difficulty,
                source=f"jsonl:{p.name}",
                verifier=verifier,
                meta=dict(obj.get("meta", {})),
            )
        )
    if not tasks:
        raise TaskError("the task file has no tasks.", where=str(p), fix="add one JSON object per line")
    return tasks


class JsonlSource:
    def __init__(self, spec: TaskSpec) -> None:
        if not spec.path:
            raise TaskError("a jsonl task source needs a 'path'.", where="tasks.mix",
                            fix="e.g. {source: jsonl, path: examples/tasks/arithmetic.jsonl}")
        self.path = spec.path
        self.name = f"jsonl:{spec.path}"
        self._all = read_jsonl_tasks(spec.path)

    def tasks(self, split: Split, n: int, seed: int) -> list[Task]:
        # A fixed shuffle by seed, then a fixed held-out slice: the two splits never share a line.
        order = list(self._all)
        random.Random(seed).shuffle(order)
        n_held = max(1, round(len(order) * HELDOUT_FRACTION)) if len(order) > 1 else 0
        pool = order[:n_held] if split == "heldout" else order[n_held:]
        if not pool:
            return []
        if n <= len(pool):
            return pool[:n]
        return pool  # a file smaller than asked is used whole, never repeated into the held-out set
