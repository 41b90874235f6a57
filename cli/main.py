"""``ganpost``: the parser, and turning every failure into one line and an exit status."""

from __future__ import annotations

import argparse
import os
import sys

from ..gan_models.errors import GanpostError
from .commands import COMMANDS
from .console import console, log_to_console
from .flag_names import in_cli_terms
from .models_command import add_models_parser
from .parser import OneLineErrorParser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    undo_logging = log_to_console(args.verbose)
    try:
        return args.run(args)
    except BrokenPipeError:  # `ganpost models | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps interpreter shutdown from failing on flush
        return 0
    except (GanpostError, ValueError, OSError) as err:
        console.line(f"ganpost: error: {in_cli_terms(str(err), args.cli_flags)}")
        return 1
    except MemoryError as err:  # before the first file (a model too large to load): one line too
        console.line(f"ganpost: error: out of memory ({str(err).strip() or 'the allocator refused'})")
        return 1
    except KeyboardInterrupt as stop:
        console.line(f"ganpost: {getattr(stop, 'reason', 'interrupted')}; no partial output was left behind")
        return getattr(stop, "exit_status", 130)
    finally:
        undo_logging()


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="ganpost", description="GAN post-processing: Real-ESRGAN upscaling, face restoration, pix2pix/CycleGAN "
                                    "translation and fine-tuning.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is happening")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for add_command, _ in COMMANDS.values():  # upscale, restore-faces, translate
        add_command(sub)
    add_models_parser(sub)
    from .train_command import add_train_parser  # lazily: `ganpost upscale` never pays for training imports
    from .train_tools import add_train_tool_parsers

    add_train_parser(sub)
    add_train_tool_parsers(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
