"""Rotation helpers on top of scipy's `Rotation`, batched over frames."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def shortest_arc(a: np.ndarray, b: np.ndarray) -> Rotation:
    """(T, 3), (T, 3) -> the rotations turning each a onto b's direction by the least angle."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    angle = np.arctan2(sin, np.sum(a * b, axis=-1))
    # opposite vectors: any axis square to a
    spare = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where(sin[:, None] > 1e-9, axis, spare)
    axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    return Rotation.from_rotvec(axis * angle[:, None])
