"""Training and held-out photos anyone can get offline: the ones scikit-image ships in its wheel
(``ganpost sample-data DIR`` writes DIR/train and DIR/val as PNG).

The split is fixed here so the default model's numbers can be reproduced: the held-out photos
never appear in training (the two motorcycle views are one scene, so both are in training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

TRAIN = ("astronaut.png", "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "motorcycle_left.png",
         "motorcycle_right.png", "ihc.png", "brick.png", "grass.png", "gravel.png", "moon.png", "coins.png")
HELD_OUT = ("chelsea.png", "coffee.png", "camera.png")


def skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError as err:
        raise SystemExit("the sample photos come from scikit-image: pip install scikit-image") from err
    return Path(skimage.__file__).parent / "data"


def write_split(target: Path) -> dict[str, list[Path]]:
    source = skimage_data_dir()
    written: dict[str, list[Path]] = {}
    for split, names in (("train", TRAIN), ("val", HELD_OUT)):
        folder = target / split
        folder.mkdir(parents=True, exist_ok=True)
        written[split] = []
        for name in names:
            with Image.open(source / name) as im:
                rgb = np.asarray(im.convert("RGB"))  # grey photos become three equal channels
            path = folder / (Path(name).stem + ".png")
            Image.fromarray(rgb).save(path)
            written[split].append(path)
    return written
