"""One plug-in mechanism for every point where users plug in.

A `Registry` maps names to factories. Each entry carries a pydantic model of the factory's arguments,
derived from its keyword parameters (their annotations and defaults are the single source of truth),
so a config's `{name, args}` is validated before anything is built, and errors name the config path
and the nearest valid name::

    SELECTORS = Registry("selector", "curriculum.selector")
    SELECTORS.add("uniform", UniformSelector)            # built-ins: listed where the registry lives

    @SELECTORS.register("mine")                          # a user's own plug-in
    class MySelector: ...

    selector = SELECTORS.build(spec.name, spec.args, context=ctx)

Parameters named in `context` are supplied by the host at build time (a tokenizer, a critic), never by
the config. Built-ins are listed explicitly next to the registry, not discovered through import side
effects or subclass scans.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from mentor.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    args: type[BaseModel]  # validates the config's `args` for this plug-in
    context: tuple[str, ...]  # keyword parameters the host supplies


class Registry(Generic[T]):
    """Named factories of one kind of plug-in, each with a pydantic model of its arguments."""

    def __init__(self, kind: str, config_key: str) -> None:
        self.kind = kind  # "selector", "credit assigner", ...
        self.config_key = config_key  # where its {name, args} sits in the config, for error messages
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, factory: Callable[..., T], *, context: tuple[str, ...] = (),
            args: type[BaseModel] | None = None) -> None:
        """Register `factory` under `name`. Its arguments' model is derived from its keyword parameters,
        unless `args` gives one (a model with validators of its own, as rubric checks have)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = Entry(name, factory, args or _args_model(name, factory, context), context)

    def register(self, name: str, *, context: tuple[str, ...] = (),
                 args: type[BaseModel] | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator form of `add`, for users' own plug-ins."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            self.add(name, factory, context=context, args=args)
            return factory

        return deco

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str, *, where: str | None = None) -> Entry:
        found = self._entries.get(name)
        if found is None:
            near = difflib.get_close_matches(str(name), self.names(), n=1)
            guess = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"unknown {self.kind} '{name}'.{guess}", where=where or f"{self.config_key}.name",
                              fix=f"use one of: {', '.join(self.names())}")
        return found

    def validate(self, name: str, args: Mapping[str, Any] | None = None, *, where: str | None = None) -> dict[str, Any]:
        """The plug-in's arguments, checked and completed with their defaults."""
        entry = self.entry(name, where=f"{where}.name" if where else None)
        base = where or self.config_key
        try:
            return entry.args.model_validate(dict(args or {})).model_dump()
        except ValidationError as exc:
            raise _explain(exc, entry, self.kind, f"{base}.args") from None

    def build(self, name: str, args: Mapping[str, Any] | None = None, *, where: str | None = None,
              **context: Any) -> T:
        entry = self.entry(name, where=f"{where}.name" if where else None)
        values = self.validate(name, args, where=where)
        given = {k: v for k, v in context.items() if k in entry.context}
        return entry.factory(**values, **given)

    def defaults(self, name: str) -> dict[str, Any]:
        return self.validate(name, {})


def _args_model(name: str, factory: Callable[..., Any], context: tuple[str, ...]) -> type[BaseModel]:
    """A strict pydantic model of the factory's keyword parameters, minus the host's context."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    hints = typing.get_type_hints(target)
    fields: dict[str, Any] = {}
    for param in inspect.signature(target).parameters.values():
        if param.name in ("self", *context) or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), default)
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False)
    return create_model(f"{name}_args", __config__=config, **fields)


def _explain(exc: ValidationError, entry: Entry, kind: str, base: str) -> ConfigError:
    valid = list(entry.args.model_fields)
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            near = difflib.get_close_matches(loc, valid, n=1)
            guess = f" Did you mean '{near[0]}'?" if near else ""
            lines.append(f"unknown argument '{loc}'.{guess}")
        elif err["type"] == "missing":
            lines.append(f"missing argument '{loc}'.")
        else:
            lines.append(f"'{loc}': {err['msg']} (got {err.get('input')!r}).")
    return ConfigError(f"{kind} '{entry.name}': " + " ".join(lines), where=base,
                       fix=f"valid arguments: {', '.join(valid) or '(none)'}")
