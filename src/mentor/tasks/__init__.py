"""Task sources: a protocol, an explicit registry, and deterministic train/held-out splits."""

from mentor.tasks.base import TASK_SOURCES, TaskSource, build_task_source, load_task_mix, register_task_source
from mentor.tasks.validate import ValidationReport, validate_tasks

__all__ = [
    "TASK_SOURCES",
    "TaskSource",
    "ValidationReport",
    "build_task_source",
    "load_task_mix",
    "register_task_source",
    "validate_tasks",
]
