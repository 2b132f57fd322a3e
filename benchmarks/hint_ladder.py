"""How much each rung of a hint ladder helps the bundled student, before any training.

For N training tasks of the default mix, samples G attempts with no hint and with each rung, and
prints accuracy, answer-format rate, and the share of groups that are *mixed* (some pass, some
fail: the groups GRPO can learn from). This is the measurement behind the default ladder.

    python benchmarks/hint_ladder.py [--tasks 16] [--group 8] [--levels format example:1 example:3]
        [--match bucket shape answer] [--negative] [--llm local|openai --llm-url URL --llm-model NAME]

Every worked-example rung runs once per `--match` choice, so the ratios between them are measured in
one process on the same tasks: examples of the same bucket (`bucket`), of the same shape first
(`shape`, the ladder's default), or of the same shape and answer form first (`answer`: "3 - 7 ="
shown "2 - 9 = -7"). `--negative` takes only tasks whose reference answer is negative, the ones the
bundled student fails even when hinted. Accuracy is also split by the sign of the answer.

`--llm` adds a rung written by a tutor model (the `llm` hint source at its strongest level), shown
each task's first failed no-hint attempt; it prints how many candidates it threw away for stating
the answer, and a few of its hints.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--levels", nargs="+", default=["format", "example:1", "example:3"])
    ap.add_argument("--match", nargs="+", choices=["bucket", "shape", "answer"], default=["bucket", "shape"])
    ap.add_argument("--negative", action="store_true", help="only tasks whose reference answer is negative")
    ap.add_argument("--llm", choices=["local", "openai"], help="add a rung written by a tutor model")
    ap.add_argument("--llm-url", help="the tutor's OpenAI-compatible server, e.g. http://localhost:8000/v1")
    ap.add_argument("--llm-model", help="the model name the server serves")
    args = ap.parse_args()

    import tempfile

    from mentor.config import load_config
    from mentor.student.prompt import prompt_ids
    from mentor.teacher.hints import HINT_SOURCES
    from mentor.train.setup import build_run
    from mentor.types import PASS

    cfg = load_config(None, [f"sampling.temperature={args.temperature}"], "control")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(cfg, tmp)
        pool = run.teacher.pool
        prefix = cfg.reward.answer_prefix  # one prefix for the prompt, the grader and the hints
        tasks = [t for t in pool if not args.negative or (t.answer or "").startswith("-")][: args.tasks]
        negative = np.array([(t.answer or "").startswith("-") for t in tasks])
        matches = {"bucket": {"match_shape": False}, "shape": {"match_shape": True},
                   "answer": {"match_shape": True, "match_answer": True}}
        rungs: list[tuple[str, Any]] = [("no hint", [None] * len(tasks))]
        for level, name in enumerate(args.levels, start=1):
            for match in args.match if name.startswith("example") else args.match[-1:]:
                ladder = HINT_SOURCES.build("ladder", {"levels": args.levels, **matches[match]},
                                            answer_prefix=prefix)
                rng = np.random.default_rng(level)
                label = f"{name} ({match})" if name.startswith("example") else name
                rungs.append((label, [ladder.hint(t, level, [], pool, rng) for t in tasks]))
        if args.llm:
            tutor = HINT_SOURCES.build("llm", {"backend": args.llm, **(
                {"url": args.llm_url, "model": args.llm_model} if args.llm == "openai" else {})}, answer_prefix=prefix)

            def llm_hints(failed: dict[int, str]) -> list:
                t0 = time.perf_counter()
                rng = np.random.default_rng(0)
                out = [tutor.hint(t, tutor.levels, [failed[i]] if i in failed else [], pool, rng)
                       for i, t in enumerate(tasks)]
                given = [h.text for h in out if h is not None]
                print(f"llm tutor ({args.llm}): {len(given)} of {len(tasks)} tasks hinted, {tutor.rejected} "
                      f"candidates rejected for stating the answer, {time.perf_counter() - t0:.0f}s", flush=True)
                for text in given[:3]:
                    print(f"    {text[:160]!r}", flush=True)
                return out

            rungs.append((f"llm tutor ({args.llm})", llm_hints))
        base_mixed = None
        failed: dict[int, str] = {}  # each task's first failed no-hint attempt, shown to the tutor
        for name, hints in rungs:
            if callable(hints):
                hints = hints(failed)
            t0 = time.perf_counter()
            prompts = [prompt_ids(run.policy, cfg, t, h) for t, h in zip(tasks, hints, strict=True)
                       for _ in range(args.group)]
            samples = run.policy.sample(prompts, max_new_tokens=cfg.sampling.max_new_tokens,
                                        temperature=cfg.sampling.temperature)
            grades = [run.grade(tasks[i // args.group], s.text) for i, s in enumerate(samples)]
            if name == "no hint":
                for i, (s_, g) in enumerate(zip(samples, grades, strict=True)):
                    if (g.score or 0.0) < PASS:  # not full credit
                        failed.setdefault(i // args.group, s_.text)
            scores = np.array([g.score or 0.0 for g in grades]).reshape(len(tasks), args.group)
            fmt = np.mean([g.extracted is not None for g in grades])
            mixed = float(np.mean([(row.max() > row.min()) for row in scores]))
            base_mixed = mixed if base_mixed is None else base_mixed
            by_sign = "  ".join(f"{label} {scores[rows].mean():.2f}" for label, rows in
                                (("answer<0", negative), ("answer>=0", ~negative)) if rows.any())
            ratio = f"(x{mixed / base_mixed:.1f} vs no hint)" if base_mixed else ""
            print(f"{name:20s} accuracy {scores.mean():.2f} ({by_sign})  format {fmt:.2f}  mixed groups {mixed:.2f} "
                  f"{ratio}  {time.perf_counter() - t0:.0f}s", flush=True)
        run.store.close()


if __name__ == "__main__":
    main()
