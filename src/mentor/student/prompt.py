"""The one place that builds what the student sees: the task in the prompt template, with a hint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mentor.config import PromptConfig, RunConfig
from mentor.teacher.hints.base import render_hinted_prompt
from mentor.types import Hint, Task


def user_text(prompt: PromptConfig, answer_prefix: str, task_prompt: str) -> str:
    """The user turn: the task in the prompt template, which names the final-answer prefix."""
    return prompt.template.format(prompt=task_prompt, answer_prefix=answer_prefix)


def prompt_messages(prompt: PromptConfig, answer_prefix: str, task: Task, hint: Hint | None = None) -> list[dict[str, str]]:
    """The prompt as chat messages, for hosts that apply the chat template themselves (TRL): the
    system message, worked-example hints as earlier turns, then the (hinted) task."""
    text = user_text(prompt, answer_prefix, task.prompt)
    if hint is not None and hint.shots:
        history = [(user_text(prompt, answer_prefix, q), a) for q, a in hint.shots]
        return chat_messages(prompt.system, history, text)
    return chat_messages(prompt.system, (), render_hinted_prompt(text, hint) if hint is not None else text)


def chat_messages(system: str | None, history: Sequence[tuple[str, str]], user: str) -> list[dict[str, str]]:
    """System message (if any), earlier (user, assistant) exchanges, then the user turn."""
    messages = [{"role": "system", "content": system}] if system else []
    for question, answer in history:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": user})
    return messages


def prompt_ids(policy: Any, cfg: RunConfig, task: Task, hint: Hint | None = None) -> list[int]:
    """Token ids of the student's prompt: worked-example hints as earlier chat turns, other hints as
    text around the question. Training always scores under `hint=None`."""
    if hint is not None and hint.shots and cfg.prompt.chat:
        history = [(user_text(cfg.prompt, cfg.reward.answer_prefix, q), a) for q, a in hint.shots]
        return policy.render(user_text(cfg.prompt, cfg.reward.answer_prefix, task.prompt), cfg.prompt, history)
    text = user_text(cfg.prompt, cfg.reward.answer_prefix, task.prompt)
    return policy.render(render_hinted_prompt(text, hint) if hint is not None else text, cfg.prompt)
