"""Reports: a self-contained HTML page plus PNG plots, built from run stores only (never from the loop).

The page leads with the headline (held-out accuracy before → after with its interval, the gain, the
share of groups with a learning signal, rollouts and wall time), then the curves, the evaluations, the
timings, what the selector believed, the credit attribution and hint examples, and the configuration
as a table.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mentor.report.plots import (
    TIMING_KEYS,
    plot_heldout,
    plot_hint_usage,
    plot_per_step,
    plot_timings,
)
from mentor.store import STORE_NAME, open_readonly
from mentor.teacher.outcomes import signal_share
from mentor.track import step_seconds
from mentor.types import PASS

__all__ = [
    "TIMING_KEYS",
    "load_run",
    "plot_heldout",
    "plot_hint_usage",
    "plot_per_step",
    "plot_timings",
    "run_summary",
    "selector_table",
    "write_report",
]


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything a report needs from one run store, as plain data."""
    with open_readonly(run_dir) as store:
        attempts = list(store.attempts())
        created = store.meta("created_at")
        return {
            "dir": str(run_dir),
            "config": store.config,
            "config_hash": store.meta("config_hash"),
            "status": store.meta("status"),
            "created_at": float(created) if created else None,
            "plugins": json.loads(store.meta("plugins") or "{}"),
            "steps": store.steps(),
            "evals": store.evals(),
            "attempts": attempts,
            "tasks": {t.id: t for t in store.load_tasks("train")},
            "buckets": {t.id: t.bucket for t in store.load_tasks("train")},
        }


# ------------------------------------------------------------------------------------------ html

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1.2em;
  color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0.2em}h2{margin-top:1.6em;border-bottom:1px solid #e5e7eb;padding-bottom:0.2em}
.sub{color:#57606a;margin-top:0}
.headline{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px;margin:1em 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;background:#f6f8fa}
.card .k{font-size:0.82em;color:#57606a;text-transform:uppercase;letter-spacing:0.03em}
.card .v{font-size:1.5em;font-weight:600;margin:2px 0}.card .n{font-size:0.85em;color:#57606a}
.card.lead{background:#eef6ff;border-color:#9ec5fe}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.92em}
td,th{border:1px solid #d0d7de;padding:4px 10px;text-align:right;vertical-align:top}
th{background:#f6f8fa}td.l,th.l{text-align:left}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure{margin:0;border:1px solid #eaeef2;border-radius:6px;padding:6px;background:#fff}
img{max-width:100%;height:auto;display:block;margin:0 auto}figcaption{font-size:0.88em;color:#57606a;padding:4px}
.attempt{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:0.88em;white-space:pre-wrap;
  word-break:break-word;border:1px solid #d0d7de;border-radius:6px;padding:8px;margin:6px 0 14px;background:#fff}
.prompt{background:#f6f8fa;color:#57606a}
.meta{font-size:0.88em;color:#57606a}
details{margin:0.5em 0}summary{cursor:pointer;color:#0969da}
.swatch{display:inline-block;width:1em;height:0.9em;vertical-align:middle;border-radius:2px}
code{font-size:0.95em}td code{font-size:1em}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    """An HTML table; the first `left` columns (labels) are left-aligned, numbers right-aligned."""
    def cls(i: int) -> str:
        return ' class="l"' if i < left else ""

    head = "".join(f"<th{cls(i)}>{html.escape(str(h))}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{html.escape(str(c))}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _pct(v: float | None, sign: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v * 100:+.1f}" if sign else f"{v:.1%}"


def _secs(v: float) -> str:
    """Seconds: one decimal from 10 s, two below; a tiny model's stages take milliseconds."""
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 0.01 else "<0.01"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def _card(key: str, value: str, note: str = "", lead: bool = False) -> str:
    return (f'<div class="card{" lead" if lead else ""}"><div class="k">{html.escape(key)}</div>'
            f'<div class="v">{html.escape(value)}</div><div class="n">{html.escape(note)}</div></div>')


def selector_table(run: dict[str, Any]) -> str:
    """What the run's selector believed after its last step (its `summary()`), rebuilt from the
    stored plug-in spec and state; empty for a selector with no beliefs (uniform)."""
    from mentor.teacher.selectors import SELECTORS

    spec = run["plugins"].get("selector") or {}
    state = run["steps"][-1]["state"].get("teacher", {}).get("selector") if run["steps"] else None
    if not spec or not state:
        return ""
    selector = SELECTORS.build(spec["name"], spec.get("args") or {})
    selector.load_state_dict(state)
    rows = selector.summary()
    if not rows:
        return ""
    headers = list(dict.fromkeys(k for r in rows for k in r))
    text_cols = sum(1 for h in headers if all(isinstance(r.get(h), str) or r.get(h) is None for r in rows))
    return _table(headers, [[_fmt(r.get(h)) for h in headers] for r in rows], left=max(text_cols, 1))


def _signal_share(attempts: Sequence[dict[str, Any]], rollouts: int) -> float:
    """The run's signal share (`mentor.teacher.outcomes.signal_share`) from its attempt records."""
    groups: dict[tuple[int, int], list[tuple[float | None, bool]]] = {}
    for a in attempts:
        groups.setdefault((a["step"], a["grp"]), []).append((a["reward"], bool(a["trained"])))
    return signal_share(groups.values(), max(rollouts, len(attempts)))


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """The run's headline numbers. `mean_step_seconds` is the mean of `step_seconds` (the sum of a
    step's stage timings), the figure the progress bar of `mentor train` shows."""
    from mentor.stats import bootstrap_diff_ci

    steps = run["steps"]
    ev = run["evals"]
    unscorable = sum(s["metrics"].get("unscorable", 0) for s in steps)
    keys = list(dict.fromkeys([*TIMING_KEYS, *(k for s in steps for k in s["timings"])]))
    timings = {k: sum(s["timings"].get(k, 0.0) for s in steps) / max(len(steps), 1) for k in keys}
    gain = gain_ci = None
    if len(ev) >= 2:
        keys_common = [k for k in ev[0].per_task if k in ev[-1].per_task]
        if keys_common:
            gain, lo, hi = bootstrap_diff_ci([([ev[0].per_task[k] for k in keys_common],
                                               [ev[-1].per_task[k] for k in keys_common])])
            gain_ci = [lo, hi]
    created = run.get("created_at")
    return {
        "steps": len(steps),
        "rollouts": steps[-1]["rollouts"] if steps else 0,
        "heldout_before": ev[0].accuracy if ev else None,
        "heldout_after": ev[-1].accuracy if ev else None,
        "heldout_after_ci": [ev[-1].ci_lo, ev[-1].ci_hi] if ev else None,
        "heldout_n": ev[-1].n if ev else None,
        # paired per task (tasks scored at both ends), bootstrap over tasks
        "gain": gain,
        "gain_ci": gain_ci,
        "signal_share": _signal_share(run["attempts"], steps[-1]["rollouts"]) if steps else None,
        "unscorable": unscorable,
        "mean_step_seconds": sum(step_seconds(s["timings"]) for s in steps) / max(len(steps), 1),
        # from the store's creation to the last commit: loading and the first evaluation included
        "wall_seconds": steps[-1]["committed_at"] - created if steps and created else None,
        "timings": timings,
    }


def headline(run: dict[str, Any], summary: dict[str, Any]) -> str:
    ci = summary["heldout_after_ci"]
    if summary["heldout_before"] is None:
        acc = _card("held-out accuracy", "not evaluated yet")
    else:
        acc = _card("held-out accuracy", f"{_pct(summary['heldout_before'])} → {_pct(summary['heldout_after'])}",
                    f"95% CI {_pct(ci[0])}–{_pct(ci[1])}, n={summary['heldout_n']} tasks, greedy, no hints", lead=True)
    gain = ("-" if summary["gain"] is None else f"{_pct(summary['gain'], sign=True)} points")
    gain_note = ("" if summary["gain_ci"] is None
                 else f"95% CI {_pct(summary['gain_ci'][0], sign=True)} to {_pct(summary['gain_ci'][1], sign=True)}, paired per task")
    signal = summary["signal_share"]
    return '<div class="headline">' + "".join([
        acc,
        _card("gain", gain, gain_note),
        _card("signal share", _pct(signal), "of all rollouts, trained in a group with mixed rewards"),
        _card("rollouts", f"{summary['rollouts']:,}", f"{summary['steps']} steps, {summary['unscorable']} unscorable"),
        _card("wall time", _duration(summary["wall_seconds"]),
              f"{_secs(summary['mean_step_seconds'])} s/step (stage timings, as the progress bar)"),
    ]) + "</div>"


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(d, dict) and d:
        out = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, d)]


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def config_table(config: dict[str, Any]) -> str:
    """The resolved configuration as `key | value`: first the keys that differ from the default run
    (`mentor train` with no options) beside that default, then every key, folded."""
    from mentor.config import load_config

    try:
        defaults = dict(_flatten(load_config(None, [], None).model_dump(mode="json")))
    except Exception:  # a config from another Mentor version: no default column rather than no table
        defaults = {}
    flat = _flatten(config)
    changed = [(k, v) for k, v in flat if k in defaults and defaults[k] != v]
    new = [(k, v) for k, v in flat if defaults and k not in defaults]

    def rows(items: Sequence[tuple[str, Any]], with_default: bool) -> str:
        return "".join(
            f'<tr><td class="l"><code>{html.escape(k)}</code></td><td class="l">{html.escape(_value(v))}</td>'
            + (f'<td class="l">{html.escape(_value(defaults.get(k, "—")))}</td>' if with_default else "") + "</tr>"
            for k, v in items)

    diff = ("<p>Same as the default run (<code>mentor train</code> with no options).</p>" if not changed
            else '<table><tr><th class="l">key</th><th class="l">this run</th><th class="l">default run</th></tr>'
            + rows(changed, True) + "</table>")
    if new:
        diff += f"<p class=\"meta\">Keys unknown to this Mentor version: {html.escape(', '.join(k for k, _ in new))}</p>"
    full = ('<table><tr><th class="l">key</th><th class="l">value</th></tr>' + rows(flat, False) + "</table>")
    return (f"<h3>Differs from the default run ({len(changed)} keys)</h3>{diff}"
            f"<details><summary>all {len(flat)} keys</summary>{full}</details>")


def plugins_table(plugins: dict[str, Any]) -> str:
    rows = []
    for kind, spec in sorted(plugins.items()):
        if not spec:
            rows.append((kind, "off", ""))
        elif isinstance(spec, dict) and "name" in spec:
            rows.append((kind, spec["name"], _value(spec.get("args") or {})))
        else:
            rows.append((kind, "", _value(spec)))
    return _table(["plug-in", "name", "arguments"], rows, left=3)


def _task_prompt(run: dict[str, Any], task_id: str) -> str:
    task = run.get("tasks", {}).get(task_id)
    return task.prompt if task is not None else ""


def _attribution(run: dict[str, Any], limit: int = 6) -> str:
    """A few trained attempts with tokens shaded by their advantage (blue = credit, red = blame)."""
    trained = [a for a in run["attempts"] if a["trained"] and a["token_advantages"] and any(a["token_advantages"])]
    # attempts whose credit varies along the tokens (step-level credit) first, then whole-attempt
    # credit; the latest steps first, where the student is most like its final self
    ranked = sorted(trained, key=lambda a: (len(set(a["token_advantages"])) == 1, -a["step"]))
    # at most one credited and one blamed attempt per task, so the examples span tasks
    shown, seen = [], set()
    for a in ranked:
        key = (a["task_id"], (a["advantage"] or 0.0) > 0)
        if key not in seen:
            seen.add(key)
            shown.append(a)
    shown = sorted(shown[:limit], key=lambda a: (a["step"], a["task_id"], -(a["advantage"] or 0.0)))
    if not shown:
        return "<p>No trained attempt carried a learning signal.</p>"
    try:
        from mentor.config import RunConfig

        tok = _tokenizer_for(RunConfig.model_validate(run["config"]))
    except Exception:
        tok = None
    parts = []
    for a in shown:
        adv = a["token_advantages"]
        scale = max(max(abs(x) for x in adv), 1e-9)
        if tok is None:
            body = html.escape(a["text"])
        else:
            spans = []
            for tid, v in zip(a["completion_ids"], adv, strict=False):
                piece = html.escape(tok.decode([tid], skip_special_tokens=True))
                alpha = min(abs(v) / scale, 1.0) * 0.55
                color = f"rgba(40,90,220,{alpha:.2f})" if v > 0 else f"rgba(220,50,40,{alpha:.2f})"
                spans.append(f'<span title="{v:+.3f}" style="background:{color}">{piece}</span>')
            body = "".join(spans)
        hint = f" · trained from hint level {a['hint_level']} ({html.escape(a['hint_kind'] or '')})" if a["hint_level"] else ""
        varies = "credit varies along the attempt" if len(set(adv)) > 1 else "one advantage for the whole attempt"
        prompt = html.escape(_task_prompt(run, a["task_id"]))
        parts.append(
            f'<div class="meta">step {a["step"]} · task <code>{html.escape(a["task_id"])}</code> · reward '
            f'{_fmt(a["reward"])} · advantage {min(adv):+.2f} to {max(adv):+.2f} ({varies}){hint}</div>'
            + (f'<div class="attempt prompt">{prompt}</div>' if prompt else "")
            + f'<div class="attempt">{body}</div>')
    legend = ('<p class="meta"><span class="swatch" style="background:rgba(40,90,220,0.55)"></span> credit '
              '(positive advantage) · <span class="swatch" style="background:rgba(220,50,40,0.55)"></span> blame '
              "(negative) · deeper colour, larger |advantage| within the attempt; hover a token for its value. "
              "Grey boxes are the task prompts.</p>")
    return legend + "".join(parts)


def hint_examples(run: dict[str, Any], limit: int = 4) -> str:
    """Attempts sampled with a hint: the task, the hint as shown (folded: worked examples are long),
    the attempt and its grade; passing ones first."""
    hinted = [a for a in run["attempts"] if a["hint_level"] and a["hint_text"]]
    if not hinted:
        return ""
    shown, seen = [], set()
    for a in sorted(hinted, key=lambda a: (-(a["reward"] or 0.0), -a["step"])):
        if a["task_id"] not in seen:  # one attempt per task: the hints differ by task
            seen.add(a["task_id"])
            shown.append(a)
    shown = shown[:limit]
    passed = sum(1 for a in hinted if (a["reward"] or 0.0) >= 1.0)
    parts = [f"<p>{len(hinted)} attempts were sampled with a hint; {passed} passed ({_pct(passed / len(hinted))}). "
             "A hint is prompt text only; the update trains these tokens under the no-hint prompt.</p>"]
    for a in shown:
        prompt = html.escape(_task_prompt(run, a["task_id"]))
        parts.append(
            f'<div class="meta">step {a["step"]} · task <code>{html.escape(a["task_id"])}</code> · hint level '
            f'{a["hint_level"]} ({html.escape(a["hint_kind"] or "")}) · reward {_fmt(a["reward"])}'
            f'{" · trained" if a["trained"] else ""}</div>'
            + (f'<div class="attempt prompt">{prompt}</div>' if prompt else "")
            + f'<details><summary>the hint shown ({len(a["hint_text"])} characters)</summary>'
            f'<div class="attempt prompt">{html.escape(a["hint_text"])}</div></details>'
            f'<div class="attempt">{html.escape(a["text"])}</div>')
    return "".join(parts)


def pass_counts(run: dict[str, Any]) -> dict[tuple[str, str], list[int]]:
    """(bucket, rung) -> [scored attempts, passed] over the run's attempts; the rung is "" for the
    attempts sampled without a hint, else "level:kind" (e.g. "1:example"). An unscorable attempt is
    neither a pass nor a failure."""
    counts: dict[tuple[str, str], list[int]] = {}
    for a in run["attempts"]:
        if a["reward"] is not None:
            rung = f"{a['hint_level']}:{a.get('hint_kind') or 'hint'}" if a["hint_level"] else ""
            c = counts.setdefault((run["buckets"].get(a["task_id"], "?"), rung), [0, 0])
            c[0] += 1
            c[1] += a["reward"] >= PASS
    return counts


def hint_value_table(run: dict[str, Any]) -> str:
    """Do the hints help? Per bucket and hint rung shown in it: how often its attempts passed without
    and with that rung, over the whole run. A rung that passes no more often than the plain attempts
    only displaces them (docs/decisions/baselines.md, "Design-suite ablations")."""
    counts = pass_counts(run)
    rows = []
    for (bucket, rung), (n_hinted, h_won) in sorted(counts.items()):
        if not rung:
            continue
        plain, won = counts.get((bucket, ""), (0, 0))
        rows.append((bucket, rung, plain, _pct(won / plain) if plain else "-", n_hinted, _pct(h_won / n_hinted),
                     ("no" if h_won / n_hinted <= won / plain else "yes") if plain else "-"))
    if not rows:
        return ""
    return _table(["bucket", "rung", "attempts without a hint", "passed", "with the rung", "passed", "rung helps?"],
                  rows, left=2)


def _tokenizer_for(cfg: Any) -> Any:
    if cfg.model.name == "tiny":
        from mentor.student.tiny import tiny_tokenizer

        return tiny_tokenizer()
    if cfg.model.name == "smollm2-135m":
        from transformers import AutoTokenizer

        from mentor.student.bundled import cache_root

        path = cache_root() / "smollm2-135m-instruct"
        return AutoTokenizer.from_pretrained(path) if path.is_dir() else None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(cfg.model.name)


def _write_page(path: Path, page: str) -> Path:
    tmp = path.with_suffix(".html.part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def learning_figures(labelled: Sequence[tuple[str, dict[str, Any]]], plots: Path,
                     heldout_note: str) -> list[tuple[Path, str]]:
    """(PNG, caption) of the curves every report draws for its runs: held-out accuracy, signal share
    and no-hint reward per step, and hint usage and reliance where a run had hints."""
    steps = [s for _, run in labelled for s in run["steps"]]
    figs = [
        (plot_heldout(labelled, plots / "heldout_accuracy.png"),
         f"Held-out accuracy vs rollouts consumed ({heldout_note})"),
        (plot_per_step(labelled, "signal_share", "signal share", plots / "signal.png", unit=True),
         "Share of each step's rollouts trained in a group with mixed rewards (a learning signal)"),
        (plot_per_step(labelled, "mean_reward", "mean reward (no-hint attempts)", plots / "reward.png", unit=True),
         "Mean reward of the no-hint attempts per step"),
    ]
    if any(s["metrics"].get("hinted_groups") for s in steps):
        figs.append((plot_hint_usage(labelled, plots / "hints.png"), "Hint usage: share of attempts sampled with a hint"))
    if any(s["metrics"].get("hint_reliance") is not None for s in steps):
        figs.append((plot_per_step(labelled, "hint_reliance", "hint reliance (log p with − without hint)",
                                   plots / "reliance.png"), "Hint reliance of correct guided attempts"))
    return figs


def write_report(run_dir: str | Path) -> Path:
    """Write `report.html` and PNG plots into the run directory (or a compare directory)."""
    run_dir = Path(run_dir)
    if (run_dir / "compare.json").is_file() and not (run_dir / STORE_NAME).is_file():
        from mentor.report.compare_page import write_compare_report

        return write_compare_report(run_dir)
    run = load_run(run_dir)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    figs = learning_figures([("run", run)], plots, "shaded: 95% bootstrap CI over tasks")
    figs.append((plot_timings(run, plots / "timings.png"), "Seconds per step by stage"))
    summary = run_summary(run)
    eval_rows = [(e.step, e.rollouts, _pct(e.accuracy), f"{_pct(e.ci_lo)}–{_pct(e.ci_hi)}",
                  "-" if e.pass_k is None else f"{_pct(e.pass_k)} (k={e.k})", e.n) for e in run["evals"]]
    timing_rows = [(k, _secs(v), _pct(v / summary["mean_step_seconds"]) if summary["mean_step_seconds"] else "-")
                   for k, v in summary["timings"].items() if v]
    timing_rows.append(("total (s/step)", _secs(summary["mean_step_seconds"]), "100.0%"))
    selectors = selector_table(run)
    hints = hint_examples(run)
    hint_value = hint_value_table(run)
    cfg = run["config"]
    title = f"Mentor run {run_dir.name}"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>Mentor run <code>{html.escape(run_dir.name)}</code></h1>
<p class="sub">{html.escape(str(run['status']))} · model {html.escape(str(cfg.get('model', {}).get('name')))} ·
seed {html.escape(str(cfg.get('seed')))} · config <code>{html.escape(str(run['config_hash'])[:12])}</code></p>
{headline(run, summary)}
<h2>Learning</h2><div class="figs">{''.join(_img(p, alt) for p, alt in figs)}</div>
<h2>Evaluations</h2><p class="meta">Greedy decoding on held-out tasks never trained on, without hints.</p>
{_table(["step", "rollouts", "greedy accuracy", "95% CI", "pass@k", "tasks"], eval_rows, left=0)}
<h2>Mean time per step</h2>
<p class="meta">Stage timings summed per step, averaged over {summary['steps']} steps (the figure the
progress bar shows); evaluation is spread over the steps that ran one. Wall time
{_duration(summary['wall_seconds'])} also counts loading the student and the first evaluation.</p>
{_table(["stage", "seconds", "share"], timing_rows)}
{f"<h2>Selector after the last step ({html.escape(run['plugins']['selector']['name'])})</h2>"
 f"<details open><summary>{selectors.count('<tr>') - 1} rows</summary>{selectors}</details>" if selectors else ""}
<h2>Credit attribution</h2><p>Trained attempts, each token shaded by its advantage.</p>
{_attribution(run)}
{f"<h2>Do the hints help?</h2><p>Pass rates over the whole run, per bucket and hint rung, of the "
 f"attempts sampled without a hint and with that rung; a rung that passes no more often than the plain "
 f"attempts only displaces them.</p>{hint_value}" if hint_value else ""}
{f"<h2>Hint examples</h2>{hints}" if hints else ""}
<h2>Plug-ins</h2>{plugins_table(run['plugins'])}
<h2>Resolved configuration</h2>{config_table(cfg)}
</body></html>"""
    return _write_page(run_dir / "report.html", page)
