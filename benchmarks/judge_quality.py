"""How good is the bundled judge? A labelled judging set from reasoning-gym, graded under free,
grammar-constrained and probability-weighted decoding.

    OMP_NUM_THREADS=1 python benchmarks/judge_quality.py --n 60
    OMP_NUM_THREADS=1 python benchmarks/judge_quality.py --n 24 --modes constrained   # a quick look
    python benchmarks/judge_quality.py --modes server,server-free --url http://127.0.0.1:8765/v1 --model smollm2
        # the same set through an OpenAI-compatible server (e.g. vLLM serving the bundled model), with
        # and without response_format

The set: reasoning-gym tasks from ten datasets, with right and wrong attempts in six answer styles
(terse, working, steps, chatty, hedged, markdown), balanced 50/50; the label is the dataset's own
verifier on the attempt's answer (1 right, 0 wrong), never the judge. The rubric has one binary
criterion ("the final answer is correct") with the reference shown to the judge, evidence required
as usual (a verified quote for a 1), one sample, no retries: every first answer counts.

Reported per mode, with 95% bootstrap intervals over items:
- valid: share of judge outputs that parse as a schema-valid verdict;
- scorable: share of attempts that got a score (valid, and evidence verified where claimed);
- accuracy: score >= 0.5 agrees with the label, over all attempts (an unscorable one counts as
  wrong: a judge that cannot answer has not judged) and over the scorable ones;
- QWK: quadratic-weighted kappa of the rounded score against the label, over the scorable ones;
- AUC: how well the continuous score ranks right attempts above wrong ones (where probability
  weighting can differ from the sampled level even when the rounded decisions agree: greedy
  decoding takes the most likely level, so its expectation rounds to the same side);
- seconds per verdict (wall clock, one thread, greedy, batches of 8).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from typing import Any

import numpy as np

from mentor.grade import Grader, TransformersJudge, compile_rubric, parse_rubric
from mentor.grade.answer import get_verifier
from mentor.grade.attack_gen import genuine_answers, rg_tasks

RUBRIC = {
    "name": "answer-judge", "version": 1,
    "description": "An LLM judge decides whether the attempt's final answer is right.",
    "criteria": [{"name": "correct", "kind": "judge", "scale": "binary",
                  "text": "The attempt's final answer is correct: it matches the reference answer."}],
    "evidence": {"min_quotes": 1, "min_quote_chars": 1},
    "judge": {"samples": 1, "max_retries": 0, "max_new_tokens": 160, "deadline_s": 3600},
    "defences": {"screens": []},  # measure the judge, not the screens
}
STYLES = ("terse", "working", "steps", "chatty", "hedged", "markdown")


def labelled_set(n: int, seed: int = 0) -> list[tuple[Any, str, int, str]]:
    """(task, attempt, label, style), balanced right/wrong, labels from the datasets' verifiers."""
    verify = get_verifier("reasoning_gym")
    pool: dict[int, list[tuple[Any, str, int, str]]] = {0: [], 1: []}
    for half in ("design", "eval"):
        for task in rg_tasks(half, 6):  # type: ignore[arg-type]
            for item in genuine_answers(task, half):  # type: ignore[arg-type]
                if item.style not in STYLES:
                    continue
                answer = item.text.rsplit("Answer:", 1)[-1].strip() if "Answer:" in item.text else ""
                label = int(verify(task, answer) >= 1.0) if answer else int(bool(item.correct))
                pool[label].append((task, item.text, label, item.style))
    rng = random.Random(seed)
    out = rng.sample(pool[1], n // 2) + rng.sample(pool[0], n - n // 2)
    rng.shuffle(out)
    return out


def qwk(a: list[int], b: list[int]) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(set(a)) < 2 and len(set(b)) < 2:
        return 1.0 if a == b else 0.0
    return float(cohen_kappa_score(a, b, weights="quadratic", labels=[0, 1]))


def auc(rs: list[dict[str, Any]]) -> float:
    """ROC AUC of the (continuous) score against the label: does the score rank right above wrong?"""
    from sklearn.metrics import roc_auc_score

    labels = [r["label"] for r in rs]
    if len(set(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, [r["score"] for r in rs]))


def boot(values: list[Any], stat: Any, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    point = stat(values)
    if not values:
        return float("nan"), float("nan"), float("nan")
    reps = [stat([values[i] for i in rng.integers(0, len(values), len(values))]) for _ in range(n_boot)]
    reps = [x for x in reps if x == x]  # a resample with one class has no AUC
    return float(point), float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))


def run_mode(mode: str, items: list[tuple[Any, str, int, str]], model: Any, tok: Any,
             url: str | None = None, server_model: str = "smollm2") -> dict[str, Any]:
    bundle = compile_rubric(parse_rubric(RUBRIC))
    judge: Any
    if mode.startswith("server"):
        from mentor.grade import OpenAICompatibleJudge

        judge = OpenAICompatibleJudge(str(url), server_model, timeout_s=120, max_concurrency=4,
                                      structured=mode == "server")
    else:
        judge = TransformersJudge(model, tok, model_name="SmolLM2-135M-Instruct", decoding=mode, batch_size=8)
    grader = Grader(bundle, judge)
    t0 = time.perf_counter()
    results = grader.grade_many([(t, x) for t, x, _, _ in items])
    secs = time.perf_counter() - t0
    rows = []
    for (_, _, label, style), res in zip(items, results, strict=True):
        reason = res.grade.unscorable_reason or ""
        valid = res.grade.score is not None or "no verified evidence" in reason
        rows.append({"label": label, "style": style, "score": res.grade.score, "valid": valid,
                     "reason": reason[:120]})
    scorable = [r for r in rows if r["score"] is not None]

    def acc_all(rs: list[dict[str, Any]]) -> float:
        return sum(1 for r in rs if r["score"] is not None and int(r["score"] >= 0.5) == r["label"]) / len(rs)

    def acc(rs: list[dict[str, Any]]) -> float:
        return sum(1 for r in rs if int(r["score"] >= 0.5) == r["label"]) / len(rs) if rs else float("nan")

    return {
        "mode": mode, "n": len(rows), "seconds_per_verdict": secs / max(1, len(rows)),
        "valid": boot(rows, lambda rs: sum(r["valid"] for r in rs) / len(rs)),
        "scorable": boot(rows, lambda rs: sum(r["score"] is not None for r in rs) / len(rs)),
        "accuracy_all": boot(rows, acc_all),
        "accuracy_scorable": boot(scorable, acc),
        "qwk_scorable": boot(scorable, lambda rs: qwk([r["label"] for r in rs],
                                                        [round(r["score"]) for r in rs]) if rs else float("nan")),
        "auc_scorable": boot(scorable, auc),
        "share_scored_1": sum(1 for r in scorable if r["score"] >= 0.5) / max(1, len(scorable)),
        "items": rows,
        "reasons": dict(Counter(r["reason"][:90] for r in rows if r["reason"]).most_common(4)),
    }


def main() -> None:
    import torch

    from mentor.student.bundled import load_bundled

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--modes", default="free,constrained,probability")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--url", default=None, help="OpenAI-compatible base URL for the server modes")
    ap.add_argument("--model", default="smollm2", help="model name on that server")
    args = ap.parse_args()
    torch.set_num_threads(1)
    items = labelled_set(args.n, args.seed)
    modes = args.modes.split(",")
    model, tok = (None, None) if all(m.startswith("server") for m in modes) else load_bundled(torch.float32)
    out = []
    for mode in modes:
        r = run_mode(mode, items, model, tok, args.url, args.model)
        out.append(r)

        def f(key: str, r: dict[str, Any] = r) -> str:
            v, lo, hi = r[key]
            return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

        print(f"{mode:12s} n={r['n']} valid={f('valid')} scorable={f('scorable')} acc_all={f('accuracy_all')} "
              f"acc_scorable={f('accuracy_scorable')} qwk={f('qwk_scorable')} auc={f('auc_scorable')} scored_1={r['share_scored_1']:.2f} "
              f"s/verdict={r['seconds_per_verdict']:.2f}", flush=True)
        print(f"    unscorable reasons: {r['reasons']}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
