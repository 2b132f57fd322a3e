"""Fakes shipped for users' tests (and ours): a tiny random model with an offline tokenizer, a fake
policy, toy tasks. Everything here runs offline in well under a second.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from mentor.student.tiny import CHAT_TEMPLATE, tiny_model, tiny_tokenizer
from mentor.types import Task

__all__ = ["CHAT_TEMPLATE", "FakePolicy", "tiny_model", "tiny_tokenizer", "toy_tasks"]


def toy_tasks(n: int = 20, seed: int = 0, prefix: str = "toy") -> list[Task]:
    """Small addition tasks with worked solutions, verified by the 'math' verifier."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        out.append(
            Task(
                id=f"{prefix}/{i}",
                prompt=f"Calculate {a} + {b}.",
                answer=str(a + b),
                solution=f"We add {a} and {b}.\n{a} + {b} = {a + b}.\nAnswer: {a + b}",
                skills=("addition",),
                level=0 if a + b < 10 else 1,
                source="toy",
                verifier="math",
            )
        )
    return out


class FakePolicy:
    """A policy that answers from a script: `respond(task_prompt, index) -> text`.

    For testing graders, selectors and hint logic without a model. Token ids are the characters'
    code points, log-probabilities a constant.
    """

    def __init__(self, respond: Callable[[str, int], str]) -> None:
        self.respond = respond
        self.calls = 0

    def sample_texts(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for i, prompt in enumerate(prompts):
            out.append(self.respond(prompt, i))
            self.calls += 1
        return out
