"""The `mentor` command (typer + rich). Every user mistake is a MentorError: one paragraph naming the
file, the line and the fix, exit code 2, no traceback."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mentor.errors import MentorError

EXIT_CODES = ("Exit codes: 0 success; 1 an internal error (a bug: the traceback is printed; please report it), "
              "or a check that found failures (`tasks validate`); 2 bad input (a configuration, file, option or "
              "run directory: one message names it and the fix, no traceback); 130 interrupted (committed steps "
              "are kept).")

app = typer.Typer(
    name="mentor",
    help="Mentor: the teacher in the loop of RL fine-tuning. Train a student with GRPO while Mentor grades, "
    "chooses tasks, hints when stuck, and proves the gain against vanilla GRPO.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="Inspect and validate task sources.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
console = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML run configuration.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a key: --set optim.steps=10 (repeatable).")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="Preset overlay(s) on the defaults (the teacher on), comma-separated: control (vanilla GRPO), smoke (a tiny model, two steps).")]


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=console)


def _default_run_dir(preset: str | None) -> Path:
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{(preset or 'mentor').replace(',', '-')}"


@app.command()
def train(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Where the run store, checkpoints and report go.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this directory from its last committed step.")] = None,
    preset: PresetOpt = None,
    report: Annotated[bool, typer.Option(help="Write the HTML report at the end.")] = True,
    report_to: Annotated[str | None, typer.Option(
        "--report-to", help="Tracking sinks, comma-separated: jsonl, tensorboard, trackio, wandb (or none). "
        "Default: the config's report_to (jsonl). Allowed with --resume.")] = None,
) -> None:
    """Train the student with the teacher in the loop; ends with a report.

    With no options: the bundled SmolLM2-135M-Instruct on reasoning-gym arithmetic, hints on.
    `--preset control` is vanilla GRPO; `--preset smoke` is two steps of a tiny model.
    """
    from mentor import preflight, runlock
    from mentor.config import RunConfig, load_config
    from mentor.store import RunStore
    from mentor.track import check_sinks, parse_sinks

    if resume is not None:
        if config or set_ or preset or run_dir:
            raise MentorError("--resume uses the configuration and directory stored with the run.",
                              where="--resume", fix="drop --config/--set/--preset/--run-dir when resuming")
        preflight.check_run_dir_writable(resume, what="resuming")
        store = RunStore.open(resume, readonly=True)
        cfg = RunConfig.model_validate(store.config)
        store.close()
        target = resume
    else:
        cfg = load_config(config, set_ or [], preset)
        target = run_dir or _default_run_dir(preset)
        preflight.check_new_run_dir(target)
    if report_to is not None:
        cfg = cfg.model_copy(update={"report_to": parse_sinks(report_to)})
    preflight.check_model_name(cfg.model.name)  # before a run directory exists
    check_sinks(cfg.report_to)  # a missing extra, too
    with runlock.acquire(target):  # one writer per run directory
        _train_locked(cfg, target, resume is not None, report)


def _train_locked(cfg: Any, target: Path, resume: bool, report: bool) -> None:
    from mentor.report import write_report
    from mentor.store import RunStore, open_readonly
    from mentor.track import close_sinks, open_sinks, step_seconds, write_step
    from mentor.train.setup import train as run_training

    # Sinks are opened (their packages imported) before any work, so a missing extra fails first.
    start_after = -1
    if resume:
        with open_readonly(target) as stored:
            start_after = stored.last_step()
    sinks = open_sinks(cfg.report_to, target, fresh=not resume, config=cfg.model_dump(mode="json"),
                       start_after=start_after)
    reader: list[RunStore] = []  # a read-only view of the store the loop writes, opened after step 1
    console.print(f"[bold]run[/] {target}  config {cfg.hash()[:12]}  model {cfg.model.name}  steps {cfg.optim.steps}")
    with _progress() as progress:
        bar = progress.add_task("training", total=cfg.optim.steps, info="")

        def on_phase(msg: str) -> None:
            progress.update(bar, info=msg)

        def on_step(step: int, m: dict[str, Any]) -> None:
            # Everything shown and tracked is read back from the committed store; s/step is the mean
            # of step_seconds over the run's steps, the same number the report's summary gives.
            if not reader:
                reader.append(RunStore.open(target, readonly=True))
            write_step(reader[0], step, sinks)
            times = [step_seconds(s["timings"]) for s in reader[0].steps()]
            info = (f"reward {m['mean_reward'] or 0:.2f}  signal {m['signal_share']:.0%}  "
                    f"hinted {m['hinted_groups']}  {sum(times) / max(len(times), 1):.1f}s/step")
            if "heldout_accuracy" in m:
                info += f"  held-out {m['heldout_accuracy']:.1%}"
            progress.update(bar, completed=step, info=info)

        try:
            run = run_training(cfg, target, resume=resume, on_step=on_step, on_phase=on_phase)
            write_step(run.store, run.store.last_step(), sinks)  # a resume with no step left still catches up
        finally:
            close_sinks(sinks)
            for r in reader:
                r.close()
        progress.update(bar, completed=run.store.last_step())
    evals = run.store.evals()
    run.store.close()
    if evals:
        first, last = evals[0], evals[-1]
        out.print(f"held-out accuracy {first.accuracy:.1%} → {last.accuracy:.1%} "
                  f"(95% CI {last.ci_lo:.1%}–{last.ci_hi:.1%}, n={last.n}) after {last.rollouts} rollouts")
    if report:
        path = write_report(target)
        out.print(f"report: {path}")


@app.command("config")
def config_(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    preset: PresetOpt = None,
    docs: Annotated[bool, typer.Option("--docs", help="Print the reference of every key and plug-in (Markdown).")] = False,
    knobs: Annotated[bool, typer.Option("--count", help="Count the user-facing settings (JSON).")] = False,
) -> None:
    """Print the resolved configuration as YAML: defaults, presets, file and --set, checked."""
    import json

    import yaml

    from mentor.config import load_config

    if docs or knobs:
        from mentor.config_docs import config_reference, count_knobs

        print(config_reference() if docs else json.dumps(count_knobs(), indent=2), end="" if docs else "\n")
        return
    cfg = load_config(config, set_ or [], preset)
    from mentor.teacher import check_plugins

    check_plugins(cfg)
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True), end="")


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `mentor train`.")],
    size: Annotated[int | None, typer.Option(help="Held-out tasks to use (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")] = False,
) -> None:
    """Evaluate a run's latest checkpoint on its held-out tasks (greedy accuracy, pass@k, no hints)."""
    import json

    from mentor.config import RunConfig
    from mentor.store import RunStore
    from mentor.student.policy import load_policy
    from mentor.train.checkpoint import latest_checkpoint, load_checkpoint
    from mentor.train.evaluate import evaluate

    if size is not None and size < 1:
        raise MentorError(f"--size must be at least 1, got {size}.", where="--size", fix="e.g. --size 32")
    store = RunStore.open(run_dir, readonly=True)
    cfg = RunConfig.model_validate(store.config)
    if size:
        cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"size": size})})
    policy = load_policy(cfg.model)
    step = load_checkpoint(run_dir, policy.model)  # the newest: an HF directory or an old step-N.pt
    policy.sync_sampler()
    rollouts = store.rollouts_at(step)
    result = evaluate(policy, store.load_tasks("heldout"), cfg, step=step, rollouts=rollouts)
    store.close()
    if as_json:
        print(json.dumps({"run_dir": str(run_dir), "step": step, "rollouts": rollouts, "accuracy": result.accuracy,
                          "ci": [result.ci_lo, result.ci_hi], "n": result.n, "pass_k": result.pass_k, "k": result.k,
                          "checkpoint": str(latest.path) if (latest := latest_checkpoint(run_dir)) else None}))
        return
    out.print(f"step {step}: greedy accuracy {result.accuracy:.1%} (95% CI {result.ci_lo:.1%}–{result.ci_hi:.1%}, "
              f"n={result.n})" + (f", pass@{result.k} {result.pass_k:.1%}" if result.pass_k is not None else ""))


@app.command()
def runs(
    root: Annotated[Path, typer.Argument(help="Directory holding run directories (or one run directory).")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of runs on stdout (empty list: no runs).")] = False,
) -> None:
    """List runs: start date, model, setup, status, steps, rollouts, held-out accuracy before and last."""
    import json

    from mentor.errors import StoreError
    from mentor.report.runs import find_runs, run_record

    records, problems = [], []
    for d in find_runs(root):
        try:
            records.append(run_record(d))
        except StoreError as exc:  # one broken run must not hide the others
            problems.append(exc.render())
            records.append({"run_dir": str(d), "status": "corrupted" if "corrupted" in exc.message else "unreadable",
                            "error": exc.render(), "started_at": None, "model": "?", "setup": None, "steps": None,
                            "rollouts": None, "heldout_before": None, "heldout_last": None, "config_hash": ""})
    if as_json:
        print(json.dumps(records, indent=2))
        return
    if not records:
        console.print(f"no runs under {root}")
        return
    table = Table("run", "started", "model", "setup", "status", "steps", "rollouts", "held-out before",
                  "held-out last", "config")
    table.columns[4].no_wrap = True  # "corrupted" must read whole at any width

    def pct(e: dict[str, Any] | None) -> str:
        return f"{e['accuracy']:.1%}" if e else "-"

    for r in records:
        setup = r["setup"]
        if setup is None:  # a store that could not be read
            table.add_row(r["run_dir"], "-", "-", "-", f"[red]{r['status']}[/]", "-", "-", "-", "-", "-")
            continue
        table.add_row(r["run_dir"], (r["started_at"] or "?")[:16].replace("T", " "), r["model"],
                      f"{setup['selector']}{' + ' + setup['filter'] if setup.get('filter') else ''} · hints "
                      f"{setup['hints']} · {setup['credit']}", r["status"],
                      str(r["steps"]), str(r["rollouts"]), pct(r["heldout_before"]), pct(r["heldout_last"]),
                      r["config_hash"][:12])
    out.print(table)
    for msg in problems:
        console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (or a compare directory).")],
    sinks: Annotated[str | None, typer.Option(
        "--sinks", help="Also rebuild these tracking sinks from the store, comma-separated: jsonl, tensorboard, "
        "trackio, wandb.")] = None,
) -> None:
    """Write the HTML report (and PNG plots) of a run; reads the run store only."""
    from mentor.preflight import check_run_dir_writable
    from mentor.report import write_report

    check_run_dir_writable(run_dir, what="the report (report.html, plots/)")
    if sinks is not None:
        from mentor.track import parse_sinks, rebuild

        names = parse_sinks(sinks, where="--sinks")
        for written in rebuild(run_dir, names):
            out.print(f"rebuilt: {written}")
    out.print(f"report: {write_report(run_dir)}")


@tasks_app.command("validate")
def tasks_validate(
    source: Annotated[str, typer.Argument(help="A JSONL file, or reasoning_gym:DATASET (e.g. reasoning_gym:chain_sum).")],
    n: Annotated[int, typer.Option(help="Tasks per split for reasoning-gym sources.")] = 200,
    level: Annotated[int, typer.Option(help="reasoning-gym curriculum level.")] = 0,
    seed: int = 0,
) -> None:
    """Prove every reference answer gets full credit from its own verifier; list those that do not."""
    from mentor.config import TaskSpec
    from mentor.tasks import build_task_source, validate_tasks

    if source.startswith("reasoning_gym:"):
        spec = TaskSpec(source="reasoning_gym", name=source.split(":", 1)[1], levels=[level])
        src = build_task_source(spec)
        tasks = src.tasks("train", n, seed) + src.tasks("heldout", n, seed)
    else:
        from mentor.tasks.jsonl import read_jsonl_tasks

        tasks = read_jsonl_tasks(source)
    result = validate_tasks(tasks)
    for task, why in result.failures[:50]:
        out.print(f"[red]FAIL[/] {task.id}: {why}")
    out.print(f"{result.checked} tasks checked, {len(result.failures)} failed")
    if not result.ok:
        raise typer.Exit(1)


def _mount_optional() -> None:
    """Commands implemented in other modules, mounted explicitly (no import-time discovery)."""
    from mentor import cli_grade

    app.add_typer(cli_grade.rubric_app, name="rubric")
    app.command("grade")(cli_grade.grade_command)
    app.command("calibrate")(cli_grade.calibrate_command)
    from mentor.experiments.compare import compare_command

    app.command("compare")(compare_command)
    from mentor.cli_combine import combine_command

    app.command("combine")(combine_command)


def main(argv: list[str] | None = None) -> None:
    _mount_optional()
    try:
        app(args=argv, standalone_mode=True)
    except MentorError as exc:
        # escape: the message quotes user input ("[/x]" would be read as markup); soft_wrap: a path
        # must not be folded across lines at the 80 columns rich assumes when stderr is not a terminal.
        console.print(f"[bold red]error:[/] {escape(exc.render())}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted: committed steps are kept; continue with `mentor train --resume RUN_DIR`")
        sys.exit(130)


if __name__ == "__main__":
    main()
