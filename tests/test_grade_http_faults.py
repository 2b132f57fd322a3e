"""The HTTP judge against a real socket: a fake OpenAI-compatible server on 127.0.0.1 that implements
response_format and Retry-After and can trickle, stall, fail or invent quotes. Each fault must finish
within its deadline, end unscorable or scored correctly, leave nothing in the cache, and a healthy
rerun must re-grade."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

import pytest

from mentor.grade import Grader, JudgeCache, OpenAICompatibleJudge, compile_rubric, parse_rubric
from mentor.grade.backends import parse_retry_after
from mentor.grade.fake_server import FakeJudgeServer
from mentor.grade.judge import VERDICT_SCHEMA
from mentor.types import Task

TASK = Task("sky", "Explain why the sky is blue.")
ATTEMPT = "Air molecules scatter blue sunlight more than red light. So the sky looks blue."


def _bundle(**judge: Any) -> Any:
    return compile_rubric(parse_rubric({"name": "e", "judge": {"max_retries": 0, **judge}, "criteria": [
        {"name": "mechanism", "text": "Names the scattering mechanism.", "kind": "judge", "scale": "0/1/2"}]}))


def _judge(srv: FakeJudgeServer, **kw: Any) -> OpenAICompatibleJudge:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("backoff_s", 0.05)
    return OpenAICompatibleJudge(srv.url, "fake-judge", **kw)


def _cache_rows(cache: JudgeCache) -> int:
    return int(cache._db.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0])


def _healthy_rerun_regrades(bundle: Any, cache: JudgeCache) -> None:
    with FakeJudgeServer() as ok:
        res = Grader(bundle, _judge(ok), cache=cache).grade_detailed(TASK, ATTEMPT)
        assert len(ok.requests) == 1 and res.grade.score == 1.0 and res.cost["cache_hits"] == 0
    assert _cache_rows(cache) == 1


def test_schema_only_server_scores_every_attempt_when_asked_for_the_schema() -> None:
    items = [(Task(f"t{i}", f"Explain blue sky #{i}"), ATTEMPT) for i in range(6)]
    with FakeJudgeServer(schema_only=True) as srv:
        judge = _judge(srv, max_concurrency=3)
        results = Grader(_bundle(), judge).grade_many(items)
        assert [r.grade.score for r in results] == [1.0] * 6
        rf = srv.requests[0]["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
        schema = rf["json_schema"]["schema"]  # VERDICT_SCHEMA specialised to the rubric
        first = schema["properties"]["criteria"]["prefixItems"][0]["anyOf"][0]["properties"]
        assert first["name"] == {"const": "mechanism"} and rf["json_schema"]["name"]
        assert set(schema["properties"]) == set(VERDICT_SCHEMA["properties"])
    # the same server, asked without the schema, answers in prose: the fake is faithful
    with FakeJudgeServer(schema_only=True) as srv:
        g = Grader(_bundle(), _judge(srv, structured=False)).grade(TASK, ATTEMPT)
        assert g.score is None and "no JSON verdict" in (g.unscorable_reason or "")


def test_server_that_refuses_response_format_is_asked_again_without_it_and_remembered() -> None:
    with FakeJudgeServer(refuse_schema=True) as srv:
        judge = _judge(srv)
        g = Grader(_bundle(), judge).grade(TASK, ATTEMPT)
        assert g.score == 1.0 and judge.structured is False
        assert "response_format" in srv.requests[0] and "response_format" not in srv.requests[1]
        Grader(_bundle(), judge).grade(Task("t2", "Explain again."), ATTEMPT)
        assert len(srv.requests) == 3 and "response_format" not in srv.requests[2]  # remembered


def test_retry_after_seconds_is_honoured_and_counted(tmp_path: Path) -> None:
    with FakeJudgeServer(faults=["429:1"]) as srv:
        cache = JudgeCache(tmp_path / "c.sqlite")
        res = Grader(_bundle(), _judge(srv), cache=cache).grade_detailed(TASK, ATTEMPT)
        assert res.grade.score == 1.0
        assert len(srv.arrivals) == 2 and srv.arrivals[1] - srv.arrivals[0] >= 0.99  # not 0.05 s backoff
        assert res.cost["retries"] == 1


def test_retry_after_http_date_is_honoured() -> None:
    with FakeJudgeServer(faults=["429date:2"]) as srv:
        judge = _judge(srv)
        g = Grader(_bundle(), judge).grade(TASK, ATTEMPT)
        assert g.score == 1.0
        # an HTTP-date has one-second resolution: the wait is 1 to 2 s, never the 0.05 s backoff
        assert srv.arrivals[1] - srv.arrivals[0] >= 0.9 and judge.waits[0] >= 0.9


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-4") == 0.0 and parse_retry_after(None) is None
    assert parse_retry_after("soon") is None and parse_retry_after("nan") is None
    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_retry_after_past_the_deadline_fails_fast_unscorable_and_uncached(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    with FakeJudgeServer(faults=["429:30"]) as srv:
        t0 = time.monotonic()
        res = Grader(_bundle(), _judge(srv, timeout_s=2.0), cache=cache).grade_detailed(TASK, ATTEMPT)
        took = time.monotonic() - t0
    assert res.grade.score is None and took < 1.5  # did not sleep 30 s, nor the 2 s deadline
    assert "deadline" in (res.grade.unscorable_reason or "") and "HTTP 429" in (res.grade.unscorable_reason or "")
    assert _cache_rows(cache) == 0
    _healthy_rerun_regrades(_bundle(), cache)


def test_500s_then_success_scores_and_counts_retries() -> None:
    with FakeJudgeServer(faults=["500", "500"]) as srv:
        judge = _judge(srv, max_retries=3)
        res = Grader(_bundle(), judge).grade_detailed(TASK, ATTEMPT)
        assert res.grade.score == 1.0 and len(srv.requests) == 3 and res.cost["retries"] == 2
        assert judge.usage.retries == 2


def test_persistent_500s_are_unscorable_with_bounded_tries(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    with FakeJudgeServer(default="500") as srv:
        res = Grader(_bundle(), _judge(srv, max_retries=2), cache=cache).grade_detailed(TASK, ATTEMPT)
        assert res.grade.score is None and "HTTP 500" in (res.grade.unscorable_reason or "")
        assert len(srv.requests) == 3 and res.cost["retries"] == 2
    assert _cache_rows(cache) == 0
    _healthy_rerun_regrades(_bundle(), cache)


def test_trickling_server_cannot_hold_a_call_past_its_deadline(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    with FakeJudgeServer(default="trickle:0.3") as srv:  # each byte well inside any per-read timeout
        t0 = time.monotonic()
        res = Grader(_bundle(), _judge(srv, timeout_s=1.5, max_retries=0), cache=cache).grade_detailed(TASK, ATTEMPT)
        took = time.monotonic() - t0
    assert res.grade.score is None and took < 2.5, took
    assert "deadline" in (res.grade.unscorable_reason or "")
    assert _cache_rows(cache) == 0
    _healthy_rerun_regrades(_bundle(), cache)


def test_silent_server_is_bounded_by_the_grade_deadline(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    # 3 parse-level tries x a 1.5 s call deadline would be 4.5 s; the grade's own 2 s deadline wins
    bundle = _bundle(max_retries=2, deadline_s=2.0)
    with FakeJudgeServer(default="silence") as srv:
        t0 = time.monotonic()
        res = Grader(bundle, _judge(srv, timeout_s=1.5, max_retries=5), cache=cache).grade_detailed(TASK, ATTEMPT)
        took = time.monotonic() - t0
    assert res.grade.score is None and took < 3.0, took
    assert "deadline" in (res.grade.unscorable_reason or "")
    assert _cache_rows(cache) == 0
    _healthy_rerun_regrades(bundle, cache)


def test_invented_quotes_are_unscorable_uncached_and_a_fixed_judge_is_not_shadowed(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    bundle = _bundle(max_retries=1)
    with FakeJudgeServer(default="invented") as srv:
        res = Grader(bundle, _judge(srv), cache=cache).grade_detailed(TASK, ATTEMPT)
        assert len(srv.requests) == 2  # the first try and one retry
    assert res.grade.score is None and "no verified evidence" in (res.grade.unscorable_reason or "")
    assert _cache_rows(cache) == 0
    _healthy_rerun_regrades(bundle, cache)  # the same model name, fixed: asked again, scores 1.0


def test_grade_deadline_from_the_cli_flag_overrides_the_rubric() -> None:
    with FakeJudgeServer(default="silence") as srv:
        t0 = time.monotonic()
        g = Grader(_bundle(max_retries=3), _judge(srv, timeout_s=10), grade_deadline_s=0.8).grade(TASK, ATTEMPT)
        assert g.score is None and time.monotonic() - t0 < 2.0


def test_cli_grades_through_the_server_with_its_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mentor grade --judge openai` end to end: the key from --api-key-env, the schema requested,
    a 429 waited out, the explanation rubric on a task that carries an answer judged (not zeroed)."""
    import json

    import typer
    from typer.testing import CliRunner

    from mentor.cli_grade import grade_command

    app = typer.Typer()
    app.command("grade")(grade_command)
    app.command("other")(lambda: None)
    monkeypatch.setenv("MY_JUDGE_KEY", "sekret")
    text = ("Sunlight is scattered by air molecules, and blue light, with its shorter wavelength, is scattered "
            "far more than red light. That scattered blue light reaches our eyes from every direction of the "
            "sky, so the whole sky looks blue.")
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"task": {"id": "sky", "prompt": "Explain why the sky is blue.",
                                        "answer": "Rayleigh scattering"}, "attempt": text}) + "\n")
    out = tmp_path / "out.jsonl"
    rubric = Path(__file__).resolve().parents[1] / "examples" / "rubrics" / "explanation.yaml"
    with FakeJudgeServer(faults=["429:1"], schema_only=True) as srv:
        res = CliRunner().invoke(app, ["grade", "--rubric", str(rubric), "--input", str(inp), "--output", str(out),
                                       "--judge", "openai", "--judge-url", srv.url, "--judge-model", "m",
                                       "--api-key-env", "MY_JUDGE_KEY", "--judge-timeout", "5",
                                       "--judge-concurrency", "2", "--cache", ""])
        assert res.exit_code == 0, res.output
        assert set(srv.authorizations) == {"Bearer sekret"}
        assert all(b["response_format"]["type"] == "json_schema" for b in srv.requests)
    grade = json.loads(out.read_text())["grade"]
    assert grade["score"] == 1.0 and grade["cost"]["judge_calls"] == 3 and grade["cost"]["retries"] == 1


def test_time_queued_behind_other_attempts_is_not_charged_to_a_grade() -> None:
    """Six attempts, one request in flight at a time, 0.4 s each: the batch takes ~2.4 s, yet no
    grade used more than 0.4 s of its 1 s deadline, so all are scored."""
    items = [(Task(f"t{i}", f"Explain blue sky #{i}"), ATTEMPT) for i in range(6)]
    with FakeJudgeServer(default="slow:0.4") as srv:
        t0 = time.monotonic()
        results = Grader(_bundle(), _judge(srv, max_concurrency=1), grade_deadline_s=1.0).grade_many(items)
        assert time.monotonic() - t0 >= 2.3
    assert [r.grade.score for r in results] == [1.0] * 6
