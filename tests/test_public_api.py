"""`mentor.__all__` is honest: every name resolves, and `import mentor` loads no heavy package."""

from __future__ import annotations

import subprocess
import sys

import mentor


def test_every_exported_name_resolves():
    for name in mentor.__all__:
        assert getattr(mentor, name) is not None, name


def test_import_mentor_is_light():
    code = "import sys, mentor; print(sorted(m for m in ('torch', 'transformers', 'httpx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
