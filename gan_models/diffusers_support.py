"""diffusers integration: a post-processor for ``pipe(...).images``, ModelMixin wrappers, a modular block.

diffusers is optional (``pip install ganpost[diffusers]``); it is imported only when one of these
is first used. The wrappers hold the official sub-modules directly, so their saved safetensors
carry the official key names and ``ganpost.load_model`` reads them too.
"""

from __future__ import annotations

import functools
import os

from .upscale import upscale as _upscale
from .archs import RRDBNet, SRVGGNetCompact
from .descriptor import ModelDescriptor
from .errors import InvalidOptionError
from .loader import describe_state_dict, load_model


def _require_diffusers():
    try:
        import diffusers
    except ImportError as err:
        raise ImportError("the diffusers integration needs diffusers: pip install 'ganpost[diffusers]'") from err
    return diffusers


class GANPostProcessor:
    """Upscale what a pipeline returns, in the same form: PIL list, ``np`` (B×H×W×3) or ``pt`` (B×3×H×W).

    ``pt`` keeps the pipeline's dtype and device. ``output_type`` converts instead. Options are
    those of :func:`ganpost.upscale` (tile, outscale, size, precision, device, ...).
    """

    def __init__(self, model, **upscale_options):
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        elif not isinstance(model, ModelDescriptor):
            model = model.to_descriptor()  # one of the ModelMixin wrappers below
        self.model, self.options = model, upscale_options

    def __call__(self, images, output_type: str | None = None, **overrides):
        images = getattr(images, "images", images)  # a pipeline output object
        result = _upscale(self.model, images, **(self.options | overrides))
        return result if output_type is None else _convert(result, output_type)


def _convert(images, output_type: str):
    import numpy as np
    import torch
    from PIL import Image

    if output_type not in ("pil", "np", "pt"):
        raise InvalidOptionError(f"output_type must be 'pil', 'np' or 'pt', not {output_type!r}")
    if isinstance(images, list):
        array = np.stack([np.asarray(i.convert("RGB"), dtype=np.float32) / 255 for i in images])
    elif isinstance(images, torch.Tensor):
        array = images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    else:
        array = images.astype(np.float32)
    if output_type == "np":
        return array
    if output_type == "pt":
        return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()
    return [Image.fromarray((a * 255).round().clip(0, 255).astype(np.uint8)) for a in array]


@functools.cache
def _model_classes():
    diffusers = _require_diffusers()
    from diffusers.configuration_utils import register_to_config

    class _OfficialNetMixin:
        """Holds the official network's sub-modules directly, so key names stay official."""

        arch: type

        def _adopt(self, net) -> None:
            for child_name, child in net.named_children():
                self.add_module(child_name, child)
            for attr in ("unshuffle", "upscale"):
                if hasattr(net, attr):
                    setattr(self, attr, getattr(net, attr))

        def forward(self, x):
            return self.arch.forward(self, x)

        @classmethod
        def from_single_file(cls, path_or_name, torch_dtype=None, **load_options):
            """Build from an official checkpoint (``.pth`` with params_ema, ``.safetensors``, a known name)."""
            descriptor = load_model(path_or_name, **load_options)
            if descriptor.architecture != cls.arch.__name__:
                raise InvalidOptionError(f"{path_or_name} is a {descriptor.architecture}, not a {cls.arch.__name__}")
            model = cls(**descriptor.hyperparameters)
            model.load_state_dict(descriptor.module.state_dict(), strict=True)
            return (model.to(torch_dtype) if torch_dtype else model).eval()

        def to_descriptor(self) -> ModelDescriptor:
            state = {k: v.float() for k, v in self.state_dict().items()}
            return describe_state_dict(state, act_type=self.config.get("act_type"))

    class RealESRGANModel(_OfficialNetMixin, diffusers.ModelMixin, diffusers.ConfigMixin):
        arch = RRDBNet

        @register_to_config
        def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32):
            super().__init__()
            self._adopt(RRDBNet(num_in_ch, num_out_ch, scale, num_feat, num_block, num_grow_ch))

    class SRVGGNetCompactModel(_OfficialNetMixin, diffusers.ModelMixin, diffusers.ConfigMixin):
        arch = SRVGGNetCompact

        @register_to_config
        def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type="prelu"):
            super().__init__()
            self._adopt(SRVGGNetCompact(num_in_ch, num_out_ch, num_feat, num_conv, upscale, act_type))

    for cls in (RealESRGANModel, SRVGGNetCompactModel):
        cls.__qualname__ = cls.__name__
    return {"RealESRGANModel": RealESRGANModel, "SRVGGNetCompactModel": SRVGGNetCompactModel}


@functools.cache
def _block_class():
    _require_diffusers()
    from diffusers.modular_pipelines import ComponentSpec, InputParam, ModularPipelineBlocks, OutputParam

    classes = _model_classes()

    class GANUpscaleStep(ModularPipelineBlocks):
        """Upscales ``images`` with the ``upscaler`` component; can follow any decode step."""

        @property
        def expected_components(self):
            return [ComponentSpec("upscaler", classes["RealESRGANModel"])]

        @property
        def inputs(self):
            return [InputParam("images", required=True), InputParam("output_type", default="pil")]

        @property
        def intermediate_outputs(self):
            return [OutputParam("images")]

        def __call__(self, components, state):
            block_state = self.get_block_state(state)
            processor = GANPostProcessor(components.upscaler)
            block_state.images = processor(block_state.images, output_type=block_state.output_type)
            self.set_block_state(state, block_state)
            return components, state

    return GANUpscaleStep


def __getattr__(name):
    if name in ("RealESRGANModel", "SRVGGNetCompactModel"):
        return _model_classes()[name]
    if name == "GANUpscaleStep":
        return _block_class()
    raise AttributeError(name)
