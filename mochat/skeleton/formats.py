"""Write a model-layout motion the way another capture would hand it over.

A `Rendition` is one such way: a layout, a frame rate, a coordinate convention and a file
type. `write_rendition` turns model joints (SMPL-22, model rate, y up, metres) into it:
the layout's joints (`render_layout`), resampled, in the convention's axes and units, as
npy, npz, BVH or ASF/AMC. Reading the file back through `read_motion` and `to_model` must
give the same motion; the conformance test and `bench/adapters.py` check exactly that, for
the renditions in RENDITIONS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mochat.errors import ConfigError
from mochat.skeleton.bvh import write_bvh
from mochat.skeleton.convention import Convention
from mochat.skeleton.layout import get_layout
from mochat.skeleton.resample import resample
from mochat.skeleton.retarget import render_layout

FILE_KINDS = ("npy", "npz", "bvh", "amc")
EXAMPLE_LAYOUT = Path(__file__).resolve().parents[2] / "examples" / "layouts" / "h36m17.yaml"


@dataclass(frozen=True)
class Rendition:
    """One way to hand over a motion: layout (a name or a layout file), rate, convention,
    file kind. `convention` None is the layout's own."""

    name: str
    layout: str
    fps: float
    file: str
    convention: Convention | None = None

    def __post_init__(self) -> None:
        if self.file not in FILE_KINDS:
            raise ConfigError(f"unknown file kind {self.file!r}; expected one of {FILE_KINDS}")


RENDITIONS: tuple[Rendition, ...] = (
    Rendition("smpl22-20fps", "smpl22", 20.0, "npy"),
    Rendition("smpl22-120fps", "smpl22", 120.0, "npy"),
    Rendition("smpl22-zup-cm", "smpl22", 20.0, "npy", Convention("z", "cm")),
    Rendition("ntu25-30fps", "ntu25", 30.0, "npy"),
    Rendition("azure32-30fps", "azure32", 30.0, "npy"),
    Rendition("mediapipe33-30fps", "mediapipe33", 30.0, "npz"),
    Rendition("cmu-bvh-120fps", "cmu_mb", 120.0, "bvh"),
    Rendition("daz-bvh-120fps", "cmu_daz", 120.0, "bvh"),
    Rendition("mixamo-bvh-30fps", "mixamo", 30.0, "bvh"),
    Rendition("cmu-asf-amc-120fps", "cmu_asf", 120.0, "amc"),
    Rendition("custom-h36m17-50fps", str(EXAMPLE_LAYOUT), 50.0, "npy"),
)


def write_rendition(model_joints: np.ndarray, rendition: Rendition, folder: str | Path,
                    stem: str, *, model_fps: float = 20.0) -> Path:
    """Model joints (T, 22, 3) at model_fps -> the rendition's file under `folder`.

    Returns the motion file (for ASF/AMC the .amc; its .asf sits beside it).
    """
    layout = get_layout(rendition.layout)
    convention = rendition.convention or layout.convention
    joints = render_layout(resample(model_joints, model_fps, rendition.fps), layout)
    raw = convention.from_model(joints)  # (T, J, 3) in the file's axes and units
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.{rendition.file}"
    if rendition.file == "npy":
        np.save(path, raw)
    elif rendition.file == "npz":
        np.savez(path, joints=raw, fps=np.float32(rendition.fps), layout=layout.name)
    elif rendition.file == "bvh":
        write_bvh(path, layout.joint_names, layout.parents, raw, rendition.fps)
    else:
        from mochat.skeleton.asf import write_asf_amc

        write_asf_amc(path.with_suffix(".asf"), path, layout.joint_names, layout.parents, raw)
    return path
