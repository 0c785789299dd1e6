"""Encoder checkpoints: a directory with `model.safetensors` and `config.json`.

`config.json` holds the encoder kind, its EncoderConfig and the skeleton layout (by name
and in full, so a custom layout loads where it is not registered). A full MoChat
checkpoint keeps its encoder in an `encoder/` subdirectory of this same format, and
`load_encoder` accepts either directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mochat.errors import DataFormatError, UnknownLayoutError
from mochat.models.encoder import EncoderConfig, SkeletonEncoder, build_encoder
from mochat.skeleton.layout import SkeletonLayout, get_layout

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ENCODER_SUBDIR = "encoder"
FORMAT_VERSION = 1


def layout_to_dict(layout: SkeletonLayout) -> dict:
    return {"name": layout.name, "joint_names": list(layout.joint_names),
            "parents": list(layout.parents), "groups": list(layout.groups),
            "mass_weights": list(layout.mass_weights),
            "left_right": [list(p) for p in layout.left_right]}


def layout_from_dict(spec: dict) -> SkeletonLayout:
    """The registered layout of that name when it matches the spec, else one built from it."""
    try:
        known = get_layout(spec["name"])
    except UnknownLayoutError:
        known = None
    if known is not None and list(known.joint_names) == list(spec["joint_names"]) \
            and list(known.groups) == list(spec["groups"]):
        return known
    return SkeletonLayout(
        name=spec["name"], joint_names=tuple(spec["joint_names"]),
        parents=tuple(spec["parents"]), groups=tuple(spec["groups"]),
        mass_weights=tuple(spec["mass_weights"]),
        left_right=tuple(tuple(p) for p in spec.get("left_right", ())))


def encoder_metadata(model: SkeletonEncoder) -> dict:
    return {"format_version": FORMAT_VERSION, "kind": model.kind,
            "config": asdict(model.config), "layout": model.layout.name,
            "layout_spec": layout_to_dict(model.layout)}


def save_encoder(model: SkeletonEncoder, directory: str | Path) -> Path:
    """Write `model.safetensors` + `config.json` into `directory` (created if absent)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"kind": model.kind})
    (out / CONFIG_FILE).write_text(json.dumps(encoder_metadata(model), indent=2) + "\n")
    return out


def encoder_dir(directory: str | Path) -> Path:
    """The encoder directory inside `directory`: itself, or its `encoder/` subdirectory."""
    root = Path(directory)
    for candidate in (root, root / ENCODER_SUBDIR):
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            meta = json.loads((candidate / CONFIG_FILE).read_text())
            if isinstance(meta, dict) and "kind" in meta and "layout_spec" in meta:
                return candidate
    raise DataFormatError(
        f"{root}: no encoder checkpoint here ({CONFIG_FILE} + {WEIGHTS_FILE} in the directory "
        f"or in its {ENCODER_SUBDIR}/ subdirectory)")


def read_encoder_metadata(directory: str | Path) -> dict:
    return json.loads((encoder_dir(directory) / CONFIG_FILE).read_text())


def load_encoder(directory: str | Path, *, map_location: str | torch.device = "cpu"
                 ) -> SkeletonEncoder:
    """Rebuild an encoder from an encoder or full MoChat checkpoint directory, in eval mode
    (in the views it was saved with)."""
    path = encoder_dir(directory)
    meta = json.loads((path / CONFIG_FILE).read_text())
    if meta.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise DataFormatError(f"{path}: checkpoint format {meta['format_version']} is newer "
                              f"than this reader ({FORMAT_VERSION})")
    known = {f.name for f in fields(EncoderConfig)}
    saved = {k: v for k, v in meta["config"].items() if k in known}
    config = EncoderConfig(**saved)
    model = build_encoder(meta["kind"], config, layout_from_dict(meta["layout_spec"]))
    state = load_file(str(path / WEIGHTS_FILE), device=str(map_location))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataFormatError(f"{path}: weights do not fit a {meta['kind']} encoder "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()
