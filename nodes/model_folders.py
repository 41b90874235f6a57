"""Where the nodes look for model files: ComfyUI's own ``upscale_models`` folder key.

Core registers ``upscale_models`` (models/upscale_models plus whatever ``extra_model_paths.yaml``
adds) before custom nodes load. We only ever extend that entry, never replace it, so paths the
user configured keep working.
"""

from __future__ import annotations

import os

import folder_paths

UPSCALE_MODELS = "upscale_models"


def ensure_registered(key: str = UPSCALE_MODELS) -> None:
    """Create the folder key with the usual weight extensions if this ComfyUI lacks it; else leave it alone."""
    if key not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[key] = (
            [os.path.join(folder_paths.models_dir, key)], set(folder_paths.supported_pt_extensions))


def list_models(key: str = UPSCALE_MODELS) -> list[str]:
    ensure_registered(key)
    return folder_paths.get_filename_list(key)


def model_path(name: str, key: str = UPSCALE_MODELS) -> str:
    """Full path of a listed file; FileNotFoundError (naming the file and the folder key) if it is gone."""
    ensure_registered(key)
    return folder_paths.get_full_path_or_raise(key, name)
