"""What an attempt may show a judge: sentence splitting, delimiter neutralisation, injection flags and
the "no substantive content" screen (master keys, arXiv 2507.08794).

These are deterministic text functions. They decide what the judge sees and which sentences may be
cited as evidence; they never award credit themselves.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# --- sentences ------------------------------------------------------------------------------------

_SENT_END = re.compile(r"(?<=[.!?。！？])\s+")


def split_sentences(text: str) -> list[str]:
    """Numbered-sentence view of an attempt: each non-empty line, split after sentence-ending
    punctuation. Deterministic, so quote ids mean the same thing to the judge and the verifier."""
    out: list[str] = []
    for line in text.splitlines():
        for piece in _SENT_END.split(line.strip()):
            if piece.strip():
                out.append(piece.strip())
    return out


def ws_normalise(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


# --- neutralisation -------------------------------------------------------------------------------

# What an attempt could use to end the fence early, start a chat turn, or fake a verdict object.
_NEUTRALISE = [
    (re.compile(r"<\|"), "<¦"),  # chat-template special tokens such as <|im_start|>
    (re.compile(r"\|>"), "¦>"),
    (re.compile(r"```"), "ʼʼʼ"),
    (re.compile(r"<<<|>>>"), "‹‹‹"),
    (re.compile(r"(?i)\[/?(inst|sys)\]"), "(inst)"),
    (re.compile(r"\[S(\d+)\]"), r"(S\1)"),  # our own sentence-id markers
    (re.compile(r"={3,}"), "=="),  # our prompt's section separator
    (re.compile(r"\{"), "｛"),  # braces: a JSON verdict inside the attempt cannot parse as JSON
    (re.compile(r"\}"), "｝"),
]


def neutralise(s: str) -> str:
    for pat, repl in _NEUTRALISE:
        s = pat.sub(repl, s)
    return s


# --- injection flags ------------------------------------------------------------------------------

_GRADER = r"(grader|judge|evaluator|examiner|assessor|marker|reviewer|rubric|grading)"
_INJECTION = [
    re.compile(r"(?i)\bignore\b.{0,40}\b(rubric|instructions?|criteria|above|previous|prior|rules?)"),
    re.compile(r"(?i)\b(give|award|assign|output|return|grant|mark)\b.{0,30}\b(full|maximum|max|perfect|"
               r"top|all|highest)\b.{0,20}\b(marks?|points?|scores?|credit|grades?|verdicts?|levels?)"),
    re.compile(r"(?i)\bfull marks\b|\bperfect score\b|\bmaximum score\b"),
    re.compile(rf"(?i)\b{_GRADER}\b.{{0,60}}\b(must|should|shall|will|has to|needs? to)\b"),
    re.compile(rf"(?i)\b(dear|note to( the)?|attention)\s+{_GRADER}"),
    re.compile(r"(?i)[\"'“”]?\b(verdict|criteria|quotes|score)\b[\"'“”]?\s*[:=]"),
    re.compile(r"(?i)^\s*(system|assistant|user|grader|judge)\s*:"),
    re.compile(r"(?i)\b(verified|pre-?verified|approved)\b.{0,30}\b(quotes?|evidence|verdict|answer)"),
    re.compile(r"(?i)\b(evidence|quotes?)\b.{0,30}(\bsentence\s*\d+|\(S\d+\)|\[S\d+\])"),
    # fence / chat-turn markers: an attempt has no business closing its fence or opening a turn
    re.compile(r"(?i)<\|[a-z_]+\|>|</?\s*(attempt|answer|response|system|user|assistant)\s*>|<<<|>>>"
               r"|\bend (of )?(the )?attempt\b"),
    re.compile(r"(?i)\bthis (answer|attempt|response|solution) (is|has been) (correct|verified|graded)"),
]


def injection_flags(sentences: list[str]) -> list[bool]:
    """True for sentences that address the grader, ask for marks, or carry a verdict or evidence of
    their own. Flagged sentences are withheld from the judge and cannot be cited as evidence; a
    legitimate sentence caught by mistake only loses its use as a quote."""
    return [any(p.search(s) for p in _INJECTION) for s in sentences]


# --- substance ------------------------------------------------------------------------------------

# Bare openers that carry no solution (master keys and their relatives, several languages).
_OPENERS = [
    "thought process", "let's solve this problem step by step", "let's solve this step by step",
    "let's think step by step", "let us think step by step", "let's solve this problem", "let's solve this",
    "let me think", "step by step", "solution", "answer", "final answer", "the answer is", "explanation",
    "reasoning", "here is my answer", "here is the solution", "here's the solution", "sure", "okay", "ok",
    "step 1", "proof", "work", "response", "かいせつ", "解説", "解答", "解", "答え", "答", "回答",
    "respuesta", "solución", "solucion", "réponse", "lösung", "antwort", "risposta", "resposta", "ответ",
    "решение",
]
_STOP = {"the", "a", "an", "is", "are", "to", "of", "this", "that", "it", "here", "my", "our", "we", "i",
         "let", "lets", "let's", "us", "so", "now", "then", "and", "problem", "question", "task", "below",
         "following", "as", "follows", "first", "step", "steps", "by", "in", "on", "for", "with", "will",
         "be", "me", "you", "your", "think", "solve", "see", "look", "well", "hmm"}


def _fold(s: str) -> str:
    # punctuation and symbols to spaces (any script), lower case
    chars = [" " if unicodedata.category(c)[0] in "PSZC" else c for c in unicodedata.normalize("NFKC", s)]
    return re.sub(r"\s+", " ", "".join(chars).lower().replace("’", "'")).strip()


_OPENERS_FOLDED = sorted({_fold(o) for o in _OPENERS}, key=len, reverse=True)


@dataclass(frozen=True)
class Substance:
    substantive: bool
    reason: str
    content_tokens: tuple[str, ...]


def substance(text: str) -> Substance:
    """Is there anything to grade once bare openers, filler and punctuation are gone?

    A digit counts as content ("Answer: 4" is an answer); "Let's solve this problem step by step."
    or "かいせつ" is not. Scripts without spaces count each remaining character as a token."""
    # a bare code-fence line ("```json") is layout, not content (ʼʼʼ is the neutralised fence)
    folded = " " + _fold(re.sub(r"(```|ʼʼʼ)[\w+-]*", " ", text)) + " "
    for op in _OPENERS_FOLDED:
        folded = folded.replace(" " + op + " ", " ")
    folded = _fold(folded)
    tokens = [t for t in folded.split() if t not in _STOP and t.replace("'", "") not in _STOP]
    # CJK and similar: no spaces, so an opener may be glued to other text; count remaining letters
    content = tuple(t for t in tokens if any(c.isalnum() for c in t))
    if not content:
        return Substance(False, "no substantive content", ())
    return Substance(True, "", content[:20])
