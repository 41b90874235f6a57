"""diffusers: a real (tiny, random, offline) pipeline's outputs through the post-processor."""

import numpy as np
import pytest
import torch

from helpers.models import save_official, tiny_compact, tiny_rrdbnet

diffusers = pytest.importorskip("diffusers")
# Imported at collection, before any test puts the torchvision stub in sys.modules (transformers,
# which diffusers' pipelines import, probes for torchvision and trips over a stub).
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel  # noqa: E402

from ganpost.integrations import diffusers as ds  # noqa: E402


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=8,
                                norm_num_groups=4, attention_head_dim=2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4)
    return StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=DDIMScheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def _generate(pipe, output_type):
    embeds = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(1))
    return pipe(prompt_embeds=embeds, negative_prompt_embeds=torch.zeros_like(embeds), height=16, width=24,
                num_inference_steps=1, output_type=output_type)


@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_post_processes_a_real_pipeline(tmp_path, pipe, output_type):
    post = ds.GANPostProcessor(save_official(tiny_compact(scale=2), tmp_path / "c.pth"))
    result = _generate(pipe, output_type)
    up = post(result)  # the output object itself, or result.images
    if output_type == "pil":
        assert isinstance(up, list) and len(up) == 2 and up[0].size == (48, 32)
    elif output_type == "np":
        assert up.shape == (2, 32, 48, 3) and up.dtype == np.float32
    else:
        assert up.shape == (2, 3, 32, 48) and up.dtype == result.images.dtype


def test_pt_keeps_bf16_and_output_type_converts(tmp_path):
    post = ds.GANPostProcessor(save_official(tiny_compact(scale=2), tmp_path / "c.pth"))
    images = torch.rand(1, 3, 8, 8).to(torch.bfloat16)
    assert post(images).dtype == torch.bfloat16
    assert post(images, output_type="np").shape == (1, 16, 16, 3)
    assert post(images, output_type="pil")[0].size == (16, 16)


@pytest.mark.parametrize("make, cls", [(tiny_rrdbnet, "RealESRGANModel"), (tiny_compact, "SRVGGNetCompactModel")])
def test_model_mixin_round_trip_and_official_keys(tmp_path, make, cls):
    net = make()
    model = getattr(ds, cls).from_single_file(save_official(net, tmp_path / "m.pth"))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), net(x))
    model.save_pretrained(tmp_path / "saved")
    again = getattr(ds, cls).from_pretrained(tmp_path / "saved")
    with torch.no_grad():
        assert torch.equal(again(x), net(x))
    import ganpost

    loaded = ganpost.load_model(tmp_path / "saved" / "diffusion_pytorch_model.safetensors")
    assert set(loaded.module.state_dict()) == set(net.state_dict())


def test_modular_block_runs_after_images(tmp_path):
    from diffusers.modular_pipelines import SequentialPipelineBlocks
    from PIL import Image

    upscaler = ds.RealESRGANModel.from_single_file(save_official(tiny_rrdbnet(scale=2), tmp_path / "r.pth"))
    blocks = SequentialPipelineBlocks.from_blocks_dict({"gan_upscale": ds.GANUpscaleStep()})
    pipeline = blocks.init_pipeline()
    pipeline.update_components(upscaler=upscaler)
    out = pipeline(images=[Image.new("RGB", (20, 12), "red")], output="images")
    assert out[0].size == (40, 24)


def test_seed_reaches_a_noisy_upscaler_and_is_dropped_for_others(tmp_path):
    from helpers.aurasr import save_tiny_aurasr

    images = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    aura = ds.GANPostProcessor(str(save_tiny_aurasr(tmp_path / "AuraSR-tiny.safetensors")), tile=0, precision="fp32")
    first = aura(images, seed=5)
    assert first.shape == (1, 3, 80, 96)
    assert torch.equal(first, aura(images, seed=5))
    assert (first - aura(images, seed=6)).abs().mean() > 1e-4
    seeded = ds.GANPostProcessor(str(tmp_path / "AuraSR-tiny.safetensors"), tile=0, precision="fp32", seed=6)
    assert torch.equal(seeded(images), aura(images, seed=6))
    plain = ds.GANPostProcessor(save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "c.pth"), seed=5)
    assert torch.equal(plain(images), plain(images, seed=None))


def test_modular_block_takes_an_upscale_seed(tmp_path):
    from diffusers.modular_pipelines import SequentialPipelineBlocks
    from helpers.aurasr import save_tiny_aurasr

    upscaler = ds.AuraSRModel.from_single_file(str(save_tiny_aurasr(tmp_path / "AuraSR-tiny.safetensors")))
    pipeline = SequentialPipelineBlocks.from_blocks_dict({"gan_upscale": ds.GANUpscaleStep()}).init_pipeline()
    pipeline.update_components(upscaler=upscaler)
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    run = lambda **seed: pipeline(images=images, output_type="pt", output="images", **seed)  # noqa: E731
    assert torch.equal(run(upscale_seed=3), run(upscale_seed=3))
    assert not torch.equal(run(upscale_seed=3), run(upscale_seed=4))


# ------------------------------------------------------------------------------ face restoration
REAL_DETECTOR = "retinaface_mobilenet0.25.pth"


@pytest.fixture(scope="module")
def face_files(tmp_path_factory):
    """A tiny random GFPGAN file (official layout) and the real RetinaFace MobileNet-0.25."""
    from helpers.models import shared_weight
    from helpers.gfpgan import tiny_gfpgan

    detector = shared_weight(REAL_DETECTOR)
    path = tmp_path_factory.mktemp("faces") / "GFPGANtiny.pth"
    torch.manual_seed(0)
    torch.save({"params_ema": tiny_gfpgan().state_dict()}, path)
    return path, detector


def _face_photo():
    from PIL import Image

    photo = pytest.importorskip("skimage.data").astronaut()[:256, 128:384]
    return Image.fromarray(photo)


def test_post_processor_restores_faces_alone(face_files):
    from ganpost import restore_faces

    gfpgan, detector = face_files
    photo = _face_photo()
    post = ds.GANPostProcessor(faces=gfpgan, detector=detector)
    (out,) = post([photo])
    assert out.size == photo.size
    expected = restore_faces(photo, gfpgan, detector=detector)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    changed = np.abs(np.asarray(out, int) - np.asarray(photo, int)).max(-1) > 0
    assert changed[80:160, 100:180].mean() > 0.5 and not changed.all()  # the face, not everything
    with_np = post(np.asarray(photo, np.float32)[None] / 255, output_type="pil")
    assert with_np[0].size == photo.size


def test_post_processor_faces_with_an_upscaler(face_files, tmp_path):
    from ganpost import load_model, restore_faces

    gfpgan, detector = face_files
    compact = save_official(tiny_compact(scale=2), tmp_path / "c.pth")
    photo = _face_photo().resize((128, 128))
    post = ds.GANPostProcessor(compact, faces=gfpgan, detector=detector, strength=0.8)
    (out,) = post([photo])
    assert out.size == (256, 256)  # the upscaler's scale by default
    expected = restore_faces(photo, load_model(gfpgan), detector=load_model(detector), upscaler=load_model(compact),
                             upscale=2, strength=0.8)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    assert post([photo], upscale=1)[0].size == (128, 128)  # options can be overridden per call
    with pytest.raises(ds.InvalidOptionError, match="upscaler, a face model"):
        ds.GANPostProcessor()


def test_gfpgan_model_component_in_the_post_processor_and_block(face_files):
    from diffusers.modular_pipelines import SequentialPipelineBlocks

    gfpgan, detector = face_files
    photo = _face_photo()
    component = ds.GFPGANModel.from_single_file(gfpgan)
    from_file = ds.GANPostProcessor(faces=gfpgan, detector=detector)([photo])[0]
    from_component = ds.GANPostProcessor(faces=component, detector=detector)([photo])[0]
    assert np.array_equal(np.asarray(from_component), np.asarray(from_file))

    blocks = SequentialPipelineBlocks.from_blocks_dict({"faces": ds.GANFaceRestoreStep()})
    pipeline = blocks.init_pipeline()
    pipeline.update_components(face_restorer=component)
    out = pipeline(images=[photo], face_detector=str(detector), output="images")
    assert np.array_equal(np.asarray(out[0]), np.asarray(from_file))
    half = pipeline(images=[photo], face_detector=str(detector), face_strength=0.0, output="images")
    assert np.array_equal(np.asarray(half[0]), np.asarray(photo))  # strength 0: the input, bit for bit


def test_upscale_then_faces_as_two_blocks(face_files, tmp_path):
    from diffusers.modular_pipelines import SequentialPipelineBlocks
    from PIL import Image

    gfpgan, detector = face_files
    blocks = SequentialPipelineBlocks.from_blocks_dict({"upscale": ds.GANUpscaleStep(),
                                                        "faces": ds.GANFaceRestoreStep()})
    pipeline = blocks.init_pipeline()
    pipeline.update_components(
        upscaler=ds.SRVGGNetCompactModel.from_single_file(save_official(tiny_compact(scale=2), tmp_path / "c.pth")),
        face_restorer=ds.GFPGANModel.from_single_file(gfpgan))
    out = pipeline(images=[_face_photo().resize((128, 128), Image.BICUBIC)], face_detector=str(detector),
                   output="images")
    assert out[0].size == (256, 256)


def test_missing_diffusers_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_diffusers(name, *args, **kwargs):
        if name == "diffusers":
            raise ImportError("no")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_diffusers)
    with pytest.raises(ImportError, match=r"ganpost\[diffusers\]"):
        ds._require_diffusers()
