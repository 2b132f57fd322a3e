"""One writer per run directory.

    with runlock.acquire(run_dir):
        ...  # create or resume the run, train, commit steps

The lock is an advisory `flock` on `RUN_DIR/.lock`, held for as long as the context is open. The kernel
drops it when the process dies, however it dies (kill -9 included), so a killed run can always be
resumed; a second `mentor train` (or `--resume`) on the same directory while the first is alive gets a
clear error instead of two writers interleaving steps in one store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from mentor.errors import StoreError

LOCK_NAME = ".lock"


@contextlib.contextmanager
def acquire(run_dir: str | Path) -> Iterator[Path]:
    """Hold the run directory's writer lock (the directory is created if missing); `StoreError` naming
    the holder's pid when another process has it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise StoreError(f"another Mentor process (pid {holder}) is writing this run.", where=str(run_dir),
                             fix="wait for it to finish (or stop it); then `mentor train --resume "
                             f"{run_dir}` continues from its last committed step") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield run_dir
    finally:
        os.close(fd)  # closing the descriptor releases the lock
