"""Checks of paths and names the user gave, made before any work starts.

Each raises a `MentorError` naming the option or key, the path, and the fix, so that a mistake costs
nothing: no half-created run directory, no grading that is lost because its output cannot be written.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

from mentor.errors import ConfigError, InputError, StoreError

KNOWN_MODELS = ("smollm2-135m", "tiny")


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _writable_dir(d: Path) -> str | None:
    """None when a file can be created in directory `d` (tried, not guessed: root ignores mode bits but
    not a read-only mount), else why not."""
    try:
        with tempfile.NamedTemporaryFile(dir=d, prefix=".mentor-write-probe-"):
            pass
    except OSError as exc:
        return "a read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc))
    return None


def check_writable_file(path: Path, *, option: str, example: str = "out.jsonl",
                        error: type[StoreError | InputError | ConfigError] = InputError) -> None:
    """`path` can be (over)written as a file: it is not a directory, and its directory (or the nearest
    existing ancestor, where the missing ones would be created) takes new files."""
    if path.is_dir():
        raise error(f"{option} points at a directory.", where=str(path),
                    fix=f"give {option} a file name, e.g. {path / example}")
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise error(f"{option}: {base} is a file, so {path} cannot be created under it.", where=str(path),
                    fix=f"choose a path for {option} whose parent is a directory")
    why = _writable_dir(base)
    if why is not None:
        raise error(f"{option}: cannot write in {base} ({why}).", where=str(path),
                    fix=f"choose a writable location for {option}")


def check_new_run_dir(run_dir: Path, *, option: str = "--run-dir") -> None:
    """A directory a new run can be written to: absent, or an empty-of-runs directory we can write."""
    from mentor.store import STORE_NAME

    if run_dir.exists() and not run_dir.is_dir():
        raise StoreError(f"{option} points at a file, not a directory.", where=str(run_dir),
                         fix=f"choose a directory path for {option} (it is created if missing)")
    if (run_dir / STORE_NAME).exists():
        raise StoreError("this run directory already holds a run.", where=str(run_dir),
                         fix=f"resume it with `mentor train --resume {run_dir}`, or choose another {option}")
    base = _nearest_existing(run_dir)
    if not base.is_dir():
        raise StoreError(f"{option}: {base} is a file, so {run_dir} cannot be created.", where=str(run_dir),
                         fix=f"choose a directory path for {option}")
    why = _writable_dir(base)
    if why is not None:
        raise StoreError(f"cannot write the run directory ({why} at {base}).", where=str(run_dir),
                         fix=f"choose a writable location for {option}")


def check_run_dir_writable(run_dir: Path, *, what: str) -> None:
    """An existing run directory that `what` (e.g. "resuming") must write into."""
    if run_dir.exists() and not run_dir.is_dir():
        raise StoreError("this is a file, not a run directory.", where=str(run_dir),
                         fix="pass the directory written by `mentor train` (it holds run.sqlite)")
    if not run_dir.is_dir():
        return  # the store's own error ("no run store here") names this case
    why = _writable_dir(run_dir)
    if why is not None:
        raise StoreError(f"the run directory is not writable ({why}); {what} writes into it.", where=str(run_dir),
                         fix=f"make it writable, or copy it somewhere writable (cp -r {run_dir} /tmp/) and use the copy")


def check_model_name(name: str) -> None:
    """model.name is a bundled name or a saved Hugging Face directory, checked before a run exists."""
    if name in KNOWN_MODELS:
        return
    p = Path(name).expanduser()
    if p.is_dir() and (p / "config.json").is_file():
        return
    detail = ("a directory without config.json (not a saved Hugging Face model)" if p.is_dir()
              else "neither a known name nor a local directory")
    raise ConfigError(f"model '{name}' is {detail}.", where="model.name",
                      fix=f"use one of {', '.join(repr(m) for m in KNOWN_MODELS)} or the path of a model saved "
                      "with save_pretrained, e.g. --set model.name=smollm2-135m")


def check_not_directory(path: Path, *, option: str) -> None:
    if path.is_dir():
        raise InputError(f"{option} points at a directory.", where=str(path),
                         fix=f"give {option} a file path, e.g. {path / 'cache.sqlite'}")


__all__ = ["KNOWN_MODELS", "check_model_name", "check_new_run_dir", "check_not_directory",
           "check_run_dir_writable", "check_writable_file"]
