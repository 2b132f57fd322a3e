"""Hostile attempts: forgeries of a pass must earn nothing, escapes from the sandbox must fail.

Each forgery is an attempt that does NOT solve f(x) = x*x + 1 (its honest version scores 0) but tries to
make the grader believe it did. Each escape probe reports on stdout what it managed; the test checks the
host from outside as well (files, sockets).
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
from pathlib import Path

import pytest

from hostile_attempts import ALWAYS_EQUAL, ASSERTS, FAMILIES, FRAME_READING, GENUINE
from mentor.grade import sandbox
from mentor.grade.checks import check_python_tests, validate_check_args
from mentor.grade.sandbox import Limits, run_io_test
from mentor.types import Task

_WHY = sandbox.available()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"code sandbox unavailable: {_WHY}")

FAST = Limits(cpu_s=2, wall_s=5, memory_mb=256, output_bytes=32 * 1024)
TASK = Task("sq", "write f(x) = x*x + 1", meta={"asserts": ASSERTS})
ARGS = validate_check_args("python_tests", {"cpu_s": 2, "wall_s": 5, "memory_mb": 256}, where="test")


def _score(code: str) -> tuple[float, dict]:
    v = check_python_tests(TASK, textwrap.dedent(code), **ARGS)
    assert v.score is not None
    return v.score, v.details


# --- forgeries (the strategies live in hostile_attempts.py) ------------------------------------------

def test_genuine_solutions_keep_full_credit() -> None:
    for code in GENUINE:
        assert _score(code)[0] == 1.0


@pytest.mark.parametrize("family,name", [(f, n) for f, d in FAMILIES.items() for n in d])
def test_forgery_earns_nothing(family: str, name: str) -> None:
    score, details = _score(FAMILIES[family][name])
    assert score == 0.0, (family, name, details["tests"])


def test_predicate_methods_of_the_attempts_objects_are_not_trusted() -> None:
    task = Task("p", "f returns a greeting", meta={"asserts": ["assert f('x').startswith('hello')",
                                                             "assert f('x').endswith('x')"]})
    code = textwrap.dedent("""
        class S(str):
            def startswith(self, *a): return True
            def endswith(self, *a): return True
        def f(name): return S("")
    """)
    v = check_python_tests(task, code, **ARGS)
    assert v.score == 0.0 and v.details["suspicious"], v.details["tests"]
    assert check_python_tests(task, "def f(name):\n    return 'hello ' + name", **ARGS).score == 1.0


def test_always_equal_values_are_reported_as_suspicious() -> None:
    _, details = _score(ALWAYS_EQUAL["class with __eq__ always True"])
    assert details["suspicious"] and "not plain data" in details["suspicious"][0]


def test_frame_introspection_is_recorded_on_the_grade() -> None:
    _, details = _score(FRAME_READING["sys._getframe locals, print pass lines"])
    assert "sys._getframe" in details["blocked"]


# --- escapes ----------------------------------------------------------------------------------------


def _probe(code: str, limits: Limits = FAST) -> str:
    r = run_io_test(textwrap.dedent(code), "", limits)
    print(f"--- status {r.status}, blocked {list(r.blocked)}\n{r.stdout}")  # shown with -s or on failure
    return r.stdout


def test_writes_outside_do_not_land(tmp_path: Path) -> None:
    targets = {k: tmp_path / f"{k}.txt" for k in ("plain", "dirfd", "realpath", "os", "subinterp")}
    code = f"""
        import os, sys
        T = {{k: v for k, v in {dict((k, str(v)) for k, v in targets.items())!r}.items()}}
        def attempt(name, fn):
            try:
                fn()
                print(name, "WROTE")
            except Exception as e:
                print(name, "failed", type(e).__name__)
        attempt("plain", lambda: open(T["plain"], "w").write("x"))
        def dirfd():
            d = os.open(os.path.dirname(T["dirfd"]), os.O_RDONLY)
            os.close(os.open(os.path.basename(T["dirfd"]), os.O_CREAT | os.O_WRONLY, dir_fd=d))
        attempt("dirfd", dirfd)
        os.path.realpath = lambda p, **k: "/work/" + os.path.basename(p)
        attempt("realpath", lambda: open(T["realpath"], "w").write("x"))
        import types
        sys.modules["os"] = types.ModuleType("os")
        attempt("os", lambda: open(T["os"], "w").write("x"))
        def sub():
            import _xxsubinterpreters as si
            i = si.create()
            si.run_string(i, "open(%r, 'w').write('x')" % T["subinterp"])
        attempt("subinterp", sub)
    """
    out = _probe(code)
    assert "WROTE" not in out, out
    assert not any(p.exists() for p in targets.values())
    assert list(tmp_path.iterdir()) == []


def test_host_unix_sockets_are_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(b"\0mentor-hostile-test")
    abstract.listen(1)
    got: list[bytes] = []

    def accept() -> None:
        srv.settimeout(6)
        try:
            conn, _ = srv.accept()
            got.append(conn.recv(10))
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    code = f"""
        import socket, _socket
        for addr in ({str(path)!r}, b"\\0mentor-hostile-test"):
            for mod in (socket, _socket):
                try:
                    s = mod.socket(mod.AF_UNIX, mod.SOCK_STREAM)
                    s.connect(addr)
                    s.send(b"hi")
                    print("CONNECTED", addr)
                except Exception as e:
                    print("failed", type(e).__name__)
        try:
            import ctypes
            print("ctypes socket() ->", ctypes.CDLL(None).socket(1, 1, 0))
        except Exception as e:
            print("ctypes failed", type(e).__name__)
    """
    out = _probe(code)
    t.join()
    srv.close()
    abstract.close()
    assert "CONNECTED" not in out and not got, out
    assert "ctypes socket() -> -1" in out or "ctypes failed" in out


def test_host_proc_and_files_are_invisible() -> None:
    import mentor

    src = Path(mentor.__file__).resolve()
    code = f"""
        import os
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        cmd = [open(f"/proc/{{p}}/cmdline", "rb").read() for p in pids]
        print("pids", len(pids), "pytest" in repr(cmd))
        for path in ("/etc/passwd", "/etc/shadow", {str(src)!r}, "/root/.bash_history", "/home"):
            try:
                print(path, "READ", open(path).read()[:40] if not os.path.isdir(path) else os.listdir(path))
            except Exception as e:
                print(path, "failed", type(e).__name__)
    """
    out = _probe(code)
    line = next(ln for ln in out.splitlines() if ln.startswith("pids"))
    n, saw_pytest = line.split()[1:]
    assert int(n) <= 3 and saw_pytest == "False", out
    assert "READ" not in out and "root:x:0" not in out, out


def test_process_creation_fails() -> None:
    # every probe tries to start a process that leaves /work/ran_<probe>; the verdict is those files
    code = """
        import os, sys
        def attempt(name, fn):
            try:
                r = fn(name)
                print(name, "returned", r)
            except BaseException as e:
                print(name, "failed", type(e).__name__)
        def sh(name):
            return [b"/bin/sh", b"-c", f"echo > /work/ran_{name}".encode()]
        def fork_exec(name):
            import _posixsubprocess
            r, w = os.pipe()
            head = (sh(name), [b"/bin/sh"], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w,
                    True, False, -1, None, None, None, -1, None)
            try:
                return _posixsubprocess.fork_exec(*head, False)  # 3.11, 3.12
            except TypeError:
                return _posixsubprocess.fork_exec(*head)  # 3.13 on
        def fork(name):
            pid = os.fork()
            if pid == 0:
                open(f"/work/ran_{name}", "w").close()
                os._exit(0)
            return pid
        def via_ctypes(name):
            import ctypes
            libc = ctypes.CDLL(None)
            pid = libc.fork() if name == "ctypes_fork" else libc.syscall(56, 17, 0, 0, 0, 0)
            if pid == 0:
                open(f"/work/ran_{name}", "w").close()
                os._exit(0)
            return pid
        def ctypes_exec(name):
            import ctypes
            args = (ctypes.c_char_p * 4)(*sh(name), None)
            return ctypes.CDLL(None).execv(b"/bin/sh", args)
        def subinterp(name):
            import _xxsubinterpreters as si
            i = si.create()
            si.run_string(i, f"import os; os.system('echo > /work/ran_{name}')")
        attempt("fork_exec", fork_exec)
        attempt("os_fork", fork)
        attempt("os_system", lambda n: os.system(sh(n)[2].decode()))
        attempt("posix_spawn", lambda n: os.posix_spawn("/bin/sh", [x.decode() for x in sh(n)], {}))
        attempt("ctypes_fork", via_ctypes)
        attempt("ctypes_clone", via_ctypes)
        attempt("ctypes_execv", ctypes_exec)
        attempt("subinterp_system", subinterp)
        import time
        time.sleep(0.2)
        print("ran:", sorted(f for f in os.listdir("/work") if f.startswith("ran_")))
        print("pid", os.getpid(), "ppid", os.getppid())
    """
    out = _probe(code)
    assert "ran: []" in out and "fork_exec failed PermissionError" in out, out


def test_subinterpreter_cannot_reach_the_network_or_files(tmp_path: Path) -> None:
    target = tmp_path / "si.txt"
    inner = (f"import ctypes, os\nlibc = ctypes.CDLL(None)\n"
             f"print('si socket', libc.socket(2, 1, 0), 'si fork', libc.fork(), flush=True)\n"
             f"try:\n    open({str(target)!r}, 'w').write('x'); print('si WROTE', flush=True)\n"
             f"except OSError as e:\n    print('si write failed', type(e).__name__, flush=True)\n")
    code = f"import _xxsubinterpreters as si\ni = si.create()\nsi.run_string(i, {inner!r})\n"
    out = _probe(code)
    assert "si socket -1 si fork -1" in out and "WROTE" not in out and not target.exists(), out


def test_disk_fill_is_capped_in_total() -> None:
    # 2,000 files: 16 KiB each (under the per-file cap) stop at the 2 MiB total; empty ones at the inodes
    lim = Limits(cpu_s=5, wall_s=15, memory_mb=256, output_bytes=32 * 1024, disk_mb=2, disk_files=256)
    code = """
        import os
        for label, size in (("data", 16 * 1024), ("empty", 0)):
            written = files = 0
            try:
                for i in range(2000):
                    with open(f"{label}{i}.bin", "wb") as fh:
                        fh.write(b"x" * size)
                    written += size
                    files += 1
            except OSError as e:
                print(label, "stopped", os.strerror(e.errno))
            print(label, "files", files, "bytes", written)
            for f in os.listdir("."):
                os.remove(f)
    """
    out = _probe(code, lim)
    assert "data stopped No space left on device" in out and "empty stopped No space left on device" in out, out
    data_bytes = int(next(ln for ln in out.splitlines() if ln.startswith("data files")).split()[-1])
    empty_files = int(next(ln for ln in out.splitlines() if ln.startswith("empty files")).split()[2])
    assert data_bytes <= lim.disk_mb * 1024 * 1024 and empty_files < lim.disk_files, out


def test_no_capabilities_and_no_new_namespaces() -> None:
    code = """
        status = open("/proc/self/status").read()
        print([ln for ln in status.splitlines() if ln.startswith(("CapEff", "CapBnd", "NoNewPrivs", "Seccomp:"))])
        import ctypes
        libc = ctypes.CDLL(None)
        print("unshare", libc.unshare(0x00020000), "mount", libc.mount(b"none", b"/work", b"tmpfs", 0, None))
    """
    out = _probe(code)
    assert "CapEff:\\t0000000000000000" in out and "NoNewPrivs:\\t1" in out and "Seccomp:\\t2" in out, out
    assert "unshare -1 mount -1" in out, out


def test_each_layer_is_in_force() -> None:
    assert set(sandbox.isolation()) == set(sandbox.LAYERS)


def test_missing_layer_refuses_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from mentor.errors import VerifierError

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name == "pivot_root" else "/usr/bin/" + name)
    sandbox._plan.cache_clear()
    try:
        with pytest.raises(VerifierError, match="pivot_root"):
            sandbox.run_io_test("print(1)", "")
    finally:
        monkeypatch.undo()
        sandbox._plan.cache_clear()
    assert os.path.exists("/proc/self")  # sanity: the real plan is rebuilt on next use
