"""Time one default GRPO step of the bundled student: 32 attempts x 48 new tokens on the CPU.

Prints the split into sampling / grading / update, the ratio against a naive step measured in the
same process (fp32 sampling, full-sequence fp32 forward with a full-vocabulary log-softmax), and the
ratio against TRL's GRPOTrainer on the same work, in the same process: the same initial weights, the
same 4 prompts x 8 completions x up to 48 new tokens, the same thread count, a reward that gives every
group a signal (so neither side skips its update), no KL reference (Mentor's default), one update per
generation, activation checkpointing off (TRL's default is on: slower, to save GPU memory). TRL gets bf16
mixed precision exactly when Mentor's update autocasts to bf16.

    python benchmarks/step_time.py [--steps 3] [--model smollm2-135m] [--trl-steps 3 | --no-trl] [--trl-bf16 off]

TRL is the `[trl]` extra: pip install 'mentor-rl[trl]'.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import tempfile
import time
from pathlib import Path

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


def trl_step_times(model, tokenizer, prompts: list[str], *, steps: int, group_size: int, max_new_tokens: int,
                   lr: float, temperature: float, threads: int, bf16: bool) -> list[float]:
    """Seconds per GRPOTrainer step (generation, rewards and update) on `prompts` (one group each,
    `len(prompts)` groups a step), the first step excluded as warm-up."""
    try:
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        raise SystemExit("the TRL comparison needs the [trl] extra: pip install 'mentor-rl[trl]' (or pass --no-trl)") from None

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.t0 = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)

    def alternate(completions, **kw):
        # 0, 1, 0, 1, ... inside every group: each group is mixed, so every completion has an advantage
        return [float(i % 2) for i in range(len(completions))]

    per_step = len(prompts)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts * (steps + 1)])
    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            # one optimiser step over all per_step x group_size completions, generated in one batch, the
            # loss taken one group at a time (as Mentor's update does): full-vocabulary logits of 32
            # sequences at once took 10 GB and were killed for memory
            output_dir=out, per_device_train_batch_size=group_size, gradient_accumulation_steps=per_step,
            steps_per_generation=per_step, num_generations=group_size,
            max_completion_length=max_new_tokens, max_steps=steps + 1, learning_rate=lr, temperature=temperature,
            top_k=0, top_p=1.0, beta=0.0, num_iterations=1, shuffle_dataset=False, use_cpu=True, bf16=bf16,
            report_to="none", save_strategy="no", logging_steps=10_000, disable_dropout=True, seed=0,
            dataloader_num_workers=0,
            # TRL turns activation checkpointing on by default (GPU memory); off, it is faster on this work
            gradient_checkpointing=False,
        )
        torch.set_num_threads(threads)
        trainer = GRPOTrainer(model=model, reward_funcs=alternate, args=args, train_dataset=data,
                              processing_class=tokenizer, callbacks=[timer])
        trainer.train()
    return timer.times[1:]


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise), so TRL's phase does not sit
    on top of Mentor's high-water mark."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(name).malloc_trim(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--preset", default="control", help="control (no hints) isolates the step itself")
    ap.add_argument("--model", default=None, help="model.name (default: the config's, the bundled smollm2-135m)")
    ap.add_argument("--trl-steps", type=int, default=None, help="GRPOTrainer steps timed (default: --steps)")
    ap.add_argument("--no-trl", action="store_true", help="skip the TRL comparison")
    ap.add_argument("--trl-bf16", choices=["auto", "on", "off"], default="auto",
                    help="TRL's bf16 mixed precision; auto: on exactly when Mentor's update autocasts to bf16")
    ap.add_argument("--skip-naive", action="store_true", help="skip the naive step and the sampler comparison")
    args = ap.parse_args()

    from mentor.config import load_config
    from mentor.student.prompt import prompt_ids, user_text
    from mentor.train.loop import train_step
    from mentor.train.setup import build_run

    cfg = load_config(None, ["optim.steps=1000", "eval.every=1000", "checkpoint_every=0",
                             "sampling.max_new_tokens=48", "sampling.group_size=8", "sampling.tasks_per_step=4",
                             *([f"model.name={args.model}"] if args.model else [])],
                      args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        run = build_run(cfg, tmp)
        # TRL starts from the same weights: kept on disk, not as a second model in memory
        initial = Path(tmp) / "initial.pt"
        torch.save(run.policy.model.state_dict(), initial)
        threads = torch.get_num_threads()
        run.teacher.credit = _AlwaysSignal(run.teacher.credit)
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
        prompts = [prompt_ids(run.policy, cfg, t)
                   for t in run.teacher.pool[: cfg.sampling.tasks_per_step] for _ in range(cfg.sampling.group_size)]
        naive = ours = theirs = None
        if not args.skip_naive:
            naive = naive_step(run.policy, prompts, cfg.sampling.max_new_tokens)
            ours, theirs = sampling_times(run.policy, prompts, cfg.sampling.max_new_tokens)
        run.store.close()
        sample_dtype, autocast = run.policy.sample_dtype, bool(run.policy.autocast)
        texts = [user_text(cfg.prompt, cfg.reward.answer_prefix, t.prompt)
                 for t in run.teacher.pool[: cfg.sampling.tasks_per_step]]
        tokenizer, model = run.policy.tokenizer, run.policy.model
        del run  # Mentor's sampler copy, optimiser state and graphs leave memory before TRL's arrive
        gc.collect()
        _release_freed_memory()
        trl_times: list[float] = []
        if not args.no_trl:
            model.load_state_dict(torch.load(initial, weights_only=True))
            model.zero_grad(set_to_none=True)
            trl_times = trl_step_times(
                model, tokenizer, texts, steps=args.trl_steps or args.steps, group_size=cfg.sampling.group_size,
                max_new_tokens=cfg.sampling.max_new_tokens, lr=cfg.optim.lr, temperature=cfg.sampling.temperature,
                threads=threads, bf16=autocast if args.trl_bf16 == "auto" else args.trl_bf16 == "on")
    print(f"numerics: sampling {sample_dtype}, update autocast {'bf16' if autocast else 'off'}")
    med = statistics.median(totals)
    if naive is not None and ours is not None and theirs is not None:
        print(f"sampling {len(prompts)} attempts: Mentor's decoder {ours:.2f}s; transformers generate {theirs:.2f}s; "
              f"x{theirs / ours:.2f}")
        print(f"median Mentor step {med:.2f}s; naive fp32 step {naive:.2f}s; speed-up x{naive / med:.2f}; "
              f"target <= 15 s: {'met' if med <= 15 else 'NOT met'}")
    if trl_times:
        import trl

        trl_med = statistics.median(trl_times)
        print(f"TRL {trl.__version__} GRPOTrainer steps: {', '.join(f'{t:.2f}s' for t in trl_times)} "
              f"(threads {threads}, bf16 {args.trl_bf16 if args.trl_bf16 != 'auto' else 'on' if autocast else 'off'})")
        print(f"median Mentor step {med:.2f}s; median TRL GRPOTrainer step {trl_med:.2f}s; "
              f"Mentor is x{trl_med / med:.2f} faster (target >= 1.5: {'met' if trl_med / med >= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
