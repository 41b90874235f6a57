"""Official RRDBNet state dicts rewritten into the legacy layouts people still share."""

import re


def to_legacy_esrgan(sd: dict) -> dict:
    """The old ESRGAN layout (model.N, RDBk.convj.0), as community x4 models ship."""
    nb = len({k.split(".")[1] for k in sd if k.startswith("body.")})
    simple = {"conv_first": "model.0", "conv_body": f"model.1.sub.{nb}", "conv_up1": "model.3",
              "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            head, _, tail = k.partition(".")
            out[f"{simple[head]}.{tail}"] = v
    return out


def to_bsrgan(sd: dict) -> dict:
    simple = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", k)
        if m:
            out[f"RRDB_trunk.{m[1]}.RDB{m[2]}.conv{m[3]}.{m[4]}"] = v
        else:
            head, _, tail = k.partition(".")
            out[f"{simple.get(head, head)}.{tail}"] = v
    return out
