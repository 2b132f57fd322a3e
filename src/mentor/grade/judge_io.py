"""What every judge backend shares: its reply types (text with its cost, or a failure), the protocol,
usage counters and a backend's identity (which keys the verdict cache)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mentor.errors import JudgeError
from mentor.grade.judge import JudgeRequest


class JudgeText(str):
    """A backend's raw reply, carrying how many extra tries it took (counted in the grade's cost) and
    the seconds it took from its start (counted against the grade's deadline)."""

    retries: int
    seconds: float | None

    def __new__(cls, text: str, retries: int = 0, seconds: float | None = None) -> JudgeText:
        obj = super().__new__(cls, text)
        obj.retries = retries
        obj.seconds = seconds
        return obj


class JudgeCallError(JudgeError):
    """A backend's failure for one request, after `retries` extra tries and `seconds` from its start."""

    def __init__(self, message: str, *, retries: int = 0, seconds: float | None = None, where: str | None = None,
                 fix: str | None = None) -> None:
        super().__init__(message, where=where, fix=fix)
        self.retries = retries
        self.seconds = seconds


JudgeOutput = str | JudgeError


def judge_identity(judge: Any) -> str:
    """The judge as the cache key sees it: its `identity` (model plus whatever changes its answers,
    such as constrained decoding) where it has one, else its model name."""
    return str(getattr(judge, "identity", None) or judge.model)


@runtime_checkable
class JudgeBackend(Protocol):
    name: str  # backend kind, part of the cache key: "scripted", "transformers", "openai"
    model: str  # model identity, part of the cache key

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]: ...


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    retries: int = 0  # extra tries inside the backend (HTTP 429/5xx/timeouts)
