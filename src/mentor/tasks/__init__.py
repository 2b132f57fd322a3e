"""Tasks: sources (reasoning-gym with levels, JSONL), the mix of a run, and validation."""

from mentor.tasks.base import TaskSource
from mentor.tasks.mix import TASK_SOURCES, build_task_source, load_task_mix
from mentor.tasks.validate import validate_tasks

__all__ = ["TASK_SOURCES", "TaskSource", "build_task_source", "load_task_mix", "validate_tasks"]
