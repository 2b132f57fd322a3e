"""`llm`: a tutor model writes the hint from the task, a failed attempt and the reference (HiLL, arXiv 2604.00698); hints that state the answer are re-asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from mentor.errors import ConfigError
from mentor.teacher.hints.base import leaks_answer
from mentor.types import Hint, Task

LLM_HINT_TEMPLATE = """You are a tutor. A student failed the problem below. Write ONE short hint \
(at most two sentences) that helps with the next step. Do NOT state the final answer or any number \
equal to it.
Hint strength: {strength}

Problem:
{question}

Reference solution (for you only, do not copy it):
{reference}

The student's failed attempt:
<<<
{attempt}
>>>

Hint:"""


_STRENGTH = {1: "a gentle nudge about the method", 2: "name the key step the student missed"}


class LLMHinter:
    """Asks `generate(prompt) -> str` for a hint; rejects candidates that leak the answer.

    `generate` is any callable (`LLMHinter(generate=fn, ...)`); from config,
    `hints.source: {name: llm, args: {backend: ...}}` puts a judge backend behind it
    (`llm_hinter`). Up to `candidates` calls per hint; the
    first non-leaking, non-empty one wins; None if all leak. Errors from `generate` propagate: a broken
    hinter is an error, not "no hint".
    """

    name = "llm"

    def __init__(
        self,
        generate: Callable[[str], str],
        candidates: int = 3,
        levels: int = 2,
        answer_prefix: str = "Answer:",
        template: str = LLM_HINT_TEMPLATE,
        max_attempt_chars: int = 2000,
    ) -> None:
        if not callable(generate):
            raise ConfigError("llm hinter needs a callable 'generate'", fix="the loop passes the model's generate fn")
        if candidates < 1 or levels < 1:
            raise ConfigError(f"llm hinter needs candidates >= 1 and levels >= 1, got {candidates}, {levels}")
        self.generate = generate
        self.candidates = int(candidates)
        self.levels = int(levels)
        self.answer_prefix = answer_prefix
        self.template = template
        self.max_attempt_chars = int(max_attempt_chars)
        self.rejected = 0  # leaking candidates thrown away, for the report

    def max_level(self, task: Task) -> int:
        return self.levels

    def hint(
        self, task: Task, level: int, failed: Sequence[str], pool: Sequence[Task], rng: np.random.Generator
    ) -> Hint | None:
        if not 1 <= level <= self.levels:
            return None
        attempt = failed[int(rng.integers(len(failed)))] if failed else "(no attempt recorded)"
        # The attempt is the student's text: keep it short and fenced so it cannot pose as instructions.
        attempt = attempt[-self.max_attempt_chars :].replace(">>>", "> > >").replace("<<<", "< < <")
        reference = (task.solution or "").strip() or f"{self.answer_prefix} {task.answer}"
        prompt = self.template.format(
            strength=_STRENGTH.get(level, "point out the decisive step, without the result"),
            question=task.prompt,
            reference=reference,
            attempt=attempt,
        )
        for _ in range(self.candidates):
            text = self.generate(prompt).strip()
            if not text:
                continue
            if leaks_answer(text, task.answer):
                self.rejected += 1
                continue
            return Hint(level=level, kind="llm", text=f"Hint: {text}")
        return None


def llm_hinter(backend: Literal["openai", "local", "scripted"] = "local", candidates: int = 3, levels: int = 2,
               temperature: float = 0.7, max_tokens: int = 96,
               url: str | None = None, model: str | None = None, api_key_env: str | None = None,
               outputs: list[str] | None = None,
               answer_prefix: str = "Answer:") -> LLMHinter:
    """The `llm` hint source from config: a tutor model behind a judge backend ("openai": a server
    such as vLLM; "local": the bundled model; "scripted": replayed outputs, tests only). The first
    candidate of a prompt is decoded greedily, later ones are sampled at `temperature`."""
    from mentor.teacher.credit.critic import judge_backend, judge_text_generator

    if candidates < 1 or levels < 1 or max_tokens < 1 or temperature < 0:
        raise ConfigError("llm hinter: candidates, levels and max_tokens must be >= 1, "
                          "temperature >= 0.", where="hints.source.args", fix="correct the value")
    judge = judge_backend(backend, url=url, model=model, api_key_env=api_key_env, max_concurrency=8,
                          outputs=outputs, where="hints.source", role="hinter")
    generate = judge_text_generator(judge, temperature=temperature, max_tokens=max_tokens)
    return LLMHinter(generate, candidates=candidates, levels=levels, answer_prefix=answer_prefix)
