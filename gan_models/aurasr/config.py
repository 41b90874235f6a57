"""AuraSR's hyper-parameters: from a ``config.json`` when there is one, else read from the tensors.

The official tools refuse to load without ``config.json`` beside the weights (and a community
node then silently returns its input). Messages here complete the loader's "<file>: looks like
UnetUpsampler but is ...", so they start with what the file is. Nearly everything is visible in the tensor shapes; what
is not (the skip scale, the attention heads, the trained window size) takes the release's value,
and any of those can be given as a load option. A config that does not describe the file's
tensors is refused with the first tensor that differs, never half-loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..errors import UnsupportedModelError

# What both releases' config.json say (fal/AuraSR and fal/AuraSR-v2 ship the same 222-byte file);
# everything else is the UnetUpsampler constructor's default.
RELEASE_CONFIG = {
    "style_network": {"dim_in": 128, "dim_out": 512, "depth": 4},
    "dim": 64, "image_size": 256, "input_image_size": 64, "unconditional": True, "skip_connect_scale": 0.4,
}
RELEASE_ATTN_HEADS = 8
RELEASE_ATTN_DEPTHS = (2, 2, 2, 2, 4)  # only the stages with attention are visible in the tensors
# Not visible in the tensors; load options may set them (the diffusers wrapper passes its own).
UNDETECTABLE = ("skip_connect_scale", "self_attn_heads", "input_image_size")
CONFIG_NAMES = ("{stem}.json", "{stem}.config.json", "config.json")
# Keys of the release's config that mark a JSON file as an AuraSR config (not a diffusers or other one).
MARKER_KEYS = {"style_network", "input_image_size"}

Tensors = dict[str, torch.Tensor]


class ConfigError(UnsupportedModelError):
    """An AuraSR config that is unreadable, or that does not describe the file's tensors."""


def config_beside(weights: Path) -> Path | None:
    """``<stem>.json``, ``<stem>.config.json`` or ``config.json`` next to the weights.

    Another project's JSON (readable, without AuraSR's keys) is passed over; an unreadable one is
    returned, so that loading reports it rather than guessing around it.
    """
    for pattern in CONFIG_NAMES:
        candidate = weights.parent / pattern.format(stem=weights.stem)
        if not candidate.is_file():
            continue
        try:
            if MARKER_KEYS <= set(_read_json(candidate)):
                return candidate
        except ConfigError:
            return candidate
    return None


def read_config(config: dict | str | Path) -> tuple[dict, str]:
    """The config as a dict, and how to name it in messages."""
    if isinstance(config, dict):
        return dict(config), "the given config"
    path = Path(config)
    data = _read_json(path)
    if not MARKER_KEYS <= set(data):
        raise ConfigError(f"given {path}, which is not an AuraSR config (it lacks "
                          f"{', '.join(sorted(MARKER_KEYS - set(data)))}). Use the config.json released with "
                          "the weights, or none: the shape is then read from the weights")
    # diffusers' save_pretrained of the wrapper adds _class_name and _diffusers_version.
    return {k: v for k, v in data.items() if not k.startswith("_")}, str(path)


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        # The first fal/AuraSR revision (c143c56) wrote Python's True; accept it as the tools did not.
        data = json.loads(re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", text)))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"paired with {path}, which is not readable JSON ({err}). Fix or remove it: "
                          "without it the shape is read from the weights") from err
    if not isinstance(data, dict):
        raise ConfigError(f"paired with {path}, which holds a JSON {type(data).__name__}, not an object of "
                          "hyper-parameters. Fix or remove it")
    return data


def _need(sd: Tensors, key: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise ConfigError(f"missing tensor {key!r}, so its {what} cannot be inferred. Put the config.json "
                          "released with these weights beside the file (or pass config=...)")
    return sd[key]


def _count(sd: Tensors, pattern: str) -> int:
    return len({m[1] for k in sd if (m := re.fullmatch(pattern, k))})


def infer_config(sd: Tensors) -> dict:
    """The UnetUpsampler keyword arguments for a state dict with the official key names."""
    style_depth = _count(sd, r"style_network\.net\.(\d+)\.weight")
    first_style = _need(sd, "style_network.net.0.weight", "style network")
    dim = _need(sd, "final_to_rgb.weight", "base width (dim)").shape[1]
    channels = _need(sd, "init_conv.weight", "input channels").shape[1]
    n_down = _count(sd, r"downs\.(\d+)\.1\.1\.weight")
    n_up = _count(sd, r"ups\.(\d+)\.1\.0\.conv\.weight")
    if n_down == 0 or n_up <= n_down:
        raise ConfigError(f"a U-Net with {n_down} down and {n_up} up stages, whose shape cannot be inferred "
                          "(expected more up than down stages). Put the released config.json beside the file")
    block_count = _count(sd, r"downs\.0\.0\.(\d+)\.block1\.proj\.weights")
    num_conv_kernels = _need(sd, "downs.0.0.0.block1.proj.weights", "kernel count").shape[0]
    down_out = [_need(sd, f"downs.{i}.1.1.weight", f"down stage {i}").shape[0] for i in range(n_down)]
    up_in = [_need(sd, f"ups.{j}.1.0.conv.weight", f"up stage {j}").shape[0] for j in range(n_up)]
    mid_dim = _need(sd, "mid_block1.block1.proj.weights", "middle width").shape[1]
    up_dims = [*reversed(up_in), mid_dim]  # up stage j reads up_dims[-1-j], writes up_dims[-2-j]
    for what, width in [*(("up", d) for d in up_dims[1:]), *(("down", d) for d in down_out)]:
        if width % dim:
            raise ConfigError(f"a network with a {what} width {width} that is not a multiple of its base width {dim}")

    # Attention: down stage i and up stage n_up-1-i share full_attn[i]; heads × dim_head is visible, the split is not.
    full_attn, attn_depths, hidden = [], [], set()
    for i in range(n_up):
        prefixes = [f"ups.{n_up - 1 - i}.1.1"] + ([f"downs.{i}.1.0"] if i < n_down else [])
        depths = [_count(sd, rf"{re.escape(p)}\.layers\.(\d+)\.0\.to_qkv\.weight") for p in prefixes]
        if len(set(depths)) > 1:
            raise ConfigError(f"a network whose stage {i} has attention of depth {depths[1]} going down but "
                              f"{depths[0]} going up (one setting is shared). Put the released config.json beside the file")
        full_attn.append(depths[0] > 0)
        default_depth = RELEASE_ATTN_DEPTHS[i] if n_up == len(RELEASE_ATTN_DEPTHS) else 1
        attn_depths.append(depths[0] or default_depth)
        hidden |= {sd[k].shape[0] // 3 for k in sd if k.startswith(tuple(prefixes)) and k.endswith("to_qkv.weight")}
    hidden.add(_need(sd, "mid_attn.layers.0.0.to_qkv.weight", "attention width").shape[0] // 3)
    if len(hidden) != 1 or next(iter(hidden)) % RELEASE_ATTN_HEADS:
        raise ConfigError(f"a network whose attention heads cannot be inferred from its attention widths "
                          f"{sorted(hidden)}. Put the released config.json beside the file, or pass self_attn_heads")
    scale = 2 ** (n_up - n_down)
    return {
        "dim": dim,
        "image_size": RELEASE_CONFIG["input_image_size"] * scale,
        "input_image_size": RELEASE_CONFIG["input_image_size"],
        "init_dim": up_dims[0],
        "style_network": {"dim_in": first_style.shape[1], "dim_out": first_style.shape[0], "depth": style_depth},
        "up_dim_mults": [d // dim for d in up_dims[1:]],
        "down_dim_mults": [d // dim for d in down_out],
        "channels": channels,
        "full_attn": full_attn,
        "self_attn_dim_head": next(iter(hidden)) // RELEASE_ATTN_HEADS,
        "self_attn_heads": RELEASE_ATTN_HEADS,
        "attn_depths": attn_depths,
        "mid_attn_depth": _count(sd, r"mid_attn\.layers\.(\d+)\.0\.to_qkv\.weight"),
        "num_conv_kernels": num_conv_kernels,
        "skip_connect_scale": RELEASE_CONFIG["skip_connect_scale"],
        "block_count": block_count,
    }


def with_overrides(config: dict, overrides: dict) -> dict:
    """Apply explicit load options for what the tensors cannot tell; keep the attention width."""
    config = dict(config)
    if "self_attn_heads" in overrides:
        width = config.get("self_attn_dim_head", 64) * config.get("self_attn_heads", RELEASE_ATTN_HEADS)
        heads = int(overrides["self_attn_heads"])
        if heads <= 0 or width % heads:
            raise ConfigError(f"a network whose attention width {width} does not split into self_attn_heads={heads}")
        config["self_attn_heads"], config["self_attn_dim_head"] = heads, width // heads
    if "skip_connect_scale" in overrides:
        config["skip_connect_scale"] = float(overrides["skip_connect_scale"])
    if "input_image_size" in overrides:
        size = int(overrides["input_image_size"])
        config["image_size"] = config.get("image_size", 256) * size // config.get("input_image_size", 64)
        config["input_image_size"] = size
    return config


def check_config_fits(module: torch.nn.Module, sd: Tensors, label: str) -> None:
    """Refuse a config whose network has other tensors than the file (a v1 file with a foreign config...)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    extra = [k for k in sd if k not in expected]
    wrong = [k for k in expected if k in sd and tuple(expected[k].shape) != tuple(sd[k].shape)]
    if not (missing or extra or wrong):
        return
    if wrong:
        k = wrong[0]
        detail = (f"{len(wrong)} tensor(s) differ in shape, first {k}: the config makes {tuple(expected[k].shape)}, "
                  f"the file has {tuple(sd[k].shape)}")
    else:
        detail = ", ".join(filter(None, [
            f"{len(missing)} tensor(s) the config needs are missing (first {missing[0]})" if missing else "",
            f"{len(extra)} tensor(s) in the file have no place (first {extra[0]})" if extra else ""]))
    raise ConfigError(f"not described by {label} ({detail}). Use the config released with this file, or "
                      "remove it: the shape is then read from the weights")
