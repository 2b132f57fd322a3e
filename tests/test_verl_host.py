"""Mentor's verl host against verl 0.9.1's own classes, installed from PyPI into a venv of its own.

verl 0.9.1 pins transformers < 5.11 and tensordict <= 0.10, which Mentor's environment does not
hold, so the checks (tests/verl_host_checks.py) run as a subprocess in a venv that shares this
interpreter's site-packages (torch above all) and overrides only what verl pins. The venv is built
once per requirement set and cached under ~/.cache/mentor/verl-venv/ (MENTOR_VERL_VENV overrides the
place); the first build downloads about 150 MB from PyPI. MENTOR_SKIP_VERL=1 skips these tests on a
machine without PyPI.

Lean on purpose: verl itself with --no-deps, then only what the modules used here import (ray for
`verl.protocol`, the rest for the reward loop and trainer imports). `kernels` is pinned because the
shared site-packages may hold a newer one that transformers 5.10 cannot import.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

VERL = "verl==0.9.1"
DEPS = (
    "transformers>=5.5.3,<5.11,!=5.6.0",
    "tensordict>=0.8,<=0.10,!=0.9.0",
    "kernels>=0.12,<0.13",
    "ray>=2.41",
    "omegaconf",
    "hydra-core",
    "codetiming",
    "torchdata",
    "pylatexenc",
    "aiohttp",
    "peft",
    "cachetools",
    "fastapi",
    "uvicorn",
)
ROOT = Path(__file__).resolve().parents[1]
CHECKS = ("reward_loads_through_pkg_path", "unscorable_is_nan_not_none_or_zero", "rlhf_dataset_reads_mentor_parquet",
          "custom_cls_selects_and_learns", "example_overrides_compose", "estimator_registered_and_called_by_verl",
          "prefix_tree_needs_token_ids")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("MENTOR_SKIP_VERL") == "1", reason="MENTOR_SKIP_VERL=1"),
]


def _venv_dir() -> Path:
    key = hashlib.sha256(json.dumps([sys.version, VERL, DEPS]).encode()).hexdigest()[:12]
    base = Path(os.environ.get("MENTOR_VERL_VENV", Path.home() / ".cache" / "mentor" / "verl-venv"))
    return base / f"{VERL.replace('==', '-')}-{key}"


def _run(cmd: list[str], **kw: Any) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def _build(target: Path) -> float:
    """Build the venv next to `target`, then move it into place (a killed build leaves no half venv)."""
    start = time.monotonic()
    tmp = target.with_name(target.name + f".building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp)])
    pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--no-deps", VERL])
    _run([*pip, *DEPS])
    seconds = time.monotonic() - start
    (tmp / "mentor-build.json").write_text(json.dumps({"seconds": round(seconds, 1), "verl": VERL, "deps": DEPS}))
    if target.exists():  # another session finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(target)
    return seconds


def _mentor_entry_point() -> bool:
    return any(ep.value == "mentor.integrations.verl_plugin" for ep in metadata.entry_points(group="verl.plugins"))


@pytest.fixture(scope="session")
def verl_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    venv = _venv_dir()
    if not (venv / "mentor-build.json").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        _build(venv)
    out = tmp_path_factory.mktemp("verl") / "checks.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "RAY_DEDUP_LOGS": "0"}
    if not _mentor_entry_point():
        # An install of Mentor that predates the entry point (e.g. an editable install of another
        # checkout): load the same plugin module through verl's other hook.
        env["VERL_USE_EXTERNAL_MODULES"] = "mentor.integrations.verl_plugin"
    proc = subprocess.run([str(venv / "bin" / "python"), str(ROOT / "tests" / "verl_host_checks.py"), str(out)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    if proc.returncode != 0 or not out.exists():
        pytest.fail(f"the verl checks did not run ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    results = json.loads(out.read_text())
    results["_build"] = json.loads((venv / "mentor-build.json").read_text())
    return results


def test_checks_ran_against_verl_091(verl_results: dict[str, Any]) -> None:
    assert verl_results["_versions"]["detail"] == VERL.split("==")[1]
    assert set(CHECKS) <= set(verl_results), sorted(verl_results)


@pytest.mark.parametrize("name", CHECKS)
def test_verl_check(verl_results: dict[str, Any], name: str) -> None:
    result = verl_results[name]
    assert result["ok"], result["detail"]
