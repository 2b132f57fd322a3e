"""User mistakes from issue 18: each ends in exit code 2 with one paragraph naming the file, key or path
and the fix, no traceback, and nothing half-made or lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mentor import runlock
from mentor.errors import StoreError

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "examples" / "rubrics" / "python_function.yaml"


def assert_user_error(result, *fragments: str) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stdout + result.stderr, result
    message = result.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    assert message.startswith("error: "), result
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "Fix:" in message, result
    return message


def _attempts(tmp_path: Path) -> Path:
    p = tmp_path / "in.jsonl"
    p.write_text(json.dumps({"task": {"id": "a", "prompt": "double", "meta": {"asserts": ["assert f(1) == 2"]}},
                             "attempt": "def f(x):\n    return 2 * x"}) + "\n")
    return p


def _ro_mount_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return r.returncode == 0


needs_ro_mount = pytest.mark.skipif(not _ro_mount_available(), reason="no user+mount namespaces to make a "
                                    "read-only mount (root ignores file modes, so chmod cannot stand in)")


def _read_only(path: Path, args: list[str]):
    """Run `python -m mentor ARGS` with PATH mounted read-only (in a private mount namespace)."""
    from conftest import CliResult, cli_env

    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    t0 = time.perf_counter()
    p = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(path), sys.executable, "-m", "mentor", *args],
                       capture_output=True, text=True, env=cli_env(), timeout=120)
    return CliResult(args, p.returncode, p.stdout, p.stderr, time.perf_counter() - t0)


# --- run directories ------------------------------------------------------------------------------


def test_run_dir_that_is_a_file(mentor_cli, tmp_path):
    f = tmp_path / "notadir"
    f.write_text("x")
    r = mentor_cli("train", "--preset", "smoke", "--run-dir", str(f))
    assert_user_error(r, str(f), "--run-dir points at a file")
    assert f.read_text() == "x"


def test_bad_model_name_leaves_no_run_directory(mentor_cli, tmp_path):
    run = tmp_path / "run"
    r = mentor_cli("train", "--preset", "smoke", "--set", "model.name=no-such-model", "--run-dir", str(run))
    assert_user_error(r, "model.name", "no-such-model", "smollm2-135m")
    assert not run.exists()
    empty = tmp_path / "empty_model"
    empty.mkdir()
    r = mentor_cli("train", "--preset", "smoke", "--set", f"model.name={empty}", "--run-dir", str(run))
    assert_user_error(r, "model.name", "config.json")
    assert not run.exists()


def test_a_second_writer_is_refused_while_the_first_holds_the_run(mentor_cli, smoke_run, tmp_path):
    assert smoke_run.result.returncode == 0, smoke_run.result
    run = tmp_path / "run"
    shutil.copytree(smoke_run.run_dir, run)
    before = (run / "run.sqlite").read_bytes()
    with runlock.acquire(run):
        r = mentor_cli("train", "--resume", str(run))
    assert_user_error(r, str(run), f"pid {os.getpid()}", "is writing this run", "--resume")
    assert (run / "run.sqlite").read_bytes() == before
    r = mentor_cli("train", "--resume", str(run), "--no-report")  # the lock is gone with its holder
    assert r.returncode == 0, r


def test_lock_is_released_when_its_holder_is_killed(tmp_path):
    code = ("import sys, time; from mentor import runlock\n"
            "with runlock.acquire(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"pid {p.pid}"), runlock.acquire(tmp_path):
            pass
        p.send_signal(signal.SIGKILL)
        p.wait()
        with runlock.acquire(tmp_path) as d:
            assert d == tmp_path
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_corrupted_store_is_reported_as_corruption(mentor_cli, smoke_run, tmp_path):
    assert smoke_run.result.returncode == 0, smoke_run.result
    run = tmp_path / "run"
    shutil.copytree(smoke_run.run_dir, run)
    db = sqlite3.connect(run / "run.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = (run / "run.sqlite").stat().st_size
    with open(run / "run.sqlite", "r+b") as f:  # one page in the middle overwritten
        f.seek(size // 2)
        f.write(b"\xff" * 4096)
    for args in (["report", str(run)], ["train", "--resume", str(run)], ["eval", str(run)]):
        assert_user_error(mentor_cli(*args), "run.sqlite", "corrupted", "backup")
    r = mentor_cli("runs", str(tmp_path))
    assert r.returncode == 0 and "corrupted" in r.stdout and "Traceback" not in r.stderr, r


@needs_ro_mount
def test_read_only_run_directory(smoke_run, tmp_path):
    assert smoke_run.result.returncode == 0, smoke_run.result
    run = tmp_path / "run"
    shutil.copytree(smoke_run.run_dir, run)
    for args in (["train", "--resume", str(run)], ["report", str(run)]):
        assert_user_error(_read_only(run, args), str(run), "not writable", "read-only")
    r = _read_only(run, ["runs", str(run)])  # reading still works
    assert r.returncode == 0 and "finished" in r.stdout, r
    new = run / "new-run"
    r = _read_only(run, ["train", "--preset", "smoke", "--run-dir", str(new)])
    assert_user_error(r, str(new), "read-only", "--run-dir")


# --- grading inputs and outputs -------------------------------------------------------------------


def test_non_utf8_jsonl_is_named_with_its_line(mentor_cli, tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"prompt": "2+2?", "answer": "4"}\n{"prompt": "caf\xe9?", "answer": "4"}\n')
    r = mentor_cli("tasks", "validate", str(bad))
    assert_user_error(r, f"{bad}:2", "not UTF-8", "iconv")
    graded = tmp_path / "in.jsonl"
    graded.write_bytes(b'{"task": {"id": "a", "prompt": "caf\xe9"}, "attempt": "x"}\n')
    r = mentor_cli("grade", "--rubric", str(RUBRIC), "--input", str(graded), "--output", str(tmp_path / "o.jsonl"),
                   "--judge", "none", "--cache", "")
    assert_user_error(r, f"{graded}:1", "not UTF-8")


def test_output_that_is_a_directory_fails_before_grading(mentor_cli, tmp_path):
    out = tmp_path / "outdir"
    out.mkdir()
    cache = tmp_path / "cache.sqlite"
    r = mentor_cli("grade", "--rubric", str(RUBRIC), "--input", str(_attempts(tmp_path)), "--output", str(out),
                   "--judge", "none", "--cache", str(cache))
    assert_user_error(r, str(out), "--output points at a directory")
    assert not cache.exists()  # nothing was set up, let alone graded


def test_output_that_cannot_be_created(mentor_cli, tmp_path):
    f = tmp_path / "afile"
    f.write_text("")
    r = mentor_cli("grade", "--rubric", str(RUBRIC), "--input", str(_attempts(tmp_path)),
                   "--output", str(f / "sub" / "o.jsonl"), "--judge", "none", "--cache", "")
    assert_user_error(r, "--output", "is a file")


@needs_ro_mount
def test_output_on_a_read_only_file_system(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    attempts = _attempts(tmp_path)
    r = _read_only(ro, ["grade", "--rubric", str(RUBRIC), "--input", str(attempts), "--output", str(ro / "o.jsonl"),
                        "--judge", "none", "--cache", ""])
    assert_user_error(r, "--output", "read-only")


def test_cache_that_is_a_directory(mentor_cli, tmp_path):
    d = tmp_path / "cachedir"
    d.mkdir()
    r = mentor_cli("grade", "--rubric", str(RUBRIC), "--input", str(_attempts(tmp_path)),
                   "--output", str(tmp_path / "o.jsonl"), "--judge", "none", "--cache", str(d))
    assert_user_error(r, str(d), "--cache points at a directory", "judge_cache.sqlite")
    assert not (tmp_path / "o.jsonl").exists()


# --- configuration values and YAML ----------------------------------------------------------------


@pytest.mark.parametrize("override,key,fragment", [
    ("sampling.group_size=200000", "sampling.group_size", "less than or equal to 1024"),
    ("sampling.max_new_tokens=1e8", "sampling.max_new_tokens", "less than or equal to 32768"),
    ("tasks.heldout_size=1e9", "tasks.heldout_size", "less than or equal to 100000"),
    ("optim.lr=1e400", "optim.lr", "finite"),
    ("optim.lr=.nan", "optim.lr", "finite"),
    ("sampling.temperature=1e-300", "sampling.temperature", "greater than or equal to 0.001"),
])
def test_out_of_range_numbers_are_refused(override, key, fragment):
    from mentor.config import load_config
    from mentor.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(None, [override], "smoke")
    assert key in info.value.message and fragment in info.value.message


def test_out_of_range_numbers_exit_2_on_the_cli(mentor_cli, tmp_path):
    run = tmp_path / "run"
    r = mentor_cli("train", "--preset", "smoke", "--set", "sampling.group_size=200000", "--run-dir", str(run))
    assert_user_error(r, "sampling.group_size", "1024")
    assert not run.exists()


BOMB = """name: bomb
version: 1
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
criteria: [{name: c, text: *f, kind: check, check: {name: answer}}]
"""


def test_yaml_alias_bomb_is_refused(mentor_cli, tmp_path):
    rubric = tmp_path / "bomb.yaml"
    rubric.write_text(BOMB)
    assert len(BOMB) < 700
    r = mentor_cli("rubric", "lock", str(rubric))
    assert_user_error(r, str(rubric), "alias")
    assert r.seconds < 60
    config = tmp_path / "bomb_config.yaml"
    config.write_text("seed: 0\nx: " + BOMB.split("\n", 2)[2].replace("\n", "\n  "))
    r = mentor_cli("train", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert_user_error(r, str(config), "alias")


def test_yaml_loader_keeps_ordinary_anchors_and_refuses_recursion():
    import yaml

    from mentor.yaml_load import AliasExpansionError, safe_load

    assert safe_load("base: &b {x: 1}\nover: *b\n") == {"base": {"x": 1}, "over": {"x": 1}}
    with pytest.raises(AliasExpansionError, match="recursive"):
        safe_load("a: &a [1, *a]\n")
    with pytest.raises(yaml.YAMLError):  # existing handlers catch it as a YAML error
        safe_load(BOMB)


def test_non_utf8_config_and_rubric(mentor_cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"seed: 0\nprompt: {system: caf\xe9}\n")
    assert_user_error(mentor_cli("train", "--config", str(cfg), "--run-dir", str(tmp_path / "r")), str(cfg), "UTF-8")
    rub = tmp_path / "r.yaml"
    rub.write_bytes(b"name: caf\xe9\n")
    assert_user_error(mentor_cli("rubric", "lock", str(rub)), str(rub), "UTF-8")


def test_calibrate_and_combine_outputs_are_checked_first(mentor_cli, tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    human = tmp_path / "human.jsonl"
    human.write_text("\n".join(json.dumps({"score": s, "human": h}) for s, h in [(0.1, 0), (0.9, 1)] * 5) + "\n")
    r = mentor_cli("calibrate", "--rubric", str(RUBRIC), "--input", str(human), "--output", str(d))
    assert_user_error(r, str(d), "--output points at a directory")
    scores = tmp_path / "scores.jsonl"
    scores.write_text(json.dumps({"id": "a", "scores": {"v": 1.0}}) + "\n")
    r = mentor_cli("combine", "--input", str(scores), "--output", str(d), "--balance", "given:0.5")
    assert_user_error(r, str(d), "--output points at a directory")
