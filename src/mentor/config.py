"""Typed run configuration: a YAML file plus `--set a.b=c` overrides, unknown keys fail loudly.

Plug-ins (task sources, selectors, hint sources, credit assigners) are configured as
`{name: ..., args: {...}}` so that the run records exactly what to rebuild from its registry.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mentor.errors import ConfigError
from mentor.yaml_load import safe_load


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # every float finite


class PluginSpec(_Strict):
    """A plug-in by registry name, with its keyword arguments (validated by the plug-in's registry)."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class TaskSpec(_Strict):
    """One task source in the mix."""

    source: str = Field(default="reasoning_gym", description="Task source: reasoning_gym | jsonl.")
    name: str | None = Field(default=None, description="reasoning-gym dataset name.")
    path: str | None = Field(default=None, description="JSONL file of tasks.")
    levels: list[int] = Field(default_factory=lambda: [0], description="reasoning-gym curriculum levels.")
    config: dict[str, Any] = Field(default_factory=dict, description="reasoning-gym dataset config.")
    weight: float = Field(default=1.0, gt=0, le=1e6, description="Share of the mix.")


class TasksConfig(_Strict):
    mix: list[TaskSpec] = Field(
        default_factory=lambda: [
            TaskSpec(name="basic_arithmetic", config={"max_terms": 2, "min_terms": 2}, levels=[0]),
            TaskSpec(name="chain_sum", levels=[0]),
        ],
        description="Task sources, each a TaskSpec.",
    )
    train_size: int = Field(default=512, ge=1, le=1_000_000, description="Training tasks drawn from the mix.")
    heldout_size: int = Field(default=64, ge=1, le=100_000, description="Held-out tasks, never trained on.")


class ModelConfig(_Strict):
    name: str = Field(default="smollm2-135m", description="smollm2-135m (bundled), tiny (random, for tests), "
                                                          "or a local Hugging Face directory.")
    # bf16 pays off only on CPUs with native bf16 (AVX512-BF16, AMX); on AVX2 it was 2.7x slower to
    # sample and 19x slower to train (docs/decisions/README.md, "Numerics"). Weights and optimiser stay fp32.
    sample_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="Sampling copy's dtype; auto: bf16 where the CPU has it natively.")
    train_autocast: bool | Literal["auto"] = Field(default="auto", description="bf16 autocast in the update; "
                                                                               "auto: as sample_dtype.")
    threads: int | None = Field(default=None, ge=1, le=1024, description="torch threads; unset: torch's default.")


class PromptConfig(_Strict):
    system: str | None = Field(default=None, description="System message for chat students.")
    template: str = Field(
        default="{prompt}\nGive your final answer on the last line as '{answer_prefix} <answer>'.",
        description="The user turn: {prompt} is the task, {answer_prefix} is reward.answer_prefix. The strict "
                    "answer format is part of the task, not a hint.")
    chat: bool = Field(default=True, description="Render with the tokenizer's chat template; worked-example hints "
                                                 "become earlier turns.")


class SamplingConfig(_Strict):
    group_size: int = Field(default=8, ge=2, le=1024, description="Attempts per task (G).")
    tasks_per_step: int = Field(default=4, ge=1, le=4096, description="Groups per step.")
    max_new_tokens: int = Field(default=48, ge=1, le=32768, description="Completion length cap.")
    temperature: float = Field(default=1.0, ge=1e-3, le=10, description="Sampling temperature.")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling.")


class OptimConfig(_Strict):
    steps: int = Field(default=12, ge=0, le=1_000_000, description="Training steps (the default stops where the "
                                                                     "teacher's learning curve flattens).")
    rollout_budget: int | None = Field(
        default=None, ge=1, le=10**12, description="Stop once this many attempts were sampled (rescue re-rolls included), "
                                        "even before `steps`: how `mentor compare` matches budgets.")
    lr: float = Field(default=2e-5, gt=0, le=1, description="AdamW learning rate.")
    weight_decay: float = Field(default=0.0, ge=0, le=1, description="AdamW weight decay.")
    epochs: int = Field(default=1, ge=1, le=100, description="Optimisation passes over each step's batch.")
    clip_eps: float = Field(default=0.2, gt=0, le=10, description="PPO ratio clip for on-policy tokens.")
    kl_coef: float = Field(default=0.0, ge=0, le=100, description="KL penalty to the initial policy (k3).")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient clipping norm.")
    scale_by_std: bool = Field(default=True, description="Divide group advantages by the group's std "
                                                         "(GRPO); false is Dr. GRPO's mean-only baseline.")


class RewardConfig(_Strict):
    kind: Literal["answer", "rubric"] = Field(
        default="answer", description="answer: the task's verifier on the extracted final answer; rubric: a rubric file.")
    rubric: str | None = Field(default=None, description="Rubric YAML or locked bundle, for kind: rubric.")
    answer_prefix: str = Field(default="Answer:", description="The final-answer line's prefix, everywhere: "
                                                              "prompt, grading, hints.")


class EvalConfig(_Strict):
    every: int = Field(default=6, ge=1, description="Held-out evaluation every this many steps (and at the end).")
    size: int | None = Field(default=None, ge=1, le=100_000, description="Held-out tasks per evaluation; all when unset.")
    pass_k: int = Field(default=4, ge=1, le=1024, description="k of the final pass@k.")
    bootstrap: int = Field(default=1000, ge=100, le=1_000_000, description="Bootstrap resamples for intervals.")


class CurriculumConfig(_Strict):
    selector: PluginSpec = Field(default_factory=lambda: PluginSpec(name="signal"),
                                 description="Which tasks to practise: signal | uniform | bayes | bandit | thompson.")
    budget: PluginSpec | None = Field(default=None, description="Attempts per task: knapsack | fixed; "
                                                                "unset: group_size each.")
    filter: PluginSpec | None = Field(default=None, description="Which graded groups are trained: "
                                                                "dynamic_sampling (DAPO: drop groups without a "
                                                                "signal, refill the batch) | none; unset: all.")


class HintsConfig(_Strict):
    schedule: PluginSpec = Field(default_factory=lambda: PluginSpec(name="scaffold"),
                                 description="Who sees a hint: scaffold (adaptive, plus one rescue re-roll) | none.")
    source: PluginSpec = Field(
        default_factory=lambda: PluginSpec(name="ladder", args={"levels": ["example:1", "example:3"],
                                                                "match_answer": True}),
        description="What the hint says: ladder (worked examples of the same solved shape) | llm (a tutor model).")
    gamma: float = Field(default=0.1, gt=0, le=10, description="Guided tokens are trained under the no-hint "
                                                               "prompt with the bounded shaping r/(r+gamma).")
    loss_prompt: Literal["no_hint", "hinted"] = Field(
        default="no_hint", description="The prompt a guided attempt's loss is taken under: no_hint (shaped by "
                                       "gamma) | hinted (plain GRPO on the hinted prompt, as QuestA; re-rolls "
                                       "form their own group).")


class CreditConfig(_Strict):
    assigner: PluginSpec = Field(default_factory=lambda: PluginSpec(name="prefix_tree"),
                                 description="Token-level credit: prefix_tree | outcome | monte_carlo | critique | min_form.")
    segmenter: PluginSpec | None = Field(default=None, description="Step boundaries for step-level credit "
                                                                   "(default blank lines).")
    max_extra_rollouts: int = Field(default=64, ge=0, description="Monte Carlo branches per step (they count "
                                                                  "against the rollout budget).")
    critic: PluginSpec | None = Field(default=None, description="Judge that lists wrong steps, for critique: "
                                                                "openai | local | scripted.")
    step_rewards: PluginSpec | None = Field(default=None, description="min_form's per-step rewards: "
                                                                      "monte_carlo | critique.")


class RunConfig(_Strict):
    seed: int = Field(default=0, ge=0, description="Seeds tasks, sampling and the teacher.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    hints: HintsConfig = Field(default_factory=HintsConfig)
    credit: CreditConfig = Field(default_factory=CreditConfig)
    checkpoint_every: int = Field(default=10, ge=0, description="Checkpoint every this many steps; 0: only at "
                                                                 "the end (resume replays later steps from the store).")
    # Views of the store (mentor.track); not part of the hash: a resume may add or drop a sink.
    report_to: list[Literal["jsonl", "tensorboard", "trackio", "wandb"]] = Field(
        default_factory=lambda: ["jsonl"], description="Tracking sinks written after every committed step "
                                                       "(offline); mentor report --sinks rebuilds them.")

    def hash(self) -> str:
        """Identity of the run: what changes its course. With hints off, their other settings change
        nothing, so a control stays resumable (and comparable) while the teacher's settings are tuned."""
        data = self.model_dump(mode="json", exclude={"report_to"})
        # keys added after runs were stored leave those runs' hashes as they were while at their defaults
        if data["curriculum"]["filter"] is None:
            del data["curriculum"]["filter"]
        if data["hints"]["loss_prompt"] == "no_hint":
            del data["hints"]["loss_prompt"]
        if self.hints.schedule.name == "none":
            data["hints"] = {"schedule": {"name": "none"}}
        return _digest(data)


def config_hash(cfg: BaseModel) -> str:
    return _digest(cfg.model_dump(mode="json"))


def _digest(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Loading and overrides


def _fields_at(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """Valid field names at `path` inside `model`, for 'did you mean' suggestions."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = _model_type(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_type(annotation: Any) -> Any:
    """The BaseModel inside an annotation such as `X`, `X | None` or `list[X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_type(arg)
        if found is not None:
            return found
    return None


def _explain(exc: ValidationError, model: type[BaseModel], source: str) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" Did you mean '{'.'.join([*map(str, loc[:-1]), near[0]])}'?" if near else ""
            lines.append(f"unknown key '{dotted}'.{hint} Valid keys here: {', '.join(valid)}.")
        else:
            lines.append(f"'{dotted}': {err['msg']} (got {err.get('input')!r}).")
    return ConfigError(
        "invalid configuration: " + " ".join(lines),
        where=source,
        fix="correct the key or value named above; `mentor train --help` lists the options.",
    )


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(
            f"override '{item}' has no '='.",
            where="--set",
            fix="write overrides as --set section.key=value, e.g. --set optim.steps=10",
        )
    key, raw = item.split("=", 1)
    try:
        value = safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-3 as a string; plug-in `args` are not coerced by type
    return key.strip().split("."), value


def _is_plugin(node: Any) -> bool:
    """A plug-in spec ({name, args}): its arguments belong to the plug-in its name chooses."""
    return isinstance(node, dict) and "name" in node and set(node) <= {"name", "args"}


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set a.b=c` overrides in order. Naming another plug-in (`--set curriculum.selector.name=
    bayes`) drops the arguments of the one it replaces, which it would not accept; arguments set after
    it on the same command line apply to the new one."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        if path[-1] == "name" and _is_plugin(node) and node.get("name") != value:
            node.pop("args", None)
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            "file not found.", where=str(p), fix="pass an existing YAML file, e.g. examples/configs/default.yaml"
        )
    try:
        data = safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"not valid YAML ({problem}).", where=where, fix="fix the YAML syntax at that line."
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}).", where=str(p), fix="save the file as UTF-8") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping of sections.", where=str(p), fix="see examples/configs/default.yaml"
        )
    return data


def build_config(
    base: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    *,
    source: str = "config",
    model: type[BaseModel] = RunConfig,
) -> Any:
    data = json.loads(json.dumps(base or {}))  # deep copy; YAML input is JSON-compatible
    data = apply_overrides(data, overrides or [])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, model, source) from None


PRESETS_DIR = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_data(name: str) -> dict[str, Any]:
    """A preset: a YAML overlay shipped inside the package, applied on top of the schema's defaults."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset '{name}'.", where="--preset", fix=f"use one of: {', '.join(preset_names())}")
    return read_yaml(path)


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, preset: str | None = None,
    *, overlay_last: str | None = None,
) -> RunConfig:
    """Resolve a run configuration: the schema's defaults (the recommended run), then the presets
    (comma-separated), then the file, then `--set` overrides; `overlay_last` (a preset) goes on top of
    all of them, which is how `mentor compare` makes its control vanilla GRPO whatever the file says."""
    data: dict[str, Any] = RunConfig().model_dump(mode="json")
    for name in [p.strip() for p in (preset or "").split(",") if p.strip()]:
        data = _merge(data, preset_data(name))
    source = f"preset '{preset}'" if preset else "defaults"
    if path is not None:
        data = _merge(data, read_yaml(path))
        source = str(path)
    data = apply_overrides(json.loads(json.dumps(data)), overrides or [])
    if overrides:
        source = f"{source} + --set"
    if overlay_last:
        data = _merge(data, preset_data(overlay_last))
        source = f"{source} + preset '{overlay_last}' (last)"
    return build_config(data, None, source=source)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        replaced_plugin = _is_plugin(value) and _is_plugin(out.get(key)) and value["name"] != out[key]["name"]
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not replaced_plugin:
            out[key] = _merge(out[key], value)
        else:  # a value, or another plug-in, whose arguments start afresh
            out[key] = value
    return out
