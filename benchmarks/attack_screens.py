"""Content screens against the always-full-marks judge: false positives per attack category and the
credit genuine answers keep, on both halves of the generated material.

    python benchmarks/attack_screens.py                     # the suite's own rubric (topic declared)
    python benchmarks/attack_screens.py --rubric examples/rubrics/explanation.yaml
    python benchmarks/attack_screens.py --half eval --styles  # per-style rows for genuine answers

The thresholds in mentor.grade.screens were tuned on the "design" half; "eval" (other templates,
other reasoning-gym datasets, another open-ended task) is the held-out figure to quote. The judge
credits everything it is shown, so every credited attack is a defence's miss, and every genuine
answer that is screened is a defence's cost.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from mentor.grade import Grader, ScriptedJudge
from mentor.grade.attacks import content_items, run_attack_suite
from mentor.grade.bundle import load_any


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rubric", type=Path, default=None)
    ap.add_argument("--half", choices=["design", "eval", "both"], default="both")
    ap.add_argument("--per-dataset", type=int, default=6, help="reasoning-gym tasks per dataset")
    ap.add_argument("--styles", action="store_true", help="genuine answers: one row per style")
    args = ap.parse_args()
    bundle = load_any(args.rubric) if args.rubric else None
    judge = ScriptedJudge.always_full_marks("first")
    for half in (["design", "eval"] if args.half == "both" else [args.half]):
        rep = run_attack_suite(judge, bundle, half=half, per_dataset=args.per_dataset)  # type: ignore[arg-type]
        print(f"\n== half: {half} (judge {rep.judge}, bundle {rep.bundle_hash[:12]}) ==")
        print(f"{'category':18s} {'kind':12s} {'n':>5s} {'FP/credit off':>13s} {'FP/credit on':>12s} "
              f"{'screened':>8s} {'unscorable':>10s}  caught by")
        for r in rep.rows:
            key = "credit" if r["kind"] == "genuine" else "fp"
            print(f"{r['category']:18s} {r['kind']:12s} {r['n']:5d} {r[key + '_off']:13.1%} {r[key + '_on']:12.1%} "
                  f"{r['screened']:8.1%} {r['unscorable_on']:10.1%}  {dict(r['caught_by'])}")
        if args.styles:
            b = bundle or load_any_attack_bundle()
            items = [i for i in content_items(b, half, args.per_dataset) if i.category == "genuine"]  # type: ignore[arg-type]
            res = Grader(b, judge).grade_many([(i.task, i.text) for i in items])
            by: dict[str, Counter[str]] = defaultdict(Counter)
            for it, g in zip(items, res, strict=True):
                credited = g.grade.score is not None and g.grade.score > 0
                by[it.style]["n"] += 1
                by[it.style]["kept"] += int(credited)
            for style, c in sorted(by.items()):
                print(f"  genuine/{style:24s} n={c['n']:4d} kept={c['kept'] / c['n']:.1%}")


def load_any_attack_bundle() -> Any:
    from mentor.grade.attacks import ATTACK_RUBRIC
    from mentor.grade.bundle import compile_rubric
    from mentor.grade.rubric import parse_rubric

    return compile_rubric(parse_rubric(ATTACK_RUBRIC, where="<attack suite>"))


if __name__ == "__main__":
    main()
