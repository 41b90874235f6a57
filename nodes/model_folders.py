"""Where the nodes look for model files: ComfyUI folder keys, extended and never replaced.

Core registers ``upscale_models`` (models/upscale_models plus whatever ``extra_model_paths.yaml``
adds) before custom nodes load. ``facerestore_models`` and ``facedetection`` are the keys the
community face packs already use; core has neither, but a user's ``extra_model_paths.yaml`` may
have created them. ``translation_models`` (pix2pix / CycleGAN generators) is ours: no pack runs them. We only ever add the default folder to an entry, so configured paths keep working.
"""

from __future__ import annotations

import os

import folder_paths

from ..gan_models.contract import Task
from ..tasks.wrong_model import PLACES

UPSCALE_MODELS = PLACES[Task.UPSCALE].folder  # "upscale_models": every folder key is in tasks.wrong_model.PLACES
FACE_MODELS = PLACES[Task.FACE_RESTORE].folder
FACE_DETECTORS = PLACES[Task.FACE_DETECT].folder
# The community AuraSR pack's key (GreenLandisaLie/AuraSR-ComfyUI: models/Aura-SR, or its own entry
# in extra_model_paths.yaml). Its files are listed with the upscalers; the key is adopted when
# that folder exists, and no folder is ever created for it.
AURASR_MODELS = "aura-sr"
AURASR_DEFAULT_FOLDER = "Aura-SR"
TRANSLATION_MODELS = PLACES[Task.TRANSLATE].folder  # pix2pix / CycleGAN generators: ours, no core or community key
ONNX = ".onnx"  # graphs from `ganpost export` run on onnxruntime through the same nodes
ONNX_OF = "ganpost_onnx_"  # + a key: that key's folders, listing only their ONNX files


def ensure_registered(key: str = UPSCALE_MODELS) -> None:
    """Create the folder key with the usual weight extensions and ONNX if missing; else add models/<key> if absent."""
    default = os.path.join(folder_paths.models_dir, key)
    entry = folder_paths.folder_names_and_paths.get(key)
    if entry is None:
        folder_paths.folder_names_and_paths[key] = ([default], {*folder_paths.supported_pt_extensions, ONNX})
    elif os.path.normpath(default) not in {os.path.normpath(p) for p in entry[0]}:
        entry[0].append(default)  # after the user's own paths: theirs are looked up first


def _shared_keys(key: str) -> list[str]:
    """Other keys whose files the ``key`` list also shows: the AuraSR pack's (upscalers), and the key's own
    folders' ONNX files where the key does not list them (core's upscale_models: its loader cannot run them,
    so core's extensions stay as they are and a key of ours lists them)."""
    shared = []
    if key == UPSCALE_MODELS:
        if AURASR_MODELS not in folder_paths.folder_names_and_paths:
            folder = os.path.join(folder_paths.models_dir, AURASR_DEFAULT_FOLDER)
            if os.path.isdir(folder):
                folder_paths.folder_names_and_paths[AURASR_MODELS] = (
                    [folder], set(folder_paths.supported_pt_extensions))
        if AURASR_MODELS in folder_paths.folder_names_and_paths:
            shared.append(AURASR_MODELS)
    folders, extensions = folder_paths.folder_names_and_paths[key]
    if ONNX not in extensions:
        folder_paths.folder_names_and_paths[ONNX_OF + key] = (list(folders), {ONNX})  # the key's folders, as now
        shared.append(ONNX_OF + key)
    return shared


def list_models(key: str = UPSCALE_MODELS) -> list[str]:
    ensure_registered(key)
    names = list(folder_paths.get_filename_list(key))
    for shared in _shared_keys(key):
        names += [n for n in folder_paths.get_filename_list(shared) if n not in names]
    return names


def model_path(name: str, key: str = UPSCALE_MODELS) -> str:
    """Full path of a listed file; FileNotFoundError (naming the file and the folder key) if it is gone."""
    ensure_registered(key)
    if name not in folder_paths.get_filename_list(key):
        for shared in _shared_keys(key):
            if name in folder_paths.get_filename_list(shared):
                return folder_paths.get_full_path_or_raise(shared, name)
    return folder_paths.get_full_path_or_raise(key, name)


def modified_time(name: str, key: str = UPSCALE_MODELS) -> float:
    """The file's mtime, for a loader's ``fingerprint_inputs``: a file replaced under the same name
    is loaded again (ComfyUI would otherwise reuse the cached output). NaN when it is gone."""
    try:
        return os.path.getmtime(model_path(name, key))
    except OSError:
        return float("nan")
