"""Run untrusted Python (a student's attempt) where it cannot get out, and cannot decide its own grade.

The walls are the kernel's, built for every run (`isolation()` names them; each is recorded on the grade):

- `userns, mountns, pidns, netns, ipcns, utsns`: `unshare` gives the attempt fresh namespaces. In the new
  mount namespace a shell (run as the namespace's root, before any attempt code) builds a minimal root on a
  tmpfs: read-only binds of /usr (and /lib*, /bin when they are real directories), the interpreter's prefix
  with its site-packages masked, /etc/ld.so.cache alone, /dev/{null,zero,random,urandom}, a private /proc
  (only the sandbox's own processes), and `pivot_root` into it with the old root unmounted: host files,
  host /proc and host Unix-socket paths do not exist in there. The network namespace has no interfaces.
- `quota`: the working directory is a tmpfs of `Limits.disk_mb` and `Limits.disk_files` inodes, so the
  total written is capped, not just each file.
- `nocaps`: the attempt runs with an empty capability bounding set and no_new_privs (`setpriv`), so it can
  neither mount, nor chroot, nor ptrace.
- `seccomp`: the harness installs a filter refusing process creation, sockets, ptrace, cross-process memory
  and namespace changes before the attempt runs (see `_sandbox_harness.py`).
- `rlimits`: CPU seconds, address space, file size (stdout is a file, so output is capped), open files,
  no core dumps; a wall-clock timeout kills the whole process group.

Subinterpreters, ctypes or a patched `os` inside the process do not matter: none of them can undo a
namespace, a mount or a seccomp filter. Where any wall cannot be built on this machine, `_plan()` raises
`VerifierError` naming what is missing: grading refuses rather than running attempt code with less.

Whose fault: the attempt's code timing out, crashing, using too much memory or output is a *result*
(status != "ok", score 0). The sandbox failing to start at all raises `VerifierError`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mentor.errors import VerifierError

_HARNESS = Path(__file__).with_name("_sandbox_harness.py")

Status = Literal["ok", "error", "timeout", "cpu_limit", "memory", "output_limit", "killed"]

LAYERS = ("userns", "mountns", "pidns", "netns", "ipcns", "utsns", "private-proc", "ro-minimal-root",
          "quota", "nocaps", "seccomp", "rlimits")


@dataclass(frozen=True)
class Limits:
    cpu_s: float = 2.0
    wall_s: float = 5.0
    memory_mb: int = 512
    output_bytes: int = 64 * 1024
    nproc: int = 64
    nofile: int = 64
    disk_mb: int = 16  # the whole working directory (a tmpfs), not one file
    disk_files: int = 256  # inodes in the working directory


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
        # the tail of stderr is the attempt's own output: it cannot contain host files (none are visible)
        return {"status": self.status, "exit_code": self.exit_code, "wall_s": round(self.wall_s, 3),
                "blocked": list(self.blocked), "stderr_tail": self.stderr[-300:]}


# Runs as root of the fresh user namespace, before any attempt code: builds the minimal root and drops
# every capability. Arguments: ROOT STAGE PYTHON WORK_SIZE WORK_INODES, then entries: @PATH (copy the
# top-level symlink PATH, e.g. /lib -> usr/lib), +PATH (bind read-only), -PATH (mask with an empty
# read-only tmpfs). Mount propagation is private (unshare's default). Each external command costs a few
# milliseconds per graded attempt, so the script keeps to as few as it can.
_INIT = r"""
set -eu
R=$1; STAGE=$2; PY=$3; SIZE=$4; INODES=$5; shift 5
mount -t tmpfs -o size=1m,nr_inodes=512,mode=0755 mentor-root "$R"
mkdir "$R/proc" "$R/dev" "$R/work" "$R/mentor" "$R/etc" "$R/.old"
for a in "$@"; do
  p=${a#?}
  case "$a" in
    @*) cp -P "$p" "$R$p" ;;
    +*) mkdir -p "$R$p"; mount --rbind -o ro,nosuid,nodev "$p" "$R$p" ;;
    -*) if [ -d "$R$p" ]; then mount -t tmpfs -o size=4k,nr_inodes=4,mode=0555,ro mentor-mask "$R$p"; fi ;;
  esac
done
if [ -f /etc/ld.so.cache ]; then
  : > "$R/etc/ld.so.cache"; mount --bind -o ro /etc/ld.so.cache "$R/etc/ld.so.cache"
fi
mount --bind -o ro,nosuid,nodev "$STAGE" "$R/mentor"
mount -t tmpfs -o "size=$SIZE,nr_inodes=$INODES,mode=0777,nosuid,nodev" mentor-work "$R/work"
mount -t tmpfs -o size=64k,nr_inodes=16,mode=0755,nosuid mentor-dev "$R/dev"
for n in null zero random urandom; do : > "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
cd "$R"; pivot_root . .old; umount -l /.old; rmdir /.old
mount -o remount,ro,nosuid,nodev /
cd /work
echo MENTOR_SANDBOX_WALLS >&2
setpriv --no-new-privs --bounding-set=-all --inh-caps=-all -- "$PY" -I -S /mentor/_harness.py && exit 0
exit $?
"""

_TOOLS = ("unshare", "mount", "umount", "pivot_root", "setpriv", "sh", "cp", "mkdir", "rmdir")


@dataclass(frozen=True)
class _Plan:
    argv_prefix: tuple[str, ...]  # unshare ... sh -c INIT
    python: str
    binds: tuple[str, ...]  # @PATH / +PATH / -PATH entries for INIT
    arch: str
    layers: tuple[str, ...]


def _host_entries() -> tuple[str, tuple[str, ...]]:
    """The real interpreter, and what of the host the sandbox shows (as `_INIT` entries): /usr and the
    interpreter's prefix read-only, its site-packages masked (the attempt runs with the stdlib only),
    the top-level /bin, /lib... as the symlinks (or read-only directories) they are here."""
    python = os.path.realpath(sys.executable)
    bound = ["/usr"]
    entries = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = f"/{name}"
        if os.path.islink(p):
            entries.append(f"@{p}")
        elif os.path.isdir(p):
            bound.append(p)
    for p in (os.path.realpath(sys.base_prefix), os.path.dirname(python)):
        if not any(p == b or p.startswith(b + os.sep) for b in bound):
            bound.append(p)
    entries += [f"+{b}" for b in bound]
    base = {"base": sys.base_prefix, "platbase": sys.base_prefix}
    masks = {os.path.realpath(sysconfig.get_paths(vars=base)[k]) for k in ("purelib", "platlib")}
    entries += [f"-{m}" for m in sorted(masks)]
    return python, tuple(entries)


@functools.cache  # the host does not change while we run; the probe costs ~0.2 s (a failure is not cached)
def _plan() -> _Plan:
    """Build the walls once on a probe job, or raise `VerifierError` naming the one that is missing."""
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    fix = ("run grading on Linux with user namespaces enabled (sysctl user.max_user_namespaces > 0, and "
           "kernel.unprivileged_userns_clone=1 where that exists) and util-linux installed; Mentor will "
           "not run attempt code with weaker isolation")
    if missing:
        raise VerifierError(f"the code sandbox cannot be built here: missing {', '.join(missing)}", fix=fix)
    arch = platform.machine()
    if arch not in ("x86_64", "aarch64"):
        raise VerifierError(f"the code sandbox has no seccomp filter for architecture {arch}", fix=fix)
    python, binds = _host_entries()
    prefix = (str(shutil.which("unshare")), "--user", "--map-root-user", "--mount", "--pid", "--net",
              "--ipc", "--uts", "--fork", "--kill-child", str(shutil.which("sh")), "-c", _INIT, "mentor-init")
    plan = _Plan(prefix, python, binds, arch, LAYERS)
    probe_limits = Limits(cpu_s=5, wall_s=20)
    res = _run(plan, "", {"mode": "probe"}, "", probe_limits)
    try:
        facts = json.loads(res.stdout)
    except ValueError:
        facts = None
    if res.status != "ok" or not isinstance(facts, dict):
        if "MENTOR_SANDBOX_NO_SECCOMP" in res.stderr:
            what = "seccomp could not be installed"
        elif "MENTOR_SANDBOX_WALLS" not in res.stderr:
            what = "the namespaces and minimal root could not be set up"
        else:
            what = "the interpreter did not start inside the walls"
        raise VerifierError(f"the code sandbox cannot be built here: {what} "
                            f"({res.status}, exit {res.exit_code}): {res.stderr.strip()[-300:]}", fix=fix)
    broken = _check_facts(facts, probe_limits)
    if broken:
        raise VerifierError(f"the code sandbox is weaker than required here: {'; '.join(broken)}", fix=fix)
    return plan


def _check_facts(facts: dict[str, Any], limits: Limits) -> list[str]:
    """Each wall as seen from inside the probe; what is wrong, by layer (empty: all hold)."""
    broken = []
    if facts.get("seccomp") != "2":
        broken.append(f"seccomp: mode {facts.get('seccomp')!r}, not a filter")
    if facts.get("no_new_privs") != "1":
        broken.append("nocaps: no_new_privs is not set")
    if int(str(facts.get("cap_eff", "1")), 16) or int(str(facts.get("cap_bnd", "1")), 16):
        broken.append("nocaps: capabilities remain")
    if len(facts.get("pids", [])) > 2:
        broken.append(f"private-proc: {len(facts['pids'])} processes visible")
    if facts.get("ifaces") not in ([], ["lo"]):
        broken.append(f"netns: interfaces {facts.get('ifaces')}")
    if not facts.get("root_read_only"):
        broken.append("ro-minimal-root: the root is writable")
    if facts.get("host_etc_visible"):
        broken.append("ro-minimal-root: host /etc is visible")
    if not 0 < int(facts.get("work_bytes", 0)) <= limits.disk_mb * 1024 * 1024:
        broken.append(f"quota: /work holds {facts.get('work_bytes')} bytes")
    return broken


def isolation() -> tuple[str, ...]:
    """The isolation layers in force (all of `LAYERS`, or `VerifierError`)."""
    return _plan().layers


def available() -> str | None:
    """None when the sandbox can be built here, else why not (for tests that skip)."""
    try:
        _plan()
    except VerifierError as exc:
        return exc.message
    return None


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
_MARKERS = re.compile(r"^(MENTOR_SANDBOX_STARTED|MENTOR_SANDBOX_WALLS)\n", re.MULTILINE)


def _run(plan: _Plan, code: str, job: dict[str, Any], stdin: str, limits: Limits) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="mentor-sbx-") as d:
        stage, root = Path(d) / "stage", Path(d) / "root"
        stage.mkdir()
        root.mkdir()
        (stage / "solution.py").write_text(code, encoding="utf-8")
        shutil.copyfile(_HARNESS, stage / "_harness.py")
        out_path, err_path = Path(d) / "stdout", Path(d) / "stderr"
        argv = [*plan.argv_prefix, str(root), str(stage), plan.python, f"{limits.disk_mb}m",
                str(limits.disk_files), *plan.binds]
        env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
               "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": "/work", "HOME": "/work"}
        job = {**job, "solution": "/mentor/solution.py", "arch": plan.arch}
        t0 = time.perf_counter()
        try:
            with open(out_path, "wb") as out_f, open(err_path, "wb") as err_f:
                proc = subprocess.Popen(argv, cwd=d, stdin=subprocess.PIPE, stdout=out_f, stderr=err_f,
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
                                fix="check that the Python interpreter and util-linux are runnable") from exc
        finally:
            wall = time.perf_counter() - t0
        _kill_group(proc)  # anything left in the group dies with it (the PID namespace already did)
        stdout = _read_capped(out_path, limits.output_bytes)
        stderr = _read_capped(err_path, limits.output_bytes)
    rc = proc.returncode
    started = "MENTOR_SANDBOX_STARTED" in stderr
    stderr = _MARKERS.sub("", stderr)
    blocked = tuple(dict.fromkeys(_BLOCKED.findall(stderr)))
    # the init shell exits 128+signal when the interpreter died of one; unshare re-raises a fatal signal
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
                            f"{res.stderr.strip()[-300:]}", fix="check that user namespaces and util-linux "
                            "work here, or report this with the message above")
    if "MENTOR_SANDBOX_NO_SECCOMP" in res.stderr:
        raise VerifierError("the code sandbox could not install its seccomp filter",
                            fix="run on a Linux kernel with seccomp; Mentor will not run attempt code without it")


def run_io_test(code: str, stdin: str, limits: Limits | None = None) -> RunResult:
    """Run the attempt as a script on `stdin`; the caller compares stdout (so the attempt cannot forge
    a pass)."""
    res = _run(_plan(), code, {"mode": "io"}, stdin, limits or Limits())
    _check_started(res)
    return res


_RESULT = re.compile(r"^MENTOR_RESULT (.+)$", re.MULTILINE)


def run_expressions(code: str, tests: list[list[tuple[str, str]]], limits: Limits | None = None
                    ) -> tuple[list[list[dict[str, Any]] | None], RunResult]:
    """Run the attempt, then each test's steps (("exec", statement) or ("eval", expression)) in its
    namespace; return, per test, the raw step results the sandbox reported (None: no report, e.g. it
    timed out first). An "eval" step's result carries the value's canonical form, never a verdict: the
    caller compares against expected values that never entered the sandbox (`grade/asserts.py`)."""
    res = _run(_plan(), code, {"mode": "tests", "tests": tests}, "", limits or Limits())
    _check_started(res)
    found: list[list[dict[str, Any]] | None] = [None] * len(tests)
    for m in _RESULT.finditer(res.stdout):
        try:
            rec = json.loads(m.group(1))
            i, steps = rec["test"], rec["steps"]
        except (ValueError, TypeError, KeyError, RecursionError):
            continue  # not the harness's line: whatever printed it gains nothing
        if isinstance(i, int) and 0 <= i < len(tests) and isinstance(steps, list):
            found[i] = steps  # last one wins; a forged line only *claims* values (see the harness)
    return found, res
