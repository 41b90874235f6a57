"""A new face-restorer family arrives as one folder (tests/helpers/toy_restorer) with a forward option of
its own, ``fidelity``; registered, it reaches the Python API, a CLI flag, a node input and a diffusers
keyword with no front-end file edited. The option's name differs from the network's keyword (``w``),
so each path shows the declaration, not a coincidence of names, carried the value.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import fake_comfy, toy_restorer
from helpers.models import shared_weight
import ganpost
from ganpost.cli.main import build_parser, main
from ganpost.gan_models import registry
from ganpost.gan_models.errors import InvalidOptionError

DETECTOR = "retinaface_mobilenet0.25.pth"


@pytest.fixture
def toy_family(tmp_path):
    registry.register_family(toy_restorer)
    toy_restorer.SEEN.clear()
    yield ganpost.load_model(toy_restorer.save(tmp_path / "toy.pth"))
    registry.unregister_family("toy_restorer")


@pytest.fixture(scope="module")
def face_photo() -> np.ndarray:
    return pytest.importorskip("skimage.data").astronaut()


@pytest.fixture(scope="module")
def detector():
    return ganpost.load_model(shared_weight(DETECTOR))


def test_the_family_is_found_by_its_tensors(toy_family):
    assert toy_family.architecture == "ToyRestorer" and toy_family.contract.forward_options == (toy_restorer.FIDELITY,)
    assert "ToyRestorer" in registry.architectures()


def test_the_api_takes_the_option(toy_family, face_photo, detector):
    out = ganpost.restore_faces(face_photo, toy_family, detector=detector, fidelity=0.25)
    assert out.shape == face_photo.shape and toy_restorer.SEEN == [0.25]
    toy_restorer.SEEN.clear()
    ganpost.restore_faces(face_photo, toy_family, detector=detector)
    assert toy_restorer.SEEN == [0.5]  # not given: the family's default


def test_the_api_refuses_a_bad_value_before_any_work(toy_family):
    with pytest.raises(InvalidOptionError, match="fidelity must be a number from 0 to 1, not 3"):
        ganpost.restore_faces(np.zeros((8, 8, 3), np.uint8), toy_family, fidelity=3)
    assert toy_restorer.SEEN == []


def test_the_cli_has_a_flag_for_it(toy_family, face_photo, tmp_path):
    help_text = next(a for a in build_parser()._subparsers._group_actions[0].choices.items()  # noqa: SLF001
                     if a[0] == "restore-faces")[1].format_help()
    assert "--fidelity" in help_text
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(face_photo).save(source)
    status = main(["restore-faces", str(source), "-o", str(target), "-m", str(toy_family.source),
                   "--detector", str(shared_weight(DETECTOR)), "--fidelity", "0.25"])
    assert status == 0 and target.is_file() and toy_restorer.SEEN == [0.25]


def test_a_node_has_an_input_for_it(toy_family, face_photo, detector, tmp_path, monkeypatch):
    fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    try:
        nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
        restore = next(n for n in nodes if n.define_schema().node_id == "GanpostRestoreFaces")
        inputs = {spec.id: spec for spec in restore.define_schema().inputs}
        assert inputs["fidelity"].optional and inputs["fidelity"].default == 0.5
        widgets = {name: spec.default for name, spec in inputs.items() if getattr(spec, "default", None) is not None}
        image = torch.from_numpy(face_photo).float()[None] / 255
        restore.execute(image=image, face_model=toy_family, detector=detector, **(widgets | {"fidelity": 0.25}))
        assert toy_restorer.SEEN == [0.25]
    finally:
        fake_comfy.forget_modules()


def test_a_diffusers_processor_takes_it_as_a_keyword(toy_family, face_photo, detector):
    diffusers = pytest.importorskip("ganpost.integrations.diffusers")
    processor = diffusers.FaceRestoreProcessor(toy_family, detector=detector, fidelity=0.25)
    images = processor([Image.fromarray(face_photo)])
    assert images[0].size == (512, 512) and toy_restorer.SEEN == [0.25]
    with pytest.raises(InvalidOptionError, match="fidelity"):
        diffusers.FaceRestoreProcessor(toy_family, detector=detector, fidelity=-1)
