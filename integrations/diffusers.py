"""diffusers integration: a post-processor per task for ``pipe(...).images``, ModelMixin wrappers, modular blocks.

``UpscaleProcessor``, ``FaceRestoreProcessor`` and ``TranslateProcessor`` follow a pipeline as its
``VaeImageProcessor`` works inside it: images in, images out, in the pipeline's form. Their keywords are
the task's ``OPTIONS`` and its families' forward options, checked when the processor is built. diffusers
is optional (``pip install ganpost[diffusers]``), imported when a wrapper or block is first used. Each
registry entry with a ``wrapper_name`` gets a ModelMixin wrapper holding the official network's
sub-modules, so its saved safetensors carry the official key names and ``ganpost.load_model`` reads them.
"""

from __future__ import annotations

import functools
import inspect

from ..gan_models import registry
from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError
from ..gan_models.loader import as_model, describe_state_dict, load_model
from ..gan_models.options import DIFFUSERS, Options
from ..runtime.imaging.convert import to_output_type
from ..tasks.restore_faces import DEFAULT_FACE_MODEL, OPTIONS as FACE_OPTIONS, restore_faces
from ..tasks.restore_faces import check_options as check_faces
from ..tasks.shared_options import forward_options, model_for
from ..tasks.translate import OPTIONS as TRANSLATE_OPTIONS, check_options as check_translate, translate
from ..tasks.upscale import OPTIONS as UPSCALE_OPTIONS, check_options as check_upscale, upscale

as_descriptor = as_model  # the name this module's resolver had before gan_models.loader.as_model


def _require_diffusers():
    try:
        import diffusers
    except ImportError as err:
        raise ImportError("the diffusers integration needs diffusers: pip install 'ganpost[diffusers]'") from err
    return diffusers


class _TaskProcessor:
    """What the per-task processors share: options checked when built, the pipeline's form kept when called."""

    task: Task
    declared: Options

    def __init__(self, model, options: dict, **models):
        self.model = model_for(type(self).__name__, model)
        self.models = {k: None if m is None else model_for(type(self).__name__, m, k) for k, m in models.items()}
        self.options = self._checked(options)  # as given, checked and normalised; a call's keywords override them

    @classmethod
    def accepted_options(cls) -> Options:
        """Its keywords: the task's options offered to diffusers, then the forward options the task's families
        declare (read from the registry when asked, so a family's new option needs no edit here)."""
        return Options(*cls.declared.offered_to(DIFFUSERS), *forward_options(cls.task))

    def _checked(self, options: dict) -> dict:
        unknown = sorted(set(options) - set(accepted := self.accepted_options().names()))
        if unknown:
            raise InvalidOptionError(f"{type(self).__name__} takes no {', '.join(unknown)} option; "
                                     f"it takes: {', '.join(accepted)}")
        checked = type(self).check(self.model, **self.models, **options)  # the task's: the models and every value
        return {name: checked.get(name, value) for name, value in options.items()}

    def __call__(self, images, output_type: str | None = None, **overrides):
        """``images`` (a pipeline output or its ``.images``: PIL list, ``np`` B×H×W×C, ``pt`` B×C×H×W) processed,
        in the same form (``pt`` keeps its dtype and device; alpha and 16-bit data are kept) unless
        ``output_type`` names another; ``overrides`` replace the built options for this call."""
        options = self._checked(self.options | overrides) if overrides else self.options
        result = type(self).run(getattr(images, "images", images), self.model, **self.models, **options)
        return result if output_type is None else to_output_type(result, output_type)


class UpscaleProcessor(_TaskProcessor):
    """Upscales what a pipeline returns, as :func:`ganpost.upscale` (tile, outscale, size, alpha_mode, seed, ...).
    Models are a ``load_model`` result, a file or known name, or a wrapper below (``RealESRGANModel``, ...);
    ``seed`` reaches upscalers that draw noise (AuraSR), the others ignore it."""

    task, declared, check, run = Task.UPSCALE, UPSCALE_OPTIONS, check_upscale, upscale

    def __init__(self, model, **options):
        super().__init__(model, options)


class FaceRestoreProcessor(_TaskProcessor):
    """Restores the faces in what a pipeline returns, as :func:`ganpost.restore_faces` (strength, color_fix,
    threshold, face_index, seed, ...; ``parser``, e.g. ``"parsing_parsenet"``, shapes the paste mask). Given an
    ``upscaler``, the background is upscaled by it and ``upscale`` defaults to its scale."""

    task, declared, check, run = Task.FACE_RESTORE, FACE_OPTIONS, check_faces, restore_faces

    def __init__(self, model=DEFAULT_FACE_MODEL, *, detector=None, parser=None, upscaler=None, **options):
        if upscaler is not None:
            upscaler = model_for(type(self).__name__, upscaler, "upscaler")
            options.setdefault("upscale", upscaler.scale)
        super().__init__(model, options, detector=detector, parser=parser, upscaler=upscaler)


class TranslateProcessor(_TaskProcessor):
    """Translates what a pipeline returns with a pix2pix/CycleGAN generator, as :func:`ganpost.translate`
    (direction, size_mode, test_time, seed, ...); ``model_b``, a CycleGAN's B→A generator, runs for ``BtoA``."""

    task, declared, check, run = Task.TRANSLATE, TRANSLATE_OPTIONS, check_translate, translate

    def __init__(self, model, *, model_b=None, **options):
        super().__init__(model, options, model_b=model_b)


class _AnyTaskProcessor(type):
    """``isinstance(p, GANPostProcessor)`` stays true for what it returns (code written before the split checks it)."""

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, _TaskProcessor)


class GANPostProcessor(metaclass=_AnyTaskProcessor):
    """The one-class shorthand from before the per-task processors: like diffusers' ``AutoPipeline`` classes it
    returns the processor its keywords name. ``(upscaler)`` or ``(model=)``: :class:`UpscaleProcessor`;
    ``([upscaler], faces=, detector=, parser=)``: :class:`FaceRestoreProcessor` (the upscaler upscales the
    background); ``(translator=, translator_b=)``: :class:`TranslateProcessor`, which works alone."""

    def __new__(cls, upscaler=None, *, faces=None, detector=None, parser=None, model=None, translator=None,
                translator_b=None, **options) -> _TaskProcessor:
        if model is not None and upscaler is not None:  # model= is the keyword of the upscaler-only processor
            raise InvalidOptionError("give the upscaler once: positionally or as model=, not both")
        upscaler = upscaler if model is None else model
        if translator is None and translator_b is not None:
            raise InvalidOptionError("translator_b is a CycleGAN's second generator: give the first as translator=")
        if translator is not None and (upscaler is not None or faces is not None):
            raise InvalidOptionError("a translator works alone: chain two processors, e.g. "
                                     "UpscaleProcessor(upscaler)(TranslateProcessor(G)(images))")
        if faces is None and (parser is not None or detector is not None):
            raise InvalidOptionError("a face detector or parser (detector=, parser=) serves face restoration: give "
                                     "a face model (faces=...) too")
        if translator is not None:
            return TranslateProcessor(translator, model_b=translator_b, **options)
        if faces is not None:
            return FaceRestoreProcessor(faces, detector=detector, parser=parser, upscaler=upscaler, **options)
        if upscaler is not None:
            return UpscaleProcessor(upscaler, **options)
        raise InvalidOptionError("GANPostProcessor needs an upscaler, a face model (faces=...), both, "
                                 "or a translator (translator=...)")


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
            return modules[name] if name in modules else super().__getattr__(name)

        def forward(self, x, **options):
            """The official forward, keywords included (GFPGAN's ``noise``, AuraSR's ``seed``)."""
            return self._net_forward(self, x, **options)

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

    class ProcessorStep(ModularPipelineBlocks):
        """A processor as a block: ``images`` and ``output_type``, its models (components, or inputs), and one
        input per option it accepts (its name in ``renamed`` where a pipeline's own input would clash)."""

        processor: type[_TaskProcessor]
        component_for, input_for = {}, {}  # processor keyword → component; → input (a model given per run)
        renamed: dict[str, str] = {}  # option → input
        intermediate_outputs = [OutputParam("images")]
        description = property(lambda self: inspect.cleandoc(type(self).__doc__))  # its docstring in ``.doc``

        @property
        def expected_components(self):
            return [ComponentSpec(name) for name in self.component_for.values()]

        def _option_inputs(self) -> list:
            return [(option, self.renamed.get(option.name, option.name)) for option in self.processor.accepted_options()]

        @property
        def inputs(self):
            return [InputParam("images", required=True), InputParam("output_type", default="pil"),
                    *(InputParam(name, default=None) for name in self.input_for.values()),
                    *(InputParam(name, default=o.default, description=o.help) for o, name in self._option_inputs())]

        def __call__(self, components, state):
            block_state = self.get_block_state(state)
            models = {key: getattr(components, name, None) for key, name in self.component_for.items()}
            models |= {key: getattr(block_state, name) for key, name in self.input_for.items()}
            options = {o.name: getattr(block_state, name) for o, name in self._option_inputs()}
            processor = self.processor(**models, **options)
            block_state.images = processor(block_state.images, output_type=block_state.output_type)
            self.set_block_state(state, block_state)
            return components, state

    class GANUpscaleStep(ProcessorStep):
        """Upscales ``images`` with the ``upscaler`` component (any ganpost upscaler wrapper); can follow any
        decode step. Its inputs are :class:`UpscaleProcessor`'s options, ``seed`` as ``upscale_seed``."""

        processor, component_for, renamed = UpscaleProcessor, {"model": "upscaler"}, {"seed": "upscale_seed"}

    class GANFaceRestoreStep(ProcessorStep):
        """Restores the faces in ``images`` with the ``face_restorer`` component (a ``GFPGANModel``), after a
        decode step or after :class:`GANUpscaleStep` (faces pasted at the final size). ``face_detector``
        (default ``retinaface_resnet50``) and ``face_parser`` are models given per run; the other inputs are
        :class:`FaceRestoreProcessor`'s options, ``strength``, ``threshold``, ``seed`` prefixed ``face_``."""

        processor, component_for = FaceRestoreProcessor, {"model": "face_restorer"}
        input_for = {"detector": "face_detector", "parser": "face_parser"}
        renamed = {"strength": "face_strength", "threshold": "face_threshold", "seed": "face_seed"}

    class GANTranslateStep(ProcessorStep):
        """Translates ``images`` with the ``translator`` component (``ResnetGeneratorModel``, ``UnetGeneratorModel``);
        ``translator_b``, a CycleGAN's B→A generator, runs for ``direction="BtoA"``. The input size is kept.
        Its inputs are :class:`TranslateProcessor`'s options, ``seed`` as ``translate_seed``."""

        processor, component_for = TranslateProcessor, {"model": "translator", "model_b": "translator_b"}
        renamed = {"seed": "translate_seed"}

    return {"GANUpscaleStep": GANUpscaleStep, "GANFaceRestoreStep": GANFaceRestoreStep,
            "GANTranslateStep": GANTranslateStep}


def __getattr__(name):
    if name in ("GANUpscaleStep", "GANFaceRestoreStep", "GANTranslateStep"):
        return _block_classes()[name]
    if name.endswith("Model") and name in _model_classes():
        return _model_classes()[name]
    raise AttributeError(name)
