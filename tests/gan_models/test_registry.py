"""The registry finds the family folders by itself and orders their entries by their constraints.

Families register themselves (``ENTRIES`` in a ``gan_models`` subpackage); the detection order is
the stable topological sort of each entry's ``before``/``after``; a cycle or an unknown name is
refused; a family added at run time (``register_family``) or a folder dropped into ``gan_models``
is picked up and ordered. Known files name their architecture and their models folder.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap

import pytest
import torch

from helpers.paths import REPO
from helpers.realesrgan_layouts import to_bsrgan, to_legacy_esrgan
from ganpost import gan_models
from ganpost.gan_models import UnsupportedModelError, registry
from ganpost.gan_models.architecture import ArchitectureEntry, Built
from ganpost.gan_models.contract import ModelContract, SizeRule, Task, TilingPolicy
from ganpost.gan_models.known_file import KnownFile
from ganpost.gan_models.registry import RegistryError

PACKAGE = REPO

# The hand-written order the registry had before families registered themselves: detection must
# give the same answer as it did for every file below. Families added since come after it (their
# keys must overlap no one's: an old file claimed by a new family fails the detection test).
PREVIOUS_ORDER = ("UnetUpsampler", "GigaGANDiscriminator", "RRDBNet", "SRVGGNetCompact", "UNetDiscriminatorSN",
                  "NLayerDiscriminator", "ResnetGenerator", "UnetGenerator", "PixelDiscriminator", "GFPGANv1Clean",
                  "StyleGAN2Discriminator", "FacialComponentDiscriminator", "RetinaFace", "ParseNet", "BiSeNet")
NEWER = tuple(name for name in registry.architectures() if name not in PREVIOUS_ORDER)
# The families that had entry.py / known.py before registration.py / known_files.py (newer ones never had them).
OLD_NAMED = {"aurasr", "facedetect", "faceparse", "gfpgan", "pix2pix", "realesrgan"}
# The orderings that order's comments gave a reason for (first, then).
REASONED = (
    ("RRDBNet", "NLayerDiscriminator"),  # model.N: the PatchGAN after RRDBNet's legacy layout
    ("RRDBNet", "ResnetGenerator"),  # CycleGAN's model.N after legacy ESRGAN ...
    ("NLayerDiscriminator", "ResnetGenerator"),  # ... and after the PatchGAN
    ("RRDBNet", "GFPGANv1Clean"), ("SRVGGNetCompact", "GFPGANv1Clean"),  # after the upscalers people load most
    *((first, helper) for helper in ("RetinaFace", "ParseNet", "BiSeNet")
      for first in ("RRDBNet", "SRVGGNetCompact", "GFPGANv1Clean")),  # the face helpers: cheapest last
)

# Small networks of every architecture (the defaults otherwise, num_* widths divided by 8).
TINY = {
    "GPEN": {"size": 32, "style_dim": 16, "n_mlp": 2, "narrow": 1 / 16},
    "RRDBNet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "SRVGGNetCompact": {"num_feat": 8, "num_conv": 2},
    "GFPGANv1Clean": {"out_size": 64, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.25, "num_mlp": 2},
    "UnetGenerator": {"num_downs": 5, "num_feat": 8},
    "UnetUpsampler": {"dim": 4, "style_network": {"dim_in": 16, "dim_out": 32, "depth": 2},
                      "self_attn_dim_head": 4, "attn_depths": (1, 1, 1, 1, 2), "mid_attn_depth": 1},
    "StyleGAN2Discriminator": {"out_size": 64, "narrow": 0.0625},
    **{name: {"n_embed": 64, "embed_dim": 16, "ch": 32, "ch_mult": (1, 2, 2), "z_channels": 32, "encoder_attn_levels": (2,),
              "decoder_attn_levels": levels} for name, levels in (("RestoreFormer", (2,)), ("RestoreFormerPlusPlus", (1, 2)))},
    "CodeFormer": {"dim_embd": 32, "n_layers": 1, "codebook_size": 16, "connect_list": ("32", "64"), "nf": 32,
                   "ch_mult": (1, 1, 2), "res_blocks": 1, "emb_dim": 32},
}


def tiny_state_dict(entry: ArchitectureEntry) -> dict[str, torch.Tensor]:
    hp = {name: p.default for name, p in inspect.signature(entry.create).parameters.items()
          if p.default is not inspect.Parameter.empty}
    if entry.architecture in TINY:
        hp |= TINY[entry.architecture]
    else:
        hp = {k: max(1, v // 8) if k.startswith("num_") and "_ch" not in k and isinstance(v, int) else v
              for k, v in hp.items()}
    return entry.create(**hp).state_dict()


def detect_in(order, sd) -> str:
    for name in order:
        try:
            if registry.entry_for(name).detect(sd):
                return name
        except UnsupportedModelError as err:
            return f"refused: {err}"
    return "none"


def new_detect(sd) -> str:
    try:
        return registry.detect(sd, "x").architecture
    except UnsupportedModelError as err:
        text = str(err)
        return "none" if "no supported architecture" in text else f"refused: {text.removeprefix('x: ').rstrip('.')}"


def test_every_family_folder_registers_itself_in_declaration_order():
    folders = sorted(p.parent.name for p in (PACKAGE / "gan_models").glob("*/__init__.py")
                     if hasattr(importlib.import_module(f"ganpost.gan_models.{p.parent.name}"), "ENTRIES"))
    assert set(OLD_NAMED) <= set(folders)
    assert sorted({e.family for e in registry.DETECTION_ORDER}) == folders
    for family in folders:
        module = importlib.import_module(f"ganpost.gan_models.{family}")
        assert all(e.family == family for e in module.ENTRIES)
        assert sorted(registry.architectures(family)) == sorted(e.architecture for e in module.ENTRIES)
    assert sorted(registry.architectures()) == sorted(PREVIOUS_ORDER + NEWER)
    registry_source = (PACKAGE / "gan_models" / "registry.py").read_text(encoding="utf-8")
    assert not [family for family in folders if family in registry_source], "registry.py names a family"


def test_the_order_honours_every_constraint_and_every_reason_the_old_order_gave():
    position = {name: i for i, name in enumerate(registry.architectures())}
    for entry in registry.DETECTION_ORDER:
        for other in entry.before:
            assert position[entry.architecture] < position[other], (entry.architecture, "before", other)
        for other in entry.after:
            assert position[other] < position[entry.architecture], (entry.architecture, "after", other)
    for first, then in REASONED:
        assert position[first] < position[then], f"{first} must be tested before {then}"


def test_the_computed_order_detects_every_layout_as_the_old_order_did():
    torch.manual_seed(0)
    samples = {e.architecture: tiny_state_dict(e) for e in registry.DETECTION_ORDER}
    rrdb = samples["RRDBNet"]
    samples |= {"legacy ESRGAN": to_legacy_esrgan(rrdb), "BSRGAN": to_bsrgan(rrdb),
                "RetinaFace ResNet-50": registry.entry_for("RetinaFace").create(backbone="resnet50").state_dict(),
                "unknown": {"encoder.weight": torch.zeros(2, 2)}}
    for label, sd in samples.items():
        before = detect_in(PREVIOUS_ORDER + NEWER, sd)
        if label in NEWER:  # no architecture of the old order claims a new family's networks
            assert detect_in(PREVIOUS_ORDER, sd) == "none", label
        assert new_detect(sd) == before, label
        if label in PREVIOUS_ORDER + NEWER:
            assert before == label  # and every architecture claims its own networks


def toy_entry(name: str, family: str = "toy", key: str = "toy.weight", **order) -> ArchitectureEntry:
    def contract(hp: dict) -> ModelContract:
        return ModelContract(task=Task.TRANSLATE, scale=1, in_channels=3, out_channels=3, value_range=(0.0, 1.0),
                             size=SizeRule(), tiling=TilingPolicy(margin=1), activation_elements=8,
                             fp16_safe=True, bf16_safe=True)

    def build(sd, options):
        return Built(torch.nn.Conv2d(3, 3, 3, padding=1), {}, dict(sd))

    return ArchitectureEntry(architecture=name, family=family, detect=lambda sd: key in sd, build=build,
                             contract=contract, create=lambda: torch.nn.Conv2d(3, 3, 3, padding=1), **order)


def test_order_is_a_stable_topological_sort():
    a, b, c = toy_entry("A"), toy_entry("B", after=("C",)), toy_entry("C")
    z = toy_entry("Z", family="aaa", before=("A",))
    assert [e.architecture for e in registry.order_entries([("toy", (a, b, c))])] == ["A", "C", "B"]
    # family name first, then declaration order; constraints across families are honoured
    assert [e.architecture for e in registry.order_entries([("aaa", (z,)), ("toy", (a, b, c))])] == ["Z", "A", "C", "B"]


def test_a_cycle_is_refused_naming_its_architectures():
    entries = (toy_entry("Alpha", after=("Gamma",)), toy_entry("Beta", after=("Alpha",)),
               toy_entry("Gamma", after=("Beta",)), toy_entry("Free"))
    with pytest.raises(RegistryError, match="cycle") as err:
        registry.order_entries([("toy", entries)])
    assert all(name in str(err.value) for name in ("Alpha", "Beta", "Gamma")) and "Free" not in str(err.value)
    with pytest.raises(RegistryError, match="cycle: RRDBNet must come after ToyCycle must come after RRDBNet"):
        registry.register_family([toy_entry("ToyCycle", before=("RRDBNet",), after=("RRDBNet",))])
    assert "ToyCycle" not in registry.architectures()  # a refused family leaves the registry as it was


def test_unknown_or_duplicate_names_are_refused():
    with pytest.raises(RegistryError, match=r"must come before 'NoSuchNet', which no family registers"):
        registry.register_family([toy_entry("Toy", before=("NoSuchNet",))])
    with pytest.raises(RegistryError, match="'RRDBNet' is registered twice"):
        registry.register_family([toy_entry("RRDBNet")])
    with pytest.raises(RegistryError, match="holds 'RRDBNet', which is not one of this family's architectures"):
        registry.register_family([toy_entry("Toy")], known=[dataclasses.replace(
            registry.known_files("RRDBNet")[0], name="toy")])
    assert "Toy" not in registry.architectures()


def test_a_family_registered_at_run_time_is_ordered_and_detected():
    # a toy whose test also accepts RRDBNet's files must come first to claim its own
    toy = toy_entry("ToyNet", key="conv_first.weight", before=("RRDBNet",))
    known = KnownFile("toy-file", "toy.pth", "https://example.invalid", "toy.pth", "", None, "a toy",
                      architecture="ToyNet", comfy_folder="upscale_models")
    rrdb_sd = tiny_state_dict(registry.entry_for("RRDBNet"))
    try:
        registry.register_family([toy], known=[known])
        names = registry.architectures()
        assert names.index("ToyNet") < names.index("RRDBNet")
        assert registry.detect(rrdb_sd, "x") is toy and toy.known_files == (known,)
        assert known in registry.known_files()
    finally:
        registry.unregister_family("toy")
    assert "ToyNet" not in registry.architectures() and registry.detect(rrdb_sd, "x").architecture == "RRDBNet"


def test_a_family_folder_dropped_into_gan_models_is_discovered(tmp_path, monkeypatch):
    folder = tmp_path / "zzz_toyfamily"
    folder.mkdir()
    (folder / "__init__.py").write_text(textwrap.dedent('''
        """A family folder made by the test: its ENTRIES are all the registry needs."""
        from test_registry import toy_entry

        # before the Real-ESRGAN compact net: its layout (body.N only) would not be claimed otherwise
        ENTRIES = (toy_entry("FolderNet", family="zzz_toyfamily", key="body.0.weight", before=("SRVGGNetCompact",)),)
    '''), encoding="utf-8")
    monkeypatch.setattr(gan_models, "__path__", [*gan_models.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_FAMILIES", {})
    monkeypatch.setattr(registry, "DETECTION_ORDER", ())
    registry._discover_families()
    names = registry.architectures()
    assert names.index("FolderNet") < names.index("SRVGGNetCompact") and names[-1] != "FolderNet"
    assert registry.detect(tiny_state_dict(registry.entry_for("SRVGGNetCompact")), "x").architecture == "FolderNet"


def folder_keys() -> set[str]:
    """The ComfyUI folder keys ganpost uses: one per task in the one table (tasks.wrong_model.PLACES, which
    nodes/model_folders.py reads), the AuraSR pack's key it adopts, and string constants of model_folders."""
    from ganpost.tasks.wrong_model import PLACES

    tree = ast.parse((PACKAGE / "nodes" / "model_folders.py").read_text(encoding="utf-8"))
    constants = {node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 and node.targets[0].id.endswith(("_MODELS", "_DETECTORS"))}
    return constants | {place.folder for place in PLACES.values() if place.folder}


def test_every_known_file_names_a_registered_architecture_and_a_models_folder():
    keys = folder_keys()
    assert {"upscale_models", "facerestore_models", "facedetection", "translation_models"} <= keys
    files = registry.known_files()
    assert len(files) == len({f.name for f in files}) >= 30
    for f in files:
        for file in (f, *f.companions):
            assert file.architecture in registry.architectures(), file
            assert file.comfy_folder in keys, file
            assert file.architecture == f.architecture and file.comfy_folder == f.comfy_folder, file
    for entry in registry.DETECTION_ORDER:
        assert all(f.architecture == entry.architecture for f in entry.known_files)
    assert sum(len(e.known_files) for e in registry.DETECTION_ORDER) == len(files)
    with pytest.raises(TypeError, match="comfy_folder"):
        KnownFile("x", "x.pth", "https://example.invalid", "x.pth", "", None, "no folder", architecture="RRDBNet")


def test_the_old_names_still_import():
    from ganpost.gan_models.family import Built as OldBuilt, FamilyEntry
    from ganpost.gan_models.realesrgan import entry, known, known_files, registration

    assert FamilyEntry is ArchitectureEntry and OldBuilt is Built
    assert entry.RRDBNET is registration.RRDBNET and known.KNOWN_FILES is known_files.KNOWN_FILES
    for family in {e.family for e in registry.DETECTION_ORDER} & OLD_NAMED:
        old = importlib.import_module(f"ganpost.gan_models.{family}.entry")
        names = vars(old).values()
        assert all(any(e is v for v in names) for e in importlib.import_module(f"ganpost.gan_models.{family}").ENTRIES)
