"""numpy <-> protobuf for the arrays of `mochat.v1` (no torch, no grpc).

`Float32Array` carries a shape and raw little-endian float32 bytes; decoding checks that the
byte count matches the shape and, where asked, that the shape matches what the caller
expects. Malformed arrays raise `DataFormatError`, joints that do not fit their layout raise
`InvalidSkeletonError`; both are `ValueError`s and services map them to INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mochat.errors import DataFormatError, UnknownLayoutError
from mochat.skeleton import SkeletonLayout, get_layout, validate_joints
from mochat.skeleton.layout import LAYOUT_FILE_SUFFIXES
from mochat.skeleton.resample import resampled_length
from protos.mochat.v1 import frames_pb2

_LE_F32 = np.dtype("<f4")


def array_to_proto(array: np.ndarray, out: frames_pb2.Float32Array | None = None
                   ) -> frames_pb2.Float32Array:
    """Any numeric array -> Float32Array (C order, little-endian float32).

    Fills `out` in place when given (for submessages: `array_to_proto(x, msg.joints)`).
    """
    arr = np.ascontiguousarray(array, dtype=_LE_F32)
    msg = frames_pb2.Float32Array() if out is None else out
    msg.Clear()
    msg.shape.extend(arr.shape)
    msg.data = arr.tobytes()
    return msg


def array_from_proto(msg: frames_pb2.Float32Array,
                     expect_shape: Sequence[int | None] | None = None, *,
                     source: str = "array") -> np.ndarray:
    """Float32Array -> float32 ndarray (a read-only view of the message bytes).

    `expect_shape` gives the rank and the fixed sizes, None for a free axis, e.g.
    `(None, 22, 3)` for SMPL-22 joints. Raises DataFormatError naming `source`.
    """
    shape = tuple(int(n) for n in msg.shape)
    expected_bytes = _LE_F32.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(msg.data) != expected_bytes:
        raise DataFormatError(f"{source}: shape {shape} needs {expected_bytes} bytes of float32, "
                              f"got {len(msg.data)}")
    if expect_shape is not None:
        ok = len(shape) == len(expect_shape) and all(
            want is None or want == got for want, got in zip(expect_shape, shape, strict=False))
        if not ok:
            want = tuple("*" if n is None else n for n in expect_shape)
            raise DataFormatError(f"{source}: expected shape {want}, got {shape}")
    arr = np.frombuffer(msg.data, dtype=_LE_F32).reshape(shape)
    return arr.astype(np.float32, copy=False)  # native order; a no-op on little-endian hosts


def wire_layout(name: str) -> SkeletonLayout:
    """The registered layout a message names. Layouts travel by name only: a name that is a
    layout-file path is refused (UnknownLayoutError), so no message makes a service read a
    file; a service loads its users' layout files at start (its layout_files setting)."""
    if name.lower().endswith(LAYOUT_FILE_SUFFIXES):
        raise UnknownLayoutError(f"layout {name!r} is a file name; messages name a registered "
                                 "layout (a service registers layout files at start)")
    return get_layout(name)


def joints_from_proto(msg: frames_pb2.Float32Array, layout: SkeletonLayout | str, *,
                      max_frames: int | None = None, source: str = "joints") -> np.ndarray:
    """Float32Array (T, J, 3) -> validated float32 (T, J, 3) joints of `layout`.

    Raises UnknownLayoutError for an unregistered layout name, DataFormatError for bytes that
    do not match the shape, InvalidSkeletonError for a wrong joint count, too many frames,
    no frames or NaN/inf.
    """
    lay = wire_layout(layout) if isinstance(layout, str) else layout
    shape = tuple(msg.shape)
    if len(shape) != 3 or shape[2] != 3:
        raise DataFormatError(f"{source}: expected shape (T, {lay.num_joints}, 3), got {shape}")
    arr = array_from_proto(msg, source=source)
    return validate_joints(arr, lay, max_frames=max_frames, source=source)


def frame_joints(frame: frames_pb2.Frame) -> np.ndarray:
    """One Frame's (J, 3) joints, validated against its layout."""
    src = f"frame {frame.stream_id}:{frame.frame_index}"
    lay = wire_layout(frame.layout)
    arr = array_from_proto(frame.joints, (lay.num_joints, 3), source=src)
    return validate_joints(arr[None], lay, max_frames=None, source=src)[0]


def feature_rows(msg: frames_pb2.MotionFeatures) -> int:
    """Rows a MotionFeatures must hold: one per frame, or the window resampled to
    feature_fps (`mochat.skeleton.resample.resampled_length`)."""
    num_frames = msg.last_frame - msg.first_frame + 1
    if not msg.feature_fps or msg.feature_fps == msg.fps or num_frames < 1 or msg.fps <= 0:
        return num_frames
    return resampled_length(num_frames, msg.fps, msg.feature_fps)


def features_from_proto(msg: frames_pb2.MotionFeatures) -> np.ndarray:
    """MotionFeatures -> (T', D) float32, T' checked against the window's frames and rates."""
    return array_from_proto(msg.features, (feature_rows(msg), None),
                            source=f"features {msg.window_id}")
