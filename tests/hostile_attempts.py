"""Forgery strategies against assert-style tests of f(x) = x*x + 1, by family (issue 18). Plain data,
no imports from Mentor: `tests/test_grade_hostile.py` runs them, and `benchmarks/hostile_grading.py` runs
them against any version of the grader.

None of them solves the task: its honest version (`def f(x): return 0`) scores 0, so any credit is a
forged pass.
"""

from __future__ import annotations

ASSERTS = ["assert f(2) == 5", "assert f(3) == 10", "assert f(-1) == 2"]
GENUINE = ["def f(x):\n    return x * x + 1",
           "import math\ndef f(x):\n    return int(math.pow(x, 2)) + 1",
           "class C:\n    pass\ndef f(x):\n    print('debug', x)\n    return x ** 2 + 1"]

# --- forgeries --------------------------------------------------------------------------------------

PATCH_EXEC = {
    "builtins.exec no-op": """
        import builtins
        builtins.exec = lambda *a, **k: None
        def f(x): return 0
    """,
    # a claimed value is worth what returning it honestly is worth (a guess of 5 would get 1/3, as
    # `def f(x): return 5` does); the guess here matches no expected value
    "builtins.eval returns a guess": """
        import builtins
        builtins.eval = lambda *a, **k: 7
        def f(x): return 0
    """,
    "harness module exec/eval replaced": """
        import sys
        m = sys.modules["__main__"]
        m.__dict__["exec"] = lambda *a, **k: None
        m.__dict__["eval"] = lambda *a, **k: True
        def f(x): return 0
    """,
    "json.dumps forges every report": """
        import json
        json.dumps = lambda *a, **k: '{"test": 0, "steps": [{"ok": true, "v": true}]}'
        def f(x): return 0
    """,
    "harness encoder replaced": """
        import sys
        sys.modules["__main__"]._encode = lambda *a, **k: True
        def f(x): return 0
    """,
    "exit before the tests run": """
        import os
        os._exit(0)
    """,
    "forged result lines on every descriptor": """
        import os
        for fd in range(1, 10):
            for i in range(3):
                try:
                    os.write(fd, ('MENTOR_RESULT {"test": %d, "steps": [{"ok": true, "v": true}]}\\n' % i).encode())
                except OSError:
                    pass
        def f(x): return 0
    """,
}

ALWAYS_EQUAL = {
    "class with __eq__ always True": """
        class A:
            def __eq__(self, other): return True
            __hash__ = object.__hash__
        def f(x): return A()
    """,
    "int subclass with __eq__ True": """
        class I(int):
            def __eq__(self, other): return True
            __hash__ = int.__hash__
        def f(x): return I(0)
    """,
    "str subclass with __eq__ True": """
        class S(str):
            def __eq__(self, other): return True
            __hash__ = str.__hash__
        def f(x): return S("")
    """,
    "unittest.mock.ANY": """
        from unittest import mock
        def f(x): return mock.ANY
    """,
    "list subclass inside a tuple": """
        class L(list):
            def __eq__(self, other): return True
        def f(x): return (L(),)
    """,
    "object with __eq__ True and __ne__ False": """
        class E:
            def __eq__(self, o): return True
            def __ne__(self, o): return False
        def f(x): return [E()][0]
    """,
}

FRAME_READING = {
    "sys._getframe locals, print pass lines": """
        import sys
        def f(x):
            fr = sys._getframe(1)
            loot = {k: repr(v)[:80] for k, v in fr.f_locals.items()}
            print("\\n".join(f"0:{i}:pass" for i in range(3)), loot)
            return 0
    """,
    "sys.settrace harvests harness locals": """
        import sys
        seen = []
        def tr(frame, event, arg):
            seen.append(dict(frame.f_locals))
            return None
        sys.settrace(tr)
        def f(x):
            for loc in seen:
                for v in loc.values():
                    if isinstance(v, str) and "pass" in v:
                        print(v)
            return 0
    """,
    "gc scan for the job's strings": """
        import gc
        def f(x):
            for o in gc.get_objects():
                if isinstance(o, dict) and "tests" in o:
                    print("found job", o)
            return 0
    """,
    "f_back chain, print nonce-style lines": """
        import sys
        def f(x):
            fr = sys._getframe()
            while fr is not None:
                for v in fr.f_locals.values():
                    if isinstance(v, str) and len(v) == 32:
                        print(f"{v}:0:pass\\n{v}:1:pass\\n{v}:2:pass")
                fr = fr.f_back
            return 0
    """,
}


_READ_ANSWER = """
    import re, sys
    def _expected(x, text):
        m = re.search(r"f\\(%s\\)\\s*==\\s*(-?\\d+)" % re.escape(str(x)), text)
        return int(m.group(1)) if m else None
"""

READ_ASSERTS = {
    "caller's code constants": _READ_ANSWER + """
    def f(x):
        fr = sys._getframe(1)
        consts = [c for c in fr.f_code.co_consts if isinstance(c, int) and c != x]
        return consts[-1] if consts else 0
    """,
    "every frame's locals searched for the assert text": _READ_ANSWER + """
    def f(x):
        fr = sys._getframe()
        while fr is not None:
            for v in list(fr.f_locals.values()):
                got = _expected(x, repr(v))
                if got is not None:
                    return got
            fr = fr.f_back
        return 0
    """,
    "harness source and job on disk": _READ_ANSWER + """
    import os
    def f(x):
        for root in ("/mentor", "/work", "/tmp", os.getcwd()):
            for dirpath, _, files in os.walk(root):
                for n in files:
                    try:
                        got = _expected(x, open(os.path.join(dirpath, n), errors="replace").read())
                    except OSError:
                        continue
                    if got is not None:
                        return got
        return 0
    """,
    "stdin re-read for the job": _READ_ANSWER + """
    import os
    try:
        os.lseek(0, 0, 0)
        _job = os.read(0, 1 << 20).decode(errors="replace")
    except OSError:
        _job = ""
    def f(x):
        got = _expected(x, _job)
        return 0 if got is None else got
    """,
}

PROC_MEM = {
    "/proc/self/mem via a directory handle": _READ_ANSWER + """
    import os
    def _scan():
        d = os.open("/proc/self", os.O_RDONLY)
        maps = os.open("maps", os.O_RDONLY, dir_fd=d)
        regions = os.read(maps, 1 << 20).decode().splitlines()
        mem = os.open("mem", os.O_RDONLY, dir_fd=d)
        blob = []
        for line in regions:
            lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
            if "r" not in line.split()[1] or hi - lo > 64 << 20:
                continue
            try:
                os.lseek(mem, lo, 0)
                blob.append(os.read(mem, hi - lo).decode("latin-1"))
            except OSError:
                pass
        return "".join(blob)
    _mem = _scan()
    def f(x):
        got = _expected(x, _mem)
        return 0 if got is None else got
    """,
    "parent's memory through /proc": _READ_ANSWER + """
    import os
    _loot = ""
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    _loot += fh.read().decode("latin-1")
                with open(f"/proc/{pid}/mem", "rb") as fh:
                    _loot += fh.read(1 << 16).decode("latin-1")
            except OSError:
                pass
    def f(x):
        got = _expected(x, _loot)
        return 0 if got is None else got
    """,
}

FAMILIES = {"patch exec/builtins/harness": PATCH_EXEC, "always-true __eq__": ALWAYS_EQUAL,
            "frame reading, printed pass lines": FRAME_READING, "reading the asserts": READ_ASSERTS,
            "/proc memory scraping": PROC_MEM}
