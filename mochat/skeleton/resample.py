"""Frame-rate conversion: any capture rate to the model's, and frame numbers back.

Frames are instants: frame i of a motion at `fps` is at i / fps seconds from its first
frame, and a span's `end_s` is the instant of its (inclusive) last frame. Resampling keeps
those instants exact at any rate ratio (120 -> 20, 29.97 -> 20, 20 -> 60): downsampling
first low-passes below the new Nyquist rate (a zero-phase Butterworth filter from
`scipy.signal`, so no aliasing and no delay), then samples linearly at the new instants.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import interp1d
from scipy.signal import butter, sosfiltfilt

from mochat.errors import InvalidSkeletonError

_CUTOFF = 0.8  # of the target Nyquist rate: the filter's -3 dB point
_ORDER = 4


def _check_fps(fps: float, what: str) -> float:
    value = float(fps)
    if not np.isfinite(value) or value <= 0:
        raise InvalidSkeletonError(f"{what} must be a finite rate > 0 fps, got {fps!r}")
    return value


def resampled_length(frames: int, src_fps: float, dst_fps: float) -> int:
    """Frames at dst_fps whose instants lie within the source's: floor((T-1) r) + 1."""
    # 1e-3 of a frame: a BVH frame time written to 8 digits must not cost the last frame
    return int(np.floor((frames - 1) * dst_fps / src_fps + 1e-3)) + 1


@functools.lru_cache(maxsize=64)
def _lowpass(src: float, dst: float) -> np.ndarray:
    """The anti-alias filter (second-order sections) for src -> dst fps; designed once per
    pair of rates, not once per window (a third of a 120 fps window's resampling time).
    Callers must not write to it."""
    return butter(_ORDER, _CUTOFF * dst / 2.0, output="sos", fs=src)


def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, J, 3) at src_fps -> (T', J, 3) at dst_fps, T' = `resampled_length`.

    The same rate (within 1e-6) returns the input unchanged.
    """
    src, dst = _check_fps(src_fps, "source fps"), _check_fps(dst_fps, "target fps")
    arr = np.asarray(joints, dtype=np.float32)
    frames = arr.shape[0]
    if abs(src - dst) <= 1e-6 * dst or frames < 2:
        return arr
    flat = arr.reshape(frames, -1).astype(np.float64)  # (T, J*3)
    if dst < src and frames > 3:  # anti-alias before dropping samples
        sos = _lowpass(src, dst)
        flat = sosfiltfilt(sos, flat, axis=0, padlen=min(3 * (2 * len(sos) + 1), frames - 1))
    times = np.arange(frames) / src
    num = resampled_length(frames, src, dst)
    wanted = np.minimum(np.arange(num) / dst, times[-1])  # within the source, see above
    out = interp1d(times, flat, axis=0, assume_sorted=True)(wanted)
    return out.reshape(num, *arr.shape[1:]).astype(np.float32)  # (T', J, 3)


@dataclass(frozen=True)
class FrameMap:
    """Frame numbers between a source (its own frames, at `source_fps`) and the model's
    resampled frames (at `model_fps`). `first_frame` is the source's number of its frame 0
    (an absolute stream frame, or 0 for a file)."""

    source_fps: float
    model_fps: float
    source_frames: int
    first_frame: int = 0

    @property
    def model_frames(self) -> int:
        return resampled_length(self.source_frames, self.source_fps, self.model_fps)

    def to_source(self, model_frame: int) -> int:
        """The source frame at (nearest to) a model frame's instant, within the source."""
        relative = int(round(model_frame * self.source_fps / self.model_fps))
        return self.first_frame + min(max(relative, 0), self.source_frames - 1)

    def to_model(self, source_frame: int) -> int:
        """The model frame nearest a source frame's instant, within the model's frames."""
        relative = (source_frame - self.first_frame) * self.model_fps / self.source_fps
        return min(max(int(round(relative)), 0), self.model_frames - 1)

    def seconds(self, source_frame: int) -> float:
        """A source frame's instant, seconds from the source's frame 0."""
        return (source_frame - self.first_frame) / self.source_fps
