"""The model contract written into an exported ONNX file's ``metadata_props``, and read back.

An exported file carries what the runner needs to run it as it runs the PyTorch network: task,
scale, channels, value range, size rule, tiling policy, activation estimate, test-time mode and
labels, plus the architecture and hyper-parameters it came from. Plain data only: callables (a
detector's ``decode``) are not stored; they are taken again from the architecture's registry entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .contract import AtInference, ModelContract, SizeRule, Task, TilingPolicy, first_tensor
from .errors import UnsupportedModelError

FORMAT = "1"
PREFIX = "ganpost."
IMAGE, RAW = "image", "raw"
"""What the graph returns: the image (the contract's output adapter is inside it) or a detector's raw outputs."""


@dataclass(frozen=True)
class ExportFacts:
    """What one export decided, beyond the network's own contract."""

    outputs: str  # IMAGE or RAW
    fixed_batch: bool  # the graph takes one window at a time
    fixed_side: int | None  # static height and width; None: dynamic
    precision: str  # fp32 or fp16: the graph's input and weight type
    opset: int
    noise: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """Graph inputs after the image: (name, shape) of each noise the network draws in its forward (AuraSR's input
    and style noise). Each is fp32 N(0, 1), drawn in this order from one ``torch.Generator().manual_seed(seed)``
    on the CPU, shared by the batch: the draws the PyTorch forward makes for that seed. Empty: no noise input."""
    seed_keyword: str | None = None
    """With noise inputs: the forward keyword that takes the seed (the contract's ``seed_keyword``)."""
    default_seed: int = 0
    """With noise inputs: the seed used when none is given, as the PyTorch forward's default."""
    options: tuple[tuple[str, str, float], ...] = ()
    """Graph inputs after the noise: (option name, forward keyword, default) of each float forward option kept
    free (CodeFormer's fidelity), a 1-element fp32 tensor each. Other forward options are baked in at their
    defaults."""


def to_metadata(architecture: str, hyperparameters: dict, contract: ModelContract, facts: ExportFacts,
                param_count: int, version: str) -> dict[str, str]:
    size = contract.size
    if facts.fixed_side is not None and size.fixed is None:
        size = SizeRule(multiple=size.multiple, minimum=size.minimum, fixed=facts.fixed_side)
    described = {
        "task": contract.task.value, "scale": contract.scale, "in_channels": contract.in_channels,
        "out_channels": contract.out_channels, "value_range": list(contract.value_range),
        "size": {"multiple": size.multiple, "minimum": size.minimum, "fixed": size.fixed},
        "tiling": {"margin": contract.tiling.margin, "overlap": contract.tiling.overlap,
                   "exact": contract.tiling.exact},
        "activation_elements": contract.activation_elements, "test_time": contract.test_time.value,
        "labels": list(contract.labels), "fp16_safe": contract.fp16_safe, "bf16_safe": contract.bf16_safe,
    }
    values = {
        "format": FORMAT, "architecture": architecture, "version": version,
        "hyperparameters": json.dumps(hyperparameters, default=str), "contract": json.dumps(described),
        "outputs": facts.outputs, "batch": "1" if facts.fixed_batch else "dynamic",
        "size": "dynamic" if facts.fixed_side is None else str(facts.fixed_side),
        "precision": facts.precision, "opset": str(facts.opset), "param_count": str(param_count),
    }
    if facts.noise:
        values.update(noise=json.dumps([{"name": name, "shape": list(shape)} for name, shape in facts.noise]),
                      noise_rule="N(0, 1) float32, drawn in this order from torch.Generator().manual_seed(seed) "
                                 "on the CPU, one draw shared by the batch",
                      seed_keyword=facts.seed_keyword or "seed", default_seed=str(facts.default_seed))
    if facts.options:
        values["options"] = json.dumps([{"name": name, "keyword": keyword, "default": default}
                                        for name, keyword, default in facts.options])
    return {PREFIX + key: value for key, value in values.items()}


def is_ours(metadata: dict[str, str]) -> bool:
    return PREFIX + "format" in metadata


def read(metadata: dict[str, str], label: str) -> tuple[str, dict, dict, ExportFacts, int]:
    """(architecture, hyper-parameters, contract fields, facts, parameter count) of an exported file."""
    def get(key: str) -> str:
        if PREFIX + key not in metadata:
            raise UnsupportedModelError(f"{label}: its ganpost metadata lacks {PREFIX + key}; export it again "
                                        "with this version of ganpost (ganpost export MODEL -o FILE.onnx)")
        return metadata[PREFIX + key]

    if get("format") != FORMAT:
        raise UnsupportedModelError(f"{label}: ganpost ONNX metadata format {get('format')}, this ganpost reads "
                                    f"format {FORMAT}; export it again with this version")
    try:
        hyperparameters, fields = json.loads(get("hyperparameters")), json.loads(get("contract"))
        side = get("size")
        noise = ()
        if PREFIX + "noise" in metadata:  # only files whose network draws noise have these
            noise = tuple((str(n["name"]), tuple(int(v) for v in n["shape"])) for n in json.loads(get("noise")))
        options = tuple((str(o["name"]), str(o["keyword"]), float(o["default"]))
                        for o in json.loads(metadata.get(PREFIX + "options", "[]")))
        facts = ExportFacts(outputs=get("outputs"), fixed_batch=get("batch") == "1",
                            fixed_side=None if side == "dynamic" else int(side), precision=get("precision"),
                            opset=int(get("opset")), noise=noise,
                            seed_keyword=get("seed_keyword") if noise else None,
                            default_seed=int(get("default_seed")) if noise else 0, options=options)
        count = int(get("param_count"))
    except (ValueError, TypeError, KeyError) as err:
        raise UnsupportedModelError(f"{label}: its ganpost metadata is damaged ({err}); export it again") from err
    return get("architecture"), hyperparameters, fields, facts, count


def contract_of(fields: dict, facts: ExportFacts, family: ModelContract | None, label: str,
                forward_options: tuple = ()) -> ModelContract:
    """The contract the runner uses for the file: the stored fields; only ``decode`` comes from the family.

    The runner computes in fp32 on the torch side (the file's own precision is applied inside the
    module), keeps NCHW (the graph takes contiguous NCHW arrays) and passes it one forward keyword at most:
    the seed, where the graph takes the network's noise as inputs (``facts.noise``); other noise (GFPGAN's
    stored noise) and forward options are baked in. Forward options that are graph inputs (``facts.options``;
    ``forward_options``: their declarations, from the family's entry) stay options.
    """
    decode = None
    if facts.outputs == RAW:
        decode = family.decode if family is not None else None
        if decode is None:
            raise UnsupportedModelError(f"{label}: its raw outputs need the decoder of its architecture, which "
                                        "this ganpost does not register; load the original weights instead")
    size, tiling = fields["size"], fields["tiling"]
    return ModelContract(
        task=Task(fields["task"]), scale=int(fields["scale"]), in_channels=int(fields["in_channels"]),
        out_channels=int(fields["out_channels"]), value_range=tuple(float(v) for v in fields["value_range"]),
        size=SizeRule(multiple=int(size["multiple"]), minimum=int(size["minimum"]),
                      fixed=None if size["fixed"] is None else int(size["fixed"])),
        tiling=TilingPolicy(margin=int(tiling["margin"]), overlap=int(tiling["overlap"]), exact=bool(tiling["exact"])),
        activation_elements=int(fields["activation_elements"]),
        fp16_safe=False, bf16_safe=False, auto_half=False, channels_last=False,
        output_adapter=first_tensor, decode=decode,
        test_time=AtInference(fields["test_time"]), labels=tuple(fields["labels"]),
        call_options=((facts.seed_keyword,) if facts.noise else ()) + tuple(kw for _, kw, _ in facts.options),
        forward_options=tuple(forward_options),
        seed_keyword=facts.seed_keyword if facts.noise else None,
    )
