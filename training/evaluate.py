"""Compatibility path for ``python -m ganpost.training.evaluate``: it runs ``ganpost evaluate``
(cli/train_tools.py; the function is components/sr_validation.py)."""

from __future__ import annotations

import sys

from .components.sr_validation import evaluate  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    from ..cli.main import main as ganpost

    return ganpost(["evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
