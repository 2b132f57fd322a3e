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
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from mentor.errors import ConfigError
from mentor.yaml_load import safe_load


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PluginSpec(_Strict):
    """A plug-in by registry name, with its keyword arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class TaskSpec(_Strict):
    """One task source in the mix. `source` is a registry name (`reasoning_gym`, `jsonl`)."""

    source: str = "reasoning_gym"
    name: str | None = None  # reasoning-gym dataset name
    path: str | None = None  # JSONL file
    levels: list[int] = Field(default_factory=lambda: [0])  # reasoning-gym curriculum levels
    config: dict[str, Any] = Field(default_factory=dict)  # dataset config keyword arguments
    weight: float = Field(default=1.0, gt=0)


class TasksConfig(_Strict):
    mix: list[TaskSpec] = Field(
        default_factory=lambda: [
            TaskSpec(name="basic_arithmetic", config={"max_terms": 2, "min_terms": 2}, levels=[0]),
            TaskSpec(name="chain_sum", levels=[0]),
        ]
    )
    train_size: int = Field(default=512, ge=1, le=1_000_000)
    heldout_size: int = Field(default=64, ge=1, le=100_000)


class ModelConfig(_Strict):
    # "smollm2-135m" (bundled GGUF), "tiny" (random, for tests), or a local Hugging Face path.
    name: str = "smollm2-135m"
    # bf16 sampling and bf16 autocast in the update pay off only on CPUs with native bf16 (AVX512-BF16,
    # AMX): there they are ~1.8x faster than fp32; on an AVX2-only CPU bf16 sampling was 2.7x *slower*
    # and the autocast update 19x slower (benchmarks/step_time.py). "auto" picks bf16 where the CPU has
    # it, else fp32; an explicit value is always obeyed. Weights and optimiser state stay fp32.
    sample_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    train_autocast: bool | Literal["auto"] = "auto"
    threads: int | None = None


class PromptConfig(_Strict):
    system: str | None = None
    # {prompt} is the task prompt. The strict answer format is part of the task, not a hint.
    template: str = "{prompt}\nGive your final answer on the last line as 'Answer: <answer>'."
    chat: bool = True


class SamplingConfig(_Strict):
    group_size: int = Field(default=8, ge=2, le=1024)
    tasks_per_step: int = Field(default=4, ge=1, le=4096)
    max_new_tokens: int = Field(default=48, ge=1, le=32_768)
    temperature: float = Field(default=1.0, ge=1e-3, le=100, allow_inf_nan=False)
    top_p: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False)


class OptimConfig(_Strict):
    steps: int = Field(default=30, ge=0, le=10_000_000)
    # Stop once this many attempts have been sampled (hinted re-rolls included), even before `steps`:
    # how `mentor compare` gives both arms the same rollout budget.
    rollout_budget: int | None = Field(default=None, ge=1, le=10**12)
    lr: float = Field(default=2e-5, gt=0, le=1, allow_inf_nan=False)
    weight_decay: float = Field(default=0.0, ge=0, le=10, allow_inf_nan=False)
    epochs: int = Field(default=1, ge=1, le=1000)  # optimisation passes over each batch
    clip_eps: float = Field(default=0.2, gt=0, le=100, allow_inf_nan=False)
    kl_coef: float = Field(default=0.0, ge=0, le=1e6, allow_inf_nan=False)
    max_grad_norm: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    std_tol: float = Field(default=1e-6, ge=0, allow_inf_nan=False)  # a group whose reward std is below this carries no signal
    scale_by_std: bool = True


class RewardConfig(_Strict):
    # "answer": extract 'Answer: <x>' and score with the task's verifier; "rubric": a rubric file.
    kind: Literal["answer", "rubric"] = "answer"
    rubric: str | None = None
    answer_prefix: str = "Answer:"


class EvalConfig(_Strict):
    every: int = Field(default=10, ge=1)
    size: int | None = Field(default=None, ge=1, le=100_000)  # held-out tasks per evaluation; None = all
    pass_k: int = Field(default=4, ge=1, le=1024)
    bootstrap: int = Field(default=1000, ge=100, le=1_000_000)


class CurriculumConfig(_Strict):
    selector: PluginSpec = Field(default_factory=lambda: PluginSpec(name="uniform"))
    budget: PluginSpec | None = None  # rollout allocator, e.g. {name: knapsack, args: {...}}


class AdaptiveHintsConfig(_Strict):
    """`hints.mode: adaptive`: each group gets just enough hinted attempts that it is expected to carry
    a learning signal (mentor.hints.scaffold_size), from discounted per-bucket pass rates."""

    # Hint the fewest attempts for which P(the whole group fails) is at most this. On the bundled
    # student 0.05 with up to 7 of 8 hinted beat 0.15 with up to 6 (notes/hints.md).
    target: float = Field(default=0.05, gt=0, lt=1)
    forget: float = Field(default=0.5, ge=0, lt=1)  # per step, on the pass-rate counts (the student moves fast)
    max_share: float = Field(default=0.875, gt=0, lt=1)  # at most this share of a group sees the hint
    # Pass rates per bucket, or per prompt shape (the same problem with other numbers), or per solved
    # shape (prompt and answer form: "# - # = → -#"), shrunk toward the bucket's rate with `strength`
    # pseudo-attempts: a bucket hides tasks the hint cannot rescue.
    by: Literal["bucket", "shape", "solved_shape"] = "bucket"
    strength: float = Field(default=4.0, gt=0)
    # Beta prior of the no-hint pass rate before any evidence; (1, 1) reads 0.5, so step 1 is hint-free.
    # A pessimistic prior (mean 0.1) scaffolds step 1 as if the student were stuck.
    prior: tuple[PositiveFloat, PositiveFloat] = (1.0, 1.0)


class HintsConfig(_Strict):
    enabled: bool = False
    source: PluginSpec = Field(default_factory=lambda: PluginSpec(name="ladder"))
    max_level: int = Field(default=3, ge=1)
    gamma_quantile: float = Field(default=0.9, gt=0, le=1)  # Guide-GRPO ratio shaping r/(r+γ)
    # A fixed γ instead of the batch quantile (LUFFY's policy shaping uses 0.1). With γ at the 90th
    # percentile a guided token the hint made likely (small r: the very token the student must learn)
    # gets ~r/γ of the gradient; a small γ puts the steepest part of r/(r+γ) there instead.
    gamma: float | None = Field(default=None, gt=0)
    # Train a rescued group's failed no-hint attempts too (negative credit under their own, on-policy
    # context) instead of replacing the group by its guided re-roll as Guide-GRPO does.
    merge_failed: bool = False
    # How guided tokens are weighted under the no-hint prompt: "guide" = Guide-GRPO's r/(r+γ) (bounded,
    # but at most 1/4 of an on-policy token's gradient); "unit" = no importance correction (biased: as
    # if the no-hint policy had sampled them; full-strength gradient). An ablation switch.
    guided_weight: Literal["guide", "unit"] = "guide"
    # When hints are given. "reroll": an all-fail group is re-sampled with an escalating hint in the
    # same step (Guide-GRPO; the re-rolls cost extra rollouts). "staircase": no re-rolls; each
    # difficulty bucket keeps a hint level that rises by one after an all-fail group and falls by one
    # once a no-hint attempt of the bucket passes, and a scaffolded group splits its G attempts into
    # no-hint ones and `staircase_share` hinted ones (budget-neutral: every step costs G per task).
    # "adaptive": no re-rolls; before sampling, each group gets the fewest hinted attempts (at the top
    # rung allowed) for which the whole group is expected to fail with probability <= adaptive.target,
    # from per-bucket pass rates with and without the hint (budget-neutral; hints fade as the student
    # passes on its own). "rescue": adaptive, and a group that still fails entirely gets one guided
    # re-roll at the top rung (`reroll_share` of its size, extra rollouts), merged into the group.
    mode: Literal["reroll", "staircase", "adaptive", "rescue"] = "reroll"
    # Size of a guided re-roll as a share of the group (reroll and rescue modes): below 1 re-rolls fewer attempts,
    # so a rescue costs less budget; with merge_failed the group's failed no-hint attempts fill it up.
    reroll_share: float = Field(default=1.0, gt=0, le=1)
    staircase_share: float = Field(default=0.5, gt=0, lt=1)
    adaptive: AdaptiveHintsConfig = Field(default_factory=AdaptiveHintsConfig)


class CreditConfig(_Strict):
    assigner: PluginSpec = Field(default_factory=lambda: PluginSpec(name="outcome"))
    segmenter: PluginSpec | None = None  # step segmentation for step-level credit (default blank lines)
    max_extra_rollouts: int = Field(default=64, ge=0)  # monte_carlo branch budget per step
    # The judge that lists wrong steps, for `critique` (or min_form's critique step rewards): name is
    # the backend (openai, local, scripted), args its settings (url, model, api_key_env, k, temperature,
    # max_tokens, ...); mentor.credit_sources.build_critic checks them.
    critic: PluginSpec | None = None
    # min_form's per-step rewards: {name: monte_carlo, args: {k: 4}} or {name: critique, args: {combine: ...}}.
    # Monte Carlo continuations share max_extra_rollouts and the rollout budget.
    step_rewards: PluginSpec | None = None


class RunConfig(_Strict):
    seed: int = 0
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
    checkpoint_every: int = Field(default=10, ge=0)  # 0: only at the end; resume replays later steps

    def hash(self) -> str:
        """Identity of the run: what changes its course. With hints off, their settings change nothing,
        so a control stays resumable (and comparable) while the teacher's hint settings are tuned."""
        data = self.model_dump(mode="json")
        if not self.hints.enabled:
            data["hints"] = {"enabled": False}
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


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, preset: str | None = None
) -> RunConfig:
    """Resolve a run configuration: preset, then file, then `--set` overrides, in that order."""
    from mentor.presets import DEFAULT_PRESET, preset_data

    # The default preset (the teacher on) underlies every run; named presets (comma-separated,
    # e.g. "smoke,control") are merged on top of it in order, then the file, then --set.
    data: dict[str, Any] = preset_data(DEFAULT_PRESET)
    for name in [p.strip() for p in (preset or "").split(",") if p.strip()]:
        data = _merge(data, preset_data(name))
    source = f"preset '{preset}'" if preset else f"defaults (preset '{DEFAULT_PRESET}')"
    if path is not None:
        data = _merge(data, read_yaml(path))
        source = str(path)
    if overrides:
        source = f"{source} + --set"
    return build_config(data, overrides, source=source)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        replaced_plugin = _is_plugin(value) and _is_plugin(out.get(key)) and value["name"] != out[key]["name"]
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not replaced_plugin:
            out[key] = _merge(out[key], value)
        else:  # a value, or another plug-in, whose arguments start afresh
            out[key] = value
    return out
