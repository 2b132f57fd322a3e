"""Reports: a self-contained HTML page plus PNG plots, built from run stores only (never from the loop)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mentor.store import open_readonly

TIMING_KEYS = ("select", "sample", "grade", "hints", "credit", "update", "eval", "store")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything a report needs from one run store, as plain data."""
    with open_readonly(run_dir) as store:
        attempts = list(store.attempts())
        return {
            "dir": str(run_dir),
            "config": store.config,
            "config_hash": store.meta("config_hash"),
            "status": store.meta("status"),
            "plugins": json.loads(store.meta("plugins") or "{}"),
            "steps": store.steps(),
            "evals": store.evals(),
            "attempts": attempts,
            "buckets": {t.id: t.bucket for t in store.load_tasks("train")},
        }


# ------------------------------------------------------------------------------------------ plots


def plot_heldout(runs: Sequence[tuple[str, dict[str, Any]]], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colors: dict[str, str] = {}
    styles = ["-", "--", ":", "-."]
    for i, (label, run) in enumerate(runs):
        ev = run["evals"]
        if not ev:
            continue
        # one colour per arm ("control s1" -> "control"), one line style per seed
        arm = label.split(" ")[0]
        color = colors.setdefault(arm, f"C{len(colors)}")
        style = styles[sum(1 for lbl, _ in runs[:i] if lbl.split(" ")[0] == arm) % len(styles)]
        x = [e.rollouts for e in ev]
        ax.plot(x, [e.accuracy for e in ev], marker="o", label=label, color=color, linestyle=style)
        ax.fill_between(x, [e.ci_lo for e in ev], [e.ci_hi for e in ev], alpha=0.12, color=color)
    ax.set_xlabel("rollouts consumed")
    ax.set_ylabel("held-out greedy accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_per_step(runs: Sequence[tuple[str, dict[str, Any]]], key: str, ylabel: str, path: Path,
                  transform: Any = None) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for label, run in runs:
        xs, ys = [], []
        for s in run["steps"]:
            v = s["metrics"].get(key)
            if v is None:
                continue
            xs.append(s["step"])
            ys.append(transform(v) if transform else v)
        ax.plot(xs, ys, marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_hint_usage(runs: Sequence[tuple[str, dict[str, Any]]], path: Path) -> Path:
    """Share of each step's attempts sampled with a hint; runs stored before that metric existed show
    the number of groups given a hint instead."""
    if all(any("hinted_attempt_share" in s["metrics"] for s in run["steps"]) for _, run in runs):
        return plot_per_step(runs, "hinted_attempt_share", "share of attempts sampled with a hint", path)
    return plot_per_step(runs, "hinted_groups", "groups given a hint", path)


def plot_timings(run: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    steps = [s["step"] for s in run["steps"]]
    bottom = [0.0] * len(steps)
    for key in TIMING_KEYS:
        vals = [s["timings"].get(key, 0.0) for s in run["steps"]]
        if not any(vals):
            continue
        ax.bar(steps, vals, bottom=bottom, label=key)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xlabel("step")
    ax.set_ylabel("seconds")
    ax.legend(ncol=4, fontsize=8)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------ html

_CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}figure{display:inline-block;margin:0.5em}img{max-width:460px}
pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}.attempt{font-family:monospace;white-space:pre-wrap;
border:1px solid #ddd;padding:6px;margin:6px 0}"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


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
    return _table(headers, [[_fmt(r.get(h)) for h in headers] for r in rows])


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    steps = run["steps"]
    ev = run["evals"]
    signal = [s["metrics"].get("signal_share", 0.0) for s in steps]
    unscorable = sum(s["metrics"].get("unscorable", 0) for s in steps)
    timings = {k: sum(s["timings"].get(k, 0.0) for s in steps) / max(len(steps), 1) for k in TIMING_KEYS}
    return {
        "steps": len(steps),
        "rollouts": steps[-1]["rollouts"] if steps else 0,
        "heldout_before": ev[0].accuracy if ev else None,
        "heldout_after": ev[-1].accuracy if ev else None,
        "signal_share": sum(signal) / len(signal) if signal else None,
        "unscorable": unscorable,
        "mean_step_seconds": sum(timings.values()),
        "timings": timings,
    }


def _attribution(run: dict[str, Any], limit: int = 6) -> str:
    """A few trained attempts with tokens shaded by their advantage (blue = credit, red = blame)."""
    trained = [a for a in run["attempts"] if a["trained"] and a["token_advantages"] and any(a["token_advantages"])]
    # attempts whose credit varies along the tokens (step-level credit) first, then whole-attempt credit
    shown = sorted(trained, key=lambda a: len(set(a["token_advantages"])) == 1)[:limit]
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
                alpha = min(abs(v) / scale, 1.0) * 0.6
                color = f"rgba(40,90,220,{alpha:.2f})" if v > 0 else f"rgba(220,50,40,{alpha:.2f})"
                spans.append(f'<span title="{v:+.3f}" style="background:{color}">{piece}</span>')
            body = "".join(spans)
        hint = f" · hint L{a['hint_level']} ({html.escape(a['hint_kind'] or '')})" if a["hint_level"] else ""
        parts.append(f"<div>step {a['step']} · task {html.escape(a['task_id'])} · reward {_fmt(a['reward'])}{hint}"
                     f'<div class="attempt">{body}</div></div>')
    return "".join(parts)


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


def write_report(run_dir: str | Path) -> Path:
    """Write `report.html` and PNG plots into the run directory (or a compare directory)."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    label = [("run", run)]
    figs = [
        (plot_heldout(label, plots / "heldout_accuracy.png"), "Held-out accuracy vs rollouts (95% bootstrap CI over tasks)"),
        (plot_per_step(label, "mean_reward", "mean reward (no-hint attempts)", plots / "reward.png"), "Mean reward per step"),
        (plot_per_step(label, "signal_share", "share of groups with no signal", plots / "no_signal.png",
                       transform=lambda v: 1 - v), "Share of groups with no learning signal"),
        (plot_timings(run, plots / "timings.png"), "Time per step: sampling / grading / hints / update / eval"),
    ]
    if any(s["metrics"].get("hinted_groups") for s in run["steps"]):
        figs.append((plot_hint_usage(label, plots / "hints.png"), "Hint usage per step"))
    if any(s["metrics"].get("hint_reliance") is not None for s in run["steps"]):
        figs.append((plot_per_step(label, "hint_reliance", "hint reliance", plots / "reliance.png"),
                     "Hint reliance of correct guided attempts"))
    summary = run_summary(run)
    eval_rows = [(e.step, e.rollouts, f"{e.accuracy:.1%}", f"{e.ci_lo:.1%}–{e.ci_hi:.1%}",
                  "-" if e.pass_k is None else f"{e.pass_k:.1%}", e.n) for e in run["evals"]]
    timing_rows = [(k, f"{v:.2f}") for k, v in summary["timings"].items() if v]
    selectors = selector_table(run)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Mentor run {html.escape(run_dir.name)}</title>
<style>{_CSS}</style></head><body>
<h1>Mentor run <code>{html.escape(run_dir.name)}</code></h1>
<p>status {html.escape(str(run['status']))} · config hash <code>{html.escape(str(run['config_hash'])[:16])}</code> ·
{summary['steps']} steps · {summary['rollouts']} rollouts · model {html.escape(run['config']['model']['name'])}</p>
{_table(["held-out before", "held-out after", "mean signal share", "unscorable attempts", "mean s/step"],
        [(_fmt(summary['heldout_before']), _fmt(summary['heldout_after']), _fmt(summary['signal_share']),
          summary['unscorable'], f"{summary['mean_step_seconds']:.1f}")])}
<h2>Learning</h2>{''.join(_img(p, alt) for p, alt in figs)}
<h2>Evaluations</h2>{_table(["step", "rollouts", "greedy accuracy", "95% CI", "pass@k", "n"], eval_rows)}
{f"<h2>Selector after the last step ({html.escape(run['plugins']['selector']['name'])})</h2>{selectors}" if selectors else ""}
<h2>Mean time per step (s)</h2>{_table(["stage", "seconds"], timing_rows)}
<h2>Credit attribution</h2><p>Trained attempts, each token shaded by its advantage (blue credit, red blame).</p>
{_attribution(run)}
<h2>Plug-ins</h2><pre>{html.escape(json.dumps(run['plugins'], indent=2, sort_keys=True))}</pre>
<h2>Resolved configuration</h2><pre>{html.escape(json.dumps(run['config'], indent=2, sort_keys=True))}</pre>
</body></html>"""
    path = run_dir / "report.html"
    tmp = path.with_suffix(".html.part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
