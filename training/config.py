"""Loading a recipe's config: its preset, then a file (TOML or YAML), then overrides and ``--set``s.

A run is described by one config of its recipe's type (each recipe folder has its ``config.py``).
Presets are plain dicts layered under the user's file, so ``--preset realesrnet-x4plus --config
mine.toml --set optim.lr_g=5e-5`` reads left to right.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from .config_schema import ConfigError, from_dict, merge, parse_override, set_dotted, toml_module
from .recipes import RECIPES, recipe_named
from .recipes.realesrgan import PRESETS, TrainConfig  # compatibility: the Real-ESRGAN recipe's, imported from here before


def load_config(
    path: str | os.PathLike | None = None,
    *,
    preset: str | None = None,
    base: dict | None = None,
    overrides: dict | None = None,
    sets: list[str] | tuple[str, ...] = (),
    recipe: str = "realesrgan",
):
    """Preset (or ``base``, a saved config), then the file (TOML or YAML; it may name its own ``preset``),
    then ``overrides``, then ``--set``s, as ``recipe``'s config type."""
    kind = recipe_named(recipe)
    file_data = read_config_file(path) if path else {}
    preset = preset or file_data.pop("preset", None) or kind.default_preset
    file_data.pop("preset", None)
    if preset not in kind.presets:
        raise ConfigError(f"preset: {preset!r} is not known. Allowed values: {', '.join(kind.presets)}")
    # A deep copy: --set writes into nested sections, which must not be the preset's own dicts.
    data = copy.deepcopy(merge(merge(base if base is not None else kind.presets[preset], file_data), overrides or {}))
    for text in sets:
        key, value = parse_override(text)
        set_dotted(data, key, value)
    return from_dict(kind.config_type, data).validate()


def saved_config(output_dir):
    """The config a run folder was started with (for ``--resume`` without ``--config``)."""
    from .engine.run_files import RunFiles

    state = RunFiles(output_dir).load_state()
    name = state.get("recipe") or next(r.name for r in RECIPES.values() if r.reads_unnamed_states)
    return from_dict(recipe_named(name).config_type, state["config"]).validate()


def read_config_file(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        tomllib = toml_module()
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML ({err})") from err
    if suffix in (".yml", ".yaml"):
        try:
            import yaml
        except ImportError as err:
            raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use a .toml file") from err
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        return loaded
    raise ConfigError(f"{path}: config files must be .toml, .yaml or .yml")


__all__ = ["PRESETS", "TrainConfig", "load_config", "read_config_file", "saved_config"]
