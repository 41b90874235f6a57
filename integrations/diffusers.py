"""diffusers integration: a post-processor for ``pipe(...).images``, ModelMixin wrappers, a modular block.

diffusers is optional (``pip install ganpost[diffusers]``); it is imported only when one of these
is first used. One wrapper class is made per registry entry that names one (``wrapper_name``):
it holds the official network's sub-modules directly, so its saved safetensors carry the
official key names and ``ganpost.load_model`` reads them too.
"""

from __future__ import annotations

import functools
import inspect
import os

from ..gan_models import registry
from ..gan_models.contract import ModelDescriptor
from ..gan_models.errors import InvalidOptionError
from ..gan_models.loader import describe_state_dict, load_model
from ..runtime.imaging.convert import to_output_type
from ..tasks.upscale import upscale as _upscale


def _require_diffusers():
    try:
        import diffusers
    except ImportError as err:
        raise ImportError("the diffusers integration needs diffusers: pip install 'ganpost[diffusers]'") from err
    return diffusers


class GANPostProcessor:
    """Upscale what a pipeline returns, in the same form: PIL list, ``np`` (B×H×W×C) or ``pt`` (B×C×H×W).

    ``pt`` keeps the pipeline's dtype and device; alpha and 16-bit data are kept. ``output_type``
    converts instead. Options are those of :func:`ganpost.upscale` (tile, outscale, size, precision, ...).
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
        return result if output_type is None else to_output_type(result, output_type)


@functools.cache
def _model_classes() -> dict[str, type]:
    diffusers = _require_diffusers()
    from diffusers.configuration_utils import register_to_config

    class OfficialNetWrapper:
        """Adopts the official network's children and plain attributes, so key names stay official."""

        entry: registry.FamilyEntry

        def _adopt(self, net) -> None:
            for child_name, child in net.named_children():
                self.add_module(child_name, child)
            for attr, value in vars(net).items():
                if not attr.startswith("_") and isinstance(value, (int, float, str, bool, dict)):
                    setattr(self, attr, value)
            self._net_forward = type(net).forward

        def forward(self, x):
            return self._net_forward(self, x)

        @classmethod
        def from_single_file(cls, path_or_name, torch_dtype=None, **load_options):
            """Build from an official checkpoint (``.pth`` with params_ema, ``.safetensors``, a known name)."""
            descriptor = load_model(path_or_name, **load_options)
            if descriptor.architecture != cls.entry.architecture:
                raise InvalidOptionError(f"{path_or_name} is a {descriptor.architecture}, "
                                         f"not a {cls.entry.architecture}")
            model = cls(**descriptor.hyperparameters)
            model.load_state_dict(descriptor.module.state_dict(), strict=True)
            return (model.to(torch_dtype) if torch_dtype else model).eval()

        def to_descriptor(self) -> ModelDescriptor:
            state = {k: v.float() for k, v in self.state_dict().items()}
            options = {k: self.config.get(k) for k in self.entry.options}
            return describe_state_dict(state, **options)

    def make(entry: registry.FamilyEntry) -> type:
        def __init__(self, **hyperparameters):
            diffusers.ModelMixin.__init__(self)
            self._adopt(entry.create(**hyperparameters))

        signature = inspect.signature(entry.create)
        __init__.__signature__ = signature.replace(
            parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                        *signature.parameters.values()])
        namespace = {"entry": entry, "__init__": register_to_config(__init__),
                     "__doc__": f"{entry.architecture} as a diffusers ModelMixin, with the official key names."}
        cls = type(entry.wrapper_name, (OfficialNetWrapper, diffusers.ModelMixin, diffusers.ConfigMixin), namespace)
        cls.__module__ = __name__
        return cls

    return {e.wrapper_name: make(e) for e in registry.DETECTION_ORDER if e.wrapper_name}


@functools.cache
def _block_class():
    _require_diffusers()
    from diffusers.modular_pipelines import ComponentSpec, InputParam, ModularPipelineBlocks, OutputParam

    class GANUpscaleStep(ModularPipelineBlocks):
        """Upscales ``images`` with the ``upscaler`` component (any ganpost wrapper); can follow any decode step."""

        @property
        def expected_components(self):
            return [ComponentSpec("upscaler")]

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
    if name == "GANUpscaleStep":
        return _block_class()
    if name.endswith("Model") and name in _model_classes():
        return _model_classes()[name]
    raise AttributeError(name)
