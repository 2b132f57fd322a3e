"""Grading throughput: programmatic rubric, judge, and the judge cache's re-run speed-up.

    python benchmarks/grade_throughput.py                 # bundled judge if it loads, else a tiny model
    python benchmarks/grade_throughput.py --judge tiny    # skip the bundled model
    python benchmarks/grade_throughput.py --attack-suite  # also: master-key FP rates of that judge

Everything runs in this one process on one thread (torch.set_num_threads(1)): "one core".
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mentor.grade import (
    Grader,
    JudgeCache,
    ScriptedJudge,
    TransformersJudge,
    compile_rubric,
    load_grader,
    parse_rubric,
    run_attack_suite,
)
from mentor.grade.attacks import ATTACK_RUBRIC
from mentor.types import Task

ROOT = Path(__file__).resolve().parents[1]


def _answer_items(n: int, seed: int = 0) -> list[tuple[Task, str]]:
    """Arithmetic tasks with integer, decimal and fraction answers; ~half the attempts are wrong,
    a few lack the answer line (all on the Fraction fast path, like reasoning-gym arithmetic)."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        a, b = rng.randint(1, 999), rng.randint(1, 999)
        kind = i % 3
        ans = str(a + b) if kind == 0 else (f"{a}/{b}" if kind == 1 else f"{a / 8:.3f}")
        r = rng.random()
        given = ans if r < 0.5 else (str(a + b + 1) if r < 0.9 else None)
        text = f"We add {a} and {b} step by step.\n" + (f"Answer: {given}" if given is not None else "I am not sure.")
        items.append((Task(f"t{i}", f"Compute {a} and {b}", answer=ans), text))
    return items


def bench_programmatic(n: int, repeats: int) -> float:
    grader = load_grader(ROOT / "examples" / "rubrics" / "math_answer.yaml")
    items = _answer_items(n)
    grader.grade_many(items[:100])  # warm-up (imports, regex caches)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        grader.grade_many(items)
        rates.append(n / (time.perf_counter() - t0))
    rate = statistics.median(rates)
    print(f"programmatic (math_answer.yaml: answer equivalence + format), {n} attempts x {repeats}: "
          f"{rate:,.0f} attempts/s (median; target >= 5,000/s) -> {rate / 5000:.2f}x target")
    return rate


def _judge(kind: str) -> tuple[Any, str]:
    if kind in ("auto", "bundled"):
        try:
            return TransformersJudge.bundled(threads=1), "bundled SmolLM2-135M-Instruct"
        except Exception as exc:
            if kind == "bundled":
                raise
            print(f"(bundled judge unavailable: {exc!r}; using a tiny random model)")
    from transformers import LlamaConfig, LlamaForCausalLM

    from mentor.student.bundled import load_bundled  # tokenizer only, if it exists

    torch.manual_seed(0)
    try:
        _, tok = load_bundled()
    except Exception:
        sys.exit("no tokenizer available for the tiny judge")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2)
    return TransformersJudge(LlamaForCausalLM(cfg).eval(), tok, model_name="tiny-random"), "tiny random Llama"


def bench_judge(kind: str, n: int, max_new_tokens: int) -> None:
    torch.set_num_threads(1)
    judge, label = _judge(kind)
    bundle = compile_rubric(parse_rubric({
        "name": "bench-judge", "judge": {"samples": 1, "max_retries": 0, "max_new_tokens": max_new_tokens},
        "criteria": [{"name": "mechanism", "text": "Names the physical mechanism (scattering).",
                      "kind": "judge", "scale": "0/1/2"}]}))
    items = [(Task(f"s{i}", "Explain why the sky is blue."),
              f"Sunlight is scattered by air molecules (variant {i}). Blue light is scattered more than red "
              f"light because its wavelength is shorter.") for i in range(n)]
    with tempfile.TemporaryDirectory() as d:
        cache = JudgeCache(Path(d) / "cache.sqlite")
        grader = Grader(bundle, judge, cache=cache)
        t0 = time.perf_counter()
        first = grader.grade_many(items)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = grader.grade_many(items)
        warm = time.perf_counter() - t0
    parsed = sum(1 for r in first if r.grade.score is not None)
    hits = sum(r.cost["cache_hits"] for r in second)
    print(f"judge ({label}, max_new_tokens={max_new_tokens}), {n} attempts: {n / cold:.3f} attempts/s "
          f"({cold / n:.2f} s each); valid verdicts {parsed}/{n}")
    if parsed:
        print(f"cache re-run: {n / warm:,.0f} attempts/s, {hits:.0f} cache hits -> speed-up {cold / warm:,.0f}x")
    else:
        print(f"cache re-run: 0 hits (only valid verdicts are cached; nothing parsed), re-run took {warm:.1f} s")
    # the cache speed-up on a judge whose outputs do parse (scripted, instant): lookups vs. parse
    scripted = ScriptedJudge.always_full_marks()
    with tempfile.TemporaryDirectory() as d:
        g = Grader(bundle, scripted, cache=JudgeCache(Path(d) / "c.sqlite"))
        many = items * 50
        t0 = time.perf_counter()
        g.grade_many(many)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        g.grade_many(many)
        warm_s = time.perf_counter() - t0
    print(f"scripted judge, {len(many)} attempts: {len(many) / cold_s:,.0f}/s cold, {len(many) / warm_s:,.0f}/s from "
          f"cache ({scripted.usage.calls} backend calls in total)")
    if ARGS.attack_suite:
        t0 = time.perf_counter()
        # the suite's own rubric, with this run's generation budget (the bundled model is slow on CPU)
        rubric = {**ATTACK_RUBRIC, "judge": {"max_retries": 0, "max_new_tokens": max_new_tokens}}
        rep = run_attack_suite(judge, compile_rubric(parse_rubric(rubric)))
        print(f"attack suite against {label} ({time.perf_counter() - t0:.0f} s):")
        for r in rep.rows:
            print(f"  {r['category']:<14} n={r['n']:<3} FP off {r['fp_off']:6.1%}  FP on {r['fp_on']:6.1%}  "
                  f"unscorable off {r['unscorable_off']:6.1%}  on {r['unscorable_on']:6.1%}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--judge", choices=["auto", "bundled", "tiny", "none"], default="auto")
    ap.add_argument("--judge-n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--attack-suite", action="store_true")
    ARGS = ap.parse_args()
    torch.set_num_threads(1)
    bench_programmatic(ARGS.n, ARGS.repeats)
    if ARGS.judge != "none":
        bench_judge(ARGS.judge, ARGS.judge_n, ARGS.max_new_tokens)
