"""Rubric files: a YAML schema that rejects unknown keys, with errors that name the key path and the
nearest valid name.

A rubric is data: criteria (what is graded, on which scale, by a check or a judge, in which tier),
the score formula, the evidence rules, the judge settings and the defences. `mentor.grade.bundle`
compiles a validated rubric to a canonical, hashed bundle; nothing grades from a raw YAML file
without going through this schema first.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mentor.errors import RubricError
from mentor.yaml_load import safe_load


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LikertScale(_Strict):
    """A range of integer levels, every one of them labelled so judges and humans read it the same way."""

    min: int = 1
    max: int = 5
    labels: dict[int, str]

    @model_validator(mode="after")
    def _cover(self) -> LikertScale:
        if self.max <= self.min:
            raise ValueError(f"likert max ({self.max}) must be above min ({self.min})")
        missing = [lv for lv in range(self.min, self.max + 1) if lv not in self.labels]
        extra = [lv for lv in self.labels if not self.min <= lv <= self.max]
        if missing or extra:
            raise ValueError(f"labels must cover exactly levels {self.min}..{self.max} "
                             f"(missing {missing}, outside {extra})")
        return self


Scale = Union[Literal["binary", "0/1/2"], LikertScale]  # noqa: UP007 - pydantic needs a runtime Union here

SCALE_LABELS: dict[str, dict[int, str]] = {
    "binary": {0: "not met", 1: "met"},
    "0/1/2": {0: "absent", 1: "partial", 2: "clear"},
}


def scale_levels(scale: Scale) -> tuple[int, int, dict[int, str]]:
    """(lowest level, highest level, labels) of a scale."""
    if isinstance(scale, LikertScale):
        return scale.min, scale.max, dict(scale.labels)
    labels = SCALE_LABELS[scale]
    return min(labels), max(labels), labels


class CheckRef(_Strict):
    """A programmatic check by registry name, with its arguments (validated against the check's own
    argument model when the rubric is loaded, so a typo fails at lock time, not mid-run)."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Criterion(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    text: str
    kind: Literal["check", "judge"]
    weight: float = Field(default=1.0, ge=0)
    scale: Scale = "binary"
    tier: Literal["mandatory", "good", "ideal", "weighted"] = "weighted"
    check: CheckRef | None = None

    @model_validator(mode="after")
    def _check_matches_kind(self) -> Criterion:
        if self.kind == "check" and self.check is None:
            raise ValueError(f"criterion '{self.name}' has kind 'check' but no 'check:' spec")
        if self.kind == "judge" and self.check is not None:
            raise ValueError(f"criterion '{self.name}' has kind 'judge' but a 'check:' spec")
        return self


class TierWeights(_Strict):
    base: float = 0.40
    good: float = 0.35
    ideal: float = 0.25

    @model_validator(mode="after")
    def _sum(self) -> TierWeights:
        total = self.base + self.good + self.ideal
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"tier weights must sum to 1 (got {total:g})")
        return self


class ScoreFormula(_Strict):
    """`weighted_mean`: gate × Σ wᵢsᵢ / Σ wᵢ over non-mandatory criteria.
    `gated_tiers` (KWBench): gate × (base + good·share_good + ideal·share_ideal); an empty tier counts
    as fully met, so a rubric of mandatory criteria only scores 1 when its gate passes.
    The gate is 1 when every mandatory criterion reaches `mandatory_pass` (normalised), else 0."""

    formula: Literal["weighted_mean", "gated_tiers"] = "weighted_mean"
    tiers: TierWeights = Field(default_factory=TierWeights)
    mandatory_pass: float = Field(default=1.0, gt=0, le=1)


class EvidenceRules(_Strict):
    min_quotes: int = Field(default=1, ge=0)  # verified quotes needed for any credit above the minimum
    min_quote_chars: int = Field(default=4, ge=1)  # a one-letter "quote" proves nothing
    downgrade: Literal["to_min", "one_level"] = "to_min"


class JudgeSettings(_Strict):
    samples: int = Field(default=1, ge=1, le=32)
    aggregation: Literal["mean", "majority", "all"] = "mean"
    max_retries: int = Field(default=2, ge=0, le=10)
    temperature: float = Field(default=0.7, ge=0)
    max_new_tokens: int = Field(default=512, ge=16)
    # seconds of judge time one attempt's grade may use (every sample and retry; time queued behind
    # other attempts is not counted); past it the attempt is unscorable. The HTTP settings below are
    # defaults the CLI flags override.
    deadline_s: float = Field(default=300.0, gt=0, le=86_400)
    timeout_s: float = Field(default=60.0, gt=0, le=3_600)  # one HTTP call, all its tries, wall clock
    concurrency: int = Field(default=8, ge=1, le=256)  # HTTP requests in flight
    api_key_env: str = Field(default="MENTOR_JUDGE_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Defences(_Strict):
    enabled: bool = True
    # "auto": required when the task has a reference answer and the rubric also checks the final
    # answer line (an `answer` or `numeric` check, `exact` on the answer, `format` with answer_line).
    # An open-ended rubric (judge criteria only) never requires one: a reference answer a task
    # happens to carry does not make an explanation wrong for lacking an 'Answer:' line.
    require_final_answer: Literal["auto", "always", "never"] = "auto"
    answer_prefix: str = "Answer:"
    # content screens run before the judge (mentor.grade.screens); a reply one of them catches scores 0
    # with the screen's reason. `topic: true` declares that replies must engage with the task's
    # prompt and reference, which adds the off_topic screen.
    screens: list[Literal["rubric_echo", "degenerate", "grader_directed", "off_topic"]] = Field(
        default_factory=lambda: ["rubric_echo", "degenerate", "grader_directed"])
    topic: bool = False


class Rubric(_Strict):
    name: str
    version: int = Field(default=1, ge=1)
    description: str = ""
    criteria: list[Criterion] = Field(min_length=1)
    score: ScoreFormula = Field(default_factory=ScoreFormula)
    evidence: EvidenceRules = Field(default_factory=EvidenceRules)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    defences: Defences = Field(default_factory=Defences)

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        names = [c.name for c in self.criteria]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"criterion names must be unique (repeated: {dupes})")
        tiers = {c.tier for c in self.criteria}
        if self.score.formula == "gated_tiers" and "weighted" in tiers:
            raise ValueError("formula 'gated_tiers' needs every criterion's tier to be mandatory, good or ideal")
        if self.score.formula == "weighted_mean" and tiers & {"good", "ideal"}:
            raise ValueError("tiers 'good'/'ideal' only mean something under formula 'gated_tiers'; "
                             "use tier 'weighted' (or 'mandatory')")
        return self

    @property
    def judge_criteria(self) -> list[Criterion]:
        return [c for c in self.criteria if c.kind == "judge"]


# --- error messages -------------------------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, Union, list and dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _models_in(args[0])
    if origin in (Union, types.UnionType, list, tuple, dict):
        out: list[type[BaseModel]] = []
        for a in args[-1:] if origin is dict else args:
            out.extend(_models_in(a))
        return out
    return []


def _valid_keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model that holds the last element of `loc`."""
    current: list[type[BaseModel]] = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # list index: same element models
        nxt: list[type[BaseModel]] = []
        for m in current:
            if part in m.model_fields:
                nxt.extend(_models_in(m.model_fields[part].annotation))
        if nxt:
            current = nxt
        # otherwise `part` is a union tag pydantic added (e.g. 'LikertScale'): stay on this model
    return sorted({k for m in current for k in m.model_fields})


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("LikertScale", "literal['binary','0/1/2']") or part.startswith(("literal[", "function-")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def describe_validation_error(exc: ValidationError, model: type[BaseModel] = Rubric) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            valid = _valid_keys_at(model, loc)
            near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
            lines.append(f"unknown key '{_path(loc)}'{hint}")
        else:
            lines.append(f"{_path(loc)}: {err['msg']}")
    # a union error repeats itself once per branch; keep each message once
    return "; ".join(dict.fromkeys(lines))


def parse_rubric(data: Any, *, where: str = "<rubric>") -> Rubric:
    if not isinstance(data, dict):
        raise RubricError("a rubric must be a mapping at the top level", where=where,
                          fix="start the file with 'name:' and 'criteria:'")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        raise RubricError(describe_validation_error(exc), where=where,
                          fix="correct the rubric file (see examples/rubrics/)") from None
    # check arguments are validated against each check's own model: a typo fails here, at load time
    from mentor.grade.checks import validate_check_args

    for i, crit in enumerate(rubric.criteria):
        if crit.check is not None:
            validate_check_args(crit.check.name, crit.check.args, where=f"{where}: criteria[{i}].check")
    return rubric


def load_rubric(path: str | Path) -> Rubric:
    p = Path(path)
    if not p.is_file():
        raise RubricError(f"rubric file not found: {p}", where=str(p), fix="check the path")
    try:
        data = safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RubricError(f"not valid YAML: {exc}", where=str(p), fix="fix the YAML syntax") from None
    except UnicodeDecodeError as exc:
        raise RubricError(f"not UTF-8 text (byte {exc.start}).", where=str(p), fix="save the file as UTF-8") from None
    return parse_rubric(data, where=str(p))
