"""`mentor tasks validate`: every reference answer must get full credit from its own verifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mentor.errors import VerifierError
from mentor.grade.answer import get_verifier
from mentor.types import Task


@dataclass
class ValidationReport:
    checked: int = 0
    failures: list[tuple[Task, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def validate_tasks(tasks: Sequence[Task]) -> ValidationReport:
    report = ValidationReport()
    for task in tasks:
        report.checked += 1
        if task.answer is None:
            report.failures.append((task, "no reference answer"))
            continue
        try:
            score = get_verifier(task.verifier)(task, task.answer)
        except VerifierError as exc:
            report.failures.append((task, f"verifier failed: {exc.message}"))
            continue
        except Exception as exc:  # a plug-in verifier that crashes is reported, not a traceback
            report.failures.append((task, f"verifier failed: {exc!r}"))
            continue
        if score < 1.0:
            report.failures.append((task, f"reference answer {task.answer!r} scores {score:g} < 1"))
    return report
