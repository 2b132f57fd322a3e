"""Time one default GRPO step of the bundled student: 32 attempts x 48 new tokens on the CPU.

Prints the split into sampling / grading / update, and the ratio against a naive step measured in
the same process (fp32 sampling, full-sequence fp32 forward with a full-vocabulary log-softmax).

    python benchmarks/step_time.py [--steps 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch


def naive_step(policy, prompts, max_new_tokens: int) -> float:
    """The baseline: fp32 generate, then one fp32 forward over prompt+completion with logits everywhere."""
    model, tok = policy.model, policy.tokenizer
    t0 = time.perf_counter()
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    with torch.no_grad():
        seq = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, max_new_tokens=max_new_tokens,
                             min_new_tokens=max_new_tokens, top_k=0, pad_token_id=tok.pad_token_id)
    full_mask = torch.cat([mask, torch.ones_like(seq[:, width:])], dim=1)
    logits = model(input_ids=seq, attention_mask=full_mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, seq[:, 1:, None]).squeeze(-1)[:, width - 1:]
    (-logp.mean()).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def sampling_times(policy, prompts, max_new_tokens: int) -> tuple[float, float]:
    """The same attempts sampled by the policy's decoder (shared group prefill, finished rows retired)
    and by transformers' generate on the same weights, each timed once after a warm-up call."""
    pad = policy.tokenizer.pad_token_id
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1

    def generate() -> None:
        with torch.no_grad():
            policy.sampler.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=0,
                                    max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=sorted(policy.eos_ids))

    times = []
    for fn in (lambda: policy.sample(prompts, max_new_tokens=max_new_tokens), generate):
        torch.manual_seed(0)
        fn()
        torch.manual_seed(1)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times[0], times[1]


class _AlwaysSignal:
    """Give every attempt a non-zero advantage (alternating ±1 where the assigner gave none), so the
    update costs what a step full of learning signal costs: the worst case, not the near-free
    all-fail case where zero-signal groups are skipped."""

    def __init__(self, inner):
        self.inner = inner

    def assign(self, groups, ctx):
        from mentor.types import Advantages

        adv = self.inner.assign(groups, ctx)
        rows = tuple(row if any(row) else tuple((1.0 if i % 2 else -1.0) for _ in row)
                     for i, row in enumerate(adv.values))
        return Advantages(rows, adv.info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--preset", default="control", help="control (no hints) isolates the step itself")
    args = ap.parse_args()

    from mentor.config import load_config
    from mentor.train.loop import build_run, train_step

    cfg = load_config(None, ["optim.steps=1000", "eval.every=1000", "checkpoint_every=0",
                             "sampling.max_new_tokens=48", "sampling.group_size=8", "sampling.tasks_per_step=4"],
                      args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(cfg, tmp)
        run.credit = _AlwaysSignal(run.credit)
        print(f"threads {torch.get_num_threads()}  model {cfg.model.name}  "
              f"{cfg.sampling.tasks_per_step}x{cfg.sampling.group_size} attempts x {cfg.sampling.max_new_tokens} tokens")
        train_step(run, 1)  # warm-up
        totals = []
        for step in range(2, args.steps + 2):
            m = train_step(run, step)
            t = m["timings"]
            total = sum(t.values())
            totals.append(total)
            print(f"step {step}: total {total:5.2f}s  sample {t['sample']:5.2f}  grade {t['grade']:5.3f}  "
                  f"hints {t['hints']:5.2f}  credit {t['credit']:5.3f}  update {t['update']:5.2f}  "
                  f"store {t['store']:5.3f}  (trained attempts {m['update']['trained_attempts']:.0f})")
        prompts = [run.policy.render(cfg.prompt.template.format(prompt=t.prompt), cfg.prompt)
                   for t in run.pool[: cfg.sampling.tasks_per_step] for _ in range(cfg.sampling.group_size)]
        naive = naive_step(run.policy, prompts, cfg.sampling.max_new_tokens)
        ours, theirs = sampling_times(run.policy, prompts, cfg.sampling.max_new_tokens)
        run.store.close()
    print(f"numerics: sampling {run.policy.sample_dtype}, update autocast {'bf16' if run.policy.autocast else 'off'}")
    print(f"sampling {len(prompts)} attempts: Mentor's decoder {ours:.2f}s; transformers generate {theirs:.2f}s; "
          f"x{theirs / ours:.2f}")
    med = statistics.median(totals)
    print(f"median Mentor step {med:.2f}s; naive fp32 step {naive:.2f}s; speed-up x{naive / med:.2f}; "
          f"target <= 15 s: {'met' if med <= 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
