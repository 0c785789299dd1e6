"""BVH reader: any hierarchy, forward kinematics to world joint positions, mapped to a layout.

A BVH file holds a joint hierarchy (offsets and channel lists) and per-frame channel values.
World positions follow from chaining each joint's rotation (in its channel order) onto its
parent's; end sites are dropped. Which layout a file is in (and so which joint is which)
is `mochat.skeleton.readers`' business: BVH conventions name the same joint differently
(CMU's MotionBuilder-friendly LeftShoulder is a collar, its 3dsMax-friendly one a shoulder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from mochat.errors import DataFormatError

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


def _forward_kinematics(parents, offsets, channels, values) -> np.ndarray:
    """Per-frame channel values -> world positions (T, J, 3).

    A joint's rotation channels, in the order listed, are intrinsic Euler angles (the BVH
    convention: "Zrotation Xrotation Yrotation" is Rz @ Rx @ Ry); its position channels,
    where present (the root), replace its offset.
    """
    frames = values.shape[0]
    num = len(parents)
    world_rot = [Rotation.identity(frames)] * num
    world_pos = np.zeros((num, frames, 3))
    col = 0
    for j in range(num):
        local_pos = np.broadcast_to(offsets[j], (frames, 3)).copy()
        axes, cols = "", list[int]()
        for name in channels[j]:
            if name.endswith("position"):
                local_pos[:, _AXIS[name[0]]] = values[:, col]
            else:
                axes, cols = axes + name[0], [*cols, col]
            col += 1
        local_rot = Rotation.from_euler(axes, values[:, cols], degrees=True) if axes \
            else Rotation.identity(frames)
        p = parents[j]
        if p < 0:
            world_rot[j], world_pos[j] = local_rot, local_pos
        else:
            world_pos[j] = world_pos[p] + world_rot[p].apply(local_pos)
            world_rot[j] = world_rot[p] * local_rot
    return world_pos.transpose(1, 0, 2).astype(np.float32)  # (J, T, 3) -> (T, J, 3)
