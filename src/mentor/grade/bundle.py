"""Locking: a validated rubric compiled to a canonical JSON bundle and hashed.

hash = sha256(json.dumps(bundle, sort_keys=True, ensure_ascii=False)). The bundle includes the judge
prompt template, so changing the prompt is a new bundle too. A lock file (`NAME.lock.json`) holds
`{"sha256": ..., "bundle": {...}}`; loading one whose content no longer matches its hash is refused.

The hash is integrity, not authenticity: it catches edits and corruption, not someone who edits the
bundle *and* recomputes the hash (that needs a signature, which is out of scope).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mentor.errors import RubricError
from mentor.grade.rubric import Rubric, load_rubric, parse_rubric

BUNDLE_FORMAT = "mentor.rubric-bundle/1"
LOCK_SUFFIX = ".lock.json"


def judge_prompt_template() -> str:
    return resources.files("mentor.grade").joinpath("judge_prompt.txt").read_text(encoding="utf-8")


def bundle_hash(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Bundle:
    content: Mapping[str, Any]  # canonical JSON data: {"format", "rubric", "judge_prompt"}
    hash: str
    rubric: Rubric

    @property
    def version(self) -> int:
        return self.rubric.version

    @property
    def name(self) -> str:
        return self.rubric.name

    @property
    def judge_prompt(self) -> str:
        return str(self.content["judge_prompt"])

    def to_json(self) -> str:
        return json.dumps({"sha256": self.hash, "bundle": self.content}, sort_keys=True,
                          ensure_ascii=False, indent=2) + "\n"


def compile_rubric(rubric: Rubric) -> Bundle:
    # JSON round trip so the content is exactly what a reader of the lock file gets back
    content = json.loads(json.dumps({
        "format": BUNDLE_FORMAT,
        "rubric": rubric.model_dump(mode="json", by_alias=True),
        "judge_prompt": judge_prompt_template(),
    }, ensure_ascii=False))
    return Bundle(content, bundle_hash(content), rubric)


def default_lock_path(rubric_path: str | Path) -> Path:
    p = Path(rubric_path)
    stem = p.name.removesuffix(".yaml").removesuffix(".yml")
    return p.with_name(stem + LOCK_SUFFIX)


def lock_rubric(path: str | Path, out: str | Path | None = None) -> Bundle:
    """Compile the rubric at `path` and write its lock file (default: beside it, `NAME.lock.json`).

    Bundles are immutable per version: re-locking unchanged content is a no-op, but a *changed* rubric
    with the same `version` as the existing lock file is refused, so two different rubrics never share
    a (name, version)."""
    bundle = compile_rubric(load_rubric(path))
    target = Path(out) if out is not None else default_lock_path(path)
    if target.exists():
        try:
            old = load_bundle(target)
        except RubricError:
            old = None  # a corrupt or tampered old lock file: replacing it is what the user wants
        if old is not None and old.hash != bundle.hash and old.version >= bundle.version:
            raise RubricError(
                f"rubric '{bundle.name}' changed since it was locked as version {old.version} "
                f"({old.hash[:12]}), but its version is still {bundle.version}",
                where=str(path), fix=f"set 'version: {old.version + 1}' in the rubric, then lock again")
    _atomic_write(target, bundle.to_json())
    return bundle


def load_bundle(path: str | Path) -> Bundle:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RubricError(f"bundle file not found: {p}", where=str(p), fix="lock the rubric first: "
                          "mentor rubric lock RUBRIC.yaml") from None
    except json.JSONDecodeError as exc:
        raise RubricError(f"bundle is not valid JSON ({exc.msg})", where=f"{p}:{exc.lineno}",
                          fix="re-lock it from its rubric: mentor rubric lock RUBRIC.yaml") from None
    if not isinstance(raw, dict) or "sha256" not in raw or "bundle" not in raw:
        raise RubricError("not a rubric bundle (expected keys 'sha256' and 'bundle')", where=str(p),
                          fix="pass a *.lock.json written by `mentor rubric lock`, or the rubric YAML")
    return bundle_from_content(raw["bundle"], expected_hash=str(raw["sha256"]), where=str(p))


def bundle_from_content(content: Mapping[str, Any], *, expected_hash: str, where: str) -> Bundle:
    actual = bundle_hash(content)
    if actual != expected_hash:
        raise RubricError(
            f"bundle content does not match its hash (recorded {expected_hash[:12]}…, actual "
            f"{actual[:12]}…): it was edited after locking, and grading against it is refused",
            where=where, fix="restore the original bundle, or re-lock from the rubric YAML with a new version")
    if content.get("format") != BUNDLE_FORMAT:
        raise RubricError(f"unsupported bundle format {content.get('format')!r}", where=where,
                          fix=f"re-lock with this version of mentor (format {BUNDLE_FORMAT})")
    rubric = parse_rubric(content["rubric"], where=where)
    return Bundle(content, actual, rubric)


def load_any(path_or_bundle: str | Path | Bundle) -> Bundle:
    """A bundle from a lock file, or compiled in memory from a rubric YAML (not written to disk)."""
    if isinstance(path_or_bundle, Bundle):
        return path_or_bundle
    p = Path(path_or_bundle)
    if p.name.endswith(".json"):
        return load_bundle(p)
    return compile_rubric(load_rubric(p))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
