"""The JSON sidecar written beside an exported encoder, and torch-free input checks.

The encoder service loads `encoder.onnx` (or a TensorRT plan) with no torch; the sidecar
tells it which layout the model expects, the feature width and the longest window, so it
can reject bad requests before they reach the runtime. `validate_batch` is the one input
check shared by the torch model wrapper, the export parity check and the service.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mochat.errors import DataFormatError, InvalidSkeletonError

SIDECAR_SUFFIX = ".json"
SIDECAR_VERSION = 1
INPUT_JOINTS = "joints"
INPUT_MASK = "mask"
OUTPUT_FEATURES = "features"


@dataclass(frozen=True)
class EncoderSidecar:
    """What a runtime needs to know about an exported encoder, without loading it."""

    kind: str  # "jgse" or "glte"
    layout: str
    num_joints: int
    feature_dim: int
    max_frames: int
    opset: int
    fps: float = 20.0  # the frame rate the encoder was trained at; inputs are resampled to it
    input_names: tuple[str, ...] = (INPUT_JOINTS, INPUT_MASK)
    output_names: tuple[str, ...] = (OUTPUT_FEATURES,)
    version: int = SIDECAR_VERSION

    def validate(self, joints: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Raise InvalidSkeletonError unless (B, T, J, 3) joints and (B, T) mask fit."""
        validate_batch(joints, mask, num_joints=self.num_joints, max_frames=self.max_frames,
                       layout=self.layout)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def sidecar_path(model_path: str | Path) -> Path:
    """`encoder.onnx` -> `encoder.json` (the sidecar sits beside the model file)."""
    return Path(model_path).with_suffix(SIDECAR_SUFFIX)


def write_sidecar(sidecar: EncoderSidecar, model_path: str | Path) -> Path:
    path = sidecar_path(model_path)
    path.write_text(sidecar.to_json())
    return path


def read_sidecar(model_path: str | Path) -> EncoderSidecar:
    """Read the sidecar of a model file (or the sidecar itself, given its .json path)."""
    path = Path(model_path)
    path = path if path.suffix == SIDECAR_SUFFIX else sidecar_path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataFormatError(f"{path}: encoder sidecar not found") from None
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: not valid JSON ({err})") from None
    known = set(EncoderSidecar.__dataclass_fields__)
    missing = {"kind", "layout", "num_joints", "feature_dim", "max_frames", "opset"} - set(raw)
    if missing:
        raise DataFormatError(f"{path}: sidecar lacks {sorted(missing)}")
    if raw.get("version", SIDECAR_VERSION) > SIDECAR_VERSION:
        raise DataFormatError(f"{path}: sidecar version {raw['version']} is newer than "
                              f"this reader ({SIDECAR_VERSION})")
    fields = {k: v for k, v in raw.items() if k in known}
    for key in ("input_names", "output_names"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return EncoderSidecar(**fields)


def validate_batch(joints: np.ndarray, mask: np.ndarray | None, *, num_joints: int,
                   max_frames: int, layout: str = "") -> None:
    """Check an encoder batch: joints (B, T, J, 3) finite, mask (B, T) bool, T <= max_frames.

    Only real frames (mask True) must be finite: padding may hold any value, since the
    encoder never lets padded frames reach real ones. Raises InvalidSkeletonError.
    """
    arr = np.asarray(joints)
    where = f" for layout {layout!r}" if layout else ""
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InvalidSkeletonError(
            f"joints: expected shape (B, T, {num_joints}, 3), got {tuple(arr.shape)}")
    batch, frames, joint_count, _ = arr.shape
    if joint_count != num_joints:
        raise InvalidSkeletonError(
            f"joints: the encoder{where} expects {num_joints} joints, got {joint_count}")
    if batch == 0 or frames == 0:
        raise InvalidSkeletonError(f"joints: empty batch, shape {tuple(arr.shape)}")
    if frames > max_frames:
        raise InvalidSkeletonError(
            f"joints: {frames} frames exceeds the encoder's limit of {max_frames}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidSkeletonError(f"joints: expected numbers, got dtype {arr.dtype}")
    real = np.ones((batch, frames), dtype=bool)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (batch, frames):
            raise InvalidSkeletonError(
                f"mask: expected shape ({batch}, {frames}), got {tuple(m.shape)}")
        if m.dtype != np.bool_:
            raise InvalidSkeletonError(f"mask: expected bool, got dtype {m.dtype}")
        if not m.any(axis=1).all():
            raise InvalidSkeletonError("mask: a sequence has no real frame")
        real = m
    bad = ~np.isfinite(arr) & real[:, :, None, None]
    if bad.any():
        b, t, j, _ = np.argwhere(bad)[0]
        raise InvalidSkeletonError(
            f"joints: non-finite value (NaN/inf) in sequence {b}, frame {t}, joint {j}")
