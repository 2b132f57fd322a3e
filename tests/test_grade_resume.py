"""`mentor grade` writes each batch as it is graded and resumes from its own output; the judge's
deadline settings are flags documented in --help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import mentor.cli_grade as cli_grade
from mentor.cli_grade import grade_command
from mentor.errors import InputError
from mentor.grade import ScriptedJudge

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "examples" / "rubrics" / "math_answer.yaml"
EXPLAIN = ROOT / "examples" / "rubrics" / "explanation.yaml"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("grade")(grade_command)
    app.command("other")(lambda: None)  # two commands, so `grade` is a subcommand as in the real CLI
    return app


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"task": {"id": f"t{i}", "prompt": f"{i}+1?", "answer": str(i + 1)}, "attempt": f"Answer: {i + 1}"}
            for i in range(n)]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _grade(rubric: Path, inp: Path, out: Path, batch: int = 2, **kw: Any) -> Any:
    args = ["grade", "--rubric", str(rubric), "--input", str(inp), "--output", str(out), "--cache", "",
            "--batch", str(batch), "--judge", kw.pop("judge", "none")]
    return CliRunner().invoke(_app(), args)


def _read(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_help_documents_the_judge_settings() -> None:
    res = CliRunner().invoke(_app(), ["grade", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for flag in ("--judge-timeout", "--judge-concurrency", "--api-key-env", "--grade-deadline", "--judge-decoding"):
        assert flag in res.output, flag
    assert "trickles" in res.output and "Retry-After" in res.output


def test_rerun_grades_only_what_is_missing_and_cuts_a_torn_line(tmp_path: Path) -> None:
    rows = _rows(5)
    inp = _write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    res = _grade(MATH, _write(tmp_path / "first3.jsonl", rows[:3]), out)
    assert res.exit_code == 0, res.output
    assert len(_read(out)) == 3
    with out.open("a", encoding="utf-8") as fh:  # a kill in the middle of a write
        fh.write('{"task": {"id": "t3"')
    res = _grade(MATH, inp, out)
    assert res.exit_code == 0, res.output
    assert "resuming: 3 of 5" in res.output
    got = _read(out)
    assert sorted(r["task"]["id"] for r in got) == [f"t{i}" for i in range(5)]
    assert all(r["grade"]["score"] == 1.0 for r in got)
    res = _grade(MATH, inp, out)  # nothing left to do: nothing appended
    assert res.exit_code == 0 and len(_read(out)) == 5


def test_duplicate_input_lines_each_get_a_grade(tmp_path: Path) -> None:
    rows = _rows(2)
    inp = _write(tmp_path / "in.jsonl", [rows[0], rows[0], rows[1]])
    out = tmp_path / "out.jsonl"
    _grade(MATH, _write(tmp_path / "one.jsonl", [rows[0]]), out)
    res = _grade(MATH, inp, out)
    assert res.exit_code == 0, res.output
    assert [r["task"]["id"] for r in _read(out)] == ["t0", "t0", "t1"]


def test_output_of_another_rubric_is_refused_before_grading(tmp_path: Path) -> None:
    inp = _write(tmp_path / "in.jsonl", _rows(2))
    out = tmp_path / "out.jsonl"
    _grade(MATH, inp, out)
    other = tmp_path / "other.yaml"
    other.write_text(MATH.read_text().replace("version: 1", "version: 2"))
    with pytest.raises(InputError, match="another rubric bundle"):
        grade_command(rubric=other, input=inp, output=out, judge="none", judge_url=None, judge_model=None,
                      concurrency=1, cache=None, batch=8, attack_suite=False)


def test_interrupted_run_keeps_finished_batches_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A judge that dies on the third batch: the first two batches are on disk; the rerun finishes."""
    calls = {"n": 0}

    def dying(req: Any) -> str:
        calls["n"] += 1
        if calls["n"] > 4 * 3:  # 2 batches x 2 attempts x 3 samples
            raise KeyboardInterrupt
        return ScriptedJudge.always_full_marks().responder(req)

    monkeypatch.setattr(cli_grade, "_judge_for", lambda *a, **k: ScriptedJudge(dying))
    text = ("Sunlight is scattered by air molecules, and blue light, with its shorter wavelength, is "
            "scattered far more than red light. That scattered blue light reaches our eyes from every "
            "direction of the sky, so the whole sky looks blue.")
    rows = [{"task": {"id": f"s{i}", "prompt": "Explain why the sky is blue.", "answer": "scattering"},
             "attempt": text + f" (take {i})"} for i in range(6)]
    inp = _write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        grade_command(rubric=EXPLAIN, input=inp, output=out, judge="local", judge_url=None, judge_model=None,
                      concurrency=1, cache=None, batch=2, attack_suite=False)
    first = _read(out)
    assert [r["task"]["id"] for r in first] == ["s0", "s1", "s2", "s3"]
    assert all(r["grade"]["score"] == 1.0 for r in first)  # explanation rubric + task answer: judged, not 0
    calls["n"] = -1000
    grade_command(rubric=EXPLAIN, input=inp, output=out, judge="local", judge_url=None, judge_model=None,
                  concurrency=1, cache=None, batch=2, attack_suite=False)
    assert [r["task"]["id"] for r in _read(out)] == [f"s{i}" for i in range(6)]
    assert calls["n"] == -1000 + 2 * 3  # only the two missing attempts were judged


def test_api_key_env_named_but_unset_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_JUDGE_KEY", raising=False)
    inp = _write(tmp_path / "in.jsonl", _rows(1))
    res = CliRunner().invoke(_app(), ["grade", "--rubric", str(EXPLAIN), "--input", str(inp), "--output",
                                      str(tmp_path / "o.jsonl"), "--judge", "openai", "--judge-url",
                                      "http://127.0.0.1:9/v1", "--judge-model", "m", "--api-key-env",
                                      "NO_SUCH_JUDGE_KEY", "--cache", ""])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    assert "NO_SUCH_JUDGE_KEY" in str(res.exception) and not (tmp_path / "o.jsonl").exists()
