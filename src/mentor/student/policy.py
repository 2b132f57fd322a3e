"""A Hugging Face causal-LM policy: builds prompts, samples groups, scores completions.

Two copies of the weights: `model` (fp32, trained; bf16 autocast in the update where the CPU has
native bf16) and `sampler` (bf16 on such CPUs, else the fp32 model itself; refreshed after every
update). With AVX512-BF16, bf16 sampling is ~1.8x faster than fp32; without it, bf16 is emulated and
several times slower, so `sample_dtype: auto` picks fp32. The optimiser keeps full-precision weights
so small updates are not rounded away.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mentor.config import ModelConfig, PromptConfig
from mentor.student.prompt import chat_messages


@dataclass(frozen=True)
class Sample:
    completion_ids: tuple[int, ...]  # [T_i], EOS included when the model stopped
    logprobs: tuple[float, ...]  # [T_i] under the sampling distribution (after temperature)
    text: str
    finished: bool


class HFPolicy:
    def __init__(self, model: Any, tokenizer: Any, cfg: ModelConfig | None = None) -> None:
        self.cfg = cfg or ModelConfig()
        # eval mode even while training: RL log-probs and ratios must not carry dropout noise
        # (gradients flow the same in eval mode).
        self.model = model.float().eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # "auto": bf16 exactly where the CPU has it natively (the resolved choice is stored with the run)
        native = "auto" in (self.cfg.sample_dtype, self.cfg.train_autocast) and cpu_has_native_bf16()
        self.sample_dtype = self.cfg.sample_dtype if self.cfg.sample_dtype != "auto" else (
            "bfloat16" if native else "float32")
        self.autocast = native if self.cfg.train_autocast == "auto" else bool(self.cfg.train_autocast)
        if self.sample_dtype == "bfloat16":
            self.sampler = copy.deepcopy(model).to(torch.bfloat16).eval()
        else:
            self.sampler = self.model
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        gen = getattr(self.model, "generation_config", None)
        extra = getattr(gen, "eos_token_id", None)
        if isinstance(extra, int):
            ids.add(extra)
        elif isinstance(extra, list):
            ids.update(extra)
        return {i for i in ids if i is not None}

    # ---------------------------------------------------------------- prompts
    def render(self, user_text: str, prompt_cfg: PromptConfig,
               history: Sequence[tuple[str, str]] = ()) -> list[int]:
        """Token ids of the full prompt the student sees for `user_text`, after earlier
        (user, assistant) exchanges in `history` (worked examples shown as a hint)."""
        if prompt_cfg.chat and getattr(self.tokenizer, "chat_template", None):
            messages = chat_messages(prompt_cfg.system, history, user_text)
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            shots = "".join(f"{q}\n{a}\n\n" for q, a in history)
            text = shots + user_text + "\n"
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    # ---------------------------------------------------------------- sampling
    @torch.inference_mode()
    def sample(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        batch_size: int = 64,
    ) -> list[Sample]:
        """One completion per prompt (repeat a prompt G times for a group)."""
        out: list[Sample] = []
        for start in range(0, len(prompts), batch_size):
            out.extend(self._sample_batch(prompts[start : start + batch_size], max_new_tokens, temperature,
                                          top_p, greedy))
        return out

    def _sample_batch(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
                      top_p: float, greedy: bool) -> list[Sample]:
        """Decode a batch by hand rather than through `generate`: identical prompts (the G attempts of
        a group) are prefilled once and their key/value cache shared, and a row that has emitted EOS
        leaves the batch at once, so the cost follows the tokens actually produced rather than
        batch x the longest completion. Sampling draws from torch's global generator, as before."""
        model = self.sampler
        device = next(model.parameters()).device
        pad = self.tokenizer.pad_token_id
        unique: dict[tuple[int, ...], int] = {}
        row_of = [unique.setdefault(tuple(p), len(unique)) for p in prompts]  # batch row -> unique prompt
        width = max(len(p) for p in unique)
        input_ids = torch.full((len(unique), width), pad, dtype=torch.long, device=device)  # [U, W]
        attention = torch.zeros((len(unique), width), dtype=torch.long, device=device)  # [U, W]
        for i, p in enumerate(unique):  # left padding: every row's next token is at the same column
            input_ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            attention[i, width - len(p):] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # [U, W]
        decoder, head = model.get_decoder(), model.get_output_embeddings()
        cache_kwarg = _cache_kwarg(decoder)
        out = decoder(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True)
        cache = _cache_of(out)
        rows = torch.tensor(row_of, dtype=torch.long, device=device)  # [B]
        cache.reorder_cache(rows)  # the group's rows share one prefill
        hidden = out.last_hidden_state[rows, -1]  # [B, H]
        attention, positions = attention[rows], positions[rows, -1:]  # [B, W], [B, 1]

        n = len(prompts)
        tokens: list[list[int]] = [[] for _ in range(n)]
        logps: list[list[float]] = [[] for _ in range(n)]
        finished = [False] * n
        active = list(range(n))  # batch position -> original row
        eos = torch.tensor(sorted(self.eos_ids), dtype=torch.long, device=device)
        for t in range(max_new_tokens):
            scores = head(hidden).float()  # [A, V] the logits the next token is drawn from
            if greedy:
                nxt = scores.argmax(-1)
            else:
                scores = _top_p(scores / temperature, top_p)
                # One uniform draw per original row and step, whichever rows are still active, so a
                # row's sample never depends on when the others finished; inverse-CDF sampling.
                u = torch.rand(n, device=device)[torch.tensor(active, device=device)]
                cdf = torch.softmax(scores, dim=-1).cumsum(dim=-1)  # [A, V]
                nxt = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).squeeze(-1)
                nxt = nxt.clamp(max=scores.shape[-1] - 1)
            lp = torch.log_softmax(scores, dim=-1).gather(-1, nxt[:, None]).squeeze(-1)  # [A]
            done = torch.isin(nxt, eos)
            for row, tok, tok_lp, d in zip(active, nxt.tolist(), lp.tolist(), done.tolist(), strict=True):
                tokens[row].append(tok)
                logps[row].append(tok_lp)
                finished[row] = d
            if t == max_new_tokens - 1 or bool(done.all()):
                break
            if bool(done.any()):  # retire finished rows from the batch and its cache
                keep = (~done).nonzero().squeeze(-1)
                cache.reorder_cache(keep)
                nxt, attention, positions = nxt[keep], attention[keep], positions[keep]
                active = [active[j] for j in keep.tolist()]
            attention = torch.cat([attention, attention.new_ones((len(active), 1))], dim=1)
            positions = positions + 1
            out = decoder(input_ids=nxt[:, None], attention_mask=attention, position_ids=positions,
                          **{cache_kwarg: cache}, use_cache=True)
            cache = _cache_of(out)
            hidden = out.last_hidden_state[:, -1]
        return [Sample(tuple(ids), tuple(lps), self.tokenizer.decode(ids, skip_special_tokens=True), done)
                for ids, lps, done in zip(tokens, logps, finished, strict=True)]

    def sync_sampler(self) -> None:
        """Copy the trained fp32 weights into the bf16 sampling copy."""
        if self.sampler is self.model:
            return
        with torch.no_grad():
            for dst, src in zip(self.sampler.parameters(), self.model.parameters(), strict=True):
                dst.copy_(src)

    # ---------------------------------------------------------------- scoring
    def completion_logprobs(
        self, prompt: Sequence[int], completions: Sequence[Sequence[int]], temperature: float = 1.0
    ) -> list[torch.Tensor]:
        """log π_θ(o_t | prompt, o_<t) for each completion of one shared prompt, with gradients.

        The prompt is run once and its key/value cache shared by the group, and the output head is
        applied only at completion positions: no full-vocabulary log-softmax over the prompt.
        Returns one [T_i] tensor per completion.
        """
        model = self.model
        device = next(model.parameters()).device
        lengths = [len(c) for c in completions]
        width, g = max(lengths), len(completions)
        p = torch.tensor([list(prompt)], dtype=torch.long, device=device)  # [1, P]
        comp = torch.full((g, width), self.tokenizer.pad_token_id, dtype=torch.long, device=device)  # [G, T]
        for i, c in enumerate(completions):
            comp[i, : len(c)] = torch.tensor(list(c), dtype=torch.long)
        decoder, head = model.get_decoder(), model.get_output_embeddings()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            # The group shares its prompt: run it once, then let every completion attend to the same
            # (differentiable) key/value cache. Right-padded completions are masked out of the loss,
            # and causal attention keeps padding from touching earlier positions.
            pre = decoder(input_ids=p, use_cache=True)
            cache = _cache_of(pre)
            cache.batch_repeat_interleave(g)
            post = decoder(input_ids=comp, **{_cache_kwarg(decoder): cache}, use_cache=False)
            # position P-1 predicts completion token 0; completion position t-1 predicts token t
            h = torch.cat([pre.last_hidden_state[:, -1:].expand(g, -1, -1), post.last_hidden_state[:, : width - 1]],
                          dim=1)  # [G, T, H]
            logits = head(h).float() / temperature  # [G, T, V]
        logp = torch.log_softmax(logits, dim=-1).gather(-1, comp[..., None]).squeeze(-1)  # [G, T]
        return [logp[i, :n] for i, n in enumerate(lengths)]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), the case where bf16 is faster
    than fp32; without it oneDNN emulates bf16 and is several times slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without that probe: read the CPU flags
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                flags = f.read()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def _top_p(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering as transformers' TopPLogitsWarper does it: drop the least likely tokens whose
    cumulative probability stays within 1 - top_p, always keeping the most likely one."""
    if top_p >= 1.0:
        return scores
    sorted_scores, order = torch.sort(scores, descending=False)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - top_p)
    remove[..., -1] = False
    return scores.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def _cache_kwarg(decoder: Any) -> str:
    """transformers renamed the decoder's `past_key_values` argument to `cache` (5.x)."""
    import inspect

    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def load_policy(cfg: ModelConfig) -> HFPolicy:
    """The configured student: the bundled default, the tiny test model, or a local HF directory."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.name == "smollm2-135m":
        from mentor.student.bundled import load_bundled

        model, tokenizer = load_bundled()
    elif cfg.name == "tiny":
        from mentor.student.tiny import tiny_model

        model, tokenizer = tiny_model()
    else:
        from pathlib import Path

        from mentor.errors import ConfigError
        from mentor.student.bundled import load_local

        if not Path(cfg.name).is_dir():
            raise ConfigError(
                f"model '{cfg.name}' is neither a known name nor a local directory.",
                where="model.name",
                fix="use 'smollm2-135m' (bundled), 'tiny' (tests), or the path of a saved Hugging Face model",
            )
        model, tokenizer = load_local(cfg.name)
    return HFPolicy(model, tokenizer, cfg)
