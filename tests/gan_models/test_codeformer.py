"""CodeFormer: strict loading of the official layout (the three released shapes), hyper-parameters from
the tensors, refusing the stage-1 VQGAN, parity with the official code (stored references at small
configs; bench/codeformer_parity.py runs the official code live), the fidelity option in every
front-end, the contract through the runner and the face pipeline end to end.

Released-size parity, whole-image parity against ``inference_codeformer.py``, timings and the precision
figures: ``python bench/codeformer_parity.py``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from helpers.codeformer import CONFIGS, SMALL, codes_of, decode, face_input, fill_seeded, seeded_codeformer, summary
from helpers.models import shared_weight
from helpers.paths import FIXTURES

import ganpost
from ganpost.gan_models import catalogue, describe_state_dict, load_model, registry
from ganpost.gan_models.loader import as_model
from ganpost.gan_models.codeformer import CODEFORMER, FIDELITY, CodeFormer
from ganpost.gan_models.codeformer.registration import codeformer_hyperparameters
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import ImageInputError, InvalidOptionError, UnsupportedModelError
from ganpost.runtime.runner import Runner

REFERENCE = json.loads((FIXTURES / "codeformer_reference.json").read_text())
# A 64 px CodeFormer (three levels, one block each, 16×16 latent): the face pipeline in well under a second.
TINY = dict(dim_embd=32, n_head=8, n_layers=1, codebook_size=16, latent_size=256, connect_list=("32", "64"), nf=32,
            ch_mult=(1, 1, 2), res_blocks=1, emb_dim=32)
RELEASED = dict(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024, latent_size=256,
                connect_list=("32", "64", "128", "256"), nf=64, ch_mult=(1, 2, 2, 4, 4, 8), res_blocks=2, emb_dim=256,
                dim_mlp=1024, adain=True)
DETECTOR = "retinaface_mobilenet0.25.pth"


def full(config: dict) -> dict:
    """A config with every hyper-parameter the reader returns (the constructor's defaults filled in)."""
    hp = dict(RELEASED, **config)
    hp["connect_list"] = tuple(hp["connect_list"])
    hp["dim_mlp"] = config.get("dim_mlp", 2 * hp["dim_embd"])
    return hp


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("codeformer") / "codeformer-tiny.pth"
    torch.save({"params_ema": seeded_codeformer(TINY).state_dict()}, path)
    return path


# ------------------------------------------------------------------------------------- loading
def test_official_layout_loads_strict_from_a_file_with_its_hyperparameters(tiny_file):
    model = load_model(tiny_file)
    assert model.architecture == "CodeFormer" and model.hyperparameters == full(TINY)
    expected = seeded_codeformer(TINY).state_dict()
    assert all(torch.equal(model.module.state_dict()[k], v) for k, v in expected.items())
    assert as_model(str(tiny_file)).hyperparameters == full(TINY)  # a path, as the tasks resolve one
    assert model.contract.forward_options == (FIDELITY,) and "w" in model.contract.call_options


@pytest.mark.parametrize("config", [
    {},  # codeformer.pth
    {"connect_list": ("32", "64", "128")},  # codeformer_colorization.pth
    {"connect_list": ("32", "64", "128"), "codebook_size": 512},  # codeformer_inpainting.pth
    SMALL, TINY,
    dict(TINY, ch_mult=(1, 2, 2, 4), res_blocks=3, n_layers=3, dim_mlp=48, latent_size=64, connect_list=("16", "64")),
])
def test_hyperparameters_are_read_from_the_shapes(config):
    with torch.device("meta"):
        sd = CodeFormer(**config).state_dict()
    hp = codeformer_hyperparameters(sd, n_head=config.get("n_head", 8))
    assert hp == full(config)
    with torch.device("meta"):
        rebuilt = CodeFormer(**hp).state_dict()
    assert {k: v.shape for k, v in rebuilt.items()} == {k: v.shape for k, v in sd.items()}


def test_the_released_configuration_is_the_default():
    with torch.device("meta"):
        net = CodeFormer()
    assert len(net.state_dict()) == 515 and sum(p.numel() for p in net.parameters()) == 94_112_707
    assert net.img_size == 512 and CODEFORMER.contract(RELEASED).size.fixed == 512


def test_load_options_head_count_and_adain(tiny_file):
    model = load_model(tiny_file, n_head=4, adain=False)
    assert model.hyperparameters["n_head"] == 4 and model.module.adain is False
    with pytest.raises(UnsupportedModelError, match="not a multiple of n_head=5"):
        load_model(tiny_file, n_head=5)


def test_the_stage1_vqgan_alone_is_refused_by_name(tmp_path):
    sd = {k: v for k, v in seeded_codeformer(TINY).state_dict().items()
          if k.split(".")[0] in ("encoder", "quantize", "generator")}
    path = tmp_path / "vqgan_code1024.pth"
    torch.save({"params_ema": sd}, path)
    with pytest.raises(UnsupportedModelError,
                       match=r"vqgan_code1024\.pth: CodeFormer's VQGAN alone.*load codeformer\.pth"):
        load_model(path)


def test_a_look_alike_with_other_blocks_is_refused_clearly():
    sd = dict(seeded_codeformer(TINY).state_dict())
    sd["generator.blocks.99.weight"] = torch.zeros(3)
    with pytest.raises(UnsupportedModelError, match="differs from the official one at generator.blocks.99.weight"):
        describe_state_dict(sd)


def test_codeformer_is_detected_by_no_other_family_and_claims_no_other_file():
    sd = seeded_codeformer(TINY).state_dict()
    assert [e.architecture for e in registry.DETECTION_ORDER if e.detect(sd)] == ["CodeFormer"]
    from helpers.gfpgan import tiny_gfpgan
    from helpers.models import tiny_compact, tiny_rrdbnet

    for other in (tiny_rrdbnet(), tiny_compact(), tiny_gfpgan()):
        assert not CODEFORMER.detect(other.state_dict())


def test_known_release_files_say_their_licence():
    for name in ("codeformer", "codeformer_colorization", "codeformer_inpainting"):
        known = catalogue.lookup(name)
        assert known is not None and known in registry.known_files("CodeFormer")
        assert known.comfy_folder == "facerestore_models" and known.sha256 == ""  # no digest is published
        assert known.url() == f"https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/{name}.pth"
        assert "NON-COMMERCIAL" in known.description and "S-Lab License 1.0" in known.description


def test_loading_notes_the_licence_once(caplog):
    from ganpost.gan_models.codeformer import registration

    registration._NOTED.clear()  # noqa: SLF001
    with caplog.at_level(logging.WARNING):
        load_model_tiny()
        load_model_tiny()
    assert caplog.text.count("S-Lab License 1.0: non-commercial use only") == 1


def test_the_models_listing_shows_the_licence(capsys):
    from ganpost.cli.main import main

    assert main(["models"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("codeformer "))
    assert "NON-COMMERCIAL use only (S-Lab License 1.0)" in line


# ------------------------------------------------------------------------------------- parity
def _compare(stored: dict, image: torch.Tensor) -> None:
    got = summary(image, torch.zeros(1, 1, 1))
    grid_ours = decode(got["grid"], np.float32)
    grid_official = decode(stored["grid"], np.float32)
    assert np.abs(grid_ours - grid_official).max() <= 1e-4
    for key in ("mean", "abs_mean", "std"):
        assert got[key] == pytest.approx(stored[key], abs=1e-5)


def test_forward_matches_the_stored_official_outputs():
    """The official network's outputs (tests/fixtures/codeformer_reference.json, from the official code
    with these seeded weights): a grid of pixels, whole-image statistics and every predicted code. Two
    forwards of a 512 px network (the official code fixes six levels and a 16×16 latent): the fusion with
    AdaIN on, and at full weight with it off; w = 0 and 1 with AdaIN are stored too."""
    stored = REFERENCE["configs"]["small"]
    config = CONFIGS["small"]
    runs = ("0.5", "1,adain=False")
    assert stored["config"] == {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    net = seeded_codeformer(config, seed=REFERENCE["weights_seed"])
    x = face_input(net.img_size, seed=REFERENCE["input_seed"])
    with torch.no_grad():
        for run in runs:
            w, _, adain = run.partition(",adain=")
            image, logits, _ = net(x, w=float(w), adain=adain != "False")
            _compare(stored["outputs"][run], image)
            assert codes_of(logits) == stored["codes"]
    assert len(set(decode(stored["codes"], np.int16))) > 16  # the codes vary over the face: a real lookup


def test_fidelity_changes_the_output_and_zero_skips_the_fusion():
    net = seeded_codeformer(TINY)
    x = face_input(64)
    with torch.no_grad():
        restored, faithful, default = net(x, w=0)[0], net(x, w=1)[0], net(x)[0]
        assert (restored - faithful).abs().max() > 1e-2
        assert torch.equal(default, net(x, w=0.5)[0])
        for fuse in net.fuse_convs_dict.values():  # w = 0 never reads the fusion's weights
            fill_seeded(fuse, seed=9)
        assert torch.equal(net(x, w=0)[0], restored)
        logits, lq_feat = net(x, code_only=True)  # the training stage II output
        assert logits.shape == (1, 256, 16) and lq_feat.shape == (1, 32, 16, 16)
    with pytest.raises(ImageInputError, match="CodeFormer takes B×3×64×64 aligned face crops"):
        net(torch.zeros(1, 3, 72, 72))


# ------------------------------------------------------------------------------------- contract
def test_contract_and_runner_pass_the_fidelity(tiny_file):
    model = load_model(tiny_file)
    c = model.contract
    assert (c.task, c.scale, c.in_channels, c.out_channels, c.value_range) == (Task.FACE_RESTORE, 1, 3, 3, (-1, 1))
    assert c.size.fixed == 64 and c.tiling.margin == 0 and not c.fp16_safe and not c.bf16_safe
    assert 0 < c.activation_elements < CODEFORMER.contract(RELEASED).activation_elements < 1000
    x = (face_input(64, batch=2) + 1) / 2
    with Runner(model, device="cpu", precision="fp32") as runner, torch.no_grad():
        for w in (0.0, 1.0):
            out = runner.run_windows(x, w=w)
            expected = (model.module(x * 2 - 1, w=w)[0] + 1) / 2  # [0, 1] in, [-1, 1] inside, [0, 1] out
            assert out.shape == x.shape and (out - expected).abs().max() < 1e-4


# ------------------------------------------------------------------------------------- front-ends
def test_fidelity_reaches_every_front_end():
    from ganpost.cli.main import build_parser
    from ganpost.tasks.shared_options import forward_options

    assert forward_options(Task.FACE_RESTORE)["fidelity"] == FIDELITY
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")  # noqa: SLF001
    flag = next(a for a in sub.choices["restore-faces"]._actions if "--fidelity" in a.option_strings)  # noqa: SLF001
    assert flag.default == 0.5 and "most faithful to the input face" in flag.help
    diffusers = pytest.importorskip("ganpost.integrations.diffusers")
    with pytest.raises(InvalidOptionError, match="fidelity must be a number from 0 to 1, not 2"):
        diffusers.FaceRestoreProcessor(load_model_tiny(), fidelity=2)


def load_model_tiny():
    return describe_state_dict(seeded_codeformer(TINY).state_dict())


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


def test_restore_faces_runs_codeformer_end_to_end(tiny_file, astronaut, monkeypatch):
    detector = load_model(shared_weight(DETECTOR))
    model = load_model(tiny_file)
    seen = []
    forward = model.module.forward
    monkeypatch.setattr(model.module, "forward", lambda x, **kw: seen.append(kw.get("w")) or forward(x, **kw))
    out = ganpost.restore_faces(astronaut, model, detector=detector, fidelity=0.25, precision="fp32")
    assert out.shape == astronaut.shape and out.dtype == np.uint8 and seen == [0.25]
    assert np.abs(out.astype(int) - astronaut).max() > 10  # the face was replaced
    ganpost.restore_faces(astronaut, str(tiny_file), detector=detector, precision="fp32")  # a file; default fidelity
    with pytest.raises(InvalidOptionError, match="fidelity must be a number from 0 to 1, not 3"):
        ganpost.restore_faces(astronaut, model, detector=detector, fidelity=3)


def test_the_cli_flag_reaches_codeformer(tiny_file, astronaut, tmp_path, monkeypatch):
    from PIL import Image

    from ganpost.cli.main import main

    seen = []
    original = CodeFormer.forward
    monkeypatch.setattr(CodeFormer, "forward",
                        lambda self, x, **kw: seen.append(kw.get("w")) or original(self, x, **kw))
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(astronaut).save(source)
    status = main(["restore-faces", str(source), "-o", str(target), "-m", str(tiny_file),
                   "--detector", str(shared_weight(DETECTOR)), "--fidelity", "0.75"])
    assert status == 0 and target.is_file() and seen == [0.75]


def test_fidelity_given_to_gfpgan_is_ignored_with_a_note(astronaut, caplog):
    """A model without the option (GFPGAN) ignores it, as forward options do; the log says so."""
    from helpers.gfpgan import tiny_gfpgan

    detector = load_model(shared_weight(DETECTOR))
    gfpgan = describe_state_dict(tiny_gfpgan().state_dict())
    with caplog.at_level(logging.INFO):
        out = ganpost.restore_faces(astronaut, gfpgan, detector=detector, fidelity=0.3, precision="fp32")
    assert out.shape == astronaut.shape
    assert "takes no fidelity option; ignored" in caplog.text
