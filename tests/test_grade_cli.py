"""CLI commands, called as the main app will mount them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mentor.cli_grade import calibrate_command, grade_command, rubric_app
from mentor.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "examples" / "rubrics" / "math_answer.yaml"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(rubric_app, name="rubric")
    app.command("grade")(grade_command)
    app.command("calibrate")(calibrate_command)
    return app


def _lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_lock_show_grade(tmp_path: Path) -> None:
    rubric = tmp_path / "math.yaml"
    rubric.write_text(MATH.read_text())
    runner = CliRunner()
    res = runner.invoke(_app(), ["rubric", "lock", str(rubric)])
    assert res.exit_code == 0, res.output
    bundle = tmp_path / "math.lock.json"
    assert bundle.is_file()
    res = runner.invoke(_app(), ["rubric", "show", str(bundle)])
    assert res.exit_code == 0 and "correct" in res.output
    inp = _lines(tmp_path / "in.jsonl", [
        {"task": {"id": "a", "prompt": "1+1?", "answer": "2"}, "attempt": "1+1=2\nAnswer: 2", "keep": 1},
        {"task": {"id": "b", "prompt": "1+2?", "answer": "3"}, "attempt": "Answer: 4"},
        {"task": {"id": "c", "prompt": "?", "answer": "3"}, "attempt": "no idea"},
    ])
    out = tmp_path / "out.jsonl"
    res = runner.invoke(_app(), ["grade", "--rubric", str(bundle), "--input", str(inp), "--output", str(out),
                                 "--cache", str(tmp_path / "c.sqlite")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["grade"]["score"] for r in rows] == [1.0, 0.1, 0.0]
    assert rows[0]["keep"] == 1 and rows[0]["grade"]["bundle_hash"] == json.loads(bundle.read_text())["sha256"]
    assert {"criteria", "evidence", "judge", "cost"} <= set(rows[0]["grade"])


def test_bad_input_names_file_and_line(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"task": {"id": "a", "prompt": "p"}, "attempt": "x"}\n{not json\n')
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError) as e:
        grade_command(rubric=MATH, input=inp, output=out, judge="none", judge_url=None, judge_model=None,
                      concurrency=1, cache=None, batch=8, attack_suite=False)
    assert e.value.where == f"{inp}:2"
    assert not out.exists()  # nothing half-written
    inp.write_text('{"task": {"id": "a"}, "attempt": "x"}\n')
    with pytest.raises(InputError, match=r"task\.prompt"):
        grade_command(rubric=MATH, input=inp, output=out, judge="none", judge_url=None, judge_model=None,
                      concurrency=1, cache=None, batch=8, attack_suite=False)
    with pytest.raises(InputError, match="not found"):
        grade_command(rubric=MATH, input=tmp_path / "missing.jsonl", output=out, judge="none", judge_url=None,
                      judge_model=None, concurrency=1, cache=None, batch=8, attack_suite=False)


def test_attack_suite_cli_with_worst_judge(tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), ["grade", "--rubric", str(ROOT / "examples/rubrics/explanation.yaml"),
                                      "--attack-suite", "--judge", "full-marks", "--cache", ""],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    def cells(name: str) -> list[str]:
        row = next(line for line in res.output.splitlines() if line.strip("│ ").startswith(name + " "))
        return [c.strip() for c in row.strip("│ ").split("│")]

    assert cells("all")[3] == "100.0%" and cells("all")[4] == "0.0%"  # content-free: FP defences off, on
    assert cells("all content")[3] == "100.0%" and float(cells("all content")[4].rstrip("%")) <= 5.0
    assert float(cells("genuine (credit kept)")[4].rstrip("%")) >= 95.0


def test_calibrate_cli(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    human = rng.integers(0, 5, 80)
    score = np.clip((human + rng.normal(0, 0.4, 80)) / 4, 0, 1) ** 3
    inp = _lines(tmp_path / "h.jsonl", [{"score": float(s), "human": int(h)} for s, h in zip(score, human, strict=True)])
    out = tmp_path / "cal.json"
    res = CliRunner().invoke(_app(), ["calibrate", "--rubric", str(MATH), "--input", str(inp), "--output", str(out),
                                      "--bootstrap", "100"])
    assert res.exit_code == 0, res.output
    assert "qwk" in res.output and json.loads(out.read_text())["n"] == 80
