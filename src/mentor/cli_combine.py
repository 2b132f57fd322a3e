"""`mentor combine`: weak verifiers' scores in, one label-free reward per attempt out.

Mounted by `mentor.cli` as `app.command("combine")(combine_command)`. Input JSONL, one attempt a line:

    {"id": "a1", "scores": {"judge": 0.8, "regex": 1, "answer": null}, "label": 1}

`null` (or a verifier missing from the line) means that verifier abstained on that attempt; it is never
read as 0. `label` (0/1) is optional and only used by `--balance dev`. Output JSONL: `{"id", "reward"}`
per input line, `reward` null where every kept verifier abstained. Every bad line is an `InputError`
naming the file, the line and the fix (the main CLI prints it and exits 2); the whole file is read and
checked before anything is fitted or written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mentor.errors import InputError
from mentor.grade.combine import Balance, CombineError, Combiner, NormaliseKind, fit_combiner, score_matrix
from mentor.jsonl_io import read_json_objects

_LINE_EXAMPLE = '{"id": 1, "scores": {"judge": 0.8, "regex": null}}'
_LINE_FIX = 'each line must be {"id": ..., "scores": {"verifier": number or null, ...}} (optional "label": 0 or 1)'


def _read_rows(path: Path) -> list[tuple[int, str, dict[str, float | None], int | None]]:
    """(line number, id, scores, label) per non-blank line, every field checked."""
    if not path.is_file():
        raise InputError(f"input file not found: {path}", where=str(path), fix="check the --input path")
    rows: list[tuple[int, str, dict[str, float | None], int | None]] = []
    first_line: dict[str, int] = {}
    for lineno, where, obj in read_json_objects(path, InputError, _LINE_EXAMPLE):
        if not isinstance(obj.get("id"), str | int) or isinstance(obj.get("id"), bool):
            raise InputError("missing key 'id' (a string or an integer)", where=where, fix=_LINE_FIX)
        ident = str(obj["id"])
        if ident in first_line:
            raise InputError(f"duplicate id {ident!r} (first on line {first_line[ident]})", where=where,
                             fix="give every attempt its own id")
        first_line[ident] = lineno
        scores = obj.get("scores")
        if not isinstance(scores, dict) or not scores:
            raise InputError("missing key 'scores' (a non-empty object of verifier -> number or null)",
                             where=where, fix=_LINE_FIX)
        clean: dict[str, float | None] = {}
        for name, v in scores.items():
            if v is None:
                clean[name] = None
            elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                clean[name] = float(v)
            else:
                raise InputError(f"score of verifier {name!r} is {json.dumps(v)}, not a finite number",
                                 where=where, fix="use a number, or null when the verifier abstained or failed")
        label = obj.get("label")
        if label is not None and label not in (0, 1):  # True/False compare equal to 1/0 and are accepted
            raise InputError(f"label is {json.dumps(label)}, not 0 or 1", where=where,
                             fix="use 1 = correct, 0 = incorrect, or leave 'label' out")
        rows.append((lineno, ident, clean, None if label is None else int(label)))
    if not rows:
        raise InputError("the input has no attempts", where=str(path), fix=_LINE_FIX)
    return rows


def _dev_balance(x: Any, labels: list[int | None], path: Path) -> Balance:
    idx = [i for i, y in enumerate(labels) if y is not None]
    if not idx:
        raise InputError("--balance dev needs labelled lines, and no line has a 'label'", where=str(path),
                         fix='add "label": 0 or 1 to a few lines, or use --balance estimated or given:P')
    try:
        return Balance.dev(x[idx], [labels[i] for i in idx])
    except CombineError as exc:
        raise InputError(exc.message, where=str(path), fix=exc.fix) from None


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _table(c: Combiner) -> Table:
    # reasons go below the table: a sentence in a column squeezes every number at 80 columns
    t = Table("verifier", "status", "votes", "pos. rate", "thr.", "raw thr.", "TPR", "TNR",
              title=f"verifiers ({len(c.kept)} kept, {len(c.dropped)} dropped)")
    for v in c.verifiers:
        t.add_row(escape(v.name), "kept" if v.kept else "[red]dropped[/]", str(v.votes), _fmt(v.positive_rate),
                  _fmt(v.threshold), _fmt(v.raw_threshold, ".4g"), _fmt(v.tpr), _fmt(v.tnr))
    return t


def combine_command(
    input: Annotated[Path, typer.Option("--input", help='JSONL: {"id", "scores": {verifier: number|null}, '
                                                        '"label"?: 0|1} per line.')],
    output: Annotated[Path, typer.Option("--output", help='JSONL written atomically: {"id", "reward"} per line.')],
    balance: Annotated[str, typer.Option("--balance", help="Where P(correct) comes from: given:P (e.g. given:0.3), "
                                                          "estimated (the label model's prior), or dev (labelled lines).")],
    normalise: Annotated[str, typer.Option("--normalise", help="Score normalisation: minmax | quantile.")] = "minmax",
    min_rate: Annotated[float, typer.Option("--min-rate", help="Drop verifiers whose positive rate is <= this.")] = 0.1,
    max_rate: Annotated[float, typer.Option("--max-rate", help="Drop verifiers whose positive rate is >= this.")] = 0.9,
) -> None:
    """Combine weak verifiers into one reward per attempt, without labels (Weaver's label model).

    Prints each verifier's threshold, fitted TPR/TNR, and why any was dropped.
    """
    from mentor.cli_grade import _atomic_jsonl
    from mentor.preflight import check_writable_file

    check_writable_file(output, option="--output")  # before any work, so nothing is lost to it
    if normalise not in ("minmax", "quantile"):
        raise InputError(f"unknown normalisation {normalise!r}", where="--normalise", fix="use minmax or quantile")
    if not 0.0 <= min_rate < max_rate <= 1.0:
        raise InputError(f"--min-rate {min_rate:g} / --max-rate {max_rate:g} must satisfy 0 <= min < max <= 1",
                         where="--min-rate/--max-rate", fix="e.g. --min-rate 0.1 --max-rate 0.9")
    # parsed before the file is read, so a typo in --balance fails at once
    parsed = None if balance.strip().lower() == "dev" else Balance.parse(balance)
    rows = _read_rows(input)
    x, names = score_matrix([r[2] for r in rows])
    bal = parsed or _dev_balance(x, [r[3] for r in rows], input)
    mode: NormaliseKind = "quantile" if normalise == "quantile" else "minmax"
    try:
        c = fit_combiner(x, balance=bal, names=names, normalise=mode, rate_bounds=(min_rate, max_rate))
    except CombineError as exc:  # the model's complaint is about this file's verifiers: say which file
        raise CombineError(exc.message, where=exc.where or str(input), fix=exc.fix) from None
    _atomic_jsonl(output, [{"id": r[1], "reward": w} for r, w in zip(rows, c.rewards, strict=True)])

    out = Console()
    out.print(_table(c))
    for v in c.dropped:
        out.print(f"dropped [bold]{escape(v.name)}[/]: {escape(v.reason)}")
    n_none = sum(w is None for w in c.rewards)
    out.print(f"{len(rows)} attempts: {len(rows) - n_none} rewarded, {n_none} abstained (every kept verifier "
              f"abstained). Class balance {c.class_balance:.3f} ({c.balance_source}); thresholds cut at "
              f"{c.threshold_balance:.3f}; EM {c.iterations} iterations, "
              f"{'converged' if c.converged else '[red]not converged[/]'}.")
    if c.dev_accuracy is not None:
        out.print(f"dev split: accuracy of reward >= 0.5 = {c.dev_accuracy:.3f} on {c.dev_n} labelled attempts "
                  "(the labels set the balance only; the EM never saw them)")
        if c.dev_accuracy < 0.5:
            out.print("[bold red]warning:[/] the rewards are worse than chance on the dev split. The label model "
                      "cannot tell 'correct' from 'wrong' without labels; if most verifiers score in reverse "
                      "(higher = worse), negate them and rerun.")
    out.print(f"wrote {output}")
