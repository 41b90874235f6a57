"""The image commands by name, and the settings one of them runs with when no command line made them.

A Ray actor (``integrations.ray``) builds a command's stages from the same ``argparse.Namespace``
the command line makes, so an option means the same thing everywhere: ``command_settings`` fills
it from the command's own parser (its defaults) and from keywords named as the options' ``dest``
(``model=``, ``outscale=``, ``upscaler=`` for ``--background-model``), checked against that parser.
"""

from __future__ import annotations

import argparse

from ..gan_models.errors import InvalidOptionError
from .parser import OneLineErrorParser
from .restore_faces_command import add_restore_faces_parser, restore_faces_stages
from .stages import StagesFactory
from .translate_command import add_translate_parser, translate_stages
from .upscale_command import add_upscale_parser, upscale_stages

COMMANDS: dict[str, tuple] = {
    "upscale": (add_upscale_parser, upscale_stages),
    "restore-faces": (add_restore_faces_parser, restore_faces_stages),
    "translate": (add_translate_parser, translate_stages),
}
# Where and how a folder run goes: a caller that brings its own (source, target) pairs has none of these.
NOT_FOR_PAIRS = {"inputs", "output", "ext", "devices", "workers", "ray", "help", "verbose"}


def stages_factory(command: str) -> StagesFactory:
    return COMMANDS[_known(command)][1]


def command_settings(command: str, **options) -> argparse.Namespace:
    """``ganpost <command>``'s settings with its defaults, ``options`` (by option name) in place of flags."""
    parser = _parser(_known(command))
    actions = {a.dest: a for a in parser._actions if a.dest not in NOT_FOR_PAIRS}  # noqa: SLF001 - as flag_names
    unknown = sorted(set(options) - set(actions))
    if unknown:
        raise InvalidOptionError(f"{command} takes no option {', '.join(map(repr, unknown))}; its options are "
                                 f"{', '.join(sorted(actions))}.")
    settings = argparse.Namespace(**parser._defaults, verbose=False, cli_flags={})  # noqa: SLF001 - run, command_name
    for name, action in actions.items():
        default = action.default
        if isinstance(default, str) and action.type is not None:  # argparse converts string defaults too
            default = action.type(default)
        setattr(settings, name, options.get(name, default))
        if action.required and getattr(settings, name) is None:
            raise InvalidOptionError(f"{command} needs {name}= (its {max(action.option_strings, key=len)} flag).")
    return settings


def _known(command: str) -> str:
    if command not in COMMANDS:
        raise InvalidOptionError(f"no image command {command!r}; choose one of {', '.join(COMMANDS)}.")
    return command


def _parser(command: str) -> argparse.ArgumentParser:
    sub = OneLineErrorParser(prog="ganpost").add_subparsers()
    COMMANDS[command][0](sub)
    return sub.choices[command]
