"""Compatibility path for ``python -m ganpost.training.sample_data``: it runs ``ganpost sample-data``
(cli/train_tools.py; the photos are components/sample_photos.py)."""

from __future__ import annotations

import sys

from .components.sample_photos import HELD_OUT, TRAIN, skimage_data_dir, write_split  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    from ..cli.main import main as ganpost

    return ganpost(["sample-data", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
