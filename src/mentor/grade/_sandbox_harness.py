"""Runs inside the sandbox process (`python -I -S`), stdlib only. Copied into the temporary working
directory by `mentor.grade.sandbox`; never imported by Mentor itself.

It reads its job (mode, nonce, the statements to run) from stdin *before* any attempt code runs, then
installs an audit hook that refuses network use, process creation, ctypes, frame-object introspection and
file writes outside the working directory. The hook is defence in depth: the real limits are the
kernel's (rlimits, a network namespace, an unprivileged uid where available, a killed process group).
"""

import json
import os
import sys


def _install_hook(root):
    blocked_log = sys.stderr
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def inside(path):
        try:
            p = os.path.realpath(os.fsdecode(path))
        except Exception:
            return False
        return p == root or p.startswith(root + os.sep)

    def refuse(event):
        blocked_log.write(f"\nMENTOR_SANDBOX_BLOCKED {event}\n")
        blocked_log.flush()
        raise PermissionError(f"sandbox: {event} is not allowed")

    path_events = {"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
                   "os.truncate", "os.utime", "shutil.rmtree", "os.chdir"}
    deny = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.kill",
            "os.killpg", "subprocess.Popen", "socket.__new__", "socket.connect", "socket.bind",
            "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
            "gc.get_objects", "gc.get_referrers", "gc.get_referents", "ctypes.dlopen", "os.startfile"}
    frame_attrs = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals"}

    def hook(event, args):
        if event in deny:
            refuse(event)
        elif event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing and not inside(path):
                refuse(f"write outside the working directory ({os.fsdecode(path)})")
            if "/proc/" in os.fsdecode(path) and os.fsdecode(path).endswith("/mem"):
                refuse("open /proc/*/mem")
        elif event in ("os.rename", "os.replace"):
            if not (inside(args[0]) and inside(args[1])):
                refuse(f"{event} outside the working directory")
        elif event in path_events:
            if event == "os.chdir" or not inside(args[0]):
                refuse(f"{event} ({args[0]!r})")
        elif event == "import" and args[0] in ("ctypes", "_ctypes", "cffi"):
            refuse(f"import {args[0]}")
        elif event == "object.__getattr__" and len(args) > 1 and args[1] in frame_attrs:
            refuse(f"frame introspection ({args[1]})")

    sys.addaudithook(hook)


def main():
    sys.stderr.write("MENTOR_SANDBOX_STARTED\n")
    sys.stderr.flush()
    job = json.loads(sys.stdin.readline())
    root = os.path.realpath(os.getcwd())
    # the attempt's stdin is the rest of our stdin, as a file object it can read normally
    with open("solution.py", encoding="utf-8") as f:
        source = f.read()
    code = compile(source, "solution.py", "exec")
    stmts = [compile(s, f"<assert {i}>", "exec") for i, s in enumerate(job.get("asserts", []))]
    nonce = job["nonce"]
    out = sys.stdout
    _install_hook(root)
    del job
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    if not stmts:
        exec(code, namespace)
        return
    try:
        exec(code, namespace)
    except SystemExit:
        pass
    except BaseException as exc:
        sys.stderr.write(f"attempt code raised {type(exc).__name__}: {exc}\n")
    for i, stmt in enumerate(stmts):
        try:
            exec(stmt, namespace)
            ok = True
        except BaseException as exc:
            sys.stderr.write(f"assert {i} failed: {type(exc).__name__}: {exc}\n")
            ok = False
        out.write(f"\n{nonce}:{i}:{'pass' if ok else 'fail'}\n")
        out.flush()


main()
