"""Turning plain dicts (from TOML, YAML or flags) into typed dataclass configs, strictly.

Every problem is a :class:`ConfigError` that names the dotted field, what was given and what is
allowed; unknown keys are errors too (a misspelt key silently ignored is hours of wrong training).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ..gan_models.errors import GanpostError


class ConfigError(GanpostError):
    """A training config with an unknown key or a bad value."""


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; missing fields keep their defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a table of settings, got {type(data).__name__} {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown setting {_dotted(where, unknown[0])!r}. Known settings in "
            f"{where or 'the top level'}: {', '.join(sorted(fields))}"
        )
    values = {name: convert(hints[name], data[name], _dotted(where, name)) for name in data}
    return cls(**values)


def to_dict(config: Any) -> dict:
    """A dataclass config as plain dicts/lists/scalars (tuples become lists), for saving."""
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def convert(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the type ``hint`` and convert it (lists to tuples, ints to floats)."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not allowed. Allowed values: {', '.join(map(repr, allowed))}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return convert(option, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of: {_type_name(hint)}")
    if origin is tuple:
        return _convert_tuple(hint, value, where)
    if origin is dict:
        key_type, value_type = get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return {convert(key_type, k, f"{where}.{k}"): convert(value_type, v, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value
    raise TypeError(f"config schema uses an unsupported type {hint!r} at {where}")


def _convert_tuple(hint: Any, value: Any, where: str) -> tuple:
    args = get_args(hint)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(f"{where}: expected a list of {len(args)} values, got {len(value)}: {list(value)!r}")
    return tuple(convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))


def toml_module():
    """tomllib (Python 3.11+) or its backport tomli."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    return tomllib


def parse_override(text: str) -> tuple[str, Any]:
    """``losses.gan_weight=0.05`` → ("losses.gan_weight", 0.05); the value is read as TOML."""
    tomllib = toml_module()

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: write it as section.key=value, e.g. --set optim.lr_g=5e-5")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words (paths, names) need no quotes
    return key.strip(), value


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    node = data
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part!r} is a value, not a section")
    node[last] = value


def merge(base: dict, extra: dict) -> dict:
    """``extra`` over ``base``, section by section."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _dotted(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


