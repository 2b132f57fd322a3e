"""The one plug-in mechanism: arguments validated from the factory's signature, errors that name the
config key and the nearest valid name, host context never taken from the config."""

from __future__ import annotations

from typing import Literal

import pytest

from mentor.errors import ConfigError
from mentor.registry import Registry


class Thing:
    def __init__(self, size: int = 3, mode: Literal["a", "b"] = "a", ctx: object = None) -> None:
        self.size, self.mode, self.ctx = size, mode, ctx


def registry() -> Registry[Thing]:
    r: Registry[Thing] = Registry("widget", "section.widget")
    r.add("thing", Thing, context=("ctx",))
    return r


def test_build_validates_and_fills_defaults_and_passes_context():
    r = registry()
    t = r.build("thing", {"size": "4"}, ctx="host")
    assert (t.size, t.mode, t.ctx) == (4, "a", "host")
    assert r.defaults("thing") == {"size": 3, "mode": "a"}  # context is not an argument


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(ConfigError) as e:
        registry().build("thnig")
    assert e.value.where == "section.widget.name" and "Did you mean 'thing'" in e.value.message


def test_bad_arguments_name_the_key():
    with pytest.raises(ConfigError) as e:
        registry().build("thing", {"sise": 2})
    assert e.value.where == "section.widget.args" and "Did you mean 'size'" in e.value.message
    with pytest.raises(ConfigError) as e:
        registry().build("thing", {"mode": "c"})
    assert "'mode'" in e.value.message
    with pytest.raises(ConfigError):  # context comes from the host, never from the config
        registry().build("thing", {"ctx": "config"})
    with pytest.raises(ConfigError):
        registry().build("thing", {"size": float("nan")})


def test_users_register_their_own_plugins_once():
    r = registry()

    @r.register("mine")
    def make(scale: float = 1.0) -> Thing:
        return Thing(size=int(scale * 10))

    assert r.build("mine", {"scale": 0.5}).size == 5
    assert r.names() == ["mine", "thing"]
    with pytest.raises(ValueError, match="already registered"):
        r.add("mine", Thing)


def test_every_builtin_registry_validates_its_defaults():
    from mentor.tasks import TASK_SOURCES
    from mentor.teacher import REGISTRIES

    for r in (TASK_SOURCES, *REGISTRIES):
        assert isinstance(r, Registry)
        for name in r.names():
            if name != "regex":  # the regex segmenter requires its pattern
                assert isinstance(r.defaults(name), dict)
    from mentor.grade.checks import CHECKS

    assert isinstance(CHECKS, Registry) and "python_tests" in CHECKS and "answer" in CHECKS.names()
