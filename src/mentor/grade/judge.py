"""The LLM judge's side of grading: what the judge is shown, how its answer is parsed and checked.

1. `build_view`: the attempt split into numbered sentences, delimiters neutralised, sentences that
   address the grader withheld (defences on).
2. `render_messages`: the locked prompt template from the bundle, filled with the bundle hash, the
   criteria, the task, the reference and the fenced attempt.
3. `parse_output`: strict JSON validated against `VERDICT_SCHEMA`; the LAST verdict object in the
   output binds (an echoed or planted earlier object does not); reason must come before verdict.
4. `verify_evidence`: a quote earns credit only if it is verbatim (whitespace-normalised) in the
   sentence it cites; a criterion claiming credit with too few verified quotes is downgraded, and
   with none at all it abstains (a judge failure, never a score).
5. `aggregate`: k samples per attempt combined by mean, majority or all-must-agree.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any

from mentor.errors import JudgeError
from mentor.grade.bundle import Bundle
from mentor.grade.defences import injection_flags, neutralise, split_sentences, ws_normalise
from mentor.grade.rubric import EvidenceRules, scale_levels
from mentor.types import Task

WITHHELD = "[withheld: this sentence addresses the grader]"

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["criteria"],
    "additionalProperties": False,
    "properties": {
        "criteria": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "reason", "verdict", "quotes"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "reason": {"type": "string"},
                    "verdict": {"type": "integer"},
                    "quotes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["sentence", "text"],
                            "additionalProperties": False,
                            "properties": {"sentence": {"type": "integer"}, "text": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
}


@dataclass(frozen=True)
class CriterionInfo:
    name: str
    text: str
    lo: int
    hi: int
    labels: Mapping[int, str]


@dataclass(frozen=True)
class JudgeView:
    """What the judge sees of one attempt, and what quotes are checked against."""

    sentences: tuple[str, ...]  # as shown (neutralised; withheld ones replaced by WITHHELD)
    withheld: tuple[bool, ...]
    criteria: tuple[CriterionInfo, ...]
    defences: bool


@dataclass(frozen=True)
class JudgeRequest:
    """One judge call. `attempt_hash` is the sha256 of the rendered messages, which contain the
    bundle hash, the task and the fenced attempt: the cache key needs nothing else about the input."""

    messages: tuple[Mapping[str, str], ...]
    attempt_hash: str
    sample: int  # index among the k votes
    retry: int  # 0 for the first try of this sample
    temperature: float
    max_new_tokens: int
    view: JudgeView
    # the opening of the judge's reply, for backends that can continue one (the local model); None:
    # the backend's own choice. Fixed per prompt template, so it is covered by `attempt_hash`'s template.
    prefill: str | None = None
    # the JSON schema the reply must satisfy, for backends that can enforce it (an HTTP server's
    # response_format, the local model's grammar); None: free text
    schema: Mapping[str, Any] | None = None
    schema_name: str = "verdict"
    # seconds the attempt's grade may still spend, counted from when this request starts (a request
    # queued behind others has not started); None: no grade deadline
    budget_s: float | None = None


@dataclass(frozen=True)
class Quote:
    sentence: int
    text: str
    why: str = ""  # for a rejected quote: why it earned nothing

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"sentence": self.sentence, "text": self.text}
        if self.why:
            d["why"] = self.why
        return d


@dataclass(frozen=True)
class CriterionVote:
    """One judge sample's verdict on one criterion, after evidence verification."""

    name: str
    reason: str
    claimed: int
    credited: int | None  # None: credit claimed with no verified quote at all (the vote abstains)
    verified: tuple[Quote, ...] = ()
    rejected: tuple[Quote, ...] = ()


@dataclass(frozen=True)
class ParsedOutput:
    votes: Mapping[str, CriterionVote]
    raw: str = field(repr=False, default="")
    # the local judge's "probability" decoding: per criterion (in the rubric's order), the model's
    # distribution over the levels at its verdict; None when the backend gave none
    level_probs: tuple[Mapping[int, float], ...] | None = None

    def expected_level(self, index: int, vote: CriterionVote, lo: int) -> float | None:
        """G-Eval's probability-weighted level for criterion `index`, when the distribution is known.
        A claim at the lowest level stays there (higher levels would be credit without evidence);
        above it, the verified claim is replaced by the expectation over the levels."""
        if self.level_probs is None or index >= len(self.level_probs) or vote.credited is None:
            return None
        if vote.claimed == lo or vote.credited != vote.claimed:
            return float(vote.credited)
        probs = self.level_probs[index]
        total = sum(probs.values())
        if total <= 0:
            return None
        return sum(lv * p for lv, p in probs.items()) / total


def criterion_infos(bundle: Bundle) -> tuple[CriterionInfo, ...]:
    out = []
    for c in bundle.rubric.judge_criteria:
        lo, hi, labels = scale_levels(c.scale)
        out.append(CriterionInfo(c.name, c.text, lo, hi, labels))
    return tuple(out)


def build_view(bundle: Bundle, text: str, *, defences: bool) -> JudgeView:
    sentences = split_sentences(text)
    flags = injection_flags(sentences) if defences else [False] * len(sentences)
    shown = tuple(WITHHELD if f else (neutralise(s) if defences else s) for s, f in zip(sentences, flags, strict=True))
    return JudgeView(shown, tuple(flags), criterion_infos(bundle), defences)


def request_schema(view: JudgeView, max_new_tokens: int) -> dict[str, Any]:
    """The schema a judge's reply to this view must satisfy, sent to servers as `response_format`:
    `VERDICT_SCHEMA` specialised to the rubric (criteria in order with `const` names, verdicts as
    enums of their scales, quotes copied from the shown sentences; see
    `constrained.verdict_schema_for`). Every instance also satisfies `VERDICT_SCHEMA`."""
    from mentor.grade.constrained import verdict_schema_for

    crit = [(c.name, c.lo, c.hi) for c in view.criteria]
    quotable = [(i, s) for i, (s, w) in enumerate(zip(view.sentences, view.withheld, strict=True), 1)
                if not w and len(s.strip()) >= 8]
    # ~3 characters per token: a rough budget for a server's tokenizer, which we cannot see
    return verdict_schema_for(crit, quotable, max_new_tokens * 3)


def render_messages(bundle: Bundle, task: Task, view: JudgeView) -> tuple[dict[str, str], ...]:
    system_t, user_t = bundle.judge_prompt.split("=== USER ===\n", 1)
    criteria = "\n".join(
        f"- {c.name}: {c.text} Scale {c.lo}..{c.hi} ("
        + ", ".join(f"{lv} = {lab}" for lv, lab in sorted(c.labels.items())) + ")"
        for c in view.criteria)
    sentences = "\n".join(f"[S{i}] {s}" for i, s in enumerate(view.sentences, 1)) or "[S1] (empty)"
    # the fence carries a digest of the attempt, which the attempt cannot contain (it would have to
    # include its own hash), so it cannot close the fence early
    fence = "<<<ATTEMPT " + hashlib.sha256("\n".join(view.sentences).encode()).hexdigest()[:12] + ">>>"
    reference = task.answer if task.answer is not None else ""
    if task.solution:
        reference = (reference + "\n" if reference else "") + task.solution
    values = {
        "bundle_hash": bundle.hash, "rubric_name": bundle.name, "version": str(bundle.version),
        "criteria": criteria, "task": task.prompt, "reference": reference or "(none)",
        "fence": fence, "sentences": sentences, "min_quotes": str(bundle.rubric.evidence.min_quotes),
    }
    # Template.substitute is a single pass: "$" in the attempt is never expanded
    return ({"role": "system", "content": Template(system_t).substitute(values).strip()},
            {"role": "user", "content": Template(user_t).substitute(values).strip()})


def messages_hash(messages: Sequence[Mapping[str, str]]) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@functools.cache  # built once: `jsonschema.validate` re-checks the schema itself on every call (~10 ms)
def _verdict_validator() -> Any:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(VERDICT_SCHEMA)
    return jsonschema.Draft202012Validator(VERDICT_SCHEMA)


def _json_objects(raw: str) -> list[Any]:
    """Every top-level JSON value that starts with '{' in `raw`, in order."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while (j := raw.find("{", i)) >= 0:
        try:
            obj, end = dec.raw_decode(raw, j)
        except json.JSONDecodeError:
            i = j + 1
            continue
        out.append(obj)
        i = end
    return out


def parse_output(raw: str, view: JudgeView, rules: EvidenceRules, *, bind_last: bool = True) -> ParsedOutput:
    """Strict parse of a judge's answer into per-criterion votes, evidence checked. `JudgeError` when
    the output is not a valid verdict (the caller retries, then marks the attempt unscorable)."""
    import jsonschema

    candidates = [o for o in _json_objects(raw) if isinstance(o, dict) and "criteria" in o]
    if not candidates:
        raise JudgeError("judge output holds no JSON verdict object", fix="see the raw output in the grade")
    # the last verdict binds: a judge that echoes or drafts an earlier object is held to its final one
    obj = candidates[-1] if bind_last else candidates[0]
    error = jsonschema.exceptions.best_match(_verdict_validator().iter_errors(obj))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        raise JudgeError(f"judge verdict violates the schema at '{path}': {error.message}")
    by_name = {c.name: c for c in view.criteria}
    votes: dict[str, CriterionVote] = {}
    for item in obj["criteria"]:
        name = item["name"]
        if name not in by_name:
            raise JudgeError(f"judge rated an unknown criterion '{name}'")
        if name in votes:
            raise JudgeError(f"judge rated criterion '{name}' twice")
        keys = list(item)
        if keys.index("reason") > keys.index("verdict"):
            raise JudgeError(f"criterion '{name}': the reason must come before the verdict")
        info = by_name[name]
        level = item["verdict"]
        if not info.lo <= level <= info.hi:
            raise JudgeError(f"criterion '{name}': verdict {level} outside its scale {info.lo}..{info.hi}")
        votes[name] = verify_evidence(name, item["reason"], level, item["quotes"], info, view, rules)
    missing = [c.name for c in view.criteria if c.name not in votes]
    if missing:
        raise JudgeError(f"judge did not rate criteria: {', '.join(missing)}")
    return ParsedOutput(votes, raw, _level_probs(raw))


def _level_probs(raw: str) -> tuple[Mapping[int, float], ...] | None:
    found = [o for o in _json_objects(raw) if isinstance(o, dict) and "level_probs" in o]
    if not found or not isinstance(found[-1]["level_probs"], list):
        return None
    try:
        return tuple({int(k): float(v) for k, v in d.items()} for d in found[-1]["level_probs"])
    except (AttributeError, TypeError, ValueError):
        return None


def verify_evidence(name: str, reason: str, level: int, quotes: Sequence[Mapping[str, Any]],
                    info: CriterionInfo, view: JudgeView, rules: EvidenceRules) -> CriterionVote:
    """Credit needs `rules.min_quotes` quotes found verbatim (whitespace-normalised) in the sentence
    they cite. With defences off (the attack suite's baseline) quotes are taken on trust."""
    verified: list[Quote] = []
    rejected: list[Quote] = []
    for q in quotes:
        sid, text = int(q["sentence"]), str(q["text"])
        norm = ws_normalise(text)
        if not view.defences:
            verified.append(Quote(sid, text))
            continue
        why = ""
        if not 1 <= sid <= len(view.sentences):
            why = f"sentence {sid} does not exist"
        elif view.withheld[sid - 1]:
            why = "cites a sentence withheld as addressed to the grader"
        elif len(norm) < rules.min_quote_chars or not any(ch.isalnum() for ch in norm):
            why = f"too short to be evidence (< {rules.min_quote_chars} chars)"
        elif norm not in ws_normalise(view.sentences[sid - 1]):
            why = "not found verbatim in the cited sentence"
        (rejected if why else verified).append(Quote(sid, text, why))
    credited: int | None = level
    if view.defences and level > info.lo and len(verified) < rules.min_quotes:
        # no verified quote at all: the judge's claim has no evidence, so this vote abstains (the
        # grader retries, then calls the attempt unscorable); turning it into the lowest level would
        # make the judge's failure the student's 0. Some evidence, but less than required: downgrade.
        credited = None if not verified else (info.lo if rules.downgrade == "to_min" else level - 1)
    return CriterionVote(name, reason, level, credited, tuple(verified), tuple(rejected))


def aggregate(levels: Sequence[float], lo: int, hi: int, how: str) -> float:
    """k sample levels -> normalised score in [0, 1].
    mean: average; majority: most common level (ties go to the lower level: no credit on a split);
    all: the lowest level (credit only as far as every sample agrees)."""
    def norm(v: float) -> float:
        return (v - lo) / (hi - lo)

    if how == "mean":
        return sum(norm(v) for v in levels) / len(levels)
    if how == "majority":
        counts = Counter(levels)
        top = max(counts.values())
        return norm(min(v for v, n in counts.items() if n == top))
    if how == "all":
        return norm(min(levels))
    raise ValueError(f"unknown aggregation {how!r}")
