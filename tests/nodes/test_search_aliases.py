"""Search aliases reach a ComfyUI whose ``io.Schema`` takes them, and change nothing in one that does not.

ComfyUI 0.3.64's Schema (mirrored by the fake, whose keywords ``test_fake_io_takes_exactly_the_real_keywords``
holds to the real file) has no ``search_aliases``; newer ones have the field and the frontend's node search
reads it. Both are shown here: the fake as it is, and the fake with that one field added.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest

from helpers import fake_comfy


def _schemas(monkeypatch, tmp_path, schema_class=None) -> dict:
    fake_comfy.install(monkeypatch, tmp_path)
    if schema_class is not None:
        monkeypatch.setattr(sys.modules["comfy_api.latest"].io, "Schema", schema_class)
    fake_comfy.forget_modules()
    import ganpost

    try:
        nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
        return {schema.node_id: schema for schema in (node.define_schema() for node in nodes)}
    finally:
        fake_comfy.forget_modules()


@dataclasses.dataclass
class NewerSchema(fake_comfy.Schema):
    search_aliases: list = None


def test_a_comfyui_without_the_field_gets_the_schema_it_always_got(monkeypatch, tmp_path):
    schemas = _schemas(monkeypatch, tmp_path)
    assert schemas and not any(hasattr(s, "search_aliases") for s in schemas.values())


def test_a_comfyui_with_the_field_gets_every_nodes_aliases(monkeypatch, tmp_path):
    schemas = _schemas(monkeypatch, tmp_path, NewerSchema)
    missing = [node_id for node_id, s in schemas.items() if not s.search_aliases]
    assert not missing, f"no search aliases: {missing}"
    for node_id, words in {"GanpostRestoreFaces": ("face restore", "GFPGAN", "codeformer", "gpen", "restoreformer"),
                           "GanpostUpscaleImage": ("hires fix upscale",),
                           "GanpostTrainUpscaleModel": ("fine-tune",)}.items():
        assert set(words) <= set(schemas[node_id].search_aliases), node_id
    for node_id, s in schemas.items():  # an alias that is the node's own name adds nothing
        assert len(set(s.search_aliases)) == len(s.search_aliases), node_id
        assert s.display_name not in s.search_aliases, node_id
    assert "gfpgan" not in schemas["GanpostRestoreFaces"].search_aliases  # "GFPGAN" is there already

def test_the_table_names_only_registered_nodes(monkeypatch, tmp_path):
    schemas = _schemas(monkeypatch, tmp_path)
    fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    from ganpost.nodes.search_aliases import ALIASES

    fake_comfy.forget_modules()
    assert set(ALIASES) == set(schemas)
