"""Validation and normalisation shared by training and serving.

Training and serving must feed the encoder identical numbers, so both call `normalize`.
Shapes: one sequence is (T, J, 3); a batch is (B, T, J, 3) with a (B, T) mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mochat.errors import InvalidSkeletonError
from mochat.skeleton.layout import SkeletonLayout

DEFAULT_MAX_FRAMES = 1024


def validate_joints(joints: np.ndarray, layout: SkeletonLayout, *,
                    max_frames: int | None = DEFAULT_MAX_FRAMES,
                    source: str = "joints") -> np.ndarray:
    """Check a (T, J, 3) array against a layout and return it as float32.

    Raises InvalidSkeletonError naming `source` for: wrong rank or joint count, a last axis
    other than 3, no frames, more than `max_frames` frames, NaN or inf.
    """
    arr = np.asarray(joints)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise InvalidSkeletonError(
            f"{source}: expected shape (T, {layout.num_joints}, 3), got {tuple(arr.shape)}")
    if arr.shape[1] != layout.num_joints:
        raise InvalidSkeletonError(
            f"{source}: layout {layout.name!r} has {layout.num_joints} joints, "
            f"got {arr.shape[1]}")
    if arr.shape[0] == 0:
        raise InvalidSkeletonError(f"{source}: empty sequence (0 frames)")
    if max_frames is not None and arr.shape[0] > max_frames:
        raise InvalidSkeletonError(
            f"{source}: {arr.shape[0]} frames exceeds the limit of {max_frames}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidSkeletonError(f"{source}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        t, j, _ = np.argwhere(bad)[0]
        raise InvalidSkeletonError(
            f"{source}: non-finite value (NaN/inf) at frame {t}, joint {j} "
            f"({layout.joint_names[j]})")
    return arr


def facing_angle(joints: np.ndarray, layout: SkeletonLayout) -> float:
    """Yaw (radians, about +y) of the body's across-hips vector at the first frame.

    The across vector runs right hip -> left hip; a body facing +z has it along +x.
    """
    left, right = hip_pair(layout)
    across = joints[0, left] - joints[0, right]
    return float(np.arctan2(-across[2], across[0]))


def hip_pair(layout: SkeletonLayout) -> tuple[int, int]:
    """(left hip, right hip): the joints whose across vector gives the body's facing."""
    for i, k in layout.left_right:
        if "hip" in layout.joint_names[i].lower():
            return i, k
    if layout.left_right:  # no hips named: use the first mirrored pair below the root
        return layout.left_right[0]
    raise InvalidSkeletonError(f"layout {layout.name!r} names no left/right joints to face by")


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.float32)


def body_scale(joints: np.ndarray, layout: SkeletonLayout) -> float:
    """Mean bone length over the sequence: the unit of normalised coordinates."""
    parents = np.array([p for p in layout.parents if p >= 0])
    children = np.array([j for j, p in enumerate(layout.parents) if p >= 0])
    lengths = np.linalg.norm(joints[:, children] - joints[:, parents], axis=-1)  # (T, J-1)
    scale = float(lengths.mean())
    if not scale > 1e-6:
        raise InvalidSkeletonError("degenerate skeleton: all bones have zero length")
    return scale


def normalize(joints: np.ndarray, layout: SkeletonLayout, *,
              max_frames: int | None = DEFAULT_MAX_FRAMES,
              source: str = "joints") -> np.ndarray:
    """(T, J, 3) world positions -> (T, J, 3) encoder input.

    1. Facing: rotate about y so that on frame 0 the body faces +z (left hip toward +x).
    2. Root-relative: joint 0 carries the root trajectory relative to its frame-0 ground
       position (x, z from 0, y as height); every other joint is relative to the root of its
       own frame.
    3. Scale: divide by the mean bone length, so bodies of any size and unit (m, cm) agree.
    """
    arr = validate_joints(joints, layout, max_frames=max_frames, source=source)
    rot = _rotation_y(-facing_angle(arr, layout))
    arr = arr @ rot.T  # (T, J, 3)
    root = arr[:, :1, :].copy()  # (T, 1, 3)
    out = arr - root
    origin = np.array([arr[0, 0, 0], 0.0, arr[0, 0, 2]], dtype=np.float32)
    out[:, 0, :] = root[:, 0, :] - origin
    return (out / body_scale(arr, layout)).astype(np.float32)


def mirror_joints(joints: np.ndarray, layout: SkeletonLayout) -> np.ndarray:
    """(T, J, 3) -> (T, J, 3): the motion's mirror image (x negated, left/right joints swapped).

    A left-hand throw becomes a right-hand throw, a turn to the left a turn to the right;
    `normalize` then faces the mirrored body forward as usual. Training data augmentation:
    the text's side words are swapped to match (`mochat.dialogue.mirror_text`).
    """
    if not layout.left_right:
        raise InvalidSkeletonError(f"layout {layout.name!r} pairs no left/right joints to "
                                   "mirror")
    out = np.array(joints, dtype=np.float32, copy=True)
    out[..., 0] *= -1.0
    left = [i for i, _ in layout.left_right]
    right = [k for _, k in layout.left_right]
    out[:, left + right] = out[:, right + left]
    return out


def pad_batch(sequences: Sequence[np.ndarray], *, max_frames: int | None = None,
              pad_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length (T_i, J, 3) arrays into (B, T, J, 3) plus a (B, T) bool mask.

    The mask is True on real frames. T is the longest sequence (or `max_frames`, which
    truncates longer ones).
    """
    if not sequences:
        raise InvalidSkeletonError("empty batch: no sequences to pad")
    num_joints = {s.shape[1] for s in sequences}
    if len(num_joints) != 1:
        raise InvalidSkeletonError(f"batch mixes joint counts {sorted(num_joints)}")
    longest = max(s.shape[0] for s in sequences)
    frames = longest if max_frames is None else min(longest, max_frames)
    batch = np.full((len(sequences), frames, num_joints.pop(), 3), pad_value, dtype=np.float32)
    mask = np.zeros((len(sequences), frames), dtype=bool)
    for i, seq in enumerate(sequences):
        n = min(seq.shape[0], frames)
        batch[i, :n] = seq[:n]
        mask[i, :n] = True
    return batch, mask
