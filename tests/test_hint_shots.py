"""Worked-example hints as chat turns, configurable ladder rungs, and how guided tokens are weighted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mentor.config import OptimConfig, load_config
from mentor.errors import ConfigError
from mentor.student.prompt import prompt_ids
from mentor.teacher.hints import HINT_SOURCES
from mentor.testing import toy_tasks
from mentor.train.grpo import TrainItem, grpo_update, shape_guided_log_ratio


def build_hint_source(name: str, args: dict):
    return HINT_SOURCES.build(name, args, answer_prefix="Answer:")


def test_ladder_rungs_are_configurable_and_examples_come_as_shots() -> None:
    pool = toy_tasks(30)
    task = pool[0]
    ladder = build_hint_source("ladder", {"levels": ["example:1", "example:3"]})
    assert ladder.max_level(task) == 2
    one = ladder.hint(task, 1, [], pool, np.random.default_rng(0))
    three = ladder.hint(task, 2, [], pool, np.random.default_rng(0))
    assert one is not None and three is not None
    assert (one.level, one.kind, len(one.shots)) == (1, "example", 1)
    assert (three.level, three.kind, len(three.shots)) == (2, "example", 3)
    prompts = [q for q, _ in three.shots]
    assert task.prompt not in prompts and len(set(prompts)) == 3
    for q, a in three.shots:  # each worked answer ends with the answer line of its own task
        ex = next(t for t in pool if t.prompt == q)
        assert a.rstrip().endswith(f"Answer: {ex.answer}")
    assert ladder.hint(task, 3, [], pool, np.random.default_rng(0)) is None


def test_default_ladder_keeps_format_example_prefix_order() -> None:
    pool = toy_tasks(10)
    ladder = build_hint_source("ladder", {})
    kinds = [ladder.hint(pool[0], lvl, [], pool, np.random.default_rng(0)).kind
             for lvl in range(1, ladder.max_level(pool[0]) + 1)]
    assert kinds[:2] == ["format", "example"] and set(kinds[2:]) == {"prefix"}


@pytest.mark.parametrize("bad", ["exmple", "example:0", "format:2", "prefix:x"])
def test_unknown_ladder_rung_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="levels"):
        build_hint_source("ladder", {"levels": ["example", bad]})


def test_shots_render_as_earlier_chat_turns(policy) -> None:
    cfg = load_config(None, [], "smoke")
    pool = toy_tasks(10)
    hint = build_hint_source("ladder", {"levels": ["example:2"]}).hint(pool[0], 1, [], pool, np.random.default_rng(1))
    text = policy.tokenizer.decode(prompt_ids(policy, cfg, pool[0], hint))
    plain = policy.tokenizer.decode(prompt_ids(policy, cfg, pool[0], None))
    # two worked exchanges, then the task itself as the last user turn, then the generation prompt
    assert text.count("<|im_start|>assistant") == 3
    for q, a in hint.shots:
        assert text.index(q) < text.index(a) < text.rindex(pool[0].prompt)
    assert text.endswith(plain[plain.index(pool[0].prompt):])
    assert "<|im_start|>assistant" in plain and plain.count("<|im_start|>assistant") == 1


def test_guided_shaping_forms_agree_and_stay_bounded() -> None:
    log_r = torch.tensor([-30.0, -2.0, 0.0, 2.0, 100.0])
    stable = shape_guided_log_ratio(log_r, 1.5)
    assert torch.all((stable >= 0) & (stable <= 1)) and torch.isfinite(stable).all()
    r = torch.exp(log_r)
    direct = r / (r + 1.5)  # the shaping written out
    assert torch.allclose(stable[:4], direct[:4], atol=1e-6)
    assert torch.isnan(direct[4])  # exp(100) overflows float32: inf/inf; the sigmoid form does not


def _item(policy, guided: bool) -> TrainItem:
    prompt = tuple(policy.tokenizer("Calculate 1 + 2.").input_ids)
    completion = tuple(policy.tokenizer(" Answer: 3").input_ids)
    return TrainItem(group=0, prompt_ids=prompt, completion_ids=completion, advantages=(1.0,) * len(completion),
                     sample_logprobs=(-0.5,) * len(completion), guided=guided)


def _grad_after(make_policy, items) -> torch.Tensor:
    pol = make_policy()
    opt = torch.optim.SGD(pol.model.parameters(), lr=0.0)  # lr 0: we only read the gradient
    grpo_update(pol, opt, items, OptimConfig(max_grad_norm=1e9))
    return pol.model.get_input_embeddings().weight.grad.clone()


def test_guided_gradient_is_weaker_than_the_on_policy_one(make_policy) -> None:
    pol = make_policy()
    on_policy = _grad_after(make_policy, [_item(pol, guided=False)])
    guide = _grad_after(make_policy, [_item(pol, guided=True)])
    # r/(r+γ) has derivative γr/(r+γ)² ≤ 1/4 in log r: the shaped gradient is strictly smaller
    assert guide.norm() < 0.26 * on_policy.norm()
