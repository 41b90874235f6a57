"""Compatibility path: image folders moved to ``components/images.py``, super-resolution crops and held-out
images to ``components/sr_data.py``, the sampler to ``engine/sampling.py``."""

from .components.images import CACHE_BUDGET_BYTES, DatasetError, image_size, list_images, load_rgb  # noqa: F401
from .components.sr_data import HighResolutionCrops, PairedCrops, match_pairs, validation_images  # noqa: F401
from .engine.sampling import SampleIds  # noqa: F401
