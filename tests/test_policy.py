"""The student policy on the tiny model: shared-prompt log-probs equal a plain forward, sampled
log-probs are the sampler's own, EOS ends a completion."""

from __future__ import annotations

import pytest
import torch

from mentor.config import PromptConfig
from mentor.student.policy import HFPolicy

PROMPT = PromptConfig()


def full_forward_logprobs(policy: HFPolicy, prompt: list[int], completion: list[int],
                          temperature: float = 1.0) -> torch.Tensor:
    """The obvious reference: one forward over prompt + completion, log-softmax everywhere."""
    with torch.no_grad():
        logits = policy.model(torch.tensor([prompt + completion])).logits[0].float() / temperature
    logp = torch.log_softmax(logits, dim=-1)
    positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(completion))
    return logp[positions, torch.tensor(completion)]


def test_render_uses_the_chat_template(policy):
    ids = policy.render("Calculate 3 + 4.", PROMPT)
    text = policy.tokenizer.decode(ids)
    assert text == "<|im_start|>user\nCalculate 3 + 4.<|im_end|>\n<|im_start|>assistant\n"
    with_system = policy.tokenizer.decode(policy.render("x", PromptConfig(system="Be brief.")))
    assert with_system.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    plain = policy.tokenizer.decode(policy.render("Calculate 3 + 4.", PromptConfig(chat=False)))
    assert plain == "Calculate 3 + 4.\n"


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_completion_logprobs_equal_a_full_forward(policy, temperature):
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    completions = [[5, 17, 30], [8, 9, 10, 11, 12, 13, 14], [40], [201, 201, 3, 44, 150]]
    got = policy.completion_logprobs(prompt, completions, temperature)
    assert [g.shape for g in got] == [torch.Size([len(c)]) for c in completions]
    for c, g in zip(completions, got, strict=True):
        ref = full_forward_logprobs(policy, prompt, c, temperature)
        torch.testing.assert_close(g.detach(), ref, atol=1e-5, rtol=0)


def test_completion_logprobs_carry_gradients(policy):
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    [lp, _] = policy.completion_logprobs(prompt, [[5, 6], [7, 8, 9]])
    lp.sum().backward()
    grads = [p.grad for p in policy.model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_sampled_logprobs_match_the_policy_at_temperature_one(policy):
    torch.manual_seed(0)
    prompts = [policy.render("Calculate 3 + 4.", PROMPT), policy.render("What is 12 - 5? Think.", PROMPT)]
    assert len(prompts[0]) != len(prompts[1])  # left padding in play
    batch = [prompts[0], prompts[1], prompts[0]]
    samples = policy.sample(batch, max_new_tokens=10, temperature=1.0)
    assert len(samples) == 3
    for prompt, s in zip(batch, samples, strict=True):
        assert len(s.logprobs) == len(s.completion_ids) > 0
        assert all(lp <= 0 for lp in s.logprobs)
        [lp] = policy.completion_logprobs(prompt, [list(s.completion_ids)])
        torch.testing.assert_close(torch.tensor(s.logprobs), lp.detach(), atol=1e-4, rtol=0)
        assert s.text == policy.tokenizer.decode(list(s.completion_ids), skip_special_tokens=True)


def test_sampled_logprobs_are_under_the_tempered_distribution(policy):
    torch.manual_seed(1)
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    [s] = policy.sample([prompt], max_new_tokens=8, temperature=0.5)
    [lp] = policy.completion_logprobs(prompt, [list(s.completion_ids)], temperature=0.5)
    torch.testing.assert_close(torch.tensor(s.logprobs), lp.detach(), atol=1e-4, rtol=0)


def test_sampling_is_reproducible_under_a_seed(policy):
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    torch.manual_seed(5)
    a = policy.sample([prompt] * 3, max_new_tokens=6)
    torch.manual_seed(5)
    b = policy.sample([prompt] * 3, max_new_tokens=6)
    assert a == b
    assert len({s.completion_ids for s in a}) > 1  # G attempts of one prompt are not copies


def test_greedy_is_deterministic(policy):
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    a = policy.sample([prompt], max_new_tokens=6, greedy=True)
    b = policy.sample([prompt], max_new_tokens=6, greedy=True)
    assert a == b and len(a[0].completion_ids) == 6 and not a[0].finished


def test_eos_ends_a_completion(policy):
    """Make a token the model does emit an EOS, then check truncation and `finished` row by row."""
    prompts = [policy.render("Calculate 3 + 4.", PROMPT), policy.render("Step 1: read.", PROMPT)]
    torch.manual_seed(3)
    free = policy.sample(prompts, max_new_tokens=12)
    # a token that appears in row 0 after its first position and nowhere in row 1
    row0, row1 = free[0].completion_ids, free[1].completion_ids
    stop = next(t for t in row0[2:] if t not in row1 and t not in row0[:2])
    cut = row0.index(stop) + 1

    policy.eos_ids = policy.eos_ids | {stop}
    torch.manual_seed(3)
    ended = policy.sample(prompts, max_new_tokens=12)
    assert ended[0].completion_ids == row0[:cut]  # the EOS is kept, nothing after it
    assert ended[0].finished
    assert ended[0].logprobs == pytest.approx(free[0].logprobs[:cut], abs=1e-5)
    # the other row is untouched: the same tokens (its log-probs up to the batch shape's rounding)
    assert ended[1].completion_ids == free[1].completion_ids and ended[1].text == free[1].text
    assert ended[1].logprobs == pytest.approx(free[1].logprobs, abs=1e-5)
    assert not ended[1].finished and len(ended[1].completion_ids) == 12


def test_real_eos_is_dropped_from_the_text(policy):
    eos = policy.tokenizer.eos_token_id
    assert eos in policy.eos_ids
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    # Force the model's own EOS: give the output head a bias that always prefers it.
    head = policy.model.get_output_embeddings()
    bias = torch.zeros(head.weight.shape[0])
    bias[eos] = 1e4
    head.bias = torch.nn.Parameter(bias, requires_grad=False)
    [s] = policy.sample([prompt], max_new_tokens=5)
    assert s.completion_ids == (eos,) and s.finished and s.text == ""


def test_sync_sampler_copies_trained_weights(make_policy):
    from mentor.config import ModelConfig
    from mentor.testing import tiny_model

    model, tokenizer = tiny_model()
    bf16 = HFPolicy(model, tokenizer, ModelConfig(name="tiny", sample_dtype="bfloat16"))
    assert bf16.sampler is not bf16.model
    assert next(bf16.sampler.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        for p in bf16.model.parameters():
            p.add_(0.5)
    bf16.sync_sampler()
    for s, m in zip(bf16.sampler.parameters(), bf16.model.parameters(), strict=True):
        torch.testing.assert_close(s.float(), m, atol=0.02, rtol=0.01)
    fp32 = make_policy()
    assert fp32.sampler is fp32.model  # fp32 sampling shares the trained weights: nothing to copy


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.999])
def test_top_p_filter_matches_transformers(top_p):
    """The hand-written decoder's nucleus filter keeps exactly the tokens transformers' warper keeps."""
    from transformers.generation.logits_process import TopPLogitsWarper

    from mentor.student.policy import _top_p

    scores = torch.randn(5, 300, generator=torch.Generator().manual_seed(0)) * 3
    ours = _top_p(scores.clone(), top_p)
    theirs = TopPLogitsWarper(top_p)(None, scores.clone())
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    assert torch.equal(ours[~torch.isinf(ours)], scores[~torch.isinf(theirs)])


def test_sampled_tokens_stay_inside_the_nucleus(policy):
    torch.manual_seed(2)
    prompt = policy.render("Calculate 3 + 4.", PROMPT)
    samples = policy.sample([prompt] * 4, max_new_tokens=6, top_p=0.5)
    for s in samples:
        ids = list(s.completion_ids)
        for t in range(len(ids)):
            with torch.no_grad():
                logits = policy.model(torch.tensor([prompt + ids[:t]])).logits[0, -1].float()
            probs = torch.softmax(logits, -1)
            order = torch.argsort(probs, descending=True)
            before = probs[order].cumsum(0) - probs[order]  # mass strictly above each token
            nucleus = set(order[before < 0.5].tolist())
            assert ids[t] in nucleus
