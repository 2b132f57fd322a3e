"""The local judge: a transformers (model, tokenizer) pair, by default the bundled model, decoding its
verdicts under a grammar compiled from the verdict schema (`constrained.py`) so that every verdict parses."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from mentor.errors import JudgeError
from mentor.grade.judge import JudgeRequest
from mentor.grade.judge_io import JudgeCallError, JudgeOutput, JudgeText, Usage


class TransformersJudge:
    """A local causal LM as judge. Sample 0's first try decodes greedily (reproducible); other samples
    and retries sample at the request's temperature with a seed derived from (sample, retry), inside
    `torch.random.fork_rng` so the caller's RNG state is untouched. Greedy requests are decoded
    together, `batch_size` at a time (left-padded); sampled ones one at a time, so each keeps its own
    seed whatever else is in the call.

    `decoding`:
    - "free": plain decoding. `prefill` starts the assistant turn with the opening of the object the
      judge must write, which small models need to produce the schema at all: the request's own
      `prefill` where it sets one (the critic's `{"wrong_steps": [`), else the verdict object's
      opening. It is part of the parsed output.
    - "constrained" (default for the bundled judge): a verdict request (one that carries a schema)
      decodes under a grammar compiled from the verdict schema specialised to its rubric
      (`mentor.grade.constrained`), so every verdict parses; the grammar's forced opening replaces
      the prefill. Requests without a schema (the critic's) decode as under "free".
    - "probability": constrained, and the model's distribution over each verdict's level tokens is
      appended as a `{"level_probs": [...]}` line; the grader then scores a criterion by the expected
      level (G-Eval) instead of the sampled one.
    What is left of a request's grade deadline (`budget_s`) bounds the decode (`max_time`); a cut-off
    verdict fails to parse."""

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, *, model_name: str | None = None, prefill: bool = True,
                 batch_size: int = 8, decoding: str = "free") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if decoding not in ("free", "constrained", "probability"):
            raise JudgeError(f"unknown decoding '{decoding}'", fix="use free, constrained or probability")
        self.hf_model = model
        self.tokenizer = tokenizer
        self.model = model_name or str(getattr(getattr(model, "config", None), "_name_or_path", "") or "local")
        self.prefill = prefill
        self.batch_size = batch_size
        self.decoding = decoding
        self.usage = Usage()

    @property
    def identity(self) -> str:
        """Cache identity: a constrained and a free verdict of one model are different judges."""
        return f"{self.model}|decoding={self.decoding}"

    @classmethod
    def bundled(cls, threads: int | None = None, decoding: str = "constrained") -> TransformersJudge:
        """The bundled SmolLM2-135M-Instruct. `threads` sets torch's (process-wide) thread count; by
        default it is left alone, so a judge built inside a training run does not slow the update."""
        import torch

        from mentor.student.bundled import load_bundled

        if threads is not None:
            torch.set_num_threads(threads)
        model, tokenizer = load_bundled(torch.float32)
        return cls(model, tokenizer, model_name="SmolLM2-135M-Instruct", decoding=decoding)

    def _constrained(self, req: JudgeRequest) -> bool:
        return self.decoding != "free" and req.schema is not None and bool(req.view.criteria)

    def _head(self, req: JudgeRequest) -> str:
        if not self.prefill or self._constrained(req):
            return ""
        if req.prefill is not None:
            return req.prefill
        if req.view.criteria:
            return '{"criteria": [{"name": "' + req.view.criteria[0].name + '", "reason": "'
        return ""

    def _prompt_text(self, req: JudgeRequest) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)
        else:
            text = "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in req.messages) + "\n\nASSISTANT: "
        return text + self._head(req)

    def _pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def generate(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        outs: list[JudgeOutput | None] = [None] * len(requests)
        greedy = [i for i, r in enumerate(requests) if (r.sample == 0 and r.retry == 0) or r.temperature == 0]
        sampled = sorted(set(range(len(requests))) - set(greedy))
        # one batch per (max_new_tokens, constrained) among the greedy requests (they rarely differ)
        by_len: dict[tuple[int, bool], list[int]] = {}
        for i in greedy:
            by_len.setdefault((requests[i].max_new_tokens, self._constrained(requests[i])), []).append(i)
        for idx in by_len.values():
            for b in range(0, len(idx), self.batch_size):
                chunk = idx[b:b + self.batch_size]
                for i, out in zip(chunk, self._run([requests[i] for i in chunk], sample=False), strict=True):
                    outs[i] = out
        for i in sampled:
            outs[i] = self._run([requests[i]], sample=True)[0]
        return [o for o in outs if o is not None]

    def _grammar(self, reqs: Sequence[JudgeRequest]) -> tuple[Any, list[list[int]]]:
        """The logits processor for a batch of verdict requests, and each row's forced opening."""
        from mentor.grade.constrained import (
            GrammarLogitsProcessor,
            level_token_ids,
            matcher_for,
            verdict_schema_for,
        )

        n_vocab = int(self.hf_model.config.vocab_size)
        matchers, forced = [], []
        for r in reqs:
            crit = [(c.name, c.lo, c.hi) for c in r.view.criteria]
            # characters per token of this tokenizer on this prompt, with a margin: what the token
            # budget can write, so the grammar's longest verdict fits in it
            text = r.messages[-1]["content"] if r.messages else ""
            cpt = len(text) / max(1, len(self.tokenizer(text, add_special_tokens=False)["input_ids"]))
            budget = int(r.max_new_tokens * cpt * 0.7)
            # sentences the judge may cite: shown (not withheld) and long enough to be evidence
            quotable = [(i, s) for i, (s, w) in enumerate(zip(r.view.sentences, r.view.withheld, strict=True), 1)
                        if not w and len(s.strip()) >= 8]
            m = matcher_for(self.tokenizer, n_vocab, verdict_schema_for(crit, quotable, budget))
            ff = list(m.compute_ff_tokens())  # the opening the grammar forces: no need to decode it
            if ff:
                m.consume_tokens(ff)
            matchers.append(m)
            forced.append(ff)
        levels = sorted({lv for r in reqs for c in r.view.criteria for lv in range(c.lo, c.hi + 1)})
        lv_tokens = level_token_ids(self.tokenizer, levels) if self.decoding == "probability" else None
        proc = GrammarLogitsProcessor(matchers, n_vocab, self.tokenizer.eos_token_id, lv_tokens)
        proc.tokenizer = self.tokenizer
        return proc, forced

    def _run(self, reqs: Sequence[JudgeRequest], *, sample: bool) -> list[JudgeOutput]:
        """Decode `reqs` as one left-padded batch (all greedy, or one sampled request)."""
        import torch

        t0 = time.perf_counter()
        tok = self.tokenizer
        texts = [self._prompt_text(r) for r in reqs]
        encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        processor, forced = None, [[] for _ in reqs]
        if self._constrained(reqs[0]):
            try:
                processor, forced = self._grammar(reqs)
            except Exception as exc:  # a grammar that will not build is the grader's failure
                return [JudgeError(f"local judge could not build its verdict grammar: {exc!r}") for _ in reqs]
            encoded = [list(e) + f for e, f in zip(encoded, forced, strict=True)]
        width = max(len(e) for e in encoded)
        pad = self._pad_id()
        ids = torch.tensor([[pad] * (width - len(e)) + list(e) for e in encoded], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], dtype=torch.long)
        kwargs: dict[str, Any] = {"max_new_tokens": reqs[0].max_new_tokens, "do_sample": sample, "pad_token_id": pad}
        if sample:
            kwargs["temperature"] = reqs[0].temperature
        if processor is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([processor])
        budgets = [r.budget_s for r in reqs if r.budget_s is not None]
        if budgets:
            left = min(budgets) - (time.perf_counter() - t0)
            if left <= 0:
                return [JudgeCallError("the grade's deadline passed before the local judge ran") for _ in reqs]
            kwargs["max_time"] = left  # generation stops at the deadline; a cut-off verdict does not parse
        try:
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                if sample:
                    torch.manual_seed(1_000_003 * reqs[0].sample + reqs[0].retry)
                out = self.hf_model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        except Exception as exc:  # a crashed local model is the grader's failure
            return [JudgeError(f"local judge failed: {exc!r}") for _ in reqs]
        results: list[JudgeOutput] = []
        eos = tok.eos_token_id
        for row_i, (r, row) in enumerate(zip(reqs, out[:, width:], strict=True)):
            new = row.tolist()
            if eos is not None and eos in new:  # a finished row is padded to the batch's longest
                new = new[:new.index(eos)]
            self.usage.calls += 1
            self.usage.completion_tokens += len(new)
            text = self._head(r) + tok.decode(forced[row_i] + new, skip_special_tokens=True)
            if processor is not None and self.decoding == "probability":
                probs = [{str(k): round(v, 6) for k, v in d.items()} for d in processor.level_probs[row_i]]
                text += "\n" + json.dumps({"level_probs": probs})
            results.append(text)
        took = time.perf_counter() - t0
        self.usage.prompt_tokens += sum(len(e) for e in encoded)
        self.usage.seconds += took
        return [JudgeText(t, seconds=took) if isinstance(t, str) else t for t in results]
