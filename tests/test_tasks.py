"""Task sources: reasoning-gym by name and level, JSONL files with line-numbered errors, the mix's
train/held-out split, and `validate_tasks`."""

from __future__ import annotations

import json
import re

import pytest

from mentor.config import TasksConfig, TaskSpec
from mentor.errors import TaskError, VerifierError
from mentor.grade.answer import VERIFIERS
from mentor.tasks import build_task_source, load_task_mix, validate_tasks
from mentor.tasks.jsonl import read_jsonl_tasks
from mentor.types import Task


def rg(name: str = "basic_arithmetic", **kw) -> TaskSpec:
    return TaskSpec(source="reasoning_gym", name=name, **kw)


def task_error(fn, *args) -> str:
    with pytest.raises(TaskError) as info:
        fn(*args)
    return info.value.render()


# ------------------------------------------------------------------------------------ reasoning-gym


def test_reasoning_gym_is_deterministic_per_seed():
    src = build_task_source(rg(config={"min_terms": 2, "max_terms": 3}))
    a, b = src.tasks("train", 12, seed=3), src.tasks("train", 12, seed=3)
    assert a == b
    other = src.tasks("train", 12, seed=4)
    assert [t.prompt for t in a] != [t.prompt for t in other]
    # a fresh source (another process, in effect) gives the same tasks
    assert build_task_source(rg(config={"min_terms": 2, "max_terms": 3})).tasks("train", 12, seed=3) == a


def test_reasoning_gym_tasks_carry_their_scorer():
    [t] = build_task_source(rg("chain_sum")).tasks("train", 1, seed=0)
    assert t.verifier == "reasoning_gym" and t.source == "reasoning_gym:chain_sum"
    assert t.meta["dataset"] == "chain_sum" and t.meta["entry"]["answer"] == t.answer
    assert t.skills == ("chain_sum",)
    json.dumps(dict(t.meta))  # stored with the run: must be plain JSON


def test_reasoning_gym_config_kwargs_reach_the_generator():
    src = build_task_source(rg(config={"min_terms": 4, "max_terms": 4, "operators": ["*"]}))
    for t in src.tasks("train", 5, seed=0):
        expression = t.meta["metadata"]["expression"]
        assert expression.count("*") == 3 and "+" not in expression and "/" not in expression


def test_mix_train_and_heldout_are_disjoint_by_prompt_and_id():
    cfg = TasksConfig(mix=[rg(config={"min_terms": 2, "max_terms": 2}), rg("chain_sum")],
                      train_size=60, heldout_size=20)
    train, held = load_task_mix(cfg, seed=0)
    assert len(train) == 60 and 0 < len(held) <= 20
    assert not {t.prompt for t in train} & {t.prompt for t in held}
    assert not {t.id for t in train} & {t.id for t in held}
    assert len({t.prompt for t in held}) == len(held)  # no repeats inside the held-out set
    assert {t.source for t in train} == {"reasoning_gym:basic_arithmetic", "reasoning_gym:chain_sum"}
    assert load_task_mix(cfg, seed=0) == (train, held)  # deterministic, order included


def test_mix_weights_split_the_pool():
    cfg = TasksConfig(mix=[rg(weight=3.0), rg("chain_sum", weight=1.0)], train_size=20, heldout_size=4)
    train, _ = load_task_mix(cfg, seed=0)
    by_source = [t.source for t in train]
    assert by_source.count("reasoning_gym:basic_arithmetic") == 15
    assert by_source.count("reasoning_gym:chain_sum") == 5


def test_unknown_dataset_suggests_a_close_name():
    msg = task_error(build_task_source, rg("basic_arithmetc"))
    assert "unknown reasoning-gym dataset 'basic_arithmetc'" in msg
    assert "did you mean basic_arithmetic" in msg
    assert msg.startswith("tasks.mix:")


def test_unknown_source_lists_the_registry():
    msg = task_error(build_task_source, TaskSpec(source="huggingface", name="gsm8k"))
    assert "unknown task source 'huggingface'" in msg and "jsonl" in msg and "reasoning_gym" in msg


def test_levels_split_the_tasks_and_raise_difficulty():
    src = build_task_source(rg(levels=[0, 3]))
    tasks = src.tasks("train", 10, seed=0)
    assert [t.level for t in tasks] == [0] * 5 + [3] * 5
    assert all(f"/L{t.level}/" in t.id for t in tasks)
    assert len({t.bucket for t in tasks}) == 2

    def digits(t: Task) -> int:
        return max(len(n) for n in re.findall(r"\d+", t.prompt))

    assert max(digits(t) for t in tasks[:5]) < max(digits(t) for t in tasks[5:])


def test_level_beyond_the_curriculum_is_an_error_not_silently_clamped():
    msg = task_error(lambda: build_task_source(rg(levels=[50])).tasks("train", 2, 0))
    assert "level 50 is not available for 'basic_arithmetic'" in msg
    assert msg.startswith("tasks.mix.levels:")


def test_level_on_a_dataset_without_curriculum_is_an_error():
    msg = task_error(lambda: build_task_source(rg("list_functions", levels=[1])).tasks("train", 2, 0))
    assert "has no curriculum" in msg and "levels: [0]" in msg


def test_bad_dataset_config_names_the_dataset():
    msg = task_error(lambda: build_task_source(rg(config={"max_termz": 2})).tasks("train", 2, 0))
    assert "invalid config for reasoning-gym dataset 'basic_arithmetic'" in msg and "max_termz" in msg


def test_reference_answers_of_reasoning_gym_validate():
    src = build_task_source(rg("chain_sum", levels=[0, 1]))
    report = validate_tasks(src.tasks("train", 10, 0) + src.tasks("heldout", 10, 0))
    assert report.checked == 20 and report.ok, report.failures


# ------------------------------------------------------------------------------------ JSONL


GOOD = [
    {"id": "a", "prompt": "What is 2 + 2?", "answer": "4", "skills": ["addition"], "difficulty": 1},
    {"prompt": "What is 3 * 3?", "answer": 9, "skills": "multiplication", "solution": "3 * 3 = 9"},
    {"id": "c", "prompt": "Simplify 2/4.", "answer": "\\frac{1}{2}", "verifier": "math", "meta": {"k": 1}},
]


def write_jsonl(path, rows, raw_lines=()):
    lines = [json.dumps(r) for r in rows] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_good_file_loads(tmp_path):
    path = write_jsonl(tmp_path / "good.jsonl", GOOD[:1] + [{}][:0] + GOOD[1:])
    # a blank line is skipped, and still counts for line numbers
    path.write_text(path.read_text().replace("\n", "\n\n", 1))
    a, b, c = read_jsonl_tasks(path)
    assert (a.id, a.skills, a.level, a.answer, a.verifier) == ("a", ("addition",), 1, "4", "math")
    assert (b.id, b.skills, b.level, b.answer, b.solution) == ("good/3", ("multiplication",), None, "9", "3 * 3 = 9")
    assert c.meta == {"k": 1} and c.source == "jsonl:good.jsonl"


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"prompt": "1 + 1?", "answer": ', "not valid JSON"),
        ('["prompt", "answer"]', "each line must be a JSON object"),
        ('{"answer": "2"}', "missing or empty 'prompt'"),
        ('{"prompt": "  ", "answer": "2"}', "missing or empty 'prompt'"),
        ('{"prompt": "1 + 1?"}', "missing 'answer'"),
        ('{"prompt": "1 + 1?", "answer": null}', "missing 'answer'"),
        ('{"prompt": "1 + 1?", "answer": "2", "dificulty": 1}', "unknown field(s) ['dificulty']"),
        ('{"prompt": "1 + 1?", "answer": "2", "difficulty": "hard"}', "'difficulty' must be an integer"),
        ('{"prompt": "1 + 1?", "answer": "2", "verifier": "sympy"}', "unknown verifier 'sympy'"),
        ('{"id": "a", "prompt": "1 + 1?", "answer": "2"}', "duplicate id 'a' (first on line 1)"),
    ],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path, bad_line, expected):
    path = write_jsonl(tmp_path / "tasks.jsonl", GOOD[:2], [bad_line, json.dumps(GOOD[2])])
    msg = task_error(read_jsonl_tasks, path)
    assert msg.startswith(f"{path}:3: "), msg
    assert expected in msg
    assert "Fix:" in msg


def test_jsonl_missing_and_empty_files(tmp_path):
    assert task_error(read_jsonl_tasks, tmp_path / "none.jsonl").startswith(f"{tmp_path / 'none.jsonl'}: task file not found")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert "has no tasks" in task_error(read_jsonl_tasks, empty)


def test_jsonl_source_splits_disjointly(tmp_path):
    rows = [{"id": f"q{i}", "prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(20)]
    spec = TaskSpec(source="jsonl", path=str(write_jsonl(tmp_path / "t.jsonl", rows)))
    src = build_task_source(spec)
    train, held = src.tasks("train", 100, seed=0), src.tasks("heldout", 100, seed=0)
    assert len(held) == 4 and len(train) == 16
    assert {t.id for t in train} | {t.id for t in held} == {r["id"] for r in rows}
    assert not {t.id for t in train} & {t.id for t in held}
    assert src.tasks("heldout", 100, seed=0) == held
    assert src.tasks("heldout", 100, seed=1) != held


def test_jsonl_source_needs_a_path():
    assert "needs a 'path'" in task_error(build_task_source, TaskSpec(source="jsonl"))


def test_mix_heldout_never_repeats_a_training_prompt_of_another_source(tmp_path):
    # Two files that share prompts: a held-out task of one must not be a training task of the other.
    shared = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(10)]
    own = [{"prompt": f"What is {i} * 2?", "answer": str(i * 2)} for i in range(10)]
    a = write_jsonl(tmp_path / "a.jsonl", shared)
    b = write_jsonl(tmp_path / "b.jsonl", own + shared)
    cfg = TasksConfig(mix=[TaskSpec(source="jsonl", path=str(a)), TaskSpec(source="jsonl", path=str(b))],
                      train_size=24, heldout_size=6)
    for seed in range(3):  # each of these seeds puts a shared training prompt of a.jsonl in b's held-out slice
        train, held = load_task_mix(cfg, seed=seed)
        assert held
        assert not {t.prompt for t in train} & {t.prompt for t in held}
        assert len({t.prompt for t in held}) == len(held)


# ------------------------------------------------------------------------------------ validate


def test_validate_passes_good_tasks(tmp_path):
    report = validate_tasks(read_jsonl_tasks(write_jsonl(tmp_path / "g.jsonl", GOOD)))
    assert report.ok and report.checked == 3 and report.failures == []


def test_validate_reports_a_reference_answer_its_verifier_rejects(monkeypatch):
    def broken(task, extracted):
        raise VerifierError("cannot parse the reference")

    monkeypatch.setitem(VERIFIERS, "test-broken", broken)
    [good] = build_task_source(rg()).tasks("train", 1, seed=0)
    entry = dict(good.meta["entry"])
    wrong = Task(id="bad/1", prompt=good.prompt, answer="12345", verifier="reasoning_gym",
                 meta={**good.meta, "entry": entry})
    unparsable = Task(id="bad/2", prompt="?", answer="\\frac{", verifier="test-broken")
    no_answer = Task(id="bad/3", prompt="?", answer=None)
    report = validate_tasks([good, wrong, unparsable, no_answer])
    assert report.checked == 4 and not report.ok
    reasons = {t.id: why for t, why in report.failures}
    assert set(reasons) == {"bad/1", "bad/2", "bad/3"}
    assert "reference answer '12345' scores 0 < 1" in reasons["bad/1"]
    assert reasons["bad/2"] == "verifier failed: cannot parse the reference"
    assert reasons["bad/3"] == "no reference answer"


def test_validate_reports_a_crashing_plugin_verifier(monkeypatch):
    def crash(task, extracted):
        raise ZeroDivisionError("plug-in bug")

    monkeypatch.setitem(VERIFIERS, "test-crash", crash)
    report = validate_tasks([Task(id="x", prompt="?", answer="1", verifier="test-crash")])
    [(task, why)] = report.failures
    assert task.id == "x" and "verifier failed" in why and "plug-in bug" in why
