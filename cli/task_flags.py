"""A task's flags, generated from what the task declares: its ``OPTIONS`` offered to the CLI and the
forward options its families declare, so a new option or family reaches ``ganpost`` with no CLI edit.

Each flag parses its text with ``Option.parse``: the task's own rule refuses a bad value, on one
line, before any model is loaded; the value stored under the option's name is what the task takes.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..gan_models.contract import Task
from ..gan_models.errors import InvalidOptionError
from ..gan_models.options import CLI, Option, Options
from ..tasks.shared_options import forward_options
from .flag_names import flags_of, in_cli_terms

# Where the command line has always differed from the declaration; scripts and --help rely on these.
CLI_DIFFERENCES = {
    (Task.TRANSLATE, "seed"): {"default": 0},  # the task's None means seed 0 as well; --help has said 0 all along
    (Task.FACE_RESTORE, "face_index"): {"metavar": "LIST"},  # "0,2": a list, not one number
}


def cli_options(options: Options, task: Task) -> list[Option]:
    """The task's options the CLI offers, then its families' forward options (a name once)."""
    offered = {o.name: o for o in options.offered_to(CLI)}
    for option in forward_options(task).offered_to(CLI):
        offered.setdefault(option.name, option)
    return list(offered.values())


def add_task_options(parser: argparse.ArgumentParser, options: Options, task: Task) -> None:
    """One flag per option of :func:`cli_options`, stored under the option's name."""
    added = []
    for option in cli_options(options, task):
        settings = {"dest": option.name, "default": option.default, "help": _help(option)}
        if option.type is bool:
            settings["action"] = "store_true" if not option.default else argparse.BooleanOptionalAction
        else:
            settings.update(type=_reader(option), choices=option.choices or None)
        added.append(parser.add_argument(option.cli_flag, **settings | CLI_DIFFERENCES.get((task, option.name), {})))
    flags = flags_of(parser)
    for action in added:  # the declarations name keywords ("runs model_b"); --help names flags
        action.help = in_cli_terms(action.help, flags)


def task_options(args: argparse.Namespace, options: Options, task: Task, **more) -> dict:
    """The values of the task's flags by option name, as the task's keyword arguments (plus ``more``)."""
    return {o.name: getattr(args, o.name) for o in cli_options(options, task)} | more


def _reader(option: Option):
    option = dataclasses.replace(option, none=None)  # its refusals need not offer None: no flag can give it

    def read(text: str):
        try:
            return option.parse(text)  # sizes: "1920x1080" → (1920, 1080) by the option's own from_text
        except InvalidOptionError as err:  # argparse shows an ArgumentTypeError's text as it is
            raise argparse.ArgumentTypeError(str(err)) from None

    read.__name__ = option.name  # argparse names the type in some of its messages
    return read


def _help(option: Option) -> str:
    text = option.help
    if option.type in (int, float) and option.convert is None:
        shown = dataclasses.replace(option, none=None, words=(),  # None is no CLI value; a seed's 2**64 - 1 no news
                                    maximum=option.maximum if (option.maximum or 0) < 2**32 else None)
        if (shown.minimum, shown.maximum) != (None, None) and f"{shown.minimum:g} to" not in text:
            text += f"; {shown.rule()}"
    if option.default is None and option.none:
        text += f" (default: {option.none})"
    elif option.type is not bool:
        text += f" (default: {option.default:g})" if option.type is float else f" (default: {option.default})"
    return text.replace("%", "%%")  # argparse %-formats help
