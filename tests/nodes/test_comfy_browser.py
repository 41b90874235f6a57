"""The pack in a real browser: headless Chromium (Debian's ``chromium`` package, driven by Playwright's Python
API through ``executable_path``; no browser download) opens the frontend of a real ComfyUI, loads the
``upscale`` template through the templates browser (Templates → ganpost → upscale, clicked as a user does),
checks that the frontend's own graphToPrompt gives the API form ``tools/comfy_workflow.py`` gives, queues it
with the Run button and waits for the saved image, then opens the Upscale Image node's help page from the
selection toolbox's info button and checks it shows ``web/docs/GanpostUpscaleImage.md``.

Skipped without a ComfyUI (``COMFYUI_DIR``, as tests/nodes/test_comfy_real.py), Chromium
(``/usr/bin/chromium`` or ``$CHROMIUM``), the ``playwright`` package or the shared weights. With
``GANPOST_SCREENSHOTS=1`` the screenshots of the loaded graph and of the help page are written to
``docs/images/`` (small palette PNGs); otherwise to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from helpers.paths import REPO

sys.path.insert(0, str(REPO / "tools"))
import comfy_workflow  # noqa: E402
import make_templates  # noqa: E402
from comfy_server import ComfyServer, comfy_from_environment  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COMFY = comfy_from_environment()
TEMPLATE = comfy_workflow.TEMPLATES / "upscale.json"
pytestmark = [
    pytest.mark.skipif(COMFY is None, reason="no real ComfyUI: set COMFYUI_DIR (and COMFYUI_PYTHON)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium (apt-get install chromium)"),
    pytest.mark.skipif(not make_templates.WEIGHTS.is_dir(), reason="../shared/weights is not here"),
]


def _save_screenshot(page, name: str, folder: Path) -> Path:
    """A palette PNG (the frontend's flat colours survive 256 colours), written atomically."""
    from PIL import Image
    import io

    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    folder.mkdir(parents=True, exist_ok=True)
    target, temp = folder / name, folder / f".{name}.tmp"
    image.quantize(colors=256, method=Image.MEDIANCUT).save(temp, format="PNG", optimize=True)
    temp.replace(target)
    return target


def test_a_template_opens_runs_and_shows_its_help_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    shots = REPO / "docs" / "images" if os.environ.get("GANPOST_SCREENSHOTS") == "1" else tmp_path / "shots"
    models = make_templates.make_models(tmp_path / "models")
    with ComfyServer(*COMFY, tmp_path / "comfy", REPO, models=models) as server:
        example = COMFY[0] / "input" / "example.png"  # the image core's templates load too
        server.add_input(example if example.is_file() else make_templates.PHOTO, "example.png")
        defs = server.get_json("/object_info")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 800})
            try:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.goto(server.url)
                page.wait_for_function("window.app && window.app.graph", timeout=120_000)
                try:  # the templates dialog opens by itself on a first visit
                    page.get_by_text("ganpost", exact=True).first.wait_for(timeout=20_000)
                except sync_api.TimeoutError:
                    page.get_by_role("button", name="Templates").click()
                page.get_by_text("ganpost", exact=True).first.click(timeout=30_000)
                page.get_by_text("upscale", exact=True).first.click(timeout=30_000)
                page.wait_for_function("window.app.graph.nodes.some(n => n.type === 'GanpostUpscaleImage')",
                                       timeout=60_000)

                queued = page.evaluate("async () => (await window.app.graphToPrompt()).output")
                for node in queued.values():
                    node.pop("_meta", None)
                assert queued == comfy_workflow.ui_to_api(__import__("json").loads(TEMPLATE.read_text()), defs)

                page.get_by_role("button", name="Run", exact=True).click()
                deadline, saved = time.monotonic() + 600, []
                while time.monotonic() < deadline and not saved:
                    for entry in server.get_json("/history").values():
                        assert entry["status"].get("status_str") != "error", entry["status"]
                        saved += [i for out in entry.get("outputs", {}).values() for i in out.get("images", [])]
                    time.sleep(1)
                assert saved and saved[0]["filename"].startswith("ganpost"), "no image came back"
                page.wait_for_function("window.app.graph.nodes.some(n => n.type === 'SaveImage' && n.imgs?.length)",
                                       timeout=60_000)
                page.evaluate("() => window.app.canvas.deselectAll?.()")
                time.sleep(1)
                graph_shot = _save_screenshot(page, "comfyui_template.png", shots)

                # Select the node (the frontend's canvas API; a click lands on a widget as often as not),
                # then open its help as a user does: the selection toolbox's info button.
                page.evaluate("() => { const n = window.app.graph.nodes.find(n => n.type === 'GanpostUpscaleImage');"
                              " window.app.canvas.selectNode(n); window.app.canvas.setDirty(true, true); }")
                page.get_by_test_id("info-button").click(timeout=30_000)
                page.get_by_text("Upscales an image batch with a Real-ESRGAN").first.wait_for(timeout=30_000)
                time.sleep(1)
                help_shot = _save_screenshot(page, "comfyui_help_page.png", shots)
            finally:
                browser.close()
    for shot in (graph_shot, help_shot):
        assert shot.stat().st_size < 200_000, shot
