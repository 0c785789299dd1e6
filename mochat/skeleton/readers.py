"""Readers for what motion archives hold: BVH, CMU ASF/AMC, npy/npz, in any layout.

`read_motion` returns the file's own joints, layout and rate (`SourceMotion`), untouched;
`mochat.skeleton.adapt.to_model` then brings them to the model. A BVH's layout is found by
its joint names (every built-in BVH convention and any registered layout file whose joints
it has); an ASF/AMC pair reads as the `cmu_asf` layout; npy and npz carry a stated layout
(npz may state it, and its rate, inside).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mochat.errors import DataFormatError
from mochat.skeleton.bvh import BvhMotion, read_bvh
from mochat.skeleton.layout import SMPL22, SkeletonLayout, get_layout, layout_names
from mochat.skeleton.normalize import validate_joints

HUMANML3D_FPS = 20.0
MOTION_SUFFIXES = (".npy", ".npz", ".bvh", ".amc")
_NPZ_JOINT_KEYS = ("joints", "positions", "joints3d", "keypoints3d")
_NPZ_FPS_KEYS = ("fps", "mocap_framerate", "frame_rate", "framerate")


@dataclass(frozen=True)
class SourceMotion:
    """A file's joints (T, J, 3) in its own layout, unit and axes, at its own rate."""

    joints: np.ndarray
    layout: SkeletonLayout
    fps: float
    source: str


def read_motion(path: str | Path, layout: SkeletonLayout | str | None = None, *,
                fps: float | None = None, asf: str | Path | None = None) -> SourceMotion:
    """Read a .bvh, .amc (+ its .asf), .npy or .npz motion file.

    `layout` names the file's skeleton (a name, alias or layout file); BVH files find it
    by their joint names when it is None, npy files default to SMPL-22. `fps` overrides
    the file's rate (npy files have none: HumanML3D's 20 unless given).
    """
    path = Path(path)
    lay = get_layout(layout) if isinstance(layout, str) else layout
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        motion = read_bvh(path)
        lay = lay or detect_layout(motion.joint_names, source=str(path))
        return SourceMotion(pick_joints(motion, lay, source=str(path)), lay,
                            fps or motion.fps, str(path))
    if suffix == ".amc":
        from mochat.skeleton.asf import read_asf_amc

        motion = read_asf_amc(asf or find_asf(path), path, fps=fps or 120.0)
        lay = lay or get_layout("cmu_asf")
        return SourceMotion(pick_joints(motion, lay, source=str(path)), lay, motion.fps,
                            str(path))
    if suffix == ".npy":
        lay = lay or SMPL22
        return SourceMotion(_read_npy(path, lay), lay, fps or HUMANML3D_FPS, str(path))
    if suffix == ".npz":
        return _read_npz(path, lay, fps)
    raise DataFormatError(f"{path}: unknown motion format {path.suffix!r}; expected one of "
                          f"{MOTION_SUFFIXES}")


def _canonical(name: str) -> str:
    """'mixamorig:LeftUpLeg' -> 'leftupleg'; used to match names across exporters."""
    return re.sub(r"[^a-z0-9]", "", name.split(":")[-1].lower())


def detect_layout(joint_names: tuple[str, ...], *, source: str = "bvh") -> SkeletonLayout:
    """The registered layout whose joints the file has, all of them; the largest such.

    The error lists the file's joints and the layouts tried, so a user can write a layout
    file (`--layout FILE`) for a convention that is not built in.
    """
    have = {_canonical(n) for n in joint_names}
    fitting = [get_layout(n) for n in layout_names()
               if all(_canonical(j) in have for j in get_layout(n).joint_names)]
    if not fitting:
        raise DataFormatError(
            f"{source}: no known skeleton layout matches its joints {list(joint_names)}; "
            f"tried {layout_names()}. Write a layout file (joint names, parents, groups, "
            "correspondence to the model's joints) and pass it as the layout")
    return max(fitting, key=lambda lay: lay.num_joints)


def pick_joints(motion: BvhMotion, layout: SkeletonLayout, *, source: str) -> np.ndarray:
    """The layout's joints out of a file's joints, by name: -> (T, J_layout, 3)."""
    by_name = {_canonical(n): i for i, n in enumerate(motion.joint_names)}
    missing = [n for n in layout.joint_names if _canonical(n) not in by_name]
    if missing:
        raise DataFormatError(f"{source}: joints {list(motion.joint_names)} lack layout "
                              f"{layout.name!r}'s {missing}")
    return motion.positions[:, [by_name[_canonical(n)] for n in layout.joint_names]]


def find_asf(amc: Path) -> Path:
    """The skeleton file of an AMC: `<stem>.asf`, else CMU's `<subject>.asf` (01_02.amc ->
    01.asf), beside it."""
    for candidate in (amc.with_suffix(".asf"), amc.with_name(amc.stem.split("_")[0] + ".asf")):
        if candidate.exists():
            return candidate
    raise DataFormatError(f"{amc}: no skeleton file beside it ({amc.stem}.asf or "
                          f"{amc.stem.split('_')[0]}.asf); give it with --asf")


def _read_npy(path: Path, layout: SkeletonLayout) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataFormatError(f"{path}: cannot read .npy: {err}") from err
    if arr.ndim == 2 and arr.shape[1] == layout.num_joints * 3:  # flattened (T, J*3)
        arr = arr.reshape(arr.shape[0], layout.num_joints, 3)
    return validate_joints(arr, layout, max_frames=None, source=str(path))


def _read_npz(path: Path, layout: SkeletonLayout | None, fps: float | None) -> SourceMotion:
    """An npz with joint positions under one of _NPZ_JOINT_KEYS, optionally `fps` and
    `layout` entries (AMASS's SMPL parameters, with no joint positions, are refused)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            entries = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise DataFormatError(f"{path}: cannot read .npz: {err}") from err
    key = next((k for k in _NPZ_JOINT_KEYS if k in entries), None)
    if key is None:
        raise DataFormatError(f"{path}: no joint positions in the npz (keys {sorted(entries)}; "
                              f"expected one of {_NPZ_JOINT_KEYS}). SMPL parameters (AMASS "
                              "poses/trans) must be turned into joints first")
    if layout is None:
        layout = get_layout(str(entries["layout"])) if "layout" in entries else SMPL22
    rate = fps or next((float(entries[k]) for k in _NPZ_FPS_KEYS if k in entries),
                       HUMANML3D_FPS)
    arr = entries[key]
    if arr.ndim == 2 and arr.shape[1] == layout.num_joints * 3:
        arr = arr.reshape(arr.shape[0], layout.num_joints, 3)
    return SourceMotion(validate_joints(arr, layout, max_frames=None, source=str(path)),
                        layout, rate, str(path))
