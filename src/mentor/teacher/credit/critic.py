"""The critic: a judge that lists an attempt's wrong steps with verified quotes (for `critique` credit and critique step rewards)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

from mentor.errors import ConfigError, JudgeError
from mentor.grade.backends import JudgeBackend, JudgeCache, JudgeRequest, ScriptedJudge, make_judge
from mentor.grade.defences import neutralise
from mentor.grade.judge import JudgeView, _json_objects, messages_hash
from mentor.teacher.credit.base import CritiqueResult, StepFlag
from mentor.types import StepSpan, Task

CriticFn = Callable[[Task, str, list[StepSpan]], list[CritiqueResult]]


@functools.cache
def _template() -> str:
    return resources.files("mentor.teacher.credit").joinpath("critic_prompt.txt").read_text(encoding="utf-8")


def _shown(text: str) -> str:
    # The grading defences' neutralisation, plus our own step markers. A quote of a neutralised
    # character then fails verification against the raw step: a lost flag, never a false penalty.
    return neutralise(text).replace("[Step ", "(Step ").strip() or "(empty)"


def _reference(task: Task) -> str:
    parts = [p for p in (task.answer, task.solution) if p]
    if not parts:
        return ""
    return "\nReference (for you only; the attempt may word it differently):\n" + "\n".join(parts) + "\n"


def render_critic_messages(task: Task, steps: Sequence[str], *, show_reference: bool = True,
                           ) -> tuple[dict[str, str], ...]:
    """The critic's chat messages: the task, optionally the reference, and the attempt as numbered
    steps inside a fence whose digest the attempt cannot contain (so it cannot close it early)."""
    system_t, user_t = _template().split("=== USER ===\n", 1)
    body = "\n\n".join(f"[Step {i}]\n{s}" for i, s in enumerate(steps, 1))
    fence = "<<<ATTEMPT " + hashlib.sha256(body.encode()).hexdigest()[:12] + ">>>"
    values = {"task": task.prompt, "reference": _reference(task) if show_reference else "",
              "fence": fence, "steps": body}
    # Template.substitute is a single pass: "$" in the attempt is never expanded
    return ({"role": "system", "content": Template(system_t).substitute(values).strip()},
            {"role": "user", "content": Template(user_t).substitute(values).strip()})


def _step_number(value: Any) -> int:
    if isinstance(value, bool):
        raise JudgeError(f"critique: step number {value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise JudgeError(f"critique: step number {value!r} is not an integer")


# the opening a local critic is made to continue: a 135M model writes no JSON without it
CRITIQUE_PREFILL = '{"wrong_steps": ['


def parse_critique(raw: str) -> CritiqueResult:
    """The last JSON object with a `wrong_steps` list binds (a judge that drafts or echoes an earlier
    one is held to its final answer); steps are numbered from 1 in the prompt and from 0 in a
    `StepFlag`. `JudgeError` when there is no such object or an entry lacks a step or a quote."""
    found = [o for o in _json_objects(raw) if isinstance(o, dict) and "wrong_steps" in o]
    if not found:
        raise JudgeError("critique holds no JSON object with 'wrong_steps'", fix="see the critic's raw output")
    items = found[-1]["wrong_steps"]
    if not isinstance(items, list):
        raise JudgeError("critique: 'wrong_steps' is not a list")
    flags = []
    for item in items:
        if not isinstance(item, dict) or "step" not in item or not isinstance(item.get("quote"), str):
            raise JudgeError(f"critique: entry {item!r} needs a step number and a quote")
        flags.append(StepFlag(_step_number(item["step"]) - 1, item["quote"]))
    return CritiqueResult(tuple(flags), raw)


@dataclass
class JudgeCritic:
    """k critiques of an attempt, one judge call each, sent to the backend as one batch.

    The k requests differ in `sample`, which every backend turns into a distinct sampling seed (sample
    0 decodes greedily, the others sample at `temperature`), so they are k real votes, and a cache
    keyed by sample never serves one vote for another. A critique that does not parse is re-asked up
    to `max_retries` times (a new seed each time); if one still fails, the call raises `JudgeError`
    for the whole attempt: combining k−1 critiques by intersection would flag more than asked for.

    `cache` (optional) reuses valid outputs for identical (prompt, attempt, sample): the loop gives
    none, as freshly sampled attempts rarely repeat and a resume replays stored advantages instead of
    asking again. `calls` counts backend calls (every try), for the step's cost record.
    """

    backend: JudgeBackend
    k: int = 4
    temperature: float = 0.7
    max_tokens: int = 512
    max_retries: int = 2
    show_reference: bool = True
    cache: JudgeCache | None = None
    calls: int = 0
    failures: int = 0  # attempts whose critiques could not all be parsed

    def __call__(self, task: Task, text: str, spans: list[StepSpan]) -> list[CritiqueResult]:
        # `text` is the spans' text joined; the critic is shown (and quotes) the steps themselves
        if not spans:
            return []  # nothing that could be flagged: no call spent
        shown = tuple(_shown(s.text) for s in spans)
        messages = render_critic_messages(task, shown, show_reference=self.show_reference)
        view = JudgeView(shown, (False,) * len(shown), (), True)
        h = messages_hash(messages)
        done: dict[int, CritiqueResult] = {}
        pending = []
        for i in range(self.k):
            req = JudgeRequest(messages, h, i, 0, self.temperature, self.max_tokens, view, prefill=CRITIQUE_PREFILL)
            hit = self._cached(req)
            if hit is None:
                pending.append(req)
            else:
                done[i] = hit
        errors = self._ask(pending, done)
        if errors:
            self.failures += 1
            first = min(errors)
            raise JudgeError(f"critic: {len(errors)} of {self.k} critiques failed after "
                             f"{self.max_retries + 1} tries (critique {first + 1}: {errors[first]})",
                             fix="check the critic's model and max_tokens; the outcome reward still stands")
        return [done[i] for i in range(self.k)]

    def _ask(self, pending: list[JudgeRequest], done: dict[int, CritiqueResult]) -> dict[int, str]:
        """Fill `done`; returns the error of each sample still unparsed after every retry."""
        errors: dict[int, str] = {}
        for retry in range(self.max_retries + 1):
            if not pending:
                break
            reqs = [dataclasses.replace(r, retry=retry) for r in pending]
            outputs = self.backend.generate(reqs)
            self.calls += len(reqs)
            pending = []
            for req, out in zip(reqs, outputs, strict=True):
                try:
                    if isinstance(out, JudgeError):
                        raise out
                    done[req.sample] = parse_critique(out)
                except JudgeError as exc:
                    errors[req.sample] = exc.message
                    pending.append(req)
                    continue
                errors.pop(req.sample, None)
                if self.cache is not None:
                    self.cache.put(self._key(req), out)
        return errors

    def _key(self, req: JudgeRequest) -> tuple[str, str, str, str, int]:
        prompt = hashlib.sha256(_template().encode()).hexdigest()[:16]
        # the settings are part of the key: another temperature or length is another critique
        return (f"critic:{prompt}:t{self.temperature}:m{self.max_tokens}", self.backend.name,
                self.backend.model, req.attempt_hash, req.sample)

    def _cached(self, req: JudgeRequest) -> CritiqueResult | None:
        raw = self.cache.get(self._key(req)) if self.cache is not None else None
        if raw is None:
            return None
        try:
            return parse_critique(raw)
        except JudgeError:  # written under other parse rules: ask again
            return None


# ----------------------------------------------------------------------------------------------
# Judge backends for a critic or a tutor, from config. An API key is never written in the config (it
# is stored with the run): `api_key_env` names the environment variable that holds it.


def judge_backend(kind: str, *, url: str | None, model: str | None, api_key_env: str | None,
                  max_concurrency: int, outputs: list[str] | None, where: str, role: str) -> JudgeBackend:
    """The backend a critic or a hinter (`role`, named in errors) asks: "openai" (an OpenAI-compatible
    server such as vLLM), "local" (the bundled model) or "scripted" (canned `outputs` replayed in
    order: tests and dry runs only; a run with it learns nothing real)."""
    if kind != "openai" and any(v is not None for v in (url, model, api_key_env)):
        raise ConfigError(f"url, model and api_key_env apply only to backend openai, not {kind}.",
                          where=f"{where}.args", fix="drop them, or use backend openai")
    if kind != "scripted" and outputs is not None:
        raise ConfigError(f"outputs apply only to the scripted {role}.", where=f"{where}.args.outputs",
                          fix="drop outputs, or use the scripted backend (tests only)")
    if kind == "scripted":
        if not outputs:
            raise ConfigError(f"the scripted {role} needs a non-empty list of output strings.",
                              where=f"{where}.args.outputs", fix="set outputs: a list of the replies to replay, in order")
        return ScriptedJudge.from_outputs(outputs, model=f"scripted-{role}")
    if kind == "local":
        return make_judge("local")
    for key, value in (("url", url), ("model", model)):
        if not value:
            raise ConfigError(f"the openai {role} needs a server {key}.", where=f"{where}.args.{key}",
                              fix="set url: http://HOST:PORT/v1 and model: the name the server serves")
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ConfigError(f"environment variable {api_key_env} (the {role}'s API key) is not set.",
                              where=f"{where}.args.api_key_env",
                              fix=f"export {api_key_env}=..., or drop api_key_env for a server without a key")
    return make_judge("openai", url=url, model=model, api_key=api_key, max_concurrency=max_concurrency)


JUDGE_KINDS = ("openai", "local", "scripted")


def critic_backend(kind: str) -> Callable[..., JudgeCritic]:
    """The factory the `credit.critic` registry entry `kind` builds a critic with."""

    def build(k: int = 4, temperature: float = 0.7, max_tokens: int = 512, max_retries: int = 2,
              show_reference: bool = True, url: str | None = None, model: str | None = None,
              api_key_env: str | None = None, max_concurrency: int = 8,
              outputs: list[str] | None = None) -> JudgeCritic:
        if k < 1 or max_tokens < 1 or max_retries < 0 or temperature < 0 or max_concurrency < 1:
            raise ConfigError("critic: k, max_tokens and max_concurrency must be >= 1, max_retries and "
                              "temperature >= 0.", where="credit.critic.args", fix="correct the value")
        backend = judge_backend(kind, url=url, model=model, api_key_env=api_key_env, max_concurrency=max_concurrency,
                                outputs=outputs, where="credit.critic", role="critic")
        return JudgeCritic(backend, k=k, temperature=temperature, max_tokens=max_tokens, max_retries=max_retries,
                           show_reference=show_reference)

    build.__name__ = f"{kind}_critic"
    return build


def judge_text_generator(backend: JudgeBackend, *, temperature: float, max_tokens: int) -> Callable[[str], str]:
    """`generate(prompt) -> str` over a judge backend: one user message, no prefill. The n-th call
    with the same prompt is sample n (sample 0 greedy), so a retry after a rejected hint is a fresh
    draw and a re-run asks the same questions. A backend failure raises its `JudgeError`: a broken
    hinter stops the run (resumable) rather than passing for "no hint"."""
    asked: dict[str, int] = {}
    view = JudgeView(sentences=(), withheld=(), criteria=(), defences=False)

    def generate(prompt: str) -> str:
        messages = ({"role": "user", "content": prompt},)
        h = messages_hash(messages)
        n = asked.get(h, 0)
        asked[h] = n + 1
        out = backend.generate([JudgeRequest(messages, h, n, 0, temperature, max_tokens, view, prefill="")])[0]
        if isinstance(out, JudgeError):
            raise out
        return out

    return generate
