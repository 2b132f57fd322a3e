"""The typed run config: presets, file, `--set` overrides; every mistake names its path and the fix."""

from __future__ import annotations

import pytest

from mentor.config import RunConfig, apply_overrides, build_config, load_config, parse_override, preset_names
from mentor.errors import ConfigError


def config_error(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return info.value.render()


# ------------------------------------------------------------------------------------ unknown keys


def test_unknown_key_names_full_path_and_nearest_name():
    msg = config_error(None, ["optim.stpes=3"])
    assert "unknown key 'optim.stpes'" in msg
    assert "Did you mean 'optim.steps'?" in msg
    assert "--set" in msg  # where the bad key came from


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  steps: 3\n  lerning_rate: 0.1\nsampling:\n  group_sise: 4\n")
    msg = config_error(path)
    assert str(path) in msg
    assert "unknown key 'optim.lerning_rate'" in msg
    assert "unknown key 'sampling.group_sise'" in msg and "Did you mean 'sampling.group_size'?" in msg


def test_unknown_key_inside_a_list_names_the_index():
    msg = config_error(None, ["tasks.mix=[{source: reasoning_gym, nme: chain_sum}]"])
    assert "unknown key 'tasks.mix.0.nme'" in msg
    assert "Did you mean 'tasks.mix.0.name'?" in msg


def test_unknown_top_level_section_suggests_section():
    msg = config_error(None, ["optm.steps=3"])
    assert "unknown key 'optm'" in msg and "Did you mean 'optim'?" in msg


def test_wrong_type_names_the_path_and_the_value():
    msg = config_error(None, ["optim.steps=many"])
    assert "'optim.steps'" in msg and "integer" in msg and "'many'" in msg


def test_out_of_range_value_names_the_path():
    msg = config_error(None, ["sampling.group_size=1"])
    assert "'sampling.group_size'" in msg and "greater than or equal to 2" in msg


def test_override_without_equals_sign_explains_the_syntax():
    msg = config_error(None, ["optim.steps"])
    assert "'optim.steps' has no '='" in msg and "--set section.key=value" in msg


# ------------------------------------------------------------------------------------ --set parsing


@pytest.mark.parametrize(
    ("item", "path", "value"),
    [
        ("optim.steps=10", ["optim", "steps"], 10),
        ("optim.lr=0.5", ["optim", "lr"], 0.5),
        ("optim.lr=2.5e-5", ["optim", "lr"], 2.5e-5),
        ("optim.lr=1e-3", ["optim", "lr"], 1e-3),  # YAML 1.1 alone would keep this a string
        ("optim.lr=-2E4", ["optim", "lr"], -2e4),
        ("seed=-3", ["seed"], -3),
        ("optim.scale_by_std=false", ["optim", "scale_by_std"], False),
        ("optim.scale_by_std=true", ["optim", "scale_by_std"], True),
        ("model.name=tiny", ["model", "name"], "tiny"),
        ("prompt.system=", ["prompt", "system"], ""),
        ("prompt.template={prompt} a=b", ["prompt", "template"], "{prompt} a=b"),  # split at the first '='
        ("tasks.mix.0.levels=[0, 1]", ["tasks", "mix", "0", "levels"], [0, 1]),
        ("curriculum.budget=null", ["curriculum", "budget"], None),
    ],
)
def test_parse_override(item, path, value):
    assert parse_override(item) == (path, value)


def test_overrides_create_nested_sections_and_apply_in_order():
    data = apply_overrides({"optim": {"lr": 1.0}}, ["optim.steps=3", "credit.assigner.args.k=2", "optim.steps=4"])
    assert data == {"optim": {"lr": 1.0, "steps": 4}, "credit": {"assigner": {"args": {"k": 2}}}}


def test_overrides_reach_the_typed_config():
    cfg = load_config(None, ["optim.steps=7", "optim.lr=0.25", "hints.schedule.name=none", "sampling.top_p=0.9",
                             "tasks.mix=[{name: chain_sum, levels: [0, 1]}]"])
    assert cfg.optim.steps == 7 and cfg.optim.lr == 0.25 and cfg.hints.schedule.name == "none"
    assert cfg.sampling.top_p == 0.9
    assert [(s.source, s.name, s.levels) for s in cfg.tasks.mix] == [("reasoning_gym", "chain_sum", [0, 1])]


def test_scientific_notation_reaches_plugin_args_as_a_number():
    # `args` are untyped dicts: nothing downstream would coerce a string '1e-3' into a number
    cfg = load_config(None, ["curriculum.selector.args={}", "curriculum.selector.args.eps=1e-3"])
    assert cfg.curriculum.selector.args == {"eps": 0.001}


def test_build_config_does_not_mutate_its_input():
    base = {"optim": {"steps": 1}}
    build_config(base, ["optim.steps=2"])
    assert base == {"optim": {"steps": 1}}


# ------------------------------------------------------------------------------------ files


def test_missing_config_file_names_the_file(tmp_path):
    path = tmp_path / "nope.yaml"
    msg = config_error(path)
    assert msg.startswith(f"{path}: file not found.")
    assert "Fix:" in msg


def test_bad_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\noptim:\n  steps: 3\n  lr: [0.1\nsampling:\n  group_size: 4\n")
    msg = config_error(path)
    assert "not valid YAML" in msg
    where = msg.split(": not valid YAML")[0]
    assert where.startswith(f"{path}:")
    assert int(where.rsplit(":", 1)[1]) in (4, 5)  # the unclosed list, or the line that betrays it


def test_bad_yaml_tab_indent_names_its_line(tmp_path):
    path = tmp_path / "tab.yaml"
    path.write_text("seed: 1\noptim:\n\tsteps: 3\n")
    assert config_error(path).startswith(f"{path}:3: not valid YAML")


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- optim\n- steps\n")
    assert "top level must be a mapping" in config_error(path)


def test_empty_file_gives_the_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == load_config()


def test_file_then_overrides_precedence(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  steps: 3\n  lr: 0.01\n")
    cfg = load_config(path, ["optim.steps=5"], "smoke")
    assert cfg.optim.steps == 5  # --set beats the file
    assert cfg.optim.lr == 0.01  # the file beats the preset
    assert cfg.model.name == "tiny"  # the preset beats the defaults


# ------------------------------------------------------------------------------------ presets


def test_the_schema_defaults_are_the_recommended_run():
    cfg = load_config()
    assert cfg == RunConfig()  # no hidden preset underneath: the schema's defaults are the run
    assert cfg.hints.schedule.name == "scaffold" and cfg.curriculum.selector.name == "signal"
    assert cfg.credit.assigner.name == "prefix_tree"


def test_the_shipped_default_yaml_spells_out_the_defaults():
    assert load_config("examples/configs/default.yaml") == RunConfig()


def test_presets_merge_in_order():
    smoke = load_config(None, None, "smoke")
    both = load_config(None, None, "smoke,control")
    assert smoke.hints.schedule.name == "scaffold"  # smoke sits on the (teacher-on) defaults
    assert both.hints.schedule.name == "none"  # control switches the teacher off
    assert both.model.name == "tiny" and both.optim.steps == 2  # ...and keeps smoke's size
    # merged per key, not per section: control sets the hint schedule only, smoke's other keys survive
    assert both.sampling == smoke.sampling
    assert both.hints.source == smoke.hints.source


def test_control_overlay_applied_last_beats_the_file_and_overrides(tmp_path):
    """`mentor compare` builds its control this way: whatever the user's file turns on, the control is
    vanilla GRPO (the bug was a control with hints, rescue, the signal selector and prefix-tree credit)."""
    path = tmp_path / "teacher.yaml"
    path.write_text("curriculum: {selector: {name: bayes, args: {rho: 0.5}}, budget: {name: knapsack}}\n"
                    "credit: {assigner: {name: monte_carlo, args: {k: 2}}}\n")
    cfg = load_config(path, ["hints.schedule.args.target=0.2"], overlay_last="control")
    assert cfg.curriculum.selector.model_dump() == {"name": "uniform", "args": {}}
    assert cfg.curriculum.budget is None
    assert cfg.hints.schedule.model_dump() == {"name": "none", "args": {}}
    assert cfg.credit.assigner.model_dump() == {"name": "outcome", "args": {}}


def test_unknown_preset_lists_the_presets():
    msg = config_error(None, None, "smok")
    assert "unknown preset 'smok'" in msg
    for name in preset_names():
        assert name in msg


def test_every_preset_validates():
    assert preset_names() == ["control", "dapo", "design", "evaluation", "prefix_hints", "smoke", "thompson"]
    for name in preset_names():
        assert isinstance(load_config(None, None, name), RunConfig)


# ------------------------------------------------------------------------------------ hash


def test_config_hash_is_stable_and_tracks_values():
    a, b = load_config(None, None, "smoke"), load_config(None, None, "smoke")
    assert a.hash() == b.hash()
    assert len(a.hash()) == 64
    # a fixed config hashes to a fixed value: nothing process-dependent (dict order, ids) leaks in
    assert RunConfig.model_validate(a.model_dump(mode="json")).hash() == a.hash()
    assert load_config(None, ["optim.lr=0.002"], "smoke").hash() != a.hash()
    assert load_config(None, ["seed=1"], "smoke").hash() != a.hash()
    # the same value written differently is the same config
    assert load_config(None, ["optim.lr=0.001"], "smoke").hash() == a.hash()


def test_config_hash_ignores_hint_settings_only_while_hints_are_off():
    # the control stays resumable while the teacher's hint settings are tuned ...
    control = load_config(None, [], "control")
    assert load_config(None, ["hints.source.args.match_answer=false", "hints.gamma=0.5"], "control").hash() == control.hash()
    assert load_config(None, ["hints.schedule.name=scaffold"], "control").hash() != control.hash()
    # ... but with hints on, every hint setting is part of the run's identity
    mentor = load_config(None, [], None)
    assert load_config(None, ["hints.schedule.args.target=0.1"], None).hash() != mentor.hash()
    assert load_config(None, ["hints.gamma=0.5"], None).hash() != mentor.hash()


def test_naming_another_plugin_drops_the_old_ones_arguments(tmp_path):
    # The default selector carries arguments only it accepts; choosing another selector, from the
    # command line, a preset or a file, must not hand them over (they would be refused by name).
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text("curriculum: {selector: {name: signal, args: {sharpness: 3.0}}}\n")
    assert load_config(teacher).curriculum.selector.args == {"sharpness": 3.0}
    assert load_config(teacher, ["curriculum.selector.name=bayes"]).curriculum.selector.args == {}
    later = load_config(None, ["curriculum.selector.name=bayes", "curriculum.selector.args.rho=0.5"])
    assert later.curriculum.selector.args == {"rho": 0.5}  # arguments after the name apply to it
    same = load_config(teacher, ["curriculum.selector.name=signal"])
    assert same.curriculum.selector.args == {"sharpness": 3.0}  # same plug-in: kept
    assert load_config(None, [], "control").curriculum.selector.model_dump() == {"name": "uniform", "args": {}}
    path = tmp_path / "c.yaml"
    path.write_text("curriculum:\n  selector: {name: bandit}\n")
    assert load_config(path).curriculum.selector.args == {}
    # a section that merely has a 'name' among other keys still merges key by key
    path.write_text("model: {name: tiny}\n")
    assert load_config(path, [], "smoke").model.sample_dtype == "float32"
