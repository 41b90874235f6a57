"""The argument parser every ``ganpost`` command (and ``ganpost train <recipe>``) is made of.

argparse answers a bad option with the whole usage block and exit status 2; ganpost promises one
line that names the problem and where the help is, and status 1 like every other error.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from .flag_names import flags_of, in_cli_terms

USAGE_ERROR_STATUS = 1
_UNKNOWN_OWNER = "_ganpost_unknown_owner"  # the command whose arguments held the unrecognised ones


class OneLineErrorParser(argparse.ArgumentParser):
    """``ganpost <cmd>: error: <what>; see ganpost <cmd> --help`` on stderr, then exit status 1.

    Subparsers are made by ``add_subparsers``, which defaults to the parent's class, so every
    level (``ganpost train realesrgan``) gets this behaviour without naming it.
    """

    def error(self, message: str) -> NoReturn:
        self._fail(self.prog, in_cli_terms(message, flags_of(self)))  # a type check may quote a task's words

    def _fail(self, prog: str, message: str) -> NoReturn:
        self.exit(USAGE_ERROR_STATUS, f"{prog}: error: {message.rstrip('.')}; see {prog} --help\n")

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        # The innermost command returns first; its flags name the options in the run's error messages.
        if not hasattr(parsed, "cli_flags"):
            parsed.cli_flags = flags_of(self)
        if extras and not hasattr(parsed, _UNKNOWN_OWNER):
            setattr(parsed, _UNKNOWN_OWNER, self.prog)
        return parsed, extras

    def parse_args(self, args=None, namespace=None):
        # argparse reports unknown arguments from the top parser ("ganpost: error: ..."); name the
        # subcommand that was given them, whose --help lists what it takes.
        parsed, extras = self.parse_known_args(args, namespace)
        owner = getattr(parsed, _UNKNOWN_OWNER, self.prog)
        if hasattr(parsed, _UNKNOWN_OWNER):
            delattr(parsed, _UNKNOWN_OWNER)
        if extras:
            self._fail(owner, f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def whole_number(minimum: int, what: str = "a whole number"):
    """An argparse type: a whole number ≥ ``minimum``, refused in words naming ``what`` it counts."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} ≥ {minimum}, not {text!r}")
        return value

    return parse


positive_int = whole_number(1)
non_negative_int = whole_number(0)
