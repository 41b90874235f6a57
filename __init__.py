"""ganpost: GAN post-processing (Real-ESRGAN upscaling and more) for ComfyUI, diffusers and the command line.

The repository root is both this pip package and a ComfyUI custom-node folder. Importing it
never touches ComfyUI; ComfyUI finds the nodes through :func:`comfy_entrypoint`.
"""

if __package__:  # empty only when pytest, in a checkout whose folder is no Python name (ganpost-main from
    # a zip), imports this file as a lone module to look for setup_module: no package to import from then
    from .gan_models import GanpostError, ModelDescriptor, load_model
    from .gan_models.onnx_export import export_onnx  # needs the onnx extra only when called
    from .tasks import detect_faces, restore_faces, restore_faces_detailed, translate, upscale

__version__ = "0.1.0"
# ComfyUI serves this folder at /extensions/<pack folder>/; its node help panel fetches
# docs/<node_id>.md from there (one page per node, tests/nodes/test_nodes_docs.py checks them).
WEB_DIRECTORY = "./web"
__all__ = ["GanpostError", "ModelDescriptor", "detect_faces", "export_onnx", "load_model", "restore_faces",
           "restore_faces_detailed", "translate", "upscale", "__version__"]


async def comfy_entrypoint():
    """ComfyUI's V3 entry point; only ComfyUI calls it, so ``nodes`` (which imports comfy) loads lazily."""
    from .nodes import GanpostExtension

    return GanpostExtension()
