"""`Grader`: a locked bundle + (optionally) a judge backend -> `Grade`s.

Order for one attempt: programmatic checks; then, if the rubric has judge criteria, the defences
(no substantive content -> 0; answer-checked rubric without a final answer -> 0; the content screens
of `screens.py` -> 0, each with its reason), the judge (k samples, cached, bounded retries, last
verdict binds, evidence verified), aggregation; then the rubric's score formula.

A check or judge *failure* makes the attempt unscorable (score None, with the reason); it is never
a 0. A judge sample that claims credit on a criterion with no verified quote is such a failure (it is
retried, then the attempt is unscorable), and so is a grade past its deadline. Only clean samples
(schema-valid, every quote verified) enter the cache, keyed by bundle, backend, judge identity and
the rendered prompt, so a judge that was fixed is asked again rather than shadowed by its past.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.errors import JudgeError, RubricError, VerifierError
from mentor.grade.answer import extract_answer
from mentor.grade.backends import JudgeCache
from mentor.grade.bundle import Bundle, load_any
from mentor.grade.checks import CHECKS
from mentor.grade.defences import substance
from mentor.grade.judge import (
    CriterionVote,
    JudgeRequest,
    ParsedOutput,
    aggregate,
    build_view,
    messages_hash,
    parse_output,
    render_messages,
    request_schema,
)
from mentor.grade.judge_io import JudgeBackend, judge_identity
from mentor.grade.rubric import Criterion, scale_levels
from mentor.grade.screens import run_screens
from mentor.types import Grade, Task, Verdict


@dataclass(frozen=True)
class GradeResult:
    """A `Grade` plus what the JSONL output and the report need: evidence, judge identity, cost."""

    grade: Grade
    evidence: dict[str, list[Any]] = field(default_factory=lambda: {"verified": [], "rejected": []})
    judge: dict[str, Any] | None = None
    cost: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        g = self.grade
        out: dict[str, Any] = {"score": g.score}
        if g.unscorable_reason is not None:
            out["reason"] = g.unscorable_reason
        elif g.verdicts and g.verdicts[0].name == "screen":
            out["reason"] = g.verdicts[0].reason
        out["criteria"] = [{"name": v.name, "score": v.score, "reason": v.reason, **dict(v.details)}
                           for v in g.verdicts]
        out["components"] = dict(g.components)
        out["extracted"] = g.extracted
        out["evidence"] = self.evidence
        out["bundle_hash"] = g.bundle_hash
        out["judge"] = self.judge
        out["cost"] = self.cost
        return out


@dataclass
class _Item:
    task: Task
    text: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    final: GradeResult | None = None  # decided early (failed check, screened out)
    requests: list[JudgeRequest] = field(default_factory=list)
    parsed: dict[int, ParsedOutput] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    raw_failures: list[str] = field(default_factory=list)
    withheld: list[int] = field(default_factory=list)  # sentence ids withheld as addressed to the grader
    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    spent: float = 0.0  # seconds of judge time this grade has used (queueing behind others excluded)


class Grader:
    def __init__(self, bundle: Bundle, judge: JudgeBackend | None = None, *, cache: JudgeCache | None = None,
                 defences: bool | None = None, calibration: Any = None,
                 grade_deadline_s: float | None = None) -> None:
        self.bundle = bundle
        self.judge = judge
        self.cache = cache
        r = bundle.rubric
        self.grade_deadline_s = r.judge.deadline_s if grade_deadline_s is None else grade_deadline_s
        self._reads_answer = _reads_answer_line(r)
        self._screens = [*r.defences.screens, *(["off_topic"] if r.defences.topic else [])]
        # what the rubric_echo screen compares a reply with: every criterion's text and level labels
        self._rubric_text = "\n".join(
            [c.text for c in r.criteria] + [lab for c in r.criteria for lab in scale_levels(c.scale)[2].values()])
        self.defences = r.defences.enabled if defences is None else defences
        # arguments validated once here, so grading is a plain call per attempt
        self._checks: list[tuple[Criterion, str, dict[str, Any]]] = [
            (c, c.check.name, _validated_args(c)) for c in r.criteria if c.check is not None]
        self._judge_criteria = r.judge_criteria
        self._levels = {c.name: scale_levels(c.scale)[:2] for c in r.criteria}
        if calibration is not None and calibration.bundle_hash != bundle.hash:
            raise RubricError(f"calibration was fitted for bundle {calibration.bundle_hash[:12]}…, "
                              f"not {bundle.hash[:12]}…", fix="re-run `mentor calibrate` for this bundle")
        self.calibration = calibration

    @property
    def bundle_hash(self) -> str:
        return self.bundle.hash

    # --- public ---------------------------------------------------------------------------------

    def grade(self, task: Task, text: str) -> Grade:
        return self.grade_many([(task, text)])[0].grade

    def grade_detailed(self, task: Task, text: str) -> GradeResult:
        return self.grade_many([(task, text)])[0]

    def grade_many(self, items: Sequence[tuple[Task, str]]) -> list[GradeResult]:
        """Grade a batch; judge calls of the whole batch go to the backend together (bounded
        concurrency for HTTP judges)."""
        work = [_Item(task, text) for task, text in items]
        for it in work:
            self._run_checks(it)
        if self._judge_criteria:
            for it in work:
                if it.final is None:
                    self._prepare_judge(it)
            self._run_judge([it for it in work if it.final is None])
        return [it.final if it.final is not None else self._combine(it) for it in work]

    # --- stages ---------------------------------------------------------------------------------

    def _run_checks(self, it: _Item) -> None:
        for crit, name, args in self._checks:
            try:
                v = CHECKS.entry(name).factory(it.task, it.text, **args)
            except VerifierError as exc:
                it.final = self._unscorable(f"check '{crit.name}' failed: {exc.message}")
                return
            except Exception as exc:  # a plug-in check may raise anything: still the grader's failure, never 0
                it.final = self._unscorable(f"check '{crit.name}' raised {exc!r}")
                return
            it.verdicts[crit.name] = v

    def _prepare_judge(self, it: _Item) -> None:
        r = self.bundle.rubric
        view = build_view(self.bundle, it.text, defences=self.defences)
        it.withheld = [i for i, w in enumerate(view.withheld, 1) if w]
        if self.defences:
            # what the judge could grade: the attempt minus sentences withheld as addressed to it
            visible = " ".join(s for s, w in zip(view.sentences, view.withheld, strict=True) if not w)
            sub = substance(visible)
            if not sub.substantive:
                it.final = self._screened(it, sub.reason, withheld=sum(view.withheld))
                return
            need_answer = r.defences.require_final_answer == "always" or (
                r.defences.require_final_answer == "auto" and it.task.answer is not None and self._reads_answer)
            if need_answer and extract_answer(it.text, r.defences.answer_prefix) is None:
                it.final = self._screened(it, f"no final answer ('{r.defences.answer_prefix}' line)",
                                          withheld=sum(view.withheld))
                return
            if self._screens:
                topic = "\n".join(x for x in (it.task.prompt, it.task.answer or "", it.task.solution or "") if x)
                hits = run_screens(it.text, rubric_text=self._rubric_text, topic_text=topic, enabled=self._screens)
                if hits:
                    it.final = self._screened(it, f"screen {hits[0].screen}: {hits[0].reason}",
                                              withheld=sum(view.withheld), screens=[h.to_json() for h in hits])
                    return
        if self.judge is None:
            raise JudgeError(f"rubric '{r.name}' has judge criteria but no judge backend was given",
                             fix="pass judge=... to load_grader, or --judge local|openai on the CLI")
        messages = render_messages(self.bundle, it.task, view)
        h = messages_hash(messages)
        schema = request_schema(view, r.judge.max_new_tokens)
        for k in range(r.judge.samples):
            req = JudgeRequest(messages, h, k, 0, r.judge.temperature, r.judge.max_new_tokens, view,
                               schema=schema)
            cached = self.cache.get(self._key(req)) if self.cache is not None else None
            if cached is not None:
                try:
                    parsed = parse_output(cached, view, r.evidence, bind_last=self.defences)
                    if _unclean(parsed) is None:
                        it.parsed[k] = parsed
                        it.cache_hits += 1
                        continue
                except JudgeError:
                    pass  # a cache written under other parse rules: ask again
            it.requests.append(req)

    def _key(self, req: JudgeRequest) -> tuple[str, str, str, str, int]:
        assert self.judge is not None
        return (self.bundle.hash, self.judge.name, judge_identity(self.judge), req.attempt_hash, req.sample)

    def _run_judge(self, items: list[_Item]) -> None:
        r = self.bundle.rubric
        pending = [(it, req) for it in items for req in it.requests]
        for retry in range(r.judge.max_retries + 1):
            for it, req in pending:
                if it.spent >= self.grade_deadline_s:
                    last = it.errors.get(req.sample)
                    it.errors[req.sample] = (f"grade deadline of {self.grade_deadline_s:g}s passed"
                                             + (f" (last error: {last})" if last else ""))
            pending = [(it, req) for it, req in pending if it.spent < self.grade_deadline_s]
            if not pending:
                break
            # the grade's deadline counts judge time, not time queued behind other attempts: each
            # request gets what is left of its grade's budget, from when the backend starts it
            reqs = [dataclasses.replace(req, retry=retry, budget_s=self.grade_deadline_s - it.spent)
                    for it, req in pending]
            assert self.judge is not None
            t0 = time.monotonic()
            outputs = self.judge.generate(reqs)
            wall = time.monotonic() - t0
            failed = []
            for (it, req), out in zip(pending, outputs, strict=True):
                it.calls += 1
                # a backend that does not time its replies is charged the whole call (an upper bound)
                took = getattr(out, "seconds", None)
                it.spent += float(took) if took is not None else wall
                # parse-level retries and the backend's own (HTTP 429/5xx/timeouts) are both paid for
                it.retries += int(retry > 0) + int(getattr(out, "retries", 0))
                if isinstance(out, JudgeError):
                    it.errors[req.sample] = out.message
                    failed.append((it, req))
                    continue
                try:
                    parsed = parse_output(out, req.view, r.evidence, bind_last=self.defences)
                except JudgeError as exc:
                    it.errors[req.sample] = exc.message
                    it.raw_failures.append(out[:500])
                    failed.append((it, req))
                    continue
                problem = _unclean(parsed)
                if problem is not None and problem[0]:
                    # credit claimed with no verified evidence: a judge failure, retried, never a score
                    it.errors[req.sample] = problem[1]
                    it.raw_failures.append(out[:500])
                    failed.append((it, req))
                    continue
                it.parsed[req.sample] = parsed
                it.errors.pop(req.sample, None)
                if self.cache is not None and problem is None:
                    self.cache.put(self._key(req), str(out))  # only clean verdicts are replayed
            pending = failed

    def _combine(self, it: _Item) -> GradeResult:
        r = self.bundle.rubric
        judge_info = None
        if self._judge_criteria and self.judge is not None:
            judge_info = {"backend": self.judge.name, "model": self.judge.model, "samples": r.judge.samples,
                          "aggregation": r.judge.aggregation, "defences": self.defences}
        cost = {"judge_calls": float(it.calls), "cache_hits": float(it.cache_hits), "retries": float(it.retries)}
        if it.errors:
            reason = "judge failed after retries: " + "; ".join(sorted(set(it.errors.values())))
            return self._unscorable(reason, judge=judge_info, cost=cost, raw=it.raw_failures[-1:])
        verified: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for ci, crit in enumerate(self._judge_criteria):
            votes: list[CriterionVote] = [it.parsed[k].votes[crit.name] for k in sorted(it.parsed)]
            lo, hi = self._levels[crit.name]
            # abstaining votes never reach here: their sample failed and was retried (see _run_judge)
            levels: list[float] = []
            for k, v in zip(sorted(it.parsed), votes, strict=True):
                expected = it.parsed[k].expected_level(ci, v, lo)  # G-Eval, when the backend gave probabilities
                levels.append(expected if expected is not None else float(v.credited or lo))
            score = aggregate(levels, lo, hi, r.judge.aggregation)
            for v in votes:
                verified += [{"criterion": crit.name, **q.to_json()} for q in v.verified]
                rejected += [{"criterion": crit.name, **q.to_json()} for q in v.rejected]
            it.verdicts[crit.name] = Verdict(crit.name, score, votes[-1].reason if votes else "", {
                "votes": [{"claimed": v.claimed, "credited": v.credited, "reason": v.reason} for v in votes],
                "verified": [q.to_json() for v in votes for q in v.verified],
                "rejected": [q.to_json() for v in votes for q in v.rejected],
            })
        # withheld sentences are recorded: an attempt that talks to its grader is worth a look
        return self._finish(it, {"verified": verified, "rejected": rejected, "withheld_sentences": it.withheld},
                            judge_info, cost)

    # --- scoring --------------------------------------------------------------------------------

    def _finish(self, it: _Item, evidence: dict[str, list[Any]], judge: dict[str, Any] | None,
                cost: dict[str, float]) -> GradeResult:
        r = self.bundle.rubric
        comps: dict[str, float | None] = {}
        verdicts: list[Verdict] = []
        for crit in r.criteria:
            v = it.verdicts[crit.name]
            comps[crit.name] = v.score
            verdicts.append(Verdict(crit.name, v.score, v.reason, {
                **dict(v.details), "kind": crit.kind, "tier": crit.tier, "weight": crit.weight,
                "bundle_version": r.version}))
        score, gate = self._formula(comps)
        comps["gate"] = gate
        if self.calibration is not None:
            comps["calibrated"] = self.calibration.apply_one(score)
        extracted = next((v.details.get("extracted") for v in it.verdicts.values() if v.details.get("extracted")),
                         None)
        if extracted is None:
            extracted = extract_answer(it.text, r.defences.answer_prefix)
        grade = Grade(score=score, components=comps, verdicts=tuple(verdicts), extracted=extracted,
                      bundle_hash=self.bundle.hash)
        return GradeResult(grade, evidence, judge, cost)

    def _formula(self, comps: dict[str, float | None]) -> tuple[float, float]:
        r = self.bundle.rubric
        f = r.score
        gate = 1.0
        for c in r.criteria:
            s = comps[c.name]
            if c.tier == "mandatory" and s is not None and s < f.mandatory_pass - 1e-12:
                gate = 0.0  # abstaining (None) never closes the gate: abstain is not failure
        if f.formula == "weighted_mean":
            pairs = [(c.weight, comps[c.name]) for c in r.criteria if c.tier != "mandatory"]
            pairs = [(w, s) for w, s in pairs if s is not None]
            total = sum(w for w, _ in pairs)
            body = sum(w * s for w, s in pairs) / total if total > 0 else 1.0
            return gate * body, gate

        def share(tier: str) -> float:
            pairs = [(c.weight, comps[c.name]) for c in r.criteria if c.tier == tier and comps[c.name] is not None]
            total = sum(w for w, _ in pairs)
            return sum(w * s for w, s in pairs if s is not None) / total if total > 0 else 1.0

        t = f.tiers
        return gate * (t.base + t.good * share("good") + t.ideal * share("ideal")), gate

    def _unscorable(self, reason: str, *, judge: dict[str, Any] | None = None,
                    cost: dict[str, float] | None = None, raw: list[str] | None = None) -> GradeResult:
        verdicts = (Verdict("unscorable", None, reason, {"raw_judge_output": raw} if raw else {}),)
        return GradeResult(Grade(score=None, unscorable_reason=reason, verdicts=verdicts,
                                 bundle_hash=self.bundle.hash), judge=judge, cost=cost or {})

    def _screened(self, it: _Item, reason: str, *, withheld: int,
                  screens: list[dict[str, Any]] | None = None) -> GradeResult:
        """The student's failure, decided before any judge call: score 0 with the reason."""
        v = Verdict("screen", 0.0, reason, {"withheld_sentences": withheld, "checks": {
            k: x.score for k, x in it.verdicts.items()}, "bundle_version": self.bundle.version,
            "screens": screens or []})
        comps: dict[str, float | None] = {"screen": 0.0, **{k: x.score for k, x in it.verdicts.items()}}
        if self.calibration is not None:
            comps["calibrated"] = self.calibration.apply_one(0.0)
        return GradeResult(Grade(score=0.0, components=comps, verdicts=(v,), bundle_hash=self.bundle.hash),
                           cost={"judge_calls": 0.0, "cache_hits": 0.0, "retries": 0.0})


def _unclean(parsed: ParsedOutput) -> tuple[bool, str] | None:
    """None for a clean verdict (every quote verified, every credited level backed). Else (fatal, why):
    fatal when a criterion's claimed credit has no verified quote at all (the criterion cannot be
    scored from this sample); not fatal when some quotes failed beside enough verified ones (usable,
    but not cached)."""
    for v in parsed.votes.values():
        if v.credited is None:
            whys = "; ".join(f"S{q.sentence}: {q.why}" for q in v.rejected[:3]) or "no quotes given"
            return True, (f"criterion '{v.name}': the judge claimed level {v.claimed} with no verified evidence "
                          f"({whys})")
    for v in parsed.votes.values():
        if v.rejected:
            return False, f"criterion '{v.name}': {len(v.rejected)} quote(s) did not verify"
    return None


_ANSWER_CHECKS = {"answer", "numeric"}


def _reads_answer_line(rubric: Any) -> bool:
    """Does the rubric grade a final-answer line? Only then can 'no final answer' be the student's
    failure; on an open-ended rubric it would be a configuration mismatch turned into a 0."""
    for c in rubric.criteria:
        if c.check is None:
            continue
        args = c.check.args
        if (c.check.name in _ANSWER_CHECKS or (c.check.name == "exact" and args.get("target", "answer") == "answer")
                or (c.check.name == "format" and args.get("answer_line"))):
            return True
    return False


def _validated_args(c: Criterion) -> dict[str, Any]:
    from mentor.grade.checks import validate_check_args

    assert c.check is not None
    return validate_check_args(c.check.name, c.check.args, where=f"criterion {c.name}")


def load_grader(rubric_path_or_bundle: str | Path | Bundle, *, judge: JudgeBackend | None = None,
                cache: JudgeCache | str | Path | None = None, defences: bool | None = None,
                calibration: Any = None, grade_deadline_s: float | None = None) -> Grader:
    """The loop-facing entry point: a rubric YAML (compiled in memory) or a `*.lock.json` bundle
    (hash verified) -> a `Grader`. `cache` may be a path to a SQLite judge cache."""
    bundle = load_any(rubric_path_or_bundle)
    if isinstance(cache, str | Path):
        cache = JudgeCache(cache)
    return Grader(bundle, judge, cache=cache, defences=defences, calibration=calibration,
                  grade_deadline_s=grade_deadline_s)
