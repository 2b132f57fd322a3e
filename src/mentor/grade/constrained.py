"""Grammar-constrained decoding for the local judge: every verdict the bundled model writes parses.

The grammar is compiled by llguidance (the engine behind vLLM's, SGLang's and llama.cpp's structured
outputs; one 3 MB wheel with no dependencies, where xgrammar would pull in triton) from a JSON schema
specialised to the request: the verdict schema with the rubric's criteria fixed in order (`const`
names), each verdict an `enum` of its scale's levels, quotes copied from the attempt's sentences
rather than written, and bounded string and list lengths so a small model cannot ramble past its
token budget. Key order follows the schema, so "reason" comes before "verdict" as the parser
requires.

`GrammarLogitsProcessor` is a transformers logits processor: per batch row an `LLMatcher` advanced by
the token just sampled, whose next-token bitmask is applied to the logits. A row whose grammar is
complete may only emit EOS. It also records, at each verdict position, the model's distribution over
the scale's level tokens (G-Eval's probability-weighted score, arXiv 2303.16634), read before the
mask so it is the model's own belief among the allowed levels.

llguidance is an optional extra (`pip install 'mentor-rl[judge-local]'`), imported on first use.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from mentor.errors import MissingExtraError

MAX_REASON_CHARS = 240
MAX_QUOTE_CHARS = 160
MAX_QUOTES = 2


def _llg() -> Any:
    try:
        import llguidance
        import llguidance.hf
        import llguidance.torch
    except ImportError:
        raise MissingExtraError("llguidance", "judge-local", "Constrained decoding for the local judge") from None
    return llguidance


def _quote_prefix(text: str, limit: int) -> str:
    """The sentence itself, or its opening cut at a word boundary within `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut[limit // 2:] else cut


def verdict_schema_for(criteria: Sequence[tuple[str, int, int]], quotable: Sequence[tuple[int, str]],
                       char_budget: int | None = None) -> dict[str, Any]:
    """The verdict schema for one request: (name, lo, hi) per criterion, in order. Every instance
    also satisfies `judge.VERDICT_SCHEMA`.

    Evidence is copied, not written: a quote is one of `quotable` (sentence id, shown text) — the
    sentence, or its opening — so a quote the model writes is verbatim by construction and the
    evidence check can only fail on the rules (a withheld sentence is never offered). A verdict at a
    criterion's lowest level carries no quotes; one above it carries at least one. The judge still
    chooses which sentence backs its claim; what it can no longer do is invent one.

    `char_budget` (about how many characters the token budget can write) shrinks the string limits
    so that the longest verdict the grammar allows still fits: a verdict cut off by the token limit
    would not parse, which is what the grammar is there to prevent."""
    reason_max, quote_max = MAX_REASON_CHARS, MAX_QUOTE_CHARS
    if char_budget is not None and criteria:
        # per criterion: ~60 characters of forced keys and punctuation, ~40 more per quote
        per = char_budget / len(criteria) - 60 - 40 * MAX_QUOTES
        reason_max = int(max(16, min(MAX_REASON_CHARS, per * 0.4)))
        quote_max = int(max(12, min(MAX_QUOTE_CHARS, per * 0.3)))
    options = []
    for sid, text in quotable:
        q = _quote_prefix(text, quote_max)
        if q:
            options.append({"type": "object", "properties": {"sentence": {"const": sid}, "text": {"const": q}},
                            "required": ["sentence", "text"], "additionalProperties": False})
    reason = {"type": "string", "minLength": 1, "maxLength": reason_max}
    items = []
    for name, lo, hi in criteria:
        low = {"type": "object", "properties": {
            "name": {"const": name}, "reason": reason, "verdict": {"const": lo},
            "quotes": {"type": "array", "maxItems": 0}},
            "required": ["name", "reason", "verdict", "quotes"], "additionalProperties": False}
        branches: list[dict[str, Any]] = [low]
        if options and hi > lo:
            branches.append({"type": "object", "properties": {
                "name": {"const": name}, "reason": reason, "verdict": {"enum": list(range(lo + 1, hi + 1))},
                "quotes": {"type": "array", "minItems": 1, "maxItems": MAX_QUOTES, "items": {"anyOf": options}}},
                "required": ["name", "reason", "verdict", "quotes"], "additionalProperties": False})
        items.append({"anyOf": branches} if len(branches) > 1 else low)
    return {"type": "object", "properties": {"criteria": {
        "type": "array", "prefixItems": items, "items": False, "minItems": len(items), "maxItems": len(items)}},
        "required": ["criteria"], "additionalProperties": False}


@functools.lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer: Any, n_vocab: int) -> Any:
    return _llg().hf.from_tokenizer(tokenizer, n_vocab=n_vocab)


def matcher_for(tokenizer: Any, n_vocab: int, schema: dict[str, Any]) -> Any:
    llg = _llg()
    import json

    # compact separators as in the prompt's example; no free whitespace, so a small model cannot
    # spend its budget on spaces and newlines
    grammar = llg.LLMatcher.grammar_from_json_schema(
        json.dumps(schema), defaults={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "})
    m = llg.LLMatcher(_ll_tokenizer(tokenizer, n_vocab), grammar, log_level=0)
    if m.is_error():
        raise ValueError(f"verdict grammar did not compile: {m.get_error()}")
    return m


class GrammarLogitsProcessor:
    """Masks each row's logits to what its grammar allows next; records level distributions."""

    def __init__(self, matchers: list[Any], n_vocab: int, eos_id: int,
                 level_tokens: dict[int, list[int]] | None) -> None:
        import torch

        llg = _llg()
        self.matchers = matchers
        self.eos_id = eos_id
        self.bitmask = llg.torch.allocate_token_bitmask(len(matchers), n_vocab)
        # level -> every token that writes it (with or without a leading space)
        self.level_tokens = level_tokens or {}
        flat = [(lv, t) for lv, ts in self.level_tokens.items() for t in ts if t < n_vocab]
        self._flat_levels = [lv for lv, _ in flat]
        self._level_ids = torch.tensor([t for _, t in flat], dtype=torch.long) if flat else None
        self._level_set = {t for _, t in flat}
        self.level_probs: list[list[dict[int, float]]] = [[] for _ in matchers]
        self._started = False
        self._spaces: dict[int, bool] = {}
        self.tokenizer: Any = None  # set by the caller, for `_is_space`

    def _at_verdict(self, row: Any) -> bool:
        """Does the text so far end at a verdict's value (not, say, a quote's sentence id)?"""
        if self.tokenizer is None:
            return False
        tail = self.tokenizer.decode(row[-8:].tolist()).rstrip(" ")
        return tail.endswith('"verdict":')

    def _is_space(self, tid: int) -> bool:
        if tid not in self._spaces:
            self._spaces[tid] = self.tokenizer is not None and self.tokenizer.decode([tid]).strip() == ""
        return self._spaces[tid]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        llg = _llg()
        if self._started:
            for m, tok in zip(self.matchers, input_ids[:, -1].tolist(), strict=True):
                if not m.is_stopped() and not m.is_error():
                    m.consume_token(tok)  # a refused token leaves the matcher in error: forced to EOS below
        self._started = True
        raw = scores[:, self._level_ids].clone() if self._level_ids is not None else None
        dead = []
        for i, m in enumerate(self.matchers):
            if m.is_error():
                dead.append(i)
                continue
            llg.torch.fill_next_token_bitmask(m, self.bitmask, i)
        llg.torch.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
        for i in dead:
            scores[i, :] = -math.inf
            scores[i, self.eos_id] = 0.0
        if raw is not None:
            allowed = torch.isfinite(scores[:, self._level_ids])
            n_allowed = torch.isfinite(scores).sum(dim=-1)
            for i in range(scores.shape[0]):
                k = int(allowed[i].sum())
                n = int(n_allowed[i])
                if i in dead or k == 0 or not self._at_verdict(input_ids[i]):
                    continue
                if n == k + 1:
                    # the separator's space may be written alone or glued to the digit (" 1"): take
                    # the lone space, so the level comes next as a bare digit and its distribution is
                    # read over every level at once
                    other = [t for t in torch.isfinite(scores[i]).nonzero().flatten().tolist()
                             if t not in self._level_set]
                    if len(other) == 1 and self._is_space(other[0]):
                        keep = scores[i, other[0]].clone()
                        scores[i, :] = -math.inf
                        scores[i, other[0]] = keep
                    continue
                if n != k:
                    continue
                # a verdict position: the grammar allows level tokens and nothing else
                p = torch.softmax(raw[i].masked_fill(~allowed[i], -math.inf).float(), dim=-1).tolist()
                dist: dict[int, float] = {}
                for j, lv in enumerate(self._flat_levels):
                    if bool(allowed[i][j]):
                        dist[lv] = dist.get(lv, 0.0) + p[j]
                if len(dist) >= 2:
                    self.level_probs[i].append(dist)
        return scores


@functools.lru_cache(maxsize=4)
def _digit_tokens(tokenizer: Any) -> dict[int, tuple[int, ...]]:
    """Every token that decodes to a single digit, bare or after spaces: digit -> token ids."""
    out: dict[int, list[int]] = {}
    for tid in range(len(tokenizer)):
        text = tokenizer.decode([tid]).strip()
        if len(text) == 1 and text.isdigit() and text.isascii():
            out.setdefault(int(text), []).append(tid)
    return {d: tuple(ts) for d, ts in out.items()}


def level_token_ids(tokenizer: Any, levels: Sequence[int]) -> dict[int, list[int]] | None:
    """Tokens that write each single-digit level (None when a level has two digits: no G-Eval)."""
    if any(not 0 <= lv <= 9 for lv in levels):
        return None
    digits = _digit_tokens(tokenizer)
    return {lv: list(digits.get(lv, ())) for lv in levels}
