"""Run untrusted Python (a student's attempt) in a separate, limited process.

Layers, strongest first (what is actually in force is probed once and reported by `isolation()`):

1. A separate process started with `python -I -S` (no user site, no PYTHONPATH, no site-packages) in
   a fresh temporary working directory that is deleted afterwards; its own session (process group),
   killed as a whole on the wall-clock timeout.
2. Kernel resource limits set before exec: RLIMIT_CPU (CPU seconds), RLIMIT_AS (memory),
   RLIMIT_FSIZE (largest file: stdout goes to a file, so this also caps output), RLIMIT_NPROC
   (fork bombs), RLIMIT_NOFILE, RLIMIT_CORE=0.
3. Where `unshare` works: a new network namespace (no interfaces but a down loopback: no network at
   all) and a PID namespace (every process the attempt starts dies with it); and, when we are root and
   the interpreter is readable by `nobody`, the attempt runs as `nobody` so RLIMIT_NPROC applies (it
   does not bind root) and the file system outside world-writable places is read-only to it.
4. An audit hook inside the process (`_sandbox_harness.py`) refusing sockets, fork/exec/subprocess,
   ctypes, frame introspection and writes outside the working directory. Audit hooks can be bypassed
   by determined native code, which is why they are the last layer and not the only one.

Whose fault: the attempt's code timing out, crashing, using too much memory or output is a *result*
(status != "ok", score 0). The sandbox failing to start at all raises `VerifierError`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mentor.errors import VerifierError

_HARNESS = Path(__file__).with_name("_sandbox_harness.py")
NOBODY = 65534

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory", "output_limit", "killed"]


@dataclass(frozen=True)
class Limits:
    cpu_s: float = 2.0
    wall_s: float = 5.0
    memory_mb: int = 512
    output_bytes: int = 64 * 1024
    nproc: int = 64
    nofile: int = 64


@dataclass(frozen=True)
class RunResult:
    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    blocked: tuple[str, ...] = ()
    isolation: tuple[str, ...] = field(default_factory=tuple)
    started: bool = True  # the harness ran (False: the sandbox itself failed, not the attempt)

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "exit_code": self.exit_code, "wall_s": round(self.wall_s, 3),
                "blocked": list(self.blocked), "stderr_tail": self.stderr[-300:]}


@dataclass(frozen=True)
class _Plan:
    argv_prefix: tuple[str, ...]  # e.g. ("unshare", "-n", "-p", "-f", "--kill-child", ...)
    python: str
    run_as_nobody: bool
    layers: tuple[str, ...]


def _probe(prefix: list[str], python: str, as_nobody: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="mentor-probe-") as d:
        if as_nobody:
            os.chmod(d, 0o777)
        try:
            proc = subprocess.run([*prefix, python, "-I", "-S", "-c", "print('ok')"], cwd=d,
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return False
        return proc.returncode == 0 and proc.stdout.strip() == "ok"


@functools.cache  # the host's capabilities do not change while we run; probing costs ~50 ms
def _plan() -> _Plan:
    unshare = shutil.which("unshare")
    pythons = [sys.executable]
    system_python = "/usr/bin/python3"
    if os.path.exists(system_python) and os.path.realpath(system_python) != os.path.realpath(sys.executable):
        pythons.append(system_python)  # the attempt needs only the stdlib; any CPython 3 will do
    if unshare and os.geteuid() == 0:
        ns = [unshare, "-n", "-p", "-f", "--kill-child"]
        for py in pythons:
            if _probe([*ns, "-S", str(NOBODY), "-G", str(NOBODY)], py, as_nobody=True):
                return _Plan((*ns, "-S", str(NOBODY), "-G", str(NOBODY)), py, True,
                             ("netns", "pidns", "uid:nobody", "rlimits", "audit-hook"))
        if _probe(ns, sys.executable, as_nobody=False):
            return _Plan(tuple(ns), sys.executable, False, ("netns", "pidns", "rlimits", "audit-hook"))
    if unshare:
        ns = [unshare, "-r", "-n", "-p", "-f", "--kill-child"]  # unprivileged user namespace
        if _probe(ns, sys.executable, as_nobody=False):
            return _Plan(tuple(ns), sys.executable, False, ("userns", "netns", "pidns", "rlimits", "audit-hook"))
    return _Plan((), sys.executable, False, ("rlimits", "audit-hook"))


def isolation() -> tuple[str, ...]:
    """The isolation layers in force on this host (recorded with every sandbox result)."""
    return _plan().layers


def _preexec(limits: Limits) -> None:
    cpu = max(1, int(limits.cpu_s + 0.999))
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


_BLOCKED = re.compile(r"MENTOR_SANDBOX_BLOCKED (.+)")


def _run(code: str, job: dict[str, Any], stdin: str, limits: Limits) -> RunResult:
    plan = _plan()
    with tempfile.TemporaryDirectory(prefix="mentor-sbx-") as d:
        work = Path(d)
        if plan.run_as_nobody:
            os.chmod(work, 0o777)  # nobody must be able to create files in its own directory
        (work / "solution.py").write_text(code, encoding="utf-8")
        shutil.copyfile(_HARNESS, work / "_harness.py")
        for f in ("solution.py", "_harness.py"):
            os.chmod(work / f, 0o644)
        out_path, err_path = work / ".stdout", work / ".stderr"
        argv = [*plan.argv_prefix, plan.python, "-I", "-S", "_harness.py"]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        t0 = time.perf_counter()
        try:
            with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
                proc = subprocess.Popen(argv, cwd=work, stdin=subprocess.PIPE, stdout=out_f, stderr=err_f,
                                        env=env, start_new_session=True,
                                        preexec_fn=functools.partial(_preexec, limits))
                timed_out = False
                try:
                    proc.communicate((json.dumps(job) + "\n" + stdin).encode(), timeout=limits.wall_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_group(proc)
                    proc.wait()
                except BrokenPipeError:
                    proc.wait()  # the attempt closed stdin early: that is its business
        except OSError as exc:
            raise VerifierError(f"the code sandbox could not start: {exc}",
                                fix="check that the Python interpreter and 'unshare' are runnable") from exc
        finally:
            wall = time.perf_counter() - t0
        _kill_group(proc)  # anything the attempt left running in its group dies with it
        stdout = _read_capped(out_path, limits.output_bytes)
        stderr = _read_capped(err_path, limits.output_bytes)
    rc = proc.returncode
    started = "MENTOR_SANDBOX_STARTED" in stderr
    stderr = stderr.replace("MENTOR_SANDBOX_STARTED\n", "", 1)
    blocked = tuple(dict.fromkeys(_BLOCKED.findall(stderr)))
    # `unshare --fork` re-raises the child's fatal signal on itself, or exits 128+signal when it cannot
    sig = -rc if rc is not None and rc < 0 else (rc - 128 if rc is not None and rc > 128 else None)
    if sig is None and "unshare: sigprocmask" in stderr:
        sig = signal.SIGKILL  # this util-linux could not re-raise the signal; the child died of one
    status: Status
    if timed_out:
        status = "timeout"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and wall >= limits.cpu_s):
        status = "cpu_limit"
    elif sig == signal.SIGXFSZ or len(stdout.encode()) >= limits.output_bytes or "File too large" in stderr:
        status = "output_limit"
    elif "MemoryError" in stderr:
        status = "memory"
    elif rc == 0:
        status = "ok"
    elif sig is not None:
        status = "killed"
    else:
        status = "error"
    return RunResult(status, rc, stdout, stderr, wall, blocked, plan.layers, started)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _read_capped(path: Path, cap: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(cap).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _check_started(res: RunResult) -> None:
    """Tell a sandbox that never ran the harness (the grader's failure) from an attempt that crashed:
    the harness writes a start marker before it reads its job, so no marker means no start."""
    if not res.started and res.status != "timeout":
        raise VerifierError(f"the code sandbox failed to start (exit {res.exit_code}): "
                            f"{res.stderr.strip()[-300:]}", fix="check that the Python interpreter and "
                            "'unshare' are runnable, or report this with the message above")


def run_io_test(code: str, stdin: str, limits: Limits | None = None) -> RunResult:
    """Run the attempt as a script on `stdin`; the caller compares stdout (so the attempt cannot forge
    a pass)."""
    res = _run(code, {"nonce": "-", "asserts": []}, stdin, limits or Limits())
    _check_started(res)
    return res


def run_asserts(code: str, asserts: list[str], limits: Limits | None = None) -> tuple[list[bool], RunResult]:
    """Run the attempt, then each statement; a statement passes if it runs without raising.

    The pass markers carry a random nonce the attempt is never shown (it arrives on stdin and is read
    before the attempt's code runs; frame introspection is refused), so printing fake markers does not
    work. This is in-process, best-effort integrity; prefer stdin/stdout tests for adversarial use.
    """
    nonce = secrets.token_hex(16)
    res = _run(code, {"nonce": nonce, "asserts": asserts}, "", limits or Limits())
    _check_started(res)
    passed = [False] * len(asserts)
    for m in re.finditer(rf"^{nonce}:(\d+):(pass|fail)$", res.stdout, re.MULTILINE):
        i = int(m.group(1))
        if 0 <= i < len(asserts):
            passed[i] = m.group(2) == "pass"
    return passed, res
