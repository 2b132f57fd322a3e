"""Typed errors. A `MentorError` is a user-facing mistake or a grader failure: the CLI prints its
message (which names the file, the line and the fix) and exits non-zero without a traceback."""

from __future__ import annotations


class MentorError(Exception):
    """Base class. `where` is the file (and line) at fault, `fix` what the user should do."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(parts)


class ConfigError(MentorError):
    """A configuration file or override is invalid."""


class TaskError(MentorError):
    """A task source cannot be built or a task file has a bad line."""


class InputError(MentorError):
    """An input file (JSONL of attempts, human grades) is malformed."""


class RubricError(MentorError):
    """A rubric file is invalid, or a locked bundle does not match its hash."""


class VerifierError(MentorError):
    """A check crashed or timed out: the attempt is unscorable, never scored 0."""


class JudgeError(MentorError):
    """A judge could not produce a valid verdict: the attempt is unscorable, never scored 0."""


class StoreError(MentorError):
    """The run store is missing, corrupt, or does not belong to this configuration."""


class CheckpointError(MentorError):
    """A checkpoint could not be written (a full or read-only disk). Every committed step is kept."""

    exit_code = 1


class MissingExtraError(MentorError):
    """An optional dependency is needed for this feature."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the optional package '{package}'.",
            fix=f"pip install 'mentor-rl[{extra}]' (or: pip install {package})",
        )
