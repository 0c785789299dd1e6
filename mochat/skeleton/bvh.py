"""BVH reader: any hierarchy, forward kinematics to world joint positions, mapped to a layout.

A BVH file holds a joint hierarchy (offsets and channel lists) and per-frame channel values.
World positions follow from chaining each joint's rotation (in its channel order) onto its
parent's; end sites are dropped. Mapping to a layout matches joint names through an alias
table that knows the common conventions (SMPL, Mixamo, CMU, Kinect).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mochat.errors import DataFormatError
from mochat.skeleton.layout import SkeletonLayout

_AXIS = {"X": 0, "Y": 1, "Z": 2}


@dataclass(frozen=True)
class BvhMotion:
    """World joint positions (T, J, 3) of every BVH joint, in file order."""

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    positions: np.ndarray
    fps: float


def read_bvh(path: str | Path) -> BvhMotion:
    """Parse a BVH file and run forward kinematics. Errors name the file and the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: cannot read BVH: {err}") from err
    if not text.strip():
        raise DataFormatError(f"{path}: empty BVH file")
    tokens = text.split()
    try:
        motion_at = tokens.index("MOTION")
    except ValueError:
        raise DataFormatError(f"{path}: no MOTION section") from None
    names, parents, offsets, channels = _parse_hierarchy(tokens[:motion_at], path)
    frames, frame_time, values = _parse_motion(tokens[motion_at + 1:], path)
    expected = sum(len(c) for c in channels)
    if values.shape[1] != expected:
        raise DataFormatError(f"{path}: {values.shape[1]} values per frame, hierarchy "
                              f"declares {expected} channels")
    positions = _forward_kinematics(parents, offsets, channels, values)
    return BvhMotion(tuple(names), tuple(parents), positions, 1.0 / frame_time)


def _parse_hierarchy(tokens: list[str], path: Path):
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    in_end_site = False
    i = 0
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
            elif tok == "End":
                in_end_site = True
                i += 2
            elif tok == "{":
                if not in_end_site:
                    stack.append(len(names) - 1)
                i += 1
            elif tok == "}":
                if in_end_site:
                    in_end_site = False
                else:
                    stack.pop()
                i += 1
            elif tok == "OFFSET":
                vals = [float(v) for v in tokens[i + 1:i + 4]]
                if not in_end_site:
                    offsets[-1] = vals
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[-1] = tokens[i + 2:i + 2 + n]
                i += 2 + n
            else:
                i += 1
    except (ValueError, IndexError) as err:
        raise DataFormatError(f"{path}: malformed HIERARCHY near token {i}: {err}") from err
    if not names:
        raise DataFormatError(f"{path}: HIERARCHY declares no joints")
    for chans in channels:
        for c in chans:
            if not re.fullmatch(r"[XYZ](position|rotation)", c):
                raise DataFormatError(f"{path}: unknown channel {c!r}")
    return names, parents, np.array(offsets, dtype=np.float64), channels


def _parse_motion(tokens: list[str], path: Path) -> tuple[int, float, np.ndarray]:
    try:
        frames = int(tokens[tokens.index("Frames:") + 1])
        t_at = tokens.index("Time:")
        frame_time = float(tokens[t_at + 1])
        values = np.array([float(v) for v in tokens[t_at + 2:]], dtype=np.float64)
    except (ValueError, IndexError) as err:
        raise DataFormatError(f"{path}: malformed MOTION section: {err}") from err
    if frames <= 0:
        raise DataFormatError(f"{path}: MOTION has no frames")
    if frame_time <= 0:
        raise DataFormatError(f"{path}: frame time must be positive, got {frame_time}")
    if values.size % frames:
        raise DataFormatError(f"{path}: {values.size} values do not split into {frames} frames")
    return frames, frame_time, values.reshape(frames, -1)


def _axis_rotation(axis: int, degrees: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T, 3, 3) rotations about one axis."""
    r = np.radians(degrees)
    c, s = np.cos(r), np.sin(r)
    out = np.zeros((len(r), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[:, axis, axis] = 1.0
    out[:, i, i] = c
    out[:, j, j] = c
    out[:, i, j] = -s
    out[:, j, i] = s
    return out


def _forward_kinematics(parents, offsets, channels, values) -> np.ndarray:
    frames = values.shape[0]
    num = len(parents)
    world_rot = np.zeros((num, frames, 3, 3))
    world_pos = np.zeros((num, frames, 3))
    col = 0
    for j in range(num):
        local_rot = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
        local_pos = np.broadcast_to(offsets[j], (frames, 3)).copy()
        for name in channels[j]:
            axis = _AXIS[name[0]]
            if name.endswith("position"):
                local_pos[:, axis] = values[:, col]  # the root's position replaces its offset
            else:
                local_rot = local_rot @ _axis_rotation(axis, values[:, col])
            col += 1
        p = parents[j]
        if p < 0:
            world_rot[j], world_pos[j] = local_rot, local_pos
        else:
            world_pos[j] = world_pos[p] + np.einsum("tij,tj->ti", world_rot[p], local_pos)
            world_rot[j] = world_rot[p] @ local_rot
    return world_pos.transpose(1, 0, 2).astype(np.float32)  # (J, T, 3) -> (T, J, 3)


def _canonical(name: str) -> str:
    """'mixamorig:LeftUpLeg' -> 'leftupleg'; used to match names across conventions."""
    name = name.split(":")[-1]
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Canonical BVH names (after _canonical) for each SMPL-22 / NTU-25 joint name.
_ALIASES: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "hip", "pelvis", "root"),
    "left_hip": ("leftupleg", "lhip", "leftthigh", "lthigh", "lefthip"),
    "right_hip": ("rightupleg", "rhip", "rightthigh", "rthigh", "righthip"),
    "spine1": ("spine", "spine1", "lowerback", "abdomen"),
    "spine2": ("spine1", "spine2", "chest"),
    "spine3": ("spine2", "spine3", "chest2", "upperchest"),
    "left_knee": ("leftleg", "lknee", "leftknee", "lshin", "leftshin"),
    "right_knee": ("rightleg", "rknee", "rightknee", "rshin", "rightshin"),
    "left_ankle": ("leftfoot", "lankle", "leftankle"),
    "right_ankle": ("rightfoot", "rankle", "rightankle"),
    "left_foot": ("lefttoebase", "lefttoe", "ltoe", "lfoot"),
    "right_foot": ("righttoebase", "righttoe", "rtoe", "rfoot"),
    "neck": ("neck", "neck1"),
    "head": ("head",),
    "left_collar": ("leftshoulder", "lcollar", "leftcollar", "lclavicle"),
    "right_collar": ("rightshoulder", "rcollar", "rightcollar", "rclavicle"),
    "left_shoulder": ("leftarm", "lshoulder", "leftuparm", "lhumerus"),
    "right_shoulder": ("rightarm", "rshoulder", "rightuparm", "rhumerus"),
    "left_elbow": ("leftforearm", "lelbow", "leftelbow", "lradius"),
    "right_elbow": ("rightforearm", "relbow", "rightelbow", "rradius"),
    "left_wrist": ("lefthand", "lwrist", "leftwrist", "lhand"),
    "right_wrist": ("righthand", "rwrist", "rightwrist", "rhand"),
}


def bvh_to_layout(motion: BvhMotion, layout: SkeletonLayout, *, scale: float = 1.0,
                  source: str = "bvh") -> np.ndarray:
    """Pick the layout's joints out of a BVH motion by name: -> (T, J_layout, 3) * scale.

    A BVH that uses the layout's own joint names maps one to one; otherwise each joint
    takes the first of its aliases (Mixamo, CMU, Kinect conventions) that the file has.
    """
    by_name = {_canonical(n): i for i, n in enumerate(motion.joint_names)}
    own = [_canonical(n) for n in layout.joint_names]
    if all(c in by_name for c in own):
        return motion.positions[:, [by_name[c] for c in own]] * np.float32(scale)
    picked: list[int] = []
    missing: list[str] = []
    for name, canonical in zip(layout.joint_names, own, strict=True):
        candidates = (*_ALIASES.get(name, ()), canonical)
        hit = next((by_name[c] for c in candidates if c in by_name), None)
        if hit is None:
            missing.append(name)
        else:
            picked.append(hit)
    if missing:
        raise DataFormatError(
            f"{source}: BVH joints {list(motion.joint_names)} do not cover layout "
            f"{layout.name!r}; missing {missing}")
    return motion.positions[:, picked] * np.float32(scale)
