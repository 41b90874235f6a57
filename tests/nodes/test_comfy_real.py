"""The pack in a real ComfyUI: set ``COMFYUI_DIR`` to a ComfyUI checkout (and ``COMFYUI_PYTHON`` to its
interpreter unless it is ``venv/bin/python`` beside the checkout); skipped without one, or without the shared
weights (``../shared/weights``) the templates load.

One server (``tools/comfy_server.py``: a fresh base directory, only this pack loaded, stopped afterwards)
answers for all: /api/workflow_templates lists every template and serves it with its thumbnail; every node's
help page is served where frontend 1.27 asks for it (``/extensions/<pack folder>/docs/<node>.md`` after the
``…/<node>/<locale>.md`` it tries first); the API forms are the UI templates converted with the server's own
/object_info; and each template, in API form, runs and saves an image (the training ones for their few
steps: minutes on a CPU), or for the video templates a video with the clip's frame count, frame rate and audio.
"""

from __future__ import annotations

import json
import sys

import pytest

from helpers.paths import REPO

sys.path.insert(0, str(REPO / "tools"))
import comfy_workflow  # noqa: E402
import make_templates  # noqa: E402
from comfy_server import ComfyServer, comfy_from_environment  # noqa: E402

TEMPLATES = comfy_workflow.templates()
COMFY = comfy_from_environment()
pytestmark = [
    pytest.mark.skipif(COMFY is None, reason="no real ComfyUI: set COMFYUI_DIR (and COMFYUI_PYTHON)"),
    pytest.mark.skipif(not make_templates.WEIGHTS.is_dir() or not make_templates.KODAK.is_dir(),
                       reason="../shared/weights and ../shared/datasets/kodak are not here"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("real_comfy")
    with ComfyServer(*COMFY, work / "comfy", REPO, models=make_templates.make_models(work / "models")) as running:
        running.image = make_templates.fill_inputs(running)
        running.video = make_templates.fill_video(running)
        running.defs = running.get_json("/object_info")
        yield running


def test_the_templates_endpoint_lists_every_template_and_serves_it(server):
    listed = server.get_json("/api/workflow_templates")
    assert sorted(listed[make_templates.PACK_NAME]) == sorted(t.stem for t in TEMPLATES), listed
    for template in TEMPLATES:
        for suffix in (".json", ".jpg"):
            status, body = server.get(f"/api/workflow_templates/{make_templates.PACK_NAME}/{template.stem}{suffix}")
            assert status == 200 and body == template.with_suffix(suffix).read_bytes(), (template.stem, suffix)


def test_every_help_page_is_served_where_the_frontend_asks(server):
    nodes = {name: d for name, d in server.defs.items() if d["python_module"].startswith("custom_nodes.")}
    assert {d["python_module"] for d in nodes.values()} == {f"custom_nodes.{make_templates.PACK_NAME}"}
    assert len(nodes) >= 13
    for name in nodes:
        base = f"/extensions/{make_templates.PACK_NAME}/docs/{name}"
        assert server.get(f"{base}/en.md")[0] == 404  # no per-locale page: the frontend falls back to …
        status, body = server.get(f"{base}.md")
        assert status == 200 and body == (REPO / "web" / "docs" / f"{name}.md").read_bytes(), name


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.stem for t in TEMPLATES])
def test_the_api_form_is_the_template_converted_with_the_servers_definitions(server, template):
    prompt = comfy_workflow.ui_to_api(json.loads(template.read_text()), server.defs)
    assert prompt == json.loads(comfy_workflow.api_path(template).read_text())


def _stream_facts(path) -> tuple[int, object, list[tuple[str, int]], tuple[int, int], float]:
    """Frames decoded, the video stream's average rate, the audio streams (codec, sample rate), the frame size,
    the seconds of audio decoded."""
    import av

    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        video = container.streams.video[0]
        audio = [(stream.codec_context.name, stream.rate) for stream in container.streams.audio]
        container.seek(0)
        seconds = sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0)) if audio else 0.0
        return len(frames), video.average_rate, audio, (frames[0].width, frames[0].height), seconds


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.stem for t in TEMPLATES])
def test_the_template_runs_and_saves_an_image(server, template):
    from PIL import Image

    saved = server.run(make_templates.prompt_for(template, server.defs, server.image, server.video))
    assert saved, f"{template.stem} saved no image"
    if any(node["type"] == "LoadVideo" for node in json.loads(template.read_text())["nodes"]):
        frames, rate, audio, size, seconds = _stream_facts(server.base / "input" / server.video)
        assert [p.suffix for p in saved] == [".mp4"], saved
        out_frames, out_rate, out_audio, out_size, out_seconds = _stream_facts(saved[0])
        assert (out_frames, out_rate, out_audio) == (frames, rate, audio), (template.stem, saved[0])
        assert seconds > 0.9 and abs(out_seconds - seconds) < 0.05, (template.stem, seconds, out_seconds)
        assert out_size[0] >= size[0] and out_size[1] >= size[1]
        return
    for path in saved:
        with Image.open(path) as image:
            image.load()
            assert min(image.size) >= 16, (template.stem, image.size)
