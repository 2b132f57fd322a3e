"""What the step-level credit assigners need besides rewards, built from the run config for the loop.

- `JudgeCritic`: the critic of the `critique` assigner (CAPO). k judge calls per attempt through any
  grading `JudgeBackend`; each returns JSON listing the wrong steps with a verbatim quote. Parsing is
  strict (the last JSON object binds, code fences are tolerated); an unparseable critique raises
  `JudgeError`, which the assigners turn into "step credit lost, outcome stands", never a 0.
  Quotes are checked by the assigner (`mentor.credit.verified_flags`), not here.
- Step-reward sources for `min_form` (PURE), an explicit registry `STEP_REWARD_SOURCES`:
  `monte_carlo` (Math-Shepherd: step reward = mean outcome of k continuations from the end of the
  step) and `critique` (step reward −1 for a step the combined, verified critiques flag, else 0).
- `CreditSources`: the critic and step-reward source of a run, bound to each loop step with that
  step's groups, rollout function and branch cap; `StepSources.account` writes what they spent
  (judge calls, extra rollouts) into the step's `Advantages.info`.

Example (YAML), critique credit with a vLLM server as critic:

    credit:
      assigner: {name: critique}
      critic: {name: openai, args: {url: "http://localhost:8000/v1", model: Qwen/Qwen2.5-7B-Instruct}}

`build_llm_hinter` wires the same backends into the `llm` hint source
(`hints.source: {name: llm, args: {backend: openai, url: ..., model: ...}}`).

min_form with Monte Carlo step rewards:

    credit:
      assigner: {name: min_form}
      step_rewards: {name: monte_carlo, args: {k: 4}}
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any, Protocol

from mentor.credit import (
    BranchValues,
    CritiqueResult,
    Group,
    RolloutFn,
    StepFlag,
    StepRewardFn,
    combine_flags,
    verified_flags,
)
from mentor.errors import ConfigError, JudgeError, MentorError
from mentor.grade.backends import JudgeBackend, JudgeCache, ScriptedJudge, make_judge
from mentor.grade.defences import neutralise
from mentor.grade.judge import JudgeRequest, JudgeView, _json_objects, messages_hash
from mentor.types import Advantages, Attempt, StepSpan, Task

if TYPE_CHECKING:
    from mentor.config import CreditConfig
    from mentor.hints import LLMHinter

__all__ = [
    "CRITIC_BACKENDS",
    "STEP_REWARD_SOURCES",
    "CreditSources",
    "CriticFn",
    "CritiqueStepRewards",
    "JudgeCritic",
    "MonteCarloStepRewards",
    "SourceCosts",
    "StepRewardSource",
    "StepSources",
    "build_credit_sources",
    "build_critic",
    "build_critique_step_rewards",
    "build_monte_carlo_step_rewards",
    "build_step_rewards",
    "parse_critique",
    "render_critic_messages",
]

CriticFn = Callable[[Task, str, list[StepSpan]], list[CritiqueResult]]


# ----------------------------------------------------------------------------------------------
# The critic


@functools.cache
def _template() -> str:
    return resources.files("mentor").joinpath("critic_prompt.txt").read_text(encoding="utf-8")


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
# Argument checks: plain config values in, ConfigError naming the key out


def _merge_args(args: Mapping[str, Any] | None, defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    args = dict(args or {})
    unknown = sorted(set(args) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown argument(s): {', '.join(unknown)}.", where=f"{where}.args",
                          fix=f"valid arguments here: {', '.join(defaults) or 'none'}")
    return {**defaults, **args}


def _int_arg(args: Mapping[str, Any], key: str, lo: int, where: str) -> int:
    v = args[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(f"{key} must be an integer >= {lo}, got {v!r}.", where=f"{where}.args.{key}",
                          fix=f"set {where}.args.{key} to an integer >= {lo}")
    return v


def _float_arg(args: Mapping[str, Any], key: str, where: str) -> float:
    v = args[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise ConfigError(f"{key} must be a number >= 0, got {v!r}.", where=f"{where}.args.{key}",
                          fix=f"set {where}.args.{key} to a number >= 0")
    return float(v)


def _bool_arg(args: Mapping[str, Any], key: str, where: str) -> bool:
    if not isinstance(args[key], bool):
        raise ConfigError(f"{key} must be true or false, got {args[key]!r}.", where=f"{where}.args.{key}",
                          fix=f"set {where}.args.{key} to true or false")
    return args[key]


def _combine_arg(args: Mapping[str, Any], where: str) -> str:
    if args["combine"] not in ("intersection", "majority"):
        raise ConfigError(f"combine must be intersection or majority, got {args['combine']!r}.",
                          where=f"{where}.args.combine", fix="use combine: intersection (CAPO's choice) or majority")
    return str(args["combine"])


# ----------------------------------------------------------------------------------------------
# Building a critic from config

_CRITIC_COMMON: dict[str, Any] = {"k": 4, "temperature": 0.7, "max_tokens": 512, "max_retries": 2,
                                  "show_reference": True}
# backend kind -> its own arguments (with defaults). "scripted" replays `outputs` in order whatever the
# request: for tests and dry runs only, a run with it learns nothing real.
CRITIC_BACKENDS: dict[str, dict[str, Any]] = {
    "openai": {"url": None, "model": None, "api_key_env": None, "max_concurrency": 8},
    "local": {},
    "scripted": {"outputs": None},
}


def build_critic(kind: str, args: Mapping[str, Any] | None = None, *, where: str = "credit.critic") -> JudgeCritic:
    """A `JudgeCritic` from a backend kind ("openai": an OpenAI-compatible server such as vLLM;
    "local": the bundled model, weak as a critic; "scripted": canned outputs, tests only) and its
    arguments. An API key is never written in the config (the config is stored with the run): name
    the environment variable that holds it in `api_key_env`."""
    if kind not in CRITIC_BACKENDS:
        raise ConfigError(f"unknown critic backend '{kind}'.", where=f"{where}.name",
                          fix=f"use one of: {', '.join(CRITIC_BACKENDS)}")
    a = _merge_args(args, {**_CRITIC_COMMON, **CRITIC_BACKENDS[kind]}, where)
    critic = dict(k=_int_arg(a, "k", 1, where), temperature=_float_arg(a, "temperature", where),
                  max_tokens=_int_arg(a, "max_tokens", 1, where), max_retries=_int_arg(a, "max_retries", 0, where),
                  show_reference=_bool_arg(a, "show_reference", where))
    return JudgeCritic(_judge_backend(kind, a, where, "critic"), **critic)


def _judge_backend(kind: str, a: Mapping[str, Any], where: str, role: str) -> JudgeBackend:
    """The judge backend a critic or a hinter (`role`, named in errors) asks, from checked arguments."""
    if kind == "scripted":
        outputs = a["outputs"]
        if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) for o in outputs):
            raise ConfigError(f"the scripted {role} needs a non-empty list of output strings.",
                              where=f"{where}.args.outputs", fix="set outputs: a list of the replies to replay, in order")
        return ScriptedJudge.from_outputs(outputs, model=f"scripted-{role}")
    if kind == "local":
        return make_judge("local")
    for key in ("url", "model"):
        if not isinstance(a[key], str) or not a[key]:
            raise ConfigError(f"the openai {role} needs a server {key}.", where=f"{where}.args.{key}",
                              fix="set url: http://HOST:PORT/v1 and model: the name the server serves")
    api_key = None
    if a["api_key_env"] is not None:
        api_key = os.environ.get(str(a["api_key_env"]))
        if not api_key:
            raise ConfigError(f"environment variable {a['api_key_env']} (the {role}'s API key) is not set.",
                              where=f"{where}.args.api_key_env",
                              fix=f"export {a['api_key_env']}=..., or drop api_key_env for a server without a key")
    return make_judge("openai", url=a["url"], model=a["model"], api_key=api_key,
                      max_concurrency=_int_arg(a, "max_concurrency", 1, where))


# ----------------------------------------------------------------------------------------------
# The `llm` hint source from config: the same judge backends, asked for a hint instead of a verdict

_HINTER_COMMON: dict[str, Any] = {"backend": "local", "candidates": 3, "levels": 2, "temperature": 0.7,
                                  "max_tokens": 96, "max_attempt_chars": 2000}


def build_llm_hinter(args: Mapping[str, Any] | None = None, *, where: str = "hints.source") -> LLMHinter:
    """The `llm` hint source (`hints.source: {name: llm, args: {...}}`): a tutor model given the task,
    a failed attempt and the reference, whose hints are rejected when they state the answer.
    `backend` picks the model as for the critic: "openai" (an OpenAI-compatible server such as vLLM:
    url, model, api_key_env, max_concurrency), "local" (the bundled model, loaded once more in fp32)
    or "scripted" (outputs, replayed in order: tests and dry runs only). The first candidate of a
    prompt is decoded greedily, later ones are sampled at `temperature`."""
    from mentor.hints import LLMHinter

    a = dict(args or {})
    kind = a.get("backend", _HINTER_COMMON["backend"])
    if kind not in CRITIC_BACKENDS:
        raise ConfigError(f"unknown hinter backend {kind!r}.", where=f"{where}.args.backend",
                          fix=f"use one of: {', '.join(CRITIC_BACKENDS)}")
    a = _merge_args(a, {**_HINTER_COMMON, **CRITIC_BACKENDS[kind]}, where)
    backend = _judge_backend(kind, a, where, "hinter")
    generate = judge_text_generator(backend, temperature=_float_arg(a, "temperature", where),
                                    max_tokens=_int_arg(a, "max_tokens", 1, where))
    return LLMHinter(generate, candidates=_int_arg(a, "candidates", 1, where), levels=_int_arg(a, "levels", 1, where),
                     max_attempt_chars=_int_arg(a, "max_attempt_chars", 1, where))


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


# ----------------------------------------------------------------------------------------------
# Step-reward sources (min_form)


@dataclass
class SourceCosts:
    """What a loop step's credit sources spent beyond what the assigner counts itself."""

    extra_rollouts: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


class StepRewardSource(Protocol):
    """Per-step rewards for `min_form`. `bind` is called once per loop step with that step's groups
    (so a source can read an attempt's outcome), rollout function and extra-rollout cap."""

    name: str

    def bind(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int,
             costs: SourceCosts) -> StepRewardFn: ...


def _outcomes(groups: Sequence[Group]) -> dict[Attempt, float | None]:
    return {a: r for g in groups for a, r in zip(g.attempts, g.rewards, strict=True)}


@dataclass(frozen=True)
class MonteCarloStepRewards:
    """Math-Shepherd's soft label: reward of step j = mean outcome of k continuations of the no-hint
    prompt plus the completion up to the end of step j; the last step's reward is the attempt's own
    outcome (nothing is left to continue). Prefixes are shared and the step's cap is spent exactly as
    the `monte_carlo` assigner spends it (`mentor.credit.BranchValues`).

    Fallback, counted: the attempt is itself one continuation from each of its own boundaries, so
    its outcome is a (k = 1) estimate of every step's value. Once the cap is spent, an attempt gets
    its outcome for every step (`step_rewards_over_cap`); a boundary whose k continuations were all
    unscorable gets it for that step (`step_values_unscorable`).
    """

    k: int = 4
    name: str = field(default="monte_carlo", init=False)

    def bind(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int,
             costs: SourceCosts) -> StepRewardFn:
        if rollout is None:
            raise MentorError("monte_carlo step rewards need a rollout function",
                              fix="bind the source with the loop's rollout function")
        outcome = _outcomes(groups)
        branches = BranchValues(rollout, self.k, cap)
        costs.counters.update(step_rewards_over_cap=0, step_values_unscorable=0)

        def rewards(task: Task, a: Attempt, spans: list[StepSpan]) -> list[float]:
            r = outcome.get(a)
            if r is None:
                raise MentorError(f"monte_carlo step rewards: attempt {a.index} of task {task.id} has no outcome "
                                  "in this step's groups")
            if not spans:
                return []
            before = branches.extra_rollouts
            inner = branches.boundary_values(task, a, spans)
            costs.extra_rollouts += branches.extra_rollouts - before
            if inner is None:
                costs.bump("step_rewards_over_cap")
                return [r] * len(spans)
            costs.bump("step_values_unscorable", sum(v is None for v in inner))
            return [r if v is None else v for v in inner] + [r]

        return rewards


@dataclass(frozen=True)
class CritiqueStepRewards:
    """Step reward −1 for a step the critic's k critiques flag (flags verified against the step's text,
    combined by intersection or majority, as the `critique` assigner does), 0 otherwise.

    The verifiable outcome is not folded into these rewards: `min_form` already adds
    `outcome_weight` × the GRPO outcome advantage to every token, which is how PURE keeps a verifiable
    reward anchoring process rewards that a policy could otherwise game; putting the outcome into the
    last step as well would count it twice. An attempt with no flags gets all zeros, so with a critic
    that never flags, min_form reduces to outcome credit.
    """

    critic: CriticFn
    combine: str = "intersection"
    name: str = field(default="critique", init=False)

    def bind(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int,
             costs: SourceCosts) -> StepRewardFn:
        costs.counters.setdefault("steps_flagged", 0)

        def rewards(task: Task, a: Attempt, spans: list[StepSpan]) -> list[float]:
            critiques = self.critic(task, a.text, spans)  # JudgeError: min_form keeps outcome credit
            flagged = combine_flags([verified_flags(c, spans) for c in critiques], self.combine)
            costs.bump("steps_flagged", len(flagged))
            return [-1.0 if j in flagged else 0.0 for j in range(len(spans))]

        return rewards


def build_monte_carlo_step_rewards(args: Mapping[str, Any] | None = None, *,
                                   where: str = "credit.step_rewards") -> MonteCarloStepRewards:
    a = _merge_args(args, {"k": 4}, where)
    return MonteCarloStepRewards(k=_int_arg(a, "k", 1, where))


def build_critique_step_rewards(args: Mapping[str, Any] | None = None, *, critic: CriticFn | None,
                                where: str = "credit.step_rewards") -> CritiqueStepRewards:
    a = _merge_args(args, {"combine": "intersection"}, where)
    if critic is None:
        raise ConfigError("critique step rewards need a critic, but credit.critic is not set.",
                          where="credit.critic",
                          fix="set credit.critic, e.g. {name: openai, args: {url: http://localhost:8000/v1, model: NAME}}")
    return CritiqueStepRewards(critic, _combine_arg(a, where))


STEP_REWARD_SOURCES: dict[str, Callable[[Mapping[str, Any] | None, CriticFn | None, str], StepRewardSource]] = {
    "monte_carlo": lambda args, critic, where: build_monte_carlo_step_rewards(args, where=where),
    "critique": lambda args, critic, where: build_critique_step_rewards(args, critic=critic, where=where),
}


def build_step_rewards(name: str, args: Mapping[str, Any] | None = None, *, critic: CriticFn | None = None,
                       where: str = "credit.step_rewards") -> StepRewardSource:
    """A step-reward source by registry name (`monte_carlo`, `critique`) and its arguments."""
    if name not in STEP_REWARD_SOURCES:
        raise ConfigError(f"unknown step-reward source '{name}'.", where=f"{where}.name",
                          fix=f"use one of: {', '.join(STEP_REWARD_SOURCES)}")
    return STEP_REWARD_SOURCES[name](args, critic, where)


# ----------------------------------------------------------------------------------------------
# A run's sources, bound to each loop step


@dataclass
class StepSources:
    """The sources as one loop step hands them to `CreditContext`, with what they spend."""

    critic: JudgeCritic | None = None
    step_rewards: StepRewardFn | None = None
    costs: SourceCosts = field(default_factory=SourceCosts)
    calls_before: int = 0  # the critic's call count when the step began

    def account(self, adv: Advantages) -> Advantages:
        """`adv` with this step's source costs in its info: extra rollouts added to the assigner's
        own, judge calls as the critic counted them (every backend call, retries and failed
        critiques included; an assigner can count only one call for a critic that raised)."""
        info = dict(adv.info)
        info["extra_rollouts"] = int(info.get("extra_rollouts", 0)) + self.costs.extra_rollouts
        if self.critic is not None:
            info["judge_calls"] = self.critic.calls - self.calls_before
        info.update(self.costs.counters)
        return dataclasses.replace(adv, info=info)


@dataclass
class CreditSources:
    """A run's critic and step-reward source, built once (`build_credit_sources`)."""

    critic: JudgeCritic | None = None
    step_rewards: StepRewardSource | None = None

    def for_step(self, groups: Sequence[Group], rollout: RolloutFn | None, cap: int) -> StepSources:
        costs = SourceCosts()
        bound = self.step_rewards.bind(groups, rollout, cap, costs) if self.step_rewards is not None else None
        return StepSources(self.critic, bound, costs, self.critic.calls if self.critic is not None else 0)


def build_credit_sources(credit: CreditConfig) -> CreditSources:
    """Build what the configured assigner will call, and only that: a critic configured for an arm
    whose assigner never asks it (e.g. the control of `mentor compare`) is not loaded."""
    name = credit.assigner.name
    sr = credit.step_rewards if name == "min_form" else None
    wants_critic = name == "critique" or (sr is not None and sr.name == "critique")
    critic = None
    if wants_critic and credit.critic is not None:
        critic = build_critic(credit.critic.name, credit.critic.args)
    source = build_step_rewards(sr.name, sr.args, critic=critic) if sr is not None else None
    return CreditSources(critic, source)
