"""Runs inside the sandbox (`python -I -S`, stdlib only), never imported by Mentor itself.

By the time this runs, `mentor.grade.sandbox` has put it in fresh namespaces (user, mount, PID, network,
IPC, UTS) under a read-only minimal root with a private /proc, a size-capped tmpfs as its working directory
and no capabilities. This file adds, before any attempt code runs:

1. a seccomp filter (written here as classic BPF, installed through prctl) that refuses process creation
   (fork, vfork, clone without CLONE_THREAD, clone3, execve, execveat), sockets, ptrace, cross-process
   memory access and namespace or mount changes, with no_new_privs so it can never be lifted;
2. an audit hook that *records* what the attempt tried (reported on the grade). It is a witness, not a wall:
   a subinterpreter or native code can bypass it, which is why the walls above are the kernel's.

The job arrives on stdin (one JSON line). In `tests` mode it carries only the expressions to evaluate, never
the values they are expected to equal: each expression's value goes back to the parent as a canonical
serialisation of plain data (anything else is an error), and the parent compares. So nothing in this
process (frames, memory, files) holds a pass to forge: an attempt that lies here can only claim values,
and claiming the right values is solving the task.
"""

import json
import os
import sys

_write = os.write
_dumps = json.dumps


def _seccomp(arch_name):
    """Install the filter; raise if the kernel refuses (the parent then refuses to grade)."""
    import ctypes
    import struct

    # per architecture: (AUDIT_ARCH, {syscall: errno}, clone nr, max plain nr)
    eperm, enosys = 1, 38
    tables = {
        "x86_64": (0xC000003E, {57: eperm, 58: eperm, 59: eperm, 322: eperm, 435: enosys, 41: eperm,
                                53: eperm, 101: eperm, 310: eperm, 311: eperm, 272: eperm, 308: eperm,
                                165: eperm, 155: eperm, 161: eperm, 321: eperm, 298: eperm, 425: eperm,
                                250: eperm, 323: eperm},
                   56),
        "aarch64": (0xC00000B7, {221: eperm, 281: eperm, 435: enosys, 198: eperm, 199: eperm, 117: eperm,
                                 270: eperm, 271: eperm, 97: eperm, 268: eperm, 40: eperm, 41: eperm,
                                 51: eperm, 280: eperm, 241: eperm, 425: eperm, 219: eperm, 282: eperm},
                    220),
    }
    if arch_name not in tables:
        raise OSError(f"no seccomp table for architecture {arch_name}")
    audit_arch, deny, clone_nr = tables[arch_name]
    ld_w_abs, jeq_k, jset_k, jge_k, ret_k = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    prog = [(ld_w_abs, 0, 0, 4), (jeq_k, 1, 0, audit_arch), (ret_k, 0, 0, kill), (ld_w_abs, 0, 0, 0)]
    if arch_name == "x86_64":
        prog += [(jge_k, 0, 1, 0x40000000), (ret_k, 0, 0, kill)]  # x32 ABI calls: refused outright
    for nr, err in deny.items():
        prog += [(jeq_k, 0, 1, nr), (ret_k, 0, 0, 0x00050000 | err)]
    clone_thread = 0x00010000
    # clone: threads are allowed (CLONE_THREAD in the low word of args[0], at offset 16), new processes not
    prog += [(jeq_k, 0, 3, clone_nr), (ld_w_abs, 0, 0, 16), (jset_k, 1, 0, clone_thread),
             (ret_k, 0, 0, 0x00050000 | eperm)]
    prog += [(ret_k, 0, 0, allow)]
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw)

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Prog(len(prog), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    # the attempt gets no ready-made ctypes from us (importing it again is recorded below)
    for name in [m for m in sys.modules if m == "ctypes" or m.startswith("ctypes.") or m == "_ctypes"]:
        del sys.modules[name]


def _install_witness(log):
    """Record suspicious actions on stderr (the parent reports them on the grade). Refuses the obvious
    ones so that the record is one line, but the kernel is what actually stops them."""
    watched = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.kill",
               "os.killpg", "subprocess.Popen", "socket.__new__", "socket.connect", "socket.bind",
               "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "ctypes.dlopen",
               "ctypes.dlsym", "ctypes.cdata", "sys._getframe", "sys.settrace", "sys.setprofile",
               "gc.get_objects", "gc.get_referrers", "gc.get_referents", "os.startfile"}
    frame_attrs = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "f_locals", "f_globals"}
    modules = {"ctypes", "_ctypes", "cffi", "_xxsubinterpreters", "_xxinterpchannels", "_posixsubprocess",
               "_interpreters", "_interpchannels", "_testcapi", "_testinternalcapi"}
    seen = set()

    def note(what):
        if what not in seen:
            seen.add(what)
            log.write(f"\nMENTOR_SANDBOX_BLOCKED {what}\n")
            log.flush()

    def hook(event, args):
        if event in watched:
            note(event)
            if event.startswith(("os.", "subprocess.", "socket.")):
                raise PermissionError(f"sandbox: {event} is not allowed")
        elif event == "open" and isinstance(args[0], (str, bytes)):
            p = os.fsdecode(args[0])
            if p.startswith("/proc/") and p.endswith(("/mem", "/maps", "/environ")):
                note(f"open {p}")
        elif event == "import" and args[0] in modules:
            note(f"import {args[0]}")
        elif event == "object.__getattr__" and len(args) > 1 and args[1] in frame_attrs:
            note(f"frame introspection ({args[1]})")

    sys.addaudithook(hook)


# --- canonical values -------------------------------------------------------------------------------

_SCALARS = (int, float, str, bool, type(None))


def _encode(v, depth=0, budget=None):
    """Plain data to JSON-able tagged form; exact built-in types only (a subclass, and so a user-defined
    __eq__, is refused)."""
    if budget is None:
        budget = [200_000]
    budget[0] -= 1
    if budget[0] < 0 or depth > 64:
        raise ValueError("value too large or too deep")
    t = type(v)
    if t in _SCALARS:
        if t is float and v != v:
            return {"float": "nan"}
        if t is float and v in (float("inf"), float("-inf")):
            return {"float": "inf" if v > 0 else "-inf"}
        return v  # Python's JSON keeps ints exact and apart from floats ("4" vs "4.0")
    if t is list or t is tuple or t is set or t is frozenset:
        items = [_encode(x, depth + 1, budget) for x in v]
        if t is set or t is frozenset:
            items.sort(key=lambda x: _dumps(x, sort_keys=True))
        return {t.__name__: items}
    if t is dict:
        return {"dict": [[_encode(k, depth + 1, budget), _encode(x, depth + 1, budget)] for k, x in v.items()]}
    if t is bytes:
        return {"bytes": v.hex()}
    if t is complex:
        return {"complex": [_encode(v.real, depth + 1, budget), _encode(v.imag, depth + 1, budget)]}
    raise TypeError(f"a value of type {t.__module__}.{t.__qualname__} is not plain data")


def _run_tests(code, tests, result_fd):
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(code, namespace)
    except SystemExit:
        pass
    except BaseException as exc:
        sys.stderr.write(f"attempt code raised {type(exc).__name__}: {exc}\n")
    for i, steps in enumerate(tests):
        out = []
        for kind, src in steps:
            try:
                if kind == "exec":
                    exec(compile(src, f"<test {i}>", "exec"), namespace)
                    out.append({"ok": True})
                else:
                    value = eval(compile(src, f"<test {i}>", "eval"), namespace)
                    out.append({"ok": True, "v": _encode(value)})
            except BaseException as exc:
                out.append({"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
                if kind == "exec":
                    break
        _write(result_fd, ("MENTOR_RESULT " + _dumps({"test": i, "steps": out}) + "\n").encode())


def _facts():
    """What the walls look like from inside, for the parent to verify before trusting them."""
    with open("/proc/self/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    with open("/proc/net/dev") as f:
        ifaces = [ln.split(":")[0].strip() for ln in f.read().splitlines()[2:] if ":" in ln]
    try:
        open("/mentor-probe", "w").close()
        root_ro = False
    except OSError:
        root_ro = True
    work = os.statvfs("/work")
    return {"seccomp": status.get("Seccomp", "").strip(), "no_new_privs": status.get("NoNewPrivs", "").strip(),
            "cap_eff": status.get("CapEff", "").strip(), "cap_bnd": status.get("CapBnd", "").strip(),
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "ifaces": ifaces,
            "root_read_only": root_ro, "host_etc_visible": os.path.exists("/etc/passwd"),
            "work_bytes": work.f_blocks * work.f_frsize, "work_inodes": work.f_files}


def main():
    sys.stderr.write("MENTOR_SANDBOX_STARTED\n")
    sys.stderr.flush()
    job = json.loads(sys.stdin.readline())
    with open(job["solution"], encoding="utf-8") as f:
        source = f.read()
    try:
        _seccomp(job["arch"])
    except Exception as exc:
        sys.stderr.write(f"MENTOR_SANDBOX_NO_SECCOMP {exc}\n")
        sys.stderr.flush()
        os._exit(70)
    _install_witness(sys.stderr)
    if job["mode"] == "probe":
        print(_dumps(_facts()))
        return
    try:
        code = compile(source, "solution.py", "exec")
    except SyntaxError as exc:
        sys.stderr.write(f"attempt code does not compile: {exc}\n")
        sys.exit(1)
    if job["mode"] == "io":
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
        return
    # tests: our stdout carries results only; the attempt's prints go to stderr
    result_fd = os.dup(1)
    os.dup2(2, 1)
    tests = [[(k, s) for k, s in steps] for steps in job["tests"]]
    del job
    _run_tests(code, tests, result_fd)


main()
