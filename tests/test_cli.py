"""The `mentor` command as a user meets it: help works, and every user mistake is one paragraph on
stderr naming the file, the line and the fix, with exit code 2 and no traceback."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result
    assert "Traceback" not in result.output, result
    # the error is the last thing printed, as one paragraph (progress output may come before it)
    message = result.stderr.rstrip("\n").rsplit("\n", 1)[-1]
    assert message.startswith("error: "), result
    for fragment in fragments:
        assert fragment in message, result
    assert "Fix:" in message, result


# ------------------------------------------------------------------------------------ help


def test_help_lists_the_commands(mentor_cli):
    r = mentor_cli("--help")
    assert r.returncode == 0, r
    for command in ("train", "eval", "runs", "report", "tasks"):
        assert command in r.stdout, r


def test_train_help_documents_its_options(mentor_cli):
    r = mentor_cli("train", "--help")
    assert r.returncode == 0, r
    for option in ("--config", "--set", "--run-dir", "--resume", "--preset", "smoke", "optim.steps=10"):
        assert option in r.stdout, r


def test_tasks_validate_help(mentor_cli):
    r = mentor_cli("tasks", "validate", "--help")
    assert r.returncode == 0 and "reasoning_gym:DATASET" in r.stdout, r


# ------------------------------------------------------------------------------------ user mistakes


def test_missing_config_file(mentor_cli, tmp_path):
    missing = tmp_path / "configs" / "missing.yaml"
    r = mentor_cli("train", "--config", str(missing), "--run-dir", str(tmp_path / "run"))
    assert_user_error(r, f"{missing}: file not found.")
    assert not (tmp_path / "run").exists()


def test_bad_yaml_names_file_and_line(mentor_cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  steps: 3\n\tlr: 0.1\n")
    r = mentor_cli("train", "--config", str(path), "--run-dir", str(tmp_path / "run"))
    assert_user_error(r, f"{path}:3: not valid YAML")


def test_unknown_key_suggests_the_nearest(mentor_cli, tmp_path):
    r = mentor_cli("train", "--preset", "smoke", "--set", "optim.stpes=3", "--run-dir", str(tmp_path / "run"))
    assert_user_error(r, "unknown key 'optim.stpes'", "Did you mean 'optim.steps'?")


def test_unknown_key_in_a_config_file(mentor_cli, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("sampling:\n  group_sise: 4\n")
    r = mentor_cli("train", "--config", str(path), "--run-dir", str(tmp_path / "run"))
    assert_user_error(r, str(path), "unknown key 'sampling.group_sise'", "'sampling.group_size'")


def test_unknown_reasoning_gym_dataset(mentor_cli, tmp_path):
    run_dir = tmp_path / "run"
    r = mentor_cli("train", "--preset", "smoke", "--set",
                   "tasks.mix=[{source: reasoning_gym, name: basic_arithmetc}]", "--run-dir", str(run_dir))
    assert_user_error(r, "unknown reasoning-gym dataset 'basic_arithmetc'", "did you mean basic_arithmetic")
    assert not (run_dir / "run.sqlite").exists()  # nothing half-made: the same --run-dir works once fixed


def test_a_bad_plugin_argument_fails_before_the_run_exists(mentor_cli, tmp_path):
    run_dir = tmp_path / "run"
    r = mentor_cli("train", "--preset", "smoke", "--set", "curriculum.selector.args.sharpnes=4", "--run-dir", str(run_dir))
    assert_user_error(r, "curriculum.selector.args", "selector 'signal': unknown argument 'sharpnes'", "sharpness")
    assert not (run_dir / "run.sqlite").exists()  # no store, no model loaded: the same --run-dir works once fixed


def test_unknown_preset(mentor_cli, tmp_path):
    r = mentor_cli("train", "--preset", "smoek", "--run-dir", str(tmp_path / "run"))
    assert_user_error(r, "unknown preset 'smoek'", "smoke")


def test_tasks_validate_bad_jsonl_line(mentor_cli, tmp_path):
    path = tmp_path / "some dir" / "tasks.jsonl"
    path.parent.mkdir()
    path.write_text('{"prompt": "What is 1 + 1?", "answer": "2"}\n{"prompt": "What is 2 + 2?", "answr": "4"}\n'
                    '{"prompt": "x"\n')
    r = mentor_cli("tasks", "validate", str(path))
    assert_user_error(r, f"{path}:2: unknown field(s) ['answr']", "allowed fields:")


def test_error_message_quoting_markup_is_printed_verbatim(mentor_cli, tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"prompt": "1 + 1?", "answer": "2", "[/b]": 1, "[red]": 2}\n')
    r = mentor_cli("tasks", "validate", str(path))
    assert_user_error(r, f"{path}:1: unknown field(s) ['[/b]', '[red]']")


def test_report_and_resume_of_a_directory_without_a_run(mentor_cli, tmp_path):
    assert_user_error(mentor_cli("report", str(tmp_path)), f"{tmp_path}: no run store here.")
    assert_user_error(mentor_cli("train", "--resume", str(tmp_path / "nope")), "no run store here")


# ------------------------------------------------------------------------------------ tasks validate


def test_tasks_validate_reasoning_gym(mentor_cli):
    r = mentor_cli("tasks", "validate", "reasoning_gym:basic_arithmetic", "--n", "20")
    assert r.returncode == 0, r
    assert "40 tasks checked, 0 failed" in r.stdout, r


def test_tasks_validate_reports_failing_references(mentor_cli, tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [{"id": "ok", "prompt": "What is 1 + 1?", "answer": "2"},
            # a reasoning-gym verifier without the dataset entry cannot score its own reference
            {"id": "broken", "prompt": "What is 2 + 2?", "answer": "4", "verifier": "reasoning_gym"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = mentor_cli("tasks", "validate", str(path))
    assert r.returncode == 1, r
    assert "FAIL broken" in r.stdout and "FAIL ok" not in r.stdout, r
    assert "2 tasks checked, 1 failed" in r.stdout, r
    assert "Traceback" not in r.output


# ------------------------------------------------------------------------------------ runs, report


def test_runs_lists_a_smoke_run(mentor_cli, smoke_run):
    assert smoke_run.result.returncode == 0, smoke_run.result
    for target in (smoke_run.run_dir, smoke_run.run_dir.parent):  # the run itself, or a folder of runs
        r = mentor_cli("runs", str(target), env={"COLUMNS": "300"})  # a table row per line
        assert r.returncode == 0, r
        line = next(ln for ln in r.stdout.splitlines() if str(smoke_run.run_dir) in ln)
        cells = [c.strip() for c in line.split("│") if c.strip()]
        assert cells[2:6] == ["tiny", "signal · hints scaffold · prefix_tree", "finished", "2"], r
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[1]), r  # the start date


def test_runs_json_is_machine_readable(mentor_cli, smoke_run):
    from mentor.store import open_readonly

    assert smoke_run.result.returncode == 0, smoke_run.result
    r = mentor_cli("runs", str(smoke_run.run_dir.parent), "--json")
    assert r.returncode == 0, r
    records = json.loads(r.stdout)
    rec = next(x for x in records if x["run_dir"] == str(smoke_run.run_dir))
    with open_readonly(smoke_run.run_dir) as store:
        evals, steps = store.evals(), store.steps()
        assert rec["config_hash"] == store.meta("config_hash")
    assert (rec["status"], rec["steps"], rec["rollouts"], rec["model"]) == ("finished", 2, steps[-1]["rollouts"], "tiny")
    assert rec["setup"] == {"selector": "signal", "filter": None, "hints": "scaffold", "credit": "prefix_tree", "steps": 2,
                            "rollout_budget": None, "seed": 0}
    assert rec["heldout_before"]["accuracy"] == evals[0].accuracy and rec["heldout_before"]["step"] == 0
    assert rec["heldout_last"]["ci"] == [evals[-1].ci_lo, evals[-1].ci_hi] and rec["heldout_last"]["step"] == 2
    assert rec["started_at"] < rec["last_step_at"] and rec["wall_seconds"] > 0


def test_runs_json_of_an_empty_folder_is_an_empty_list(mentor_cli, tmp_path):
    r = mentor_cli("runs", str(tmp_path), "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r


def test_help_documents_the_exit_codes(mentor_cli):
    r = mentor_cli("--help", env={"COLUMNS": "300"})
    assert r.returncode == 0, r
    text = " ".join(r.stdout.split())
    for fragment in ("Exit codes: 0 success", "1 an internal error", "2 bad input"):
        assert fragment in text, r


@pytest.fixture
def copied_run(smoke_run, tmp_path):
    assert smoke_run.result.returncode == 0, smoke_run.result
    dst = tmp_path / "copy"
    shutil.copytree(smoke_run.run_dir, dst)
    return dst


def test_report_regenerates_from_the_store_only(mentor_cli, copied_run):
    shutil.rmtree(copied_run / "plots")
    (copied_run / "report.html").unlink()
    db = copied_run / "run.sqlite"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    r = mentor_cli("report", str(copied_run))
    assert r.returncode == 0, r
    assert (copied_run / "report.html").is_file()
    assert {p.name for p in (copied_run / "plots").glob("*.png")} >= {
        "heldout_accuracy.png", "reward.png", "signal.png", "timings.png"}
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # the report never writes the store
    html = (copied_run / "report.html").read_text()
    assert "data:image/png;base64," in html  # self-contained


def test_eval_of_a_smoke_run(mentor_cli, copied_run):
    r = mentor_cli("eval", str(copied_run), "--size", "4")
    assert r.returncode == 0, r
    assert "step 2: greedy accuracy" in r.stdout and "n=4" in r.stdout, r


def test_eval_json_of_a_smoke_run(mentor_cli, copied_run):
    r = mentor_cli("eval", str(copied_run), "--size", "4", "--json")
    assert r.returncode == 0, r
    result = json.loads(r.stdout)
    assert (result["step"], result["n"], result["run_dir"]) == (2, 4, str(copied_run)), r
    assert 0 <= result["ci"][0] <= result["accuracy"] <= result["ci"][1] <= 1, r
    assert result["checkpoint"].endswith("step-2"), r


def test_eval_refuses_a_bad_size_before_loading(mentor_cli, copied_run):
    r = mentor_cli("eval", str(copied_run), "--size", "0", "--json")
    assert_user_error(r, "--size")
    assert r.stdout == "", r
