"""Shared fixtures for the loop's tests: a tiny fp32 policy, a `mentor` CLI runner, one smoke run.

Every process the CLI tests start runs with one BLAS/OpenMP thread: the tiny model gains nothing from
more, and the machine's cores are shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mentor.config import ModelConfig

FP32 = ModelConfig(name="tiny", sample_dtype="float32", train_autocast=False)

# A rubric the tiny random model passes about half the time, so its groups carry signal and updates
# (hinted ones included) really happen in fast tests.
SIGNAL_RUBRIC = """\
name: test-signal
version: 1
description: passes about half of the tiny model's random attempts
criteria:
  - name: has-digit
    text: The attempt contains a digit.
    kind: check
    check: {name: regex, args: {pattern: "[0-9]"}}
    weight: 1.0
score:
  formula: weighted_mean
"""


@pytest.fixture
def signal_rubric(tmp_path) -> Path:
    path = tmp_path / "signal.yaml"
    path.write_text(SIGNAL_RUBRIC)
    return path


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.pop("COLUMNS", None)  # error messages must read whole at rich's default width (80), too
    env.update(extra)
    return env


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # shown by pytest when an assertion on the result fails
        return (f"$ mentor {' '.join(self.args)}  (exit {self.returncode}, {self.seconds:.1f}s)\n"
                f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}")


def run_mentor(args: Sequence[str], cwd: Path | None = None, timeout: float = 120,
               env: dict[str, str] | None = None) -> CliResult:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mentor", *args], capture_output=True, text=True,
                          env=cli_env(**(env or {})), cwd=cwd, timeout=timeout)
    return CliResult(list(args), proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


@pytest.fixture
def mentor_cli() -> Callable[..., CliResult]:
    """`mentor_cli("train", "--help")` runs `python -m mentor ...` in a subprocess."""
    return lambda *args, **kw: run_mentor(list(args), **kw)


@pytest.fixture
def mentor_start():
    """`mentor_start(args, log)` starts `python -m mentor ...` in the background (output to `log`);
    every process it started is killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(args: Sequence[str], log: Path) -> subprocess.Popen:
        with log.open("w") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "mentor", *args], stdout=fh, stderr=subprocess.STDOUT,
                                    env=cli_env())
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def make_policy():
    """A fresh tiny policy with fp32 sampling and no autocast, so log-probs compare exactly."""
    from mentor.student.policy import HFPolicy
    from mentor.testing import tiny_model

    def make(seed: int = 0):
        model, tokenizer = tiny_model(seed=seed)
        return HFPolicy(model, tokenizer, FP32)

    return make


@pytest.fixture
def policy(make_policy):
    return make_policy()


@dataclass
class SmokeRun:
    run_dir: Path
    result: CliResult


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> SmokeRun:
    """`mentor train --preset smoke` once per session; e2e, CLI and report tests read it."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_mentor(["train", "--preset", "smoke", "--run-dir", str(run_dir)], timeout=300)
    return SmokeRun(run_dir, result)
