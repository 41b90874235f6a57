"""ComfyUI workflows in their two formats: the UI graph the frontend saves and its templates browser opens
(``example_workflows/*.json``: nodes with positions and sizes, links, ``widgets_values``), and the API prompt
that /prompt runs (``example_workflows/api/*_workflow_api.json``, used by the tests and the real-ComfyUI runs).

The UI file is the source; :func:`ui_to_api` derives the prompt as the frontend's ``graphToPrompt`` does
(read in ComfyUI_frontend 1.27.10's bundle): a node's widgets are made in its definition's input order
(``input_order``: required, then optional), one value each in ``widgets_values``, plus a value the prompt
does not get after an INT with *control after generate* (explicit, or an INT named seed/noise_seed) and
after an image- or video-upload combo (its upload button); a linked input is ``[source id, output index]``,
also a widget turned into a socket (the node lists it with ``"widget": {"name": ...}`` and keeps its value
in ``widgets_values``; the link wins); Note nodes and muted nodes are left out. ``node_defs`` is what
ComfyUI's /object_info returns.

    python tools/comfy_workflow.py --object-info object_info.json   # rewrite example_workflows/api/
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "example_workflows"
API = TEMPLATES / "api"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"Note", "MarkdownNote"}  # virtual nodes: never sent to the server
MUTED, BYPASSED = 2, 4  # LiteGraph node modes
MEDIA_UPLOADS = ("image_upload", "video_upload", "animated_image_upload")  # combos that get an upload button


def ordered_inputs(node_def: dict) -> list[tuple[str, list, bool]]:
    """``(name, spec, optional)`` in the order the frontend lays a node's inputs out."""
    inputs = node_def.get("input", {})
    order = node_def.get("input_order") or {section: list(specs) for section, specs in inputs.items()}
    found = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            if name in inputs.get(section, {}):
                found.append((name, inputs[section][name], section == "optional"))
    return found


def input_type(spec: list) -> str:
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def _options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def is_widget(spec: list) -> bool:
    return input_type(spec) in WIDGET_TYPES and not _options(spec).get("forceInput")


def widget_slots(node_def: dict) -> list[str | None]:
    """One entry per ``widgets_values`` item: the input it sets, or None for a value the prompt never gets."""
    slots = []
    for name, spec, _ in ordered_inputs(node_def):
        if not is_widget(spec):
            continue
        slots.append(name)
        options = _options(spec)
        control = options.get("control_after_generate")
        if input_type(spec) == "INT" and (control if control is not None else name in ("seed", "noise_seed")):
            slots.append(None)  # the "control after generate" combo: fixed / increment / decrement / randomize
        if input_type(spec) == "COMBO" and control:
            raise NotImplementedError(f"{name}: a combo with control_after_generate (also adds a filter widget)")
        if input_type(spec) == "COMBO" and any(options.get(key) for key in MEDIA_UPLOADS):
            slots.append(None)  # the upload button (images and videos alike), saved as "image"
    return slots


def socket_inputs(node_def: dict) -> list[tuple[str, str, bool]]:
    """``(name, type, optional)`` of the inputs that are sockets only (what a saved node lists unlinked)."""
    return [(name, input_type(spec), optional) for name, spec, optional in ordered_inputs(node_def)
            if not is_widget(spec)]


def ui_to_api(ui: dict, node_defs: dict) -> dict:
    """The API prompt of a UI workflow, as the frontend queues it (without its ``_meta`` titles)."""
    links = {link[0]: link for link in ui.get("links", [])}
    skipped = {node["id"] for node in ui["nodes"]
               if node["type"] in FRONTEND_ONLY or node.get("mode", 0) == MUTED}
    prompt = {}
    for node in sorted(ui["nodes"], key=lambda n: n["id"]):
        if node["id"] in skipped:
            continue
        if node.get("mode", 0) == BYPASSED:
            raise NotImplementedError(f"node {node['id']} ({node['type']}) is bypassed: not supported")
        if node["type"] not in node_defs:
            raise KeyError(f"node {node['id']}: {node['type']} is not a node this ComfyUI has")
        slots, values = widget_slots(node_defs[node["type"]]), node.get("widgets_values", [])
        if len(values) != len(slots):
            raise ValueError(f"node {node['id']} ({node['type']}): {len(values)} widget values, its widgets "
                             f"take {len(slots)} ({[s or '(not sent)' for s in slots]})")
        inputs = {name: {"__value__": value} if isinstance(value, list) else value
                  for name, value in zip(slots, values) if name is not None}
        for slot in node.get("inputs", []):
            link = links.get(slot.get("link"))
            if link is not None and link[1] not in skipped:
                inputs[slot["name"]] = [str(link[1]), int(link[2])]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def write_json(path: Path, data: dict) -> None:
    """Atomically: a temporary file in the same folder, then os.replace."""
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, ensure_ascii=False)
        file.write("\n")
    os.replace(temp, path)


def api_path(template: Path) -> Path:
    return API / f"{template.stem}_workflow_api.json"


def templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--object-info", required=True, type=Path, help="a saved /object_info answer")
    parser.add_argument("--check", action="store_true", help="only report API files that differ")
    args = parser.parse_args(argv)
    node_defs = json.loads(args.object_info.read_text())
    stale = []
    for template in templates():
        prompt = ui_to_api(json.loads(template.read_text()), node_defs)
        target = api_path(template)
        if not target.exists() or json.loads(target.read_text()) != prompt:
            stale.append(target.name)
            if not args.check:
                write_json(target, prompt)
    print(("differ: " if args.check else "written: ") + (", ".join(stale) or "none"))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
