"""Judge backends: OpenAI-compatible HTTP (MockTransport, never the network), the cache, and a tiny
random transformers model."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from mentor.grade import (
    Grader,
    JudgeCache,
    OpenAICompatibleJudge,
    TransformersJudge,
    compile_rubric,
    parse_rubric,
)
from mentor.types import Task

TASK = Task("sky", "Explain why the sky is blue.")
ATTEMPT = "Air molecules scatter blue sunlight more than red light. So the sky looks blue."
BUNDLE = compile_rubric(parse_rubric({"name": "e", "criteria": [
    {"name": "mechanism", "text": "Names the scattering mechanism.", "kind": "judge", "scale": "0/1/2"}]}))
VERDICT = json.dumps({"criteria": [{"name": "mechanism", "reason": "names it", "verdict": 2,
                                    "quotes": [{"sentence": 1, "text": "Air molecules scatter blue sunlight"}]}]})


def _server(fail_first: int = 0, status: int = 500) -> tuple[httpx.MockTransport, dict[str, Any]]:
    state: dict[str, Any] = {"calls": 0, "bodies": [], "lock": threading.Lock(), "in_flight": 0, "max_in_flight": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        with state["lock"]:
            state["calls"] += 1
            n = state["calls"]
            state["bodies"].append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        if n <= fail_first:
            return httpx.Response(status, json={"error": "boom"})
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": VERDICT}}],
                                         "usage": {"prompt_tokens": 100, "completion_tokens": 20}})

    return httpx.MockTransport(handler), state


def _judge(transport: httpx.MockTransport, **kw: Any) -> OpenAICompatibleJudge:
    return OpenAICompatibleJudge("http://judge.test/v1", "m", transport=transport, sleep=lambda s: None, **kw)


def test_retries_on_500_then_succeeds() -> None:
    transport, state = _server(fail_first=2)
    judge = _judge(transport, max_retries=3)
    g = Grader(BUNDLE, judge).grade(TASK, ATTEMPT)
    assert g.score == 1.0 and state["calls"] == 3
    assert state["bodies"][0]["model"] == "m" and state["bodies"][0]["messages"][0]["role"] == "system"
    assert judge.usage.prompt_tokens == 100


def test_gives_up_after_bounded_retries_unscorable() -> None:
    transport, state = _server(fail_first=100)
    g = Grader(BUNDLE, _judge(transport, max_retries=2)).grade(TASK, ATTEMPT)
    # 3 HTTP tries per judge call x (1 + 2 parse-level retries) judge calls
    assert g.score is None and "HTTP 500" in (g.unscorable_reason or "") and state["calls"] == 9


def test_client_error_is_not_retried() -> None:
    transport, state = _server(fail_first=100, status=400)
    b = compile_rubric(parse_rubric({**BUNDLE.content["rubric"], "judge": {"max_retries": 0}}))
    g = Grader(b, _judge(transport, max_retries=3)).grade(TASK, ATTEMPT)
    assert g.score is None and state["calls"] == 1


def test_cache_makes_second_run_free(tmp_path: Path) -> None:
    b = compile_rubric(parse_rubric({**BUNDLE.content["rubric"], "judge": {"samples": 3}}))
    items = [(Task(f"t{i}", f"Explain blue sky #{i}"), ATTEMPT) for i in range(5)]
    transport, state = _server()
    cache = JudgeCache(tmp_path / "cache.sqlite")
    first = Grader(b, _judge(transport, max_concurrency=4), cache=cache).grade_many(items)
    assert state["calls"] == 15
    cache2 = JudgeCache(tmp_path / "cache.sqlite")  # a new process would open the same file
    second = Grader(b, _judge(transport), cache=cache2).grade_many(items)
    assert state["calls"] == 15  # zero new calls
    assert [r.grade.score for r in first] == [r.grade.score for r in second]
    assert sum(r.cost["cache_hits"] for r in second) == 15
    # another model name is another cache key
    other = OpenAICompatibleJudge("http://judge.test/v1", "m2", transport=transport, sleep=lambda s: None)
    Grader(b, other, cache=cache2).grade_many(items[:1])
    assert state["calls"] == 18


def test_bounded_concurrency() -> None:
    import anyio

    state = {"now": 0, "max": 0}

    async def handler(request: httpx.Request) -> httpx.Response:  # async: the judge's client is async
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await anyio.sleep(0.02)
        state["now"] -= 1
        return httpx.Response(200, json={"choices": [{"message": {"content": VERDICT}}]})

    judge = _judge(httpx.MockTransport(handler), max_concurrency=3)
    Grader(BUNDLE, judge).grade_many([(Task(f"t{i}", "p"), ATTEMPT) for i in range(12)])
    assert 1 < state["max"] <= 3


def _tiny_model() -> tuple[Any, Any]:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.set_num_threads(1)
    torch.manual_seed(0)
    vocab = {"<unk>": 0, "<eos>": 1, **{chr(c): i + 2 for i, c in enumerate(range(32, 127))}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>")
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                      eos_token_id=1, pad_token_id=1, bos_token_id=1)
    return LlamaForCausalLM(cfg).eval(), hf_tok


def test_transformers_judge_on_tiny_random_model_is_unscorable_not_zero() -> None:
    model, tok = _tiny_model()
    judge = TransformersJudge(model, tok, model_name="tiny-random")
    b = compile_rubric(parse_rubric({**BUNDLE.content["rubric"],
                                     "judge": {"max_retries": 1, "max_new_tokens": 16}}))
    g = Grader(b, judge).grade(TASK, ATTEMPT)
    assert g.score is None and "judge failed" in (g.unscorable_reason or "")
    assert judge.usage.calls == 2 and judge.usage.completion_tokens > 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MENTOR_RUN_SLOW"), reason="loads the bundled model; set MENTOR_RUN_SLOW=1")
def test_bundled_judge_verdicts_all_parse_under_the_grammar() -> None:
    pytest.importorskip("llguidance")
    judge = TransformersJudge.bundled(decoding="constrained")
    b = compile_rubric(parse_rubric({**BUNDLE.content["rubric"], "judge": {"max_new_tokens": 128, "max_retries": 0}}))
    attempts = [ATTEMPT, "The sky is blue because the ocean reflects onto it.", "Answer: 42",
                "Blue light is scattered more by the air. Red light passes through."]
    for res in Grader(b, judge).grade_many([(TASK, a) for a in attempts]):
        reason = res.grade.unscorable_reason or ""
        # scored, or unscorable for an evidence rule; never an output that fails to parse
        assert "no JSON verdict" not in reason and "violates the schema" not in reason, reason


def _requests(n: int, *, sample: int = 0, prefill: str | None = None, tokens: int = 12) -> list[Any]:
    from mentor.grade.judge import JudgeRequest, JudgeView

    view = JudgeView(("x",), (False,), (), True)
    # prompts of different lengths, so a batch is really left-padded
    return [JudgeRequest(({"role": "user", "content": "check " + "ab" * (i + 1)},), f"h{i}", sample, 0, 0.7,
                         tokens, view, prefill=prefill) for i in range(n)]


def test_transformers_judge_batched_greedy_equals_one_at_a_time() -> None:
    model, tok = _tiny_model()
    reqs = _requests(5)
    batched = TransformersJudge(model, tok, batch_size=8).generate(reqs)
    single = TransformersJudge(model, tok, batch_size=1).generate(reqs)
    assert batched == single
    assert len(set(batched)) > 1  # the prompts differ, so do the outputs: the padding did not leak


def test_transformers_judge_continues_the_requests_prefill_and_keeps_sample_seeds() -> None:
    model, tok = _tiny_model()
    judge = TransformersJudge(model, tok)
    outs = judge.generate(_requests(2, prefill='{"wrong_steps": ['))
    assert all(isinstance(o, str) and o.startswith('{"wrong_steps": [') for o in outs)
    # a sampled request is decoded alone with its own seed: the same whatever it is batched with
    sampled = _requests(3, sample=2)
    alone = judge.generate(sampled[1:2])
    mixed = judge.generate([*_requests(2), sampled[1]])
    assert mixed[-1] == alone[0]
    assert judge.usage.calls == 2 + 1 + 3
