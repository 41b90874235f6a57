"""diffusers integration: a post-processor for ``pipe(...).images``, ModelMixin wrappers, modular blocks
(upscale, restore faces, translate).

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
from ..tasks.restore_faces import restore_faces as _restore_faces
from ..tasks.translate import translate as _translate
from ..tasks.upscale import takes_seed, upscale as _upscale


def _require_diffusers():
    try:
        import diffusers
    except ImportError as err:
        raise ImportError("the diffusers integration needs diffusers: pip install 'ganpost[diffusers]'") from err
    return diffusers


class GANPostProcessor:
    """Upscale and/or restore faces in what a pipeline returns, in the same form: PIL list, ``np`` (B×H×W×C)
    or ``pt`` (B×C×H×W).

    ``GANPostProcessor(upscaler)`` upscales, with the options of :func:`ganpost.upscale` (tile, outscale,
    size, precision, seed, ...; ``seed`` reaches only upscalers that draw noise, such as AuraSR).
    ``GANPostProcessor(faces=GFPGAN, detector=RetinaFace)`` restores faces, with the
    options of :func:`ganpost.restore_faces` (strength, color_fix, threshold, max_faces, seed, ...); given an
    upscaler too, the background is upscaled by it and the faces are pasted at that size (``upscale``
    defaults to the upscaler's scale). Models are a ``load_model`` result, a file or known name, or one of
    the ModelMixin wrappers below (``GFPGANModel``, ``RealESRGANModel``, ...). The detector defaults to
    ``retinaface_resnet50``; ``parser`` (ParseNet/BiSeNet, e.g. ``"parsing_parsenet"``) limits each pasted
    face to face parts and hair.

    ``GANPostProcessor(translator=G)`` translates with a pix2pix/CycleGAN generator, with the options of
    :func:`ganpost.translate` (direction, size_mode, test_time, seed, ...); ``translator_b`` is a
    CycleGAN's B→A generator for ``direction="BtoA"``. A translator works alone: chain two
    processors to translate and then upscale.

    ``pt`` keeps the pipeline's dtype and device; alpha and 16-bit data are kept. ``output_type``
    converts instead.
    """

    def __init__(self, upscaler=None, *, faces=None, detector=None, parser=None, model=None, translator=None,
                 translator_b=None, **options):
        if model is not None:  # the keyword of the upscaler-only processor
            if upscaler is not None:
                raise InvalidOptionError("give the upscaler once: positionally or as model=, not both")
            upscaler = model
        if translator is None and translator_b is not None:
            raise InvalidOptionError("translator_b is a CycleGAN's second generator: give the first as translator=")
        if translator is not None and (upscaler is not None or faces is not None):
            raise InvalidOptionError("a translator works alone: chain two processors, e.g. "
                                     "GANPostProcessor(upscaler)(GANPostProcessor(translator=G)(images))")
        if upscaler is None and faces is None and translator is None:
            raise InvalidOptionError("GANPostProcessor needs an upscaler, a face model (faces=...), both, "
                                     "or a translator (translator=...)")
        self.translator = None if translator is None else as_descriptor(translator)
        self.translator_b = None if translator_b is None else as_descriptor(translator_b)
        self.upscaler = None if upscaler is None else as_descriptor(upscaler)
        self.faces = None if faces is None else as_descriptor(faces)
        self.detector = None if detector is None else as_descriptor(detector)
        self.parser = None if parser is None else as_descriptor(parser)
        if self.parser is not None and self.faces is None:
            raise InvalidOptionError("a face parser (parser=...) shapes the face paste-back: give a face model "
                                     "(faces=...) too")
        if self.faces is not None and self.upscaler is not None:
            options.setdefault("upscale", self.upscaler.scale)
        self.options = options

    @property
    def model(self) -> ModelDescriptor:
        """The upscaler (the one model of an upscale-only processor)."""
        return self.upscaler

    def __call__(self, images, output_type: str | None = None, **overrides):
        images = getattr(images, "images", images)  # a pipeline output object
        options = self.options | overrides
        if self.translator is not None:
            result = _translate(images, self.translator, model_b=self.translator_b, **options)
        elif self.faces is None:
            if not takes_seed(self.upscaler):
                options.pop("seed", None)  # a seed shared by a chain of processors: this model draws no noise
            result = _upscale(self.upscaler, images, **options)
        else:
            result = _restore_faces(images, self.faces, detector=self.detector, parser=self.parser,
                                    upscaler=self.upscaler, **options)
        return result if output_type is None else to_output_type(result, output_type)


def as_descriptor(model) -> ModelDescriptor:
    """A ganpost model from a descriptor, a file or known name, or a ModelMixin wrapper."""
    if isinstance(model, ModelDescriptor):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    if hasattr(model, "to_descriptor"):  # one of the ModelMixin wrappers below
        return model.to_descriptor()
    raise InvalidOptionError(f"a {type(model).__name__} is not a ganpost model: pass a file, a known name, "
                             "a load_model result or a ganpost ModelMixin wrapper")


@functools.cache
def _model_classes() -> dict[str, type]:
    diffusers = _require_diffusers()
    from diffusers.configuration_utils import register_to_config

    class OfficialNetWrapper:
        """Adopts the official network's children and plain attributes, so key names stay official."""

        entry: registry.FamilyEntry

        def _adopt(self, net) -> None:
            for child_name, child in net.named_children():
                self._modules[child_name] = child  # add_module refuses a name that is also a config key
            for attr, value in vars(net).items():
                if not attr.startswith("_") and isinstance(value, (int, float, str, bool, dict)):
                    setattr(self, attr, value)
            self._net_forward = type(net).forward

        def __getattr__(self, name):
            # Child modules before config values: AuraSR's ``style_network`` is both.
            modules = self.__dict__.get("_modules", {})
            if name in modules:
                return modules[name]
            return super().__getattr__(name)

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
def _block_classes() -> dict[str, type]:
    _require_diffusers()
    from diffusers.modular_pipelines import ComponentSpec, InputParam, ModularPipelineBlocks, OutputParam

    class GANUpscaleStep(ModularPipelineBlocks):
        """Upscales ``images`` with the ``upscaler`` component (any ganpost wrapper); can follow any decode step."""

        @property
        def expected_components(self):
            return [ComponentSpec("upscaler")]

        @property
        def inputs(self):
            return [InputParam("images", required=True), InputParam("output_type", default="pil"),
                    InputParam("upscale_seed", default=None)]

        @property
        def intermediate_outputs(self):
            return [OutputParam("images")]

        def __call__(self, components, state):
            block_state = self.get_block_state(state)
            processor = GANPostProcessor(components.upscaler, seed=block_state.upscale_seed)
            block_state.images = processor(block_state.images, output_type=block_state.output_type)
            self.set_block_state(state, block_state)
            return components, state

    class GANFaceRestoreStep(ModularPipelineBlocks):
        """Restores the faces in ``images`` with the ``face_restorer`` component (a ``GFPGANModel``).

        Place it after a decode step, or after :class:`GANUpscaleStep` so the faces are restored and pasted
        at the final resolution. ``face_detector`` is a RetinaFace file, known name or loaded model
        (default ``retinaface_resnet50``); ``face_parser`` an optional ParseNet/BiSeNet for the paste mask.
        """

        @property
        def expected_components(self):
            return [ComponentSpec("face_restorer")]

        @property
        def inputs(self):
            return [InputParam("images", required=True), InputParam("output_type", default="pil"),
                    InputParam("face_detector", default=None), InputParam("face_strength", default=1.0),
                    InputParam("color_fix", default="none"), InputParam("face_threshold", default=0.97),
                    InputParam("face_parser", default=None)]

        @property
        def intermediate_outputs(self):
            return [OutputParam("images")]

        def __call__(self, components, state):
            block_state = self.get_block_state(state)
            processor = GANPostProcessor(faces=components.face_restorer, detector=block_state.face_detector,
                                         parser=block_state.face_parser, strength=block_state.face_strength,
                                         color_fix=block_state.color_fix, threshold=block_state.face_threshold)
            block_state.images = processor(block_state.images, output_type=block_state.output_type)
            self.set_block_state(state, block_state)
            return components, state

    class GANTranslateStep(ModularPipelineBlocks):
        """Translates ``images`` with the ``translator`` component (``ResnetGeneratorModel`` or
        ``UnetGeneratorModel``, or any ganpost translator); ``translator_b``, a CycleGAN's B→A generator,
        runs instead when ``direction`` is ``"BtoA"``. The input size is kept. Can follow any decode step.
        """

        @property
        def expected_components(self):
            return [ComponentSpec("translator"), ComponentSpec("translator_b")]

        @property
        def inputs(self):
            return [InputParam("images", required=True), InputParam("output_type", default="pil"),
                    InputParam("direction", default="AtoB"), InputParam("size_mode", default="pad"),
                    InputParam("test_time", default=None), InputParam("translate_seed", default=0)]

        @property
        def intermediate_outputs(self):
            return [OutputParam("images")]

        def __call__(self, components, state):
            block_state = self.get_block_state(state)
            processor = GANPostProcessor(translator=components.translator,
                                         translator_b=getattr(components, "translator_b", None),
                                         direction=block_state.direction, size_mode=block_state.size_mode,
                                         test_time=block_state.test_time, seed=block_state.translate_seed)
            block_state.images = processor(block_state.images, output_type=block_state.output_type)
            self.set_block_state(state, block_state)
            return components, state

    return {"GANUpscaleStep": GANUpscaleStep, "GANFaceRestoreStep": GANFaceRestoreStep,
            "GANTranslateStep": GANTranslateStep}


def __getattr__(name):
    if name in ("GANUpscaleStep", "GANFaceRestoreStep", "GANTranslateStep"):
        return _block_classes()[name]
    if name.endswith("Model") and name in _model_classes():
        return _model_classes()[name]
    raise AttributeError(name)
