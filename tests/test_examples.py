"""The shipped examples stay runnable: configs load, the default config is the defaults, task files
validate, rubrics lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor.config import load_config
from mentor.grade.bundle import lock_rubric
from mentor.tasks import validate_tasks
from mentor.tasks.jsonl import read_jsonl_tasks

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_default_example_config_is_exactly_the_defaults() -> None:
    assert load_config(EXAMPLES / "configs" / "default.yaml").hash() == load_config().hash()


@pytest.mark.parametrize("path", sorted((EXAMPLES / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_load(path: Path) -> None:
    load_config(path)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "tasks").glob("*.jsonl")), ids=lambda p: p.name)
def test_example_tasks_validate(path: Path) -> None:
    report = validate_tasks(read_jsonl_tasks(path))
    assert report.checked > 0 and report.ok, report.failures


@pytest.mark.parametrize("path", sorted((EXAMPLES / "rubrics").glob("*.yaml")), ids=lambda p: p.name)
def test_example_rubrics_lock(path: Path, tmp_path: Path) -> None:
    bundle = lock_rubric(path, out=tmp_path / f"{path.stem}.lock.json")
    assert len(bundle.hash) == 64 and (tmp_path / f"{path.stem}.lock.json").is_file()
