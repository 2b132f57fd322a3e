"""CLI commands for grading, mounted by `mentor.cli`:

    app.add_typer(rubric_app, name="rubric")        # mentor rubric lock | show
    app.command("grade")(grade_command)             # mentor grade --rubric ... --input ... --output ...
    app.command("calibrate")(calibrate_command)     # mentor calibrate --rubric ... --input human.jsonl

Errors are `MentorError`s (bad rubric, bad input line, ...); the main CLI prints them and exits 2.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mentor.errors import InputError
from mentor.jsonl_io import read_json_objects
from mentor.types import Task

console = Console(stderr=True)

rubric_app = typer.Typer(help="Compile rubrics into locked, hashed bundles and inspect them.",
                         no_args_is_help=True)

_TASK_FIELDS = {"id", "prompt", "answer", "solution", "skills", "level", "source", "verifier", "meta"}


@rubric_app.command("lock")
def lock_command(
    rubric: Path = typer.Argument(..., help="Rubric YAML file."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Bundle path (default: NAME.lock.json beside it)."),
) -> None:
    """Validate RUBRIC, compile it to a canonical bundle and write its lock file."""
    from mentor.grade.bundle import default_lock_path, lock_rubric

    bundle = lock_rubric(rubric, out)
    target = out or default_lock_path(rubric)
    console.print(f"locked [bold]{bundle.name}[/] v{bundle.version} -> {target}\nsha256 {bundle.hash}")


@rubric_app.command("show")
def show_command(rubric: Path = typer.Argument(..., help="Rubric YAML or *.lock.json bundle.")) -> None:
    """Print a rubric's criteria, formula and hash (a bundle's hash is verified first)."""
    from mentor.grade.bundle import load_any
    from mentor.grade.rubric import scale_levels

    b = load_any(rubric)
    r = b.rubric
    out = Console()
    out.print(f"[bold]{r.name}[/] v{r.version}  sha256 {b.hash}")
    if r.description:
        out.print(r.description)
    t = Table("criterion", "kind", "tier", "weight", "scale", "check / text")
    for c in r.criteria:
        lo, hi, _ = scale_levels(c.scale)
        detail = f"{c.check.name} {json.dumps(c.check.args)}" if c.check else c.text
        t.add_row(c.name, c.kind, c.tier, f"{c.weight:g}", f"{lo}..{hi}", detail)
    out.print(t)
    f = r.score
    formula = (f"gate × (base {f.tiers.base:g} + good {f.tiers.good:g}·share + ideal {f.tiers.ideal:g}·share)"
               if f.formula == "gated_tiers" else "gate × weighted mean of non-mandatory criteria")
    out.print(f"score: {formula}; mandatory pass at ≥ {f.mandatory_pass:g}")
    out.print(f"judge: k={r.judge.samples} aggregation={r.judge.aggregation} retries={r.judge.max_retries}; "
              f"evidence: ≥{r.evidence.min_quotes} verified quote(s); defences: "
              f"{'on' if r.defences.enabled else 'off'}")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise InputError(f"input file not found: {path}", where=str(path), fix="check the --input path")
    for lineno, _where, obj in read_json_objects(path, InputError, '{"task": {...}, "attempt": "..."}'):
        yield lineno, obj


def _task_of(obj: dict[str, Any], where: str) -> tuple[Task, str]:
    fix = 'each line needs {"task": {"id": ..., "prompt": ...}, "attempt": "..."}'
    if "task" not in obj or not isinstance(obj["task"], dict):
        raise InputError("missing key 'task' (an object)", where=where, fix=fix)
    if "attempt" not in obj or not isinstance(obj["attempt"], str):
        raise InputError("missing key 'attempt' (a string)", where=where, fix=fix)
    t = obj["task"]
    for key in ("id", "prompt"):
        if key not in t:
            raise InputError(f"missing key 'task.{key}'", where=where, fix=fix)
    meta = dict(t.get("meta") or {})
    meta.update({k: v for k, v in t.items() if k not in _TASK_FIELDS})  # extra task keys travel in meta
    task = Task(id=str(t["id"]), prompt=str(t["prompt"]),
                answer=None if t.get("answer") is None else str(t["answer"]),
                solution=t.get("solution"), skills=tuple(t.get("skills") or ()), level=t.get("level"),
                source=str(t.get("source", "")), verifier=str(t.get("verifier", "math")), meta=meta)
    return task, obj["attempt"]


def _atomic_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Temp file in the target's directory + rename: a crash never leaves a half-written output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _judge_for(rubric_path: Path, judge: str, judge_url: str | None, judge_model: str | None,
               concurrency: int | None, timeout_s: float | None = None, api_key_env: str | None = None,
               decoding: str = "constrained") -> Any:
    """The judge backend; HTTP settings from the flags where given, else from the rubric's `judge:`."""
    from mentor.grade.backends import make_judge
    from mentor.grade.bundle import load_any

    settings = load_any(rubric_path).rubric
    if judge == "none" or not settings.judge_criteria:
        return None  # checks-only rubric: no model is loaded
    s = settings.judge
    key_env = api_key_env or s.api_key_env
    api_key = os.environ.get(key_env)
    if api_key_env and judge == "openai" and not api_key:
        raise InputError(f"environment variable {api_key_env} (the judge's API key) is not set",
                         where="--api-key-env", fix=f"export {api_key_env}=..., or drop --api-key-env")
    return make_judge(judge, url=judge_url, model=judge_model, api_key=api_key, decoding=decoding,
                      max_concurrency=concurrency or s.concurrency, timeout_s=timeout_s or s.timeout_s)


def grade_command(
    rubric: Path = typer.Option(..., "--rubric", help="Rubric YAML or locked *.lock.json bundle."),
    input: Path | None = typer.Option(None, "--input", help="JSONL: {task, attempt} per line."),
    output: Path | None = typer.Option(None, "--output", help="JSONL: input + grade, appended as graded; an existing file is resumed."),
    judge: str = typer.Option("local", "--judge", help="local (bundled model) | openai | full-marks | none."),
    judge_url: str | None = typer.Option(None, "--judge-url", help="OpenAI-compatible base URL (…/v1)."),
    judge_model: str | None = typer.Option(None, "--judge-model", help="Model name on that server."),
    concurrency: int | None = typer.Option(None, "--judge-concurrency", "--concurrency", min=1, max=256,
                                           help="Max HTTP judge requests in flight (default: the rubric's "
                                                "judge.concurrency, 8)."),
    cache: Path | None = typer.Option(Path(".mentor/judge_cache.sqlite"), "--cache",
                                      help="SQLite judge cache ('' to disable)."),
    batch: int = typer.Option(64, "--batch", help="Attempts graded per judge batch."),
    attack_suite: bool = typer.Option(False, "--attack-suite", help="Run the attack suite against the judge."),
    judge_timeout: Annotated[float | None, typer.Option(
        "--judge-timeout", min=0.001, max=3600,
        help="Wall-clock seconds one HTTP judge call may take, all its retries and Retry-After waits included "
             "(default: the rubric's judge.timeout_s, 60). A server that trickles bytes cannot extend it.")] = None,
    grade_deadline: Annotated[float | None, typer.Option(
        "--grade-deadline", min=0.001, max=86400,
        help="Seconds of judge time one attempt's grade may use, every sample and retry (time queued behind "
             "other attempts is not counted); past it the attempt is unscorable (default: the rubric's "
             "judge.deadline_s, 300).")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", help="Environment variable holding the HTTP judge's API key, sent as a Bearer token "
                              "(default: the rubric's judge.api_key_env, MENTOR_JUDGE_API_KEY; unset: no key).")] = None,
    decoding: Annotated[str, typer.Option(
        "--judge-decoding", help="Local judge only: constrained (grammar from the verdict schema, default) | "
                                 "free | probability (expected level over the scale tokens).")] = "constrained",
) -> None:
    """Grade attempts against a locked rubric, or run the attack suite (--attack-suite).

    Each batch is appended to --output as soon as it is graded. A rerun grades only what is missing.
    """
    from mentor import preflight
    from mentor.grade.backends import JudgeCache
    from mentor.grade.grader import load_grader
    from mentor.grade.results import ResultWriter, done_keys, row_key

    if decoding not in ("constrained", "free", "probability"):
        raise InputError(f"unknown --judge-decoding '{decoding}'", where="--judge-decoding",
                         fix="use constrained, free or probability")
    if judge == "local" and decoding != "free":
        from mentor.grade.constrained import _llg

        _llg()  # the grammar library: missing -> the install hint, before any work

    out = Console()
    cache_path = cache if cache is not None and str(cache) not in ("", ".") else None
    if cache_path is not None:  # both paths are checked before any grading: no grade is lost to them
        preflight.check_writable_file(cache_path, option="--cache", example="judge_cache.sqlite")
    if output is not None:
        preflight.check_writable_file(output, option="--output")
    judge_cache = JudgeCache(cache_path) if cache_path is not None else None
    if attack_suite:
        from mentor.grade.attacks import run_attack_suite
        from mentor.grade.backends import make_judge
        from mentor.grade.bundle import load_any

        bundle = load_any(rubric)
        backend = make_judge(judge if judge != "none" else "full-marks", url=judge_url, model=judge_model,
                             max_concurrency=concurrency or bundle.rubric.judge.concurrency,
                             timeout_s=judge_timeout or bundle.rubric.judge.timeout_s, decoding=decoding)
        report = run_attack_suite(backend, bundle if bundle.rubric.judge_criteria else None, cache=judge_cache)
        t = Table("attack", "kind", "n", "FP defences off", "FP defences on", "unscorable off", "unscorable on",
                  title=f"attack suite — judge {report.judge} ({report.half} half)")
        for r in report.rows:
            key = "credit" if r["kind"] == "genuine" else "fp"
            name = r["category"] + (" (credit kept)" if key == "credit" else "")
            t.add_row(name, r["kind"], str(r["n"]), f"{r[key + '_off']:.1%}", f"{r[key + '_on']:.1%}",
                      f"{r['unscorable_off']:.1%}", f"{r['unscorable_on']:.1%}")
        out.print(t)
        if input is None:
            return
    if input is None or output is None:
        raise InputError("--input and --output are required to grade", where="mentor grade",
                         fix="mentor grade --rubric R --input attempts.jsonl --output graded.jsonl")
    rows = list(_read_jsonl(input))  # read and validate everything before any judge call
    items = [_task_of(obj, f"{input}:{lineno}") for lineno, obj in rows]
    grader = load_grader(rubric, judge=_judge_for(rubric, judge, judge_url, judge_model, concurrency,
                                                  judge_timeout, api_key_env, decoding),
                         cache=judge_cache, grade_deadline_s=grade_deadline)
    done = done_keys(output, grader.bundle_hash)  # a rerun skips what an earlier run finished
    todo: list[int] = []
    for i, (_, obj) in enumerate(rows):
        k = row_key(obj)
        if done[k] > 0:
            done[k] -= 1
        else:
            todo.append(i)
    if len(todo) < len(rows):
        console.print(f"resuming: {len(rows) - len(todo)} of {len(rows)} attempts already graded in {output}")
    graded: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with ResultWriter(output) as writer, Progress(
            TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        job = bar.add_task("grade", total=len(todo))
        for start in range(0, len(todo), max(1, batch)):
            idx = todo[start:start + batch]
            results = grader.grade_many([items[i] for i in idx])
            new_rows = [{**rows[i][1], "grade": res.to_json()} for i, res in zip(idx, results, strict=True)]
            writer.write(new_rows)  # appended and fsynced before the next batch: a kill loses nothing
            graded.extend(new_rows)
            bar.advance(job, len(idx))
    elapsed = time.perf_counter() - t0
    scores = [g["grade"]["score"] for g in graded]
    scored = [s for s in scores if s is not None]
    calls = sum(g["grade"]["cost"].get("judge_calls", 0) for g in graded)
    hits = sum(g["grade"]["cost"].get("cache_hits", 0) for g in graded)
    t = Table("attempts", "scored", "unscorable", "mean score", "zero", "judge calls", "cache hits", "attempts/s",
              title=f"{grader.bundle.name} v{grader.bundle.version} ({grader.bundle_hash[:12]})")
    t.add_row(str(len(scores)), str(len(scored)), str(len(scores) - len(scored)),
              f"{sum(scored) / len(scored):.3f}" if scored else "-", str(sum(1 for s in scored if s == 0)),
              str(int(calls)), str(int(hits)), f"{len(scores) / elapsed:.0f}" if elapsed > 0 else "-")
    out.print(t)
    out.print(f"wrote {output}")


def calibrate_command(
    rubric: Path = typer.Option(..., "--rubric", help="Rubric YAML or locked bundle the scores belong to."),
    input: Path = typer.Option(..., "--input", help='JSONL with "human" labels, and "grade"/"score" or '
                                                    '{task, attempt} to grade.'),
    output: Path | None = typer.Option(None, "--output", help="Calibration JSON (default: beside the bundle)."),
    grid: str | None = typer.Option(None, "--grid", help="Human label grid, e.g. 0,1,2,3,4 (default: labels seen)."),
    holdout: float = typer.Option(0.3, "--holdout", help="Share held out to report agreement honestly."),
    seed: int = typer.Option(0, "--seed"),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the intervals."),
    judge: str = typer.Option("local", "--judge"),
    judge_url: str | None = typer.Option(None, "--judge-url"),
    judge_model: str | None = typer.Option(None, "--judge-model"),
) -> None:
    """Fit a monotone map from model scores to the human scale; print QWK, Spearman, exact and
    adjacent accuracy before and after, with bootstrap intervals."""
    from mentor.grade.bundle import load_any
    from mentor.grade.calibrate import calibration_report
    from mentor.grade.grader import load_grader
    from mentor.preflight import check_writable_file

    target = output or Path(str(rubric).removesuffix(".lock.json").removesuffix(".yaml").removesuffix(".yml")
                            + ".calibration.json")
    check_writable_file(target, option="--output", example="calibration.json")  # before grading anything
    bundle = load_any(rubric)
    scores: list[float] = []
    human: list[float] = []
    to_grade: list[tuple[int, Task, str, float]] = []
    for lineno, obj in _read_jsonl(input):
        where = f"{input}:{lineno}"
        if not isinstance(obj.get("human"), int | float):
            raise InputError("missing numeric key 'human' (the human grade)", where=where,
                             fix='add "human": <label> to every line')
        s = obj.get("score", (obj.get("grade") or {}).get("score"))
        if isinstance(s, int | float):
            scores.append(float(s))
            human.append(float(obj["human"]))
        elif s is None and "grade" in obj:
            continue  # unscorable: no model score to calibrate
        else:
            task, text = _task_of(obj, where)
            to_grade.append((lineno, task, text, float(obj["human"])))
    if to_grade:
        grader = load_grader(bundle, judge=_judge_for(rubric, judge, judge_url, judge_model, 8))
        for (_, _, _, h), res in zip(to_grade, grader.grade_many([(t, x) for _, t, x, _ in to_grade]), strict=True):
            if res.grade.score is not None:
                scores.append(res.grade.score)
                human.append(h)
    g = [float(v) for v in grid.split(",")] if grid else None
    cal, report = calibration_report(scores, human, bundle.hash, grid=g, holdout=holdout, seed=seed, n_boot=n_boot)
    cal.save(target)
    out = Console()
    t = Table("metric", "before", "after", title=f"calibration on {report['n_eval']} attempts"
              + (" (in-sample)" if report["in_sample"] else f" held out of {report['n']}"))
    for m in ("qwk", "spearman", "exact", "adjacent"):
        b, a = report["before"][m], report["after"][m]
        t.add_row(m, f"{b['value']:.3f} [{b['lo']:.3f}, {b['hi']:.3f}]", f"{a['value']:.3f} [{a['lo']:.3f}, {a['hi']:.3f}]")
    out.print(t)
    out.print(f"wrote {target} (bundle {bundle.hash[:12]}, fitted on all {report['n']} attempts)")
