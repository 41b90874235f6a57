"""Node definitions in the form ComfyUI's /object_info gives them, without a ComfyUI: the pack's nodes from
their schemas (under the fake ComfyUI), core's from ``tests/fixtures/core_object_info.json`` (taken from a
real ComfyUI 0.3.64). ``tools/comfy_workflow.py`` converts UI workflows with these; the real-ComfyUI test
checks the same conversion with the server's own /object_info.
"""

from __future__ import annotations

import json
import sys

from helpers.paths import FIXTURES, REPO

sys.path.insert(0, str(REPO / "tools"))
import comfy_workflow  # noqa: E402  (tools/ is scripts, not a package)

OPTION_KEYS = {"default": "default", "min": "min", "max": "max", "step": "step", "options": "options",
               "control_after_generate": "control_after_generate", "force_input": "forceInput"}


def core_defs() -> dict:
    defs = json.loads((FIXTURES / "core_object_info.json").read_text())
    defs.pop("_source")
    return defs


def _v1_spec(spec) -> list:
    options = {key: getattr(spec, attr) for attr, key in OPTION_KEYS.items() if getattr(spec, attr, None) is not None}
    return [spec.get_io_type(), options]


def pack_defs(schemas: dict) -> dict:
    """``node_id → /object_info entry`` of the schemas (fake ComfyUI), in the real one's layout."""
    defs = {}
    for node_id, schema in schemas.items():
        sections = {"required": {}, "optional": {}}
        for spec in schema.inputs:
            sections["optional" if spec.optional else "required"][spec.id] = _v1_spec(spec)
        defs[node_id] = {"input": sections, "input_order": {k: list(v) for k, v in sections.items()},
                         "output": [o.io_type for o in schema.outputs],
                         "output_name": [o.display_name for o in schema.outputs], "name": node_id,
                         "display_name": schema.display_name}
    return defs


def all_defs(schemas: dict) -> dict:
    return core_defs() | pack_defs(schemas)
