"""Programmatic checks: one protocol, one explicit registry.

A check is `check(task, text, **args) -> Verdict` with `score` in [0, 1]. Its arguments come from the
rubric (`check: {name, args}`), are validated against the check's own pydantic model when the rubric
is loaded (unknown or mistyped arguments fail at lock time), and are passed by keyword exactly as
written: nothing is matched by parameter name at call time.

The attempt's failure is a score (a wrong answer, a missing answer line, code that crashes: 0). The
*grader's* failure (a task without the reference the check needs, a sandbox that cannot start) raises
`VerifierError`, which makes the attempt unscorable.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mentor.errors import RubricError, VerifierError
from mentor.grade.answer import as_number, extract_answer, get_verifier, normalise
from mentor.registry import Registry
from mentor.types import Task, Verdict


class Check(Protocol):
    def __call__(self, task: Task, text: str, **args: Any) -> Verdict: ...


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The same registry mechanism as every other plug-in point; a check is a function called with the task,
# the text and its validated arguments, and its argument model carries validators of its own.
CHECKS: Registry[Verdict] = Registry("check", "criteria[].check")


def register_check(name: str, args: type[_Args]) -> Callable[[Check], Check]:
    """Register a check under `name` with its argument model. Explicit: registration happens where the
    check is defined, never by scanning subclasses or modules."""
    return CHECKS.register(name, args=args)


def validate_check_args(name: str, args: dict[str, Any], *, where: str) -> dict[str, Any]:
    """The check's arguments as validated plain data; `RubricError` naming the argument otherwise."""
    if name not in CHECKS:
        near = difflib.get_close_matches(name, CHECKS.names(), n=1)
        raise RubricError(f"unknown check '{name}'" + (f"; did you mean '{near[0]}'?" if near else ""),
                          where=where, fix=f"use one of: {', '.join(CHECKS.names())}")
    args_model = CHECKS.entry(name).args
    try:
        model = args_model.model_validate(args)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                near = difflib.get_close_matches(str(err["loc"][-1]), args_model.model_fields, n=1)
                msgs.append(f"unknown argument 'args.{key}' for check '{name}'"
                            + (f"; did you mean '{near[0]}'?" if near else
                               f"; valid: {', '.join(args_model.model_fields)}"))
            else:
                msgs.append(f"args.{key}: {err['msg']}")
        raise RubricError("; ".join(msgs), where=where, fix="correct the check's args") from None
    return model.model_dump()


def run_check(name: str, task: Task, text: str, args: dict[str, Any]) -> Verdict:
    if name not in CHECKS:
        raise VerifierError(f"unknown check '{name}'", fix=f"use one of: {', '.join(CHECKS.names())}")
    return CHECKS.entry(name).factory(task, text, **args)


def _reference(task: Task, given: str | None, check: str) -> str:
    ref = given if given is not None else task.answer
    if ref is None:
        raise VerifierError(f"task {task.id} has no reference answer for check '{check}'",
                            fix="give the task an 'answer' or the check an 'expected' argument")
    return ref


# --- answer equivalence ---------------------------------------------------------------------------


class AnswerArgs(_Args):
    verifier: str | None = None  # default: the task's own verifier (math, exact, reasoning_gym, ...)
    prefix: str = "Answer:"


@register_check("answer", AnswerArgs)
def check_answer(task: Task, text: str, *, verifier: str | None, prefix: str) -> Verdict:
    """Final-answer equivalence through `answer.py`'s verifier registry (Fraction fast path, then
    math-verify). No answer line is the student's failure: 0, with the reason."""
    extracted = extract_answer(text, prefix)
    if extracted is None:
        return Verdict("answer", 0.0, f"no '{prefix}' line", {"extracted": None})
    name = verifier or task.verifier
    score = get_verifier(name)(task, extracted)
    return Verdict("answer", float(score), f"{name} verifier", {"extracted": extracted})


# --- exact / normalised match ---------------------------------------------------------------------


class MatchArgs(_Args):
    expected: str | None = None  # default: the task's reference answer
    target: Literal["answer", "text"] = "answer"  # compare the extracted final answer or the whole text
    normalise: bool = True  # lower-case, collapse whitespace, drop a trailing full stop
    prefix: str = "Answer:"


@register_check("exact", MatchArgs)
def check_exact(task: Task, text: str, *, expected: str | None, target: str, normalise: bool,
                prefix: str) -> Verdict:
    ref = _reference(task, expected, "exact")
    got = extract_answer(text, prefix) if target == "answer" else text
    if got is None:
        return Verdict("exact", 0.0, f"no '{prefix}' line", {"extracted": None})
    same = _norm(got) == _norm(ref) if normalise else got.strip() == ref.strip()
    return Verdict("exact", float(same), "match" if same else "mismatch", {"extracted": got})


def _norm(s: str) -> str:
    return normalise(s)


# --- regex ----------------------------------------------------------------------------------------


class RegexArgs(_Args):
    pattern: str
    flags: list[Literal["IGNORECASE", "MULTILINE", "DOTALL"]] = Field(default_factory=list)
    must_match: bool = True  # False: the pattern must NOT occur (e.g. a forbidden phrase)
    target: Literal["text", "answer"] = "text"
    prefix: str = "Answer:"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return v


@register_check("regex", RegexArgs)
def check_regex(task: Task, text: str, *, pattern: str, flags: list[str], must_match: bool, target: str,
                prefix: str) -> Verdict:
    f = 0
    for name in flags:
        f |= getattr(re, name)
    subject = extract_answer(text, prefix) if target == "answer" else text
    found = subject is not None and re.search(pattern, subject, f) is not None
    ok = found == must_match
    return Verdict("regex", float(ok), ("matched" if found else "no match") + f" /{pattern}/")


# --- numeric with tolerance -----------------------------------------------------------------------


class NumericArgs(_Args):
    expected: float | None = None  # default: the task's reference answer, read as a number
    rel_tol: float = Field(default=1e-6, ge=0)
    abs_tol: float = Field(default=0.0, ge=0)
    prefix: str = "Answer:"


@register_check("numeric", NumericArgs)
def check_numeric(task: Task, text: str, *, expected: float | None, rel_tol: float, abs_tol: float,
                  prefix: str) -> Verdict:
    if expected is None:
        ref_s = _reference(task, None, "numeric")
        ref_n = as_number(ref_s)
        if ref_n is None:
            raise VerifierError(f"reference answer {ref_s!r} of task {task.id} is not a number")
        expected = float(ref_n)
    got_s = extract_answer(text, prefix)
    got = as_number(got_s) if got_s is not None else None
    if got is None:
        return Verdict("numeric", 0.0, "no numeric final answer", {"extracted": got_s})
    ok = math.isclose(float(got), expected, rel_tol=rel_tol, abs_tol=abs_tol)
    return Verdict("numeric", float(ok), f"{float(got):g} vs {expected:g}", {"extracted": got_s})


# --- JSON schema ----------------------------------------------------------------------------------


class JsonSchemaArgs(_Args):
    schema_: dict[str, Any] = Field(alias="schema")
    extract: Literal["text", "fenced", "answer"] = "fenced"  # fenced: last ```json block, else the text
    prefix: str = "Answer:"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        import jsonschema

        try:
            jsonschema.validators.validator_for(v).check_schema(v)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return v


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)


@register_check("json_schema", JsonSchemaArgs)
def check_json_schema(task: Task, text: str, *, schema: dict[str, Any], extract: str, prefix: str) -> Verdict:
    import jsonschema

    if extract == "answer":
        payload = extract_answer(text, prefix)
    elif extract == "fenced":
        blocks = _FENCE.findall(text)
        payload = blocks[-1] if blocks else text
    else:
        payload = text
    if payload is None:
        return Verdict("json_schema", 0.0, "nothing to parse")
    try:
        value = json.loads(payload)
    except json.JSONDecodeError as exc:
        return Verdict("json_schema", 0.0, f"not JSON: {exc.msg} at {exc.lineno}:{exc.colno}")
    errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(value), key=str)
    if errors:
        return Verdict("json_schema", 0.0, f"schema violation: {errors[0].message}",
                       {"errors": [e.message for e in errors[:5]]})
    return Verdict("json_schema", 1.0, "valid")


# --- length and format limits ---------------------------------------------------------------------


class LengthArgs(_Args):
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=0)
    max_lines: int | None = Field(default=None, ge=1)


@register_check("length", LengthArgs)
def check_length(task: Task, text: str, *, min_chars: int | None, max_chars: int | None,
                 min_words: int | None, max_words: int | None, max_lines: int | None) -> Verdict:
    chars, words, lines = len(text), len(text.split()), len(text.splitlines()) or 1
    broken = []
    if min_chars is not None and chars < min_chars:
        broken.append(f"{chars} chars < {min_chars}")
    if max_chars is not None and chars > max_chars:
        broken.append(f"{chars} chars > {max_chars}")
    if min_words is not None and words < min_words:
        broken.append(f"{words} words < {min_words}")
    if max_words is not None and words > max_words:
        broken.append(f"{words} words > {max_words}")
    if max_lines is not None and lines > max_lines:
        broken.append(f"{lines} lines > {max_lines}")
    return Verdict("length", float(not broken), "; ".join(broken) or "within limits",
                   {"chars": chars, "words": words, "lines": lines})


class FormatArgs(_Args):
    answer_line: bool = False  # exactly one final-answer line, and it is the last non-empty line
    prefix: str = "Answer:"
    fenced_code: bool = False  # at least one ``` fenced block
    forbid: list[str] = Field(default_factory=list)  # regexes that must not occur


@register_check("format", FormatArgs)
def check_format(task: Task, text: str, *, answer_line: bool, prefix: str, fenced_code: bool,
                 forbid: list[str]) -> Verdict:
    broken = []
    if answer_line:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        hits = [ln for ln in lines if ln.strip().lower().startswith(prefix.lower())]
        if len(hits) != 1 or not lines or not lines[-1].strip().lower().startswith(prefix.lower()):
            broken.append(f"needs exactly one '{prefix}' line, last ({len(hits)} found)")
    if fenced_code and "```" not in text:
        broken.append("no fenced code block")
    broken += [f"forbidden /{p}/" for p in forbid if re.search(p, text)]
    return Verdict("format", float(not broken), "; ".join(broken) or "ok")


# --- Python code against test cases, in the sandbox -----------------------------------------------


class IOTest(_Args):
    stdin: str = ""
    stdout: str


class PythonTestsArgs(_Args):
    tests: list[IOTest] = Field(default_factory=list)  # stdin -> expected stdout (compared by the parent)
    asserts: list[str] = Field(default_factory=list)  # `assert EXPR == VALUE` tests, judged by the parent
    tests_from_meta: str | None = "tests"  # also read {stdin, stdout} tests from task.meta[key]
    asserts_from_meta: str | None = "asserts"
    cpu_s: float = Field(default=2.0, gt=0, le=60)
    wall_s: float = Field(default=5.0, gt=0, le=120)
    memory_mb: int = Field(default=512, ge=64, le=8192)
    output_kb: int = Field(default=64, ge=1, le=10_240)
    disk_mb: int = Field(default=16, ge=1, le=1024)  # the whole working directory
    scoring: Literal["fraction", "all"] = "fraction"

    @field_validator("asserts")
    @classmethod
    def _judgeable(cls, v: list[str]) -> list[str]:
        from mentor.grade.asserts import plan_test

        for i, src in enumerate(v):
            try:
                plan_test(src, where=f"asserts[{i}]")
            except VerifierError as exc:
                raise ValueError(exc.render()) from None
        return v


_CODE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The last fenced code block (the final version binds), else the whole text."""
    blocks = _CODE.findall(text)
    return blocks[-1] if blocks else text


def _meta_list(task: Task, key: str, what: str) -> list[Any]:
    """task.meta[key] as a list; a lone string is one test (never split into characters)."""
    value = task.meta[key]
    if isinstance(value, str) and what == "asserts":
        return [value]
    if not isinstance(value, list):
        raise VerifierError(f"task {task.id}: meta.{key} must be a list of {what}, got {type(value).__name__}",
                            where=f"task {task.id} meta.{key}",
                            fix=f"write meta.{key} as a JSON list, e.g. "
                            + ('["assert f(2) == 4"]' if what == "asserts" else '[{"stdin": "2", "stdout": "4"}]'))
    return value


@register_check("python_tests", PythonTestsArgs)
def check_python_tests(task: Task, text: str, *, tests: list[dict[str, Any]], asserts: list[str],
                       tests_from_meta: str | None, asserts_from_meta: str | None, cpu_s: float,
                       wall_s: float, memory_mb: int, output_kb: int, disk_mb: int, scoring: str) -> Verdict:
    """Every verdict is computed here, in Mentor's process: stdin/stdout tests compare the sandbox's
    stdout; assert tests compare the plain values the sandbox reports for the attempt's expressions
    against expected values that never enter the sandbox (`grade/asserts.py`)."""
    from mentor.grade.asserts import judge, plan_test
    from mentor.grade.sandbox import Limits, run_expressions, run_io_test

    io = [(t["stdin"], t["stdout"]) for t in tests]
    if tests_from_meta and tests_from_meta in task.meta:
        for j, t in enumerate(_meta_list(task, tests_from_meta, "tests")):
            if not isinstance(t, dict) or "stdout" not in t:
                raise VerifierError(f"task {task.id}: meta.{tests_from_meta}[{j}] has no 'stdout'",
                                    where=f"task {task.id} meta.{tests_from_meta}[{j}]",
                                    fix='write each test as {"stdin": "...", "stdout": "..."}')
            io.append((str(t.get("stdin", "")), str(t["stdout"])))
    srcs = [(f"check asserts[{i}]", a) for i, a in enumerate(asserts)]
    if asserts_from_meta and asserts_from_meta in task.meta:
        srcs += [(f"task {task.id} meta.{asserts_from_meta}[{i}]", a)
                 for i, a in enumerate(_meta_list(task, asserts_from_meta, "asserts"))]
    plans = [plan_test(a, where=where) for where, a in srcs]
    if not io and not plans:
        raise VerifierError(f"task {task.id} has no test cases for check 'python_tests'",
                            fix="give the check 'tests'/'asserts' or the task meta.tests")
    limits = Limits(cpu_s=cpu_s, wall_s=wall_s, memory_mb=memory_mb, output_bytes=output_kb * 1024,
                    disk_mb=disk_mb)
    code = extract_code(text)
    results: list[dict[str, Any]] = []
    suspicious: list[str] = []
    isolation: tuple[str, ...] = ()
    for stdin, expected in io:
        r = run_io_test(code, stdin, limits)
        isolation = r.isolation
        ok = r.status == "ok" and r.stdout.rstrip() == expected.rstrip()
        results.append({"kind": "io", "passed": ok, **r.summary()})
    if plans:
        reported, r = run_expressions(code, [list(p.steps) for p in plans], limits)
        isolation = r.isolation
        for plan, rep in zip(plans, reported, strict=True):
            outcome = judge(plan, rep, r.status)
            suspicious += outcome.suspicious
            results.append({"kind": "assert", "stmt": plan.source, "passed": outcome.passed,
                            "why": outcome.why, **r.summary()})
    n_pass = sum(1 for r_ in results if r_["passed"])
    score = n_pass / len(results) if scoring == "fraction" else float(n_pass == len(results))
    blocked = sorted({b for r_ in results for b in r_.get("blocked", [])})
    statuses = sorted({r_["status"] for r_ in results})
    return Verdict("python_tests", score, f"{n_pass}/{len(results)} tests passed; status {','.join(statuses)}"
                   + (f"; blocked: {', '.join(blocked)}" if blocked else "")
                   + (f"; suspicious: {len(suspicious)}" if suspicious else ""),
                   {"tests": results, "blocked": blocked, "suspicious": suspicious,
                    "isolation": list(isolation)})
