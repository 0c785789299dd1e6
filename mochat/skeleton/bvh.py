"""BVH reader: any hierarchy, forward kinematics to world joint positions, mapped to a layout.

A BVH file holds a joint hierarchy (offsets and channel lists) and per-frame channel values.
World positions follow from chaining each joint's rotation (in its channel order) onto its
parent's; end sites are dropped. Which layout a file is in (and so which joint is which)
is `mochat.skeleton.readers`' business: BVH conventions name the same joint differently
(CMU's MotionBuilder-friendly LeftShoulder is a collar, its 3dsMax-friendly one a shoulder).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from mochat.errors import DataFormatError, InvalidSkeletonError
from mochat.skeleton.rotations import shortest_arc

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


def write_bvh(path: str | Path, joint_names: Sequence[str], parents: Sequence[int],
              positions: np.ndarray, fps: float, *, order: str = "ZYX") -> Path:
    """World joints (T, J, 3) of a tree (parents[0] == -1, parents[j] < j) -> a BVH file.

    The first frame is the rest pose: offsets are its bone vectors. Every later frame's
    joint rotations are fitted to its bones: a joint with several children takes the
    weighted least-squares rotation of their bone vectors (Kabsch), one with a single child
    the shortest arc from where its parent's rotation puts that bone, a leaf its parent's.
    The root has position channels; every joint has rotation channels in `order` (CMU's
    ZYX). `read_bvh` gives the positions back exactly when each joint's children move
    rigidly with it and bones keep their length (forward kinematics makes such motion);
    otherwise the fit's residual is the error.
    """
    arr = np.asarray(positions, dtype=np.float64)
    frames, num, _ = arr.shape
    if len(joint_names) != num or len(parents) != num or parents[0] != -1 or \
            any(not 0 <= p < j for j, p in enumerate(parents) if j):
        raise InvalidSkeletonError("write_bvh needs one name and parent per joint, parents[0] "
                                   "= -1 and every other parent before its joint")
    children = [[c for c in range(num) if parents[c] == j] for j in range(num)]
    rest = arr[0] - arr[0][list(parents)]  # (J, 3) bone vectors; the root's row is unused
    world = _fit_rotations(arr, rest, parents, children)
    rot = " ".join(f"{axis}rotation" for axis in order)
    lines = ["HIERARCHY"]
    listed: list[int] = []

    def emit(j: int, depth: int) -> None:
        listed.append(j)
        pad = "  " * depth
        off = np.zeros(3) if j == 0 else rest[j]
        lines.extend([f"{pad}{'ROOT' if j == 0 else 'JOINT'} {joint_names[j]}", f"{pad}{{",
                      f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}",
                      f"{pad}  CHANNELS " + (f"6 Xposition Yposition Zposition {rot}"
                                             if j == 0 else f"3 {rot}")])
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0 0",
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    columns = [arr[:, 0]]
    for j in listed:  # channel values in the order the hierarchy lists joints (depth first)
        local = world[j] if j == 0 else world[parents[j]].inv() * world[j]
        columns.append(local.as_euler(order, degrees=True))
    values = np.concatenate(columns, axis=1)  # (T, 3 + 3 J)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    out = Path(path)
    out.write_text("\n".join(lines) + "\n")
    return out


def _fit_rotations(arr: np.ndarray, rest: np.ndarray, parents: Sequence[int],
                   children: list[list[int]]) -> list[Rotation]:
    """Per joint, its world rotation in every frame (see `write_bvh`)."""
    frames = arr.shape[0]
    world: list[Rotation] = []
    for j in range(len(parents)):
        kids = [c for c in children[j] if np.linalg.norm(rest[c]) > 1e-9]
        base = world[parents[j]] if j else Rotation.identity(frames)
        if len(kids) >= 2 or (j == 0 and kids):
            current = arr[:, kids] - arr[:, [j]]  # (T, C, 3)
            weights = np.linalg.norm(rest[kids], axis=-1)
            h = np.einsum("c,ci,tcj->tij", weights, rest[kids], current)  # (T, 3, 3)
            u, _, vt = np.linalg.svd(h)
            d = np.sign(np.linalg.det(np.einsum("tij,tjk->tik", u, vt)))
            fix = np.broadcast_to(np.eye(3), h.shape).copy()
            fix[:, 2, 2] = d
            world.append(Rotation.from_matrix(np.einsum("tji,tjk,tlk->til", vt, fix, u)))
        elif kids:
            c = kids[0]
            start = base.apply(np.tile(rest[c], (frames, 1)))
            world.append(shortest_arc(start, arr[:, c] - arr[:, j]) * base)
        else:
            world.append(base)
    return world
