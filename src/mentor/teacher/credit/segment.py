"""Segmenters: where the steps of an attempt start and end, as token spans."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mentor.errors import ConfigError, MentorError
from mentor.registry import Registry
from mentor.types import StepSpan


class Segmenter(Protocol):
    """Splits a completion into steps. `name` and `args` are recorded with the run."""

    name: str

    @property
    def args(self) -> dict[str, Any]: ...

    def spans(self, text: str, completion_ids: Sequence[int], tokenizer: Any) -> list[StepSpan]: ...


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    # Special tokens (EOS, padding) decode to "" so they become zero-width tokens of the last step
    # instead of text the segmenter could mistake for a step.
    return str(tokenizer.decode(list(ids), skip_special_tokens=True))


def decode_prefix_ends(completion_ids: Sequence[int], tokenizer: Any) -> tuple[str, list[int]]:
    """Decode the completion and, for each token i, the character offset where its text ends.

    Token i covers characters [ends[i-1], ends[i]) of the decoded text (ends[-1] = len(text)).
    The offset is the longest common prefix of decode(ids[:i+1]) with the full decode, so a token that
    ends inside a multi-byte character (it decodes to U+FFFD on its own) or a tokeniser whose prefix
    decodes are not prefix-stable (space clean-up) gets the characters it has *committed* to. Offsets
    are forced non-decreasing. Cost: one decode per token (quadratic in T, fine for T ≲ a few thousand).
    """
    full = _decode(tokenizer, completion_ids)
    ends: list[int] = []
    prev = 0
    for i in range(1, len(completion_ids) + 1):
        part = _decode(tokenizer, completion_ids[:i])
        if full.startswith(part):  # the common case: one comparison, no scan
            lcp = len(part)
        else:
            lcp = 0
            for a, b in zip(part, full, strict=False):
                if a != b:
                    break
                lcp += 1
        prev = max(prev, lcp)
        ends.append(prev)
    if ends:
        ends[-1] = len(full)  # the whole completion decodes to the whole text
    return full, ends


def token_spans(text: str, ends: Sequence[int], char_starts: Sequence[int]) -> list[StepSpan]:
    """Map step start characters to token ranges covering every token exactly once.

    `char_starts` are the first characters of steps 1..n-1 (step 0 starts at 0), strictly
    increasing, in (0, len(text)). A token belongs to the step that holds its first non-whitespace
    character (a whitespace-only or zero-width token: its first character), so " Step" opens the step
    it names while a trailing "\\n\\n" closes the one before. Steps left with no token (a token swallowed
    a whole short step) are dropped and the rest renumbered, so `index` is the position in the list.
    The span texts concatenate to the decoded text.
    """
    starts = [0, *char_starts]
    owner: list[int] = []
    step = 0
    begin = 0
    for end in ends:
        piece = text[begin:end]
        stripped = len(piece) - len(piece.lstrip())
        anchor = begin + (stripped if stripped < len(piece) else 0)
        while step + 1 < len(starts) and starts[step + 1] <= anchor:
            step += 1
        owner.append(step)
        begin = end
    spans: list[StepSpan] = []
    t = 0
    while t < len(owner):
        u = t
        while u < len(owner) and owner[u] == owner[t]:
            u += 1
        c0 = ends[t - 1] if t > 0 else 0
        spans.append(StepSpan(index=len(spans), start=t, end=u, text=text[c0 : ends[u - 1]]))
        t = u
    return spans


def char_boundaries(text: str, pattern: re.Pattern[str], at: str) -> list[int]:
    """Step start characters from a pattern: after each match (`at="end"`, the separator stays with
    the step before it) or at each match (`at="start"`, the match opens a step)."""
    cuts = {m.end() if at == "end" else m.start() for m in pattern.finditer(text)}
    # A step must hold some non-whitespace text: drop cuts that would open an empty step.
    return sorted(c for c in cuts if 0 < c < len(text) and text[c:].strip())


@dataclass(frozen=True)
class RegexSegmenter:
    """Cut a completion at matches of `pattern`; the named segmenters are fixed patterns of this."""

    pattern: str
    at: str = "end"  # "end": break after a separator; "start": a match opens a new step
    name: str = "regex"

    def __post_init__(self) -> None:
        if self.at not in ("end", "start"):
            raise ConfigError(f"segmenter {self.name}: at must be 'end' or 'start', got {self.at!r}")
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise ConfigError(
                f"segmenter {self.name}: invalid regex {self.pattern!r}: {e}",
                fix="use a Python `re` pattern",
            ) from e

    @property
    def args(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "at": self.at}

    def spans(self, text: str, completion_ids: Sequence[int], tokenizer: Any) -> list[StepSpan]:
        if not completion_ids:
            return []
        if tokenizer is None:
            raise MentorError(
                "step segmentation needs the policy's tokenizer to map steps to tokens",
                fix="pass CreditContext(tokenizer=...)",
            )
        # The tokens are the truth: `text` may have been stripped or post-processed by the sampler,
        # so steps are found in the decoded completion, whose characters the tokens map onto.
        del text
        decoded, ends = decode_prefix_ends(completion_ids, tokenizer)
        cuts = char_boundaries(decoded, re.compile(self.pattern), self.at)
        return token_spans(decoded, ends, cuts)


# Fixed patterns. Separators stay with the step before them (at="end") so a step's tokens include its
# line break; numbered steps are recognised where they start (at="start").
_BLANK_LINES = r"\n[ \t]*\n\s*"


_LINES = r"\n\s*"


_NUMBERED = r"(?im)^[ \t]*(?:step\s*\d+\s*[:.)]|\d+[.)])\s"


_SENTENCES = r"[.!?]+[\"')\]]*\s+"


def _fixed(name: str, pattern: str, at: str) -> Callable[[], RegexSegmenter]:
    def make() -> RegexSegmenter:
        return RegexSegmenter(pattern=pattern, at=at, name=name)

    return make


def _regex(pattern: str, at: Literal["start", "end"] = "end") -> RegexSegmenter:
    return RegexSegmenter(pattern=pattern, at=at)


SEGMENTERS: Registry[Segmenter] = Registry("segmenter", "credit.segmenter")
SEGMENTERS.add("blank_lines", _fixed("blank_lines", _BLANK_LINES, "end"))
SEGMENTERS.add("lines", _fixed("lines", _LINES, "end"))
SEGMENTERS.add("numbered", _fixed("numbered", _NUMBERED, "start"))
SEGMENTERS.add("sentences", _fixed("sentences", _SENTENCES, "end"))
SEGMENTERS.add("regex", _regex)
