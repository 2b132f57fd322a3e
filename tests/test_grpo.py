"""The GRPO update on the tiny model: which groups train, how the loss is normalised, the guided
(hinted) ratio under the no-hint prompt, clipping over several epochs, and that it learns."""

from __future__ import annotations

import pytest
import torch

from mentor.config import OptimConfig, PromptConfig
from mentor.train.grpo import TrainItem, grpo_update, shape_guided_log_ratio

NO_CLIP = OptimConfig(max_grad_norm=1e9)


def item(group, prompt, completion, adv, *, guided=False, sample_logprobs=None):
    advantages = tuple(adv for _ in completion) if isinstance(adv, float | int) else tuple(adv)
    return TrainItem(group=group, prompt_ids=tuple(prompt), completion_ids=tuple(completion),
                     advantages=tuple(float(a) for a in advantages),
                     sample_logprobs=tuple(sample_logprobs or [0.0] * len(completion)), guided=guided)


def prompts(policy):
    return (policy.render("Calculate 3 + 4.", PromptConfig()), policy.render("What is 12 - 5?", PromptConfig()))


def gradient(policy, items, cfg=NO_CLIP, **kw):
    """Run grpo_update with a zero learning rate; the gradient of the (last) pass stays in .grad."""
    opt = torch.optim.SGD(policy.model.parameters(), lr=0.0)
    metrics = grpo_update(policy, opt, items, cfg, **kw)
    return metrics, [p.grad.clone() if p.grad is not None else None for p in policy.model.parameters()]


def assert_same_grads(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            torch.testing.assert_close(x, y, atol=0, rtol=0)


def completion_logps(policy, prompt, completions, temperature=1.0):
    with torch.no_grad():
        return [lp.detach() for lp in policy.completion_logprobs(prompt, completions, temperature)]


# ------------------------------------------------------------------------------------ no signal


def test_all_zero_group_is_not_trained_on_and_does_not_dilute(policy):
    p0, p1 = prompts(policy)
    live = [item(0, p0, [5, 6, 7], 1.0), item(0, p0, [8, 9, 10, 11, 12], -1.0)]
    dead = [item(1, p1, [20, 21, 22, 23], 0.0), item(1, p1, [24, 25], 0.0)]
    m_live, g_live = gradient(policy, live)

    calls = []
    original = policy.completion_logprobs
    policy.completion_logprobs = lambda *a, **k: calls.append(a[0]) or original(*a, **k)
    m_both, g_both = gradient(policy, live + dead)
    policy.completion_logprobs = original

    assert_same_grads(g_live, g_both)
    assert m_both["loss"] == m_live["loss"] and m_both["trained_tokens"] == m_live["trained_tokens"] == 8
    assert m_both["trained_attempts"] == 2
    assert calls == [tuple(p0)]  # the dead group never even reached the model


def test_batch_without_signal_changes_nothing(policy):
    p0, _ = prompts(policy)
    before = [p.detach().clone() for p in policy.model.parameters()]
    opt = torch.optim.AdamW(policy.model.parameters(), lr=1.0)
    metrics = grpo_update(policy, opt, [item(0, p0, [5, 6], 0.0), item(0, p0, [7], 0.0)], OptimConfig())
    assert metrics["trained_attempts"] == 0 and metrics["loss"] == 0.0
    for b, p in zip(before, policy.model.parameters(), strict=True):
        assert torch.equal(b, p)


# ------------------------------------------------------------------------------------ normalisation


def test_loss_is_normalised_by_trained_tokens(policy):
    """On the first pass every ratio is 1, so the loss is -Σ_tokens A / (number of trained tokens):
    here -(3·1 + 5·(-1)) / 8 = 0.25. Per-sequence averaging would give 0."""
    p0, p1 = prompts(policy)
    items = [item(0, p0, [5, 6, 7], 1.0), item(0, p0, [8, 9, 10, 11, 12], -1.0),
             item(1, p1, [30, 31], [0.5, -0.25])]
    metrics, _ = gradient(policy, items)
    assert metrics["trained_tokens"] == 10
    assert metrics["loss"] == pytest.approx(-(3 - 5 + 0.25) / 10, abs=1e-6)
    assert metrics["mean_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["clip_frac"] == 0.0


def test_gradient_scales_with_token_count_not_sequence_count(policy):
    """Doubling one completion's tokens doubles its weight in the loss (token-level, DAPO-style)."""
    p0, _ = prompts(policy)
    a = [item(0, p0, [5, 6], 1.0)]
    b = [item(0, p0, [5, 6], 1.0), item(0, p0, [5, 6], 1.0)]  # the same tokens twice: same mean
    _, ga = gradient(policy, a)
    _, gb = gradient(policy, b)
    for x, y in zip(ga, gb, strict=True):
        if x is not None:
            torch.testing.assert_close(x, y, atol=1e-7, rtol=1e-5)


# ------------------------------------------------------------------------------------ guided ratio


def shape_guided_ratio(ratio: torch.Tensor, gamma: float) -> torch.Tensor:
    """Guide-GRPO's shaping written out directly: the oracle the loss is checked against."""
    return ratio / (ratio + gamma)


def test_shape_guided_ratio_is_bounded_and_monotone():
    r = torch.tensor([0.0, 1e-6, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3, 1e8], dtype=torch.float64)
    for gamma in (0.1, 1.0, 5.0):
        s = shape_guided_log_ratio(torch.log(r), gamma)  # what the loss computes
        torch.testing.assert_close(s, shape_guided_ratio(r, gamma))
        assert float(s.min()) >= 0.0 and float(s.max()) < 1.0
        assert torch.all(s[1:] > s[:-1])
        assert float(shape_guided_log_ratio(torch.log(torch.tensor(gamma)), gamma)) == pytest.approx(0.5)
    assert float(shape_guided_log_ratio(torch.log(torch.tensor(0.0)), 1.0)) == 0.0


def test_guided_loss_uses_the_no_hint_prompt_and_the_sampling_logprobs(policy):
    """Guided tokens: r = π_θ(o | no-hint prompt) / π_old(o | hinted prompt), shaped r/(r+γ) with a
    fixed γ. The expected loss is recomputed here from that definition."""
    plain, hinted = prompts(policy)  # the second stands in for the hinted prompt
    comps = [[5, 6, 7, 8], [9, 10]]
    advs = [1.0, 0.5]
    sampled = completion_logps(policy, hinted, comps)  # what the sampler saw, with the hint
    items = [item(0, plain, c, a, guided=True, sample_logprobs=[round(x, 6) for x in s.tolist()])
             for c, a, s in zip(comps, advs, sampled, strict=True)]
    gamma = 0.7
    metrics, _ = gradient(policy, items, gamma=gamma)

    def expected_loss(context):
        now = completion_logps(policy, context, comps)
        ratios = [torch.exp(n - torch.tensor(it.sample_logprobs)) for n, it in zip(now, items, strict=True)]
        total = sum(float((shape_guided_ratio(r, gamma) * a).sum()) for r, a in zip(ratios, advs, strict=True))
        return -total / 6

    loss = expected_loss(plain)
    assert metrics["guided_tokens"] == 6
    assert metrics["guided_gamma"] == pytest.approx(gamma, rel=1e-5)
    assert metrics["loss"] == pytest.approx(loss, abs=1e-6)
    wrong = expected_loss(hinted)  # under the hinted prompt every ratio would be ~1
    assert abs(metrics["loss"] - wrong) > 1e-3

    # the sampling log-probs enter the ratio: change one and the loss changes
    first = items[0]
    shifted = [TrainItem(**{**first.__dict__, "sample_logprobs": (first.sample_logprobs[0] - 1.0,
                                                                  *first.sample_logprobs[1:])}), items[1]]
    metrics2, _ = gradient(policy, shifted, gamma=gamma)
    assert abs(metrics2["loss"] - metrics["loss"]) > 1e-4


def test_a_guided_attempt_trains_only_where_it_beat_its_group(policy):
    """A guided attempt's negative credit is dropped: a failed hinted attempt adds nothing to the
    update (and is not counted in the normalisation); its positive tokens still train."""
    plain, _ = prompts(policy)
    own = [item(0, plain, [5, 6, 7], 1.0), item(0, plain, [8, 9], -1.0)]
    m_own, g_own = gradient(policy, own)
    m_failed, g_failed = gradient(policy, [*own, item(0, plain, [10, 11, 12, 13], -1.0, guided=True)])
    assert m_failed["trained_tokens"] == m_own["trained_tokens"] == 5
    assert_same_grads(g_own, g_failed)

    mixed = item(0, plain, [10, 11, 12, 13], [0.5, -0.5, 0.5, -0.5], guided=True)
    m_mixed, g_mixed = gradient(policy, [*own, mixed])
    _, g_pos = gradient(policy, [*own, item(0, plain, [10, 11, 12, 13], [0.5, 0.0, 0.5, 0.0], guided=True)])
    assert m_mixed["guided_tokens"] == 4
    assert_same_grads(g_mixed, g_pos)


def test_guided_gradient_differs_from_one_under_the_hinted_prompt(policy):
    plain, hinted = prompts(policy)
    comp = [5, 6, 7, 8]
    sampled = completion_logps(policy, hinted, [comp])[0].tolist()
    _, g_plain = gradient(policy, [item(0, plain, comp, 1.0, guided=True, sample_logprobs=sampled)])
    _, g_hinted = gradient(policy, [item(0, hinted, comp, 1.0, guided=True, sample_logprobs=sampled)])
    diff = sum(float((a - b).abs().sum()) for a, b in zip(g_plain, g_hinted, strict=True) if a is not None)
    assert diff > 1e-6


def test_guided_ratio_is_not_clipped(policy):
    """A guided token whose no-hint probability is far above the hinted one keeps its (shaped) ratio."""
    plain, _ = prompts(policy)
    comp = [5, 6, 7]
    now = completion_logps(policy, plain, [comp])[0]
    items = [item(0, plain, comp, 1.0, guided=True, sample_logprobs=(now - 2.0).tolist())]  # r = e² ≫ 1 + ε
    metrics, _ = gradient(policy, items, cfg=OptimConfig(clip_eps=0.2, max_grad_norm=1e9))
    assert metrics["clip_frac"] == 0.0
    assert metrics["mean_ratio"] == pytest.approx(float(torch.exp(torch.tensor(2.0))), rel=1e-4)


# ------------------------------------------------------------------------------------ epochs, clipping, KL


def test_several_epochs_clip_and_report_it(make_policy):
    policy = make_policy()
    p0, _ = prompts(policy)
    items = [item(0, p0, [5, 6, 7, 8], 1.0), item(0, p0, [9, 10, 11], -1.0)]
    one = grpo_update(policy, torch.optim.AdamW(policy.model.parameters(), lr=0.05), items,
                      OptimConfig(epochs=1, clip_eps=0.05))
    assert one["clip_frac"] == 0.0  # first pass: on-policy, every ratio 1

    policy = make_policy()
    three = grpo_update(policy, torch.optim.AdamW(policy.model.parameters(), lr=0.05), items,
                        OptimConfig(epochs=3, clip_eps=0.05))
    assert 0.0 < three["clip_frac"] <= 1.0
    assert three["mean_ratio"] != pytest.approx(1.0, abs=1e-3)


def test_kl_to_the_reference_adds_the_k3_estimate(make_policy):
    policy, reference = make_policy(0), make_policy(1)
    p0, _ = prompts(policy)
    comps = [[5, 6, 7], [8, 9]]
    items = [item(0, p0, comps[0], 1.0), item(0, p0, comps[1], -1.0)]
    base, _ = gradient(policy, items)
    with_kl, _ = gradient(policy, items, cfg=OptimConfig(kl_coef=0.5, max_grad_norm=1e9), reference=reference)
    now, ref = completion_logps(policy, p0, comps), completion_logps(reference, p0, comps)
    k3 = sum(float((torch.exp(r - n) - (r - n) - 1).sum()) for n, r in zip(now, ref, strict=True))
    assert k3 > 0
    assert with_kl["loss"] - base["loss"] == pytest.approx(0.5 * k3 / 5, rel=1e-4)

    same, _ = gradient(policy, items, cfg=OptimConfig(kl_coef=0.5, max_grad_norm=1e9), reference=make_policy(0))
    assert same["loss"] == pytest.approx(base["loss"], abs=1e-6)  # KL to itself is 0


def test_gradient_is_clipped_to_max_grad_norm(policy):
    p0, _ = prompts(policy)
    items = [item(0, p0, [5, 6, 7], 1.0), item(0, p0, [8, 9], -1.0)]
    metrics, grads = gradient(policy, items, cfg=OptimConfig(max_grad_norm=1e-3))
    assert metrics["grad_norm"] > 1e-3  # reported before clipping
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads if g is not None]))
    assert float(total) == pytest.approx(1e-3, rel=1e-3)


# ------------------------------------------------------------------------------------ it learns


def test_positive_advantage_raises_that_completions_logprob(policy):
    p0, _ = prompts(policy)
    good, bad = [5, 17, 30, 44], [8, 9, 10]
    items = [item(0, p0, good, 1.0), item(0, p0, bad, -1.0)]
    before = [float(lp.sum()) for lp in completion_logps(policy, p0, [good, bad])]
    opt = torch.optim.AdamW(policy.model.parameters(), lr=1e-2)
    for _ in range(4):
        grpo_update(policy, opt, items, OptimConfig())
    after = [float(lp.sum()) for lp in completion_logps(policy, p0, [good, bad])]
    assert after[0] > before[0] + 0.1
    assert after[0] - after[1] > before[0] - before[1] + 0.1  # and more so than the one with A < 0
