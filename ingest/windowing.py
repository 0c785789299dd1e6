"""Per-stream sliding windows over frame numbers: pure code, no Kafka, no clock of its own.

The model is quix-streams' hopping windows, with frame numbers as event time. The policy is
set in seconds (`WindowingConfig`: window_s, step_s, grace_ms, ...) and turned into frame
counts per stream from that stream's rate, once, at its first frame (`FrameWindowing`:
window_frames = round(window_s * fps), ...). A 3.2 s window is 64 frames of a 20 fps
stream and 384 of a 120 fps one; the encoder service resamples both to the model's rate.

- Windows are aligned to a grid of absolute frame numbers: window k covers frames
  `[k * step_frames, k * step_frames + window_frames)` and its id is `"<stream_id>:<first>"`.
  Alignment (not "start where the stream starts") is what makes ids deterministic: a consumer
  that restarts mid-stream and replays from an earlier offset rebuilds exactly the windows it
  had, with the same ids, so downstream consumers can de-duplicate.
- A segment (a run of frames without an unfilled gap) starts at its first final frame f; its
  first window is the first grid window starting at or after f. Frames before it are not
  windowed (at most step_frames - 1 of them).
- Out-of-order frames are held in a reorder buffer and become final once the stream's highest
  frame number is `grace_frames` past them; a frame that arrives after its number became final
  is late: counted and dropped.
- A gap (missing frame numbers between two final frames) is either filled by linear
  interpolation (`gap_policy="interpolate"`, up to `max_gap_frames`) or closes the segment:
  the pending window is flushed (see below) and a new segment starts at the frame after the gap.
- A stream without frames for `idle_timeout_ms` (wall time the caller passes in) is flushed:
  held frames become final, the pending partial window (the earliest not yet emitted window,
  which contains every frame not yet emitted) is emitted if it has at least `min_frames` and
  `flush_policy="emit"`, else dropped; then the stream's state is forgotten.
- A stream keeps the rate and layout of its first frame; a frame with another is rejected.

Every frame may carry an `offset` (the Kafka offset of the record it came from). The windower
reports the lowest offset any frame it still holds came from (`min_needed_offset`) and every
window reports the lowest offset among its frames, so the caller can commit only offsets whose
frames no open window needs.

Shapes: a frame's joints are (J, 3); a window's joints are (T, J, 3), T = last - first + 1.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np

from ingest.validation import DlqReason, Rejection
from mochat.errors import ConfigError

_NO_OFFSET = sys.maxsize  # interpolated frames and frames without a source offset


@dataclass(frozen=True)
class WindowingConfig:
    """Windowing policy in seconds; every knob is a setting of the ingest service
    (MOCHAT_INGEST_*). The defaults are 64 / 16 / 4 / 8 / 16 frames at 20 fps."""

    window_s: float = 3.2
    step_s: float = 0.8
    grace_ms: float = 200.0
    gap_policy: Literal["interpolate", "close"] = "interpolate"
    max_gap_ms: float = 400.0
    idle_timeout_ms: float = 2000.0
    flush_policy: Literal["emit", "drop"] = "emit"
    min_s: float = 0.8
    max_jump_s: float = 3600.0  # an hour; beyond that a frame number is absurd

    def __post_init__(self) -> None:
        if not 0 < self.step_s <= self.window_s:
            raise ConfigError(f"need 0 < step_s <= window_s, got step_s={self.step_s}, "
                              f"window_s={self.window_s}")
        if self.gap_policy not in ("interpolate", "close"):
            raise ConfigError(f"unknown gap_policy {self.gap_policy!r}; "
                              "expected 'interpolate' or 'close'")
        if self.flush_policy not in ("emit", "drop"):
            raise ConfigError(f"unknown flush_policy {self.flush_policy!r}; "
                              "expected 'emit' or 'drop'")
        for name in ("grace_ms", "max_gap_ms", "min_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.min_s > self.window_s:
            raise ConfigError(f"min_s ({self.min_s}) exceeds window_s ({self.window_s})")
        if not (self.idle_timeout_ms > 0 and self.max_jump_s > 0):
            raise ConfigError("idle_timeout_ms and max_jump_s must be > 0")

    def frames(self, fps: float) -> FrameWindowing:
        """The policy in frames of a stream at `fps` (each count rounded to the nearest
        frame; a window and a step hold at least one)."""
        if not (math.isfinite(fps) and fps > 0):
            raise ConfigError(f"a stream's fps must be a finite rate > 0, got {fps!r}")
        window = max(1, round(self.window_s * fps))
        step = min(window, max(1, round(self.step_s * fps)))
        return FrameWindowing(
            fps=fps, window_frames=window, step_frames=step,
            grace_frames=round(self.grace_ms * fps / 1000.0),
            max_gap_frames=round(self.max_gap_ms * fps / 1000.0),
            min_frames=min(window, round(self.min_s * fps)),
            max_jump_frames=max(1, round(self.max_jump_s * fps)))


@dataclass(frozen=True)
class FrameWindowing:
    """`WindowingConfig` in one stream's frames (see `WindowingConfig.frames`)."""

    fps: float
    window_frames: int
    step_frames: int
    grace_frames: int
    max_gap_frames: int
    min_frames: int
    max_jump_frames: int


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """One decoded, validated frame. `offset` < 0 means it has no source offset."""

    stream_id: str
    frame_index: int
    joints: np.ndarray  # (J, 3) float32
    layout: str = "smpl22"
    capture_time_us: int = 0
    fps: float = 0.0
    offset: int = -1


@dataclass(frozen=True)
class Window:
    """A closed window. `complete` is False for a partial window flushed early."""

    stream_id: str
    window_id: str
    first_frame: int
    last_frame: int
    layout: str
    fps: float
    joints: np.ndarray  # (T, J, 3) float32
    first_capture_time_us: int
    last_capture_time_us: int
    interpolated_frames: int
    min_offset: int  # lowest source offset among its frames; -1 when none has one
    complete: bool

    @property
    def num_frames(self) -> int:
        return self.last_frame - self.first_frame + 1


class FrameOutcome(StrEnum):
    ACCEPTED = "accepted"
    LATE = "late"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class AddResult:
    """What `Windower.add` did with a frame, and the windows that frame closed."""

    outcome: FrameOutcome
    windows: list[Window] = field(default_factory=list)
    rejection: Rejection | None = None


def window_id(stream_id: str, first_frame: int) -> str:
    return f"{stream_id}:{first_frame}"


class _Stream:
    """Mutable state of one stream: reorder buffer + the contiguous frames of the segment."""

    __slots__ = ("layout", "fps", "frames", "pending", "heap", "max_seen", "released",
                 "buf_first", "joints", "times", "offsets", "synthetic", "next_start",
                 "last_arrival_ms", "last_joints", "last_time", "last_offset")

    def __init__(self, frame: StreamFrame, frames: FrameWindowing, now_ms: float) -> None:
        self.layout = frame.layout
        self.fps = frame.fps
        self.frames = frames  # the policy in this stream's frames
        self.pending: dict[int, StreamFrame] = {}
        self.heap: list[int] = []
        self.max_seen = frame.frame_index
        self.released: int | None = None  # last final frame number of the current segment
        self.buf_first = 0  # frame number of joints[0]
        self.joints: list[np.ndarray] = []
        self.times: list[int] = []
        self.offsets: list[int] = []
        self.synthetic: list[bool] = []
        self.next_start = 0  # first frame of the next window to emit
        self.last_arrival_ms = now_ms
        self.last_joints = frame.joints  # the last final frame, kept even when trimmed
        self.last_time = frame.capture_time_us
        self.last_offset = _NO_OFFSET

    def min_offset(self) -> int:
        held = min(self.offsets, default=_NO_OFFSET)
        pending = min((f.offset for f in self.pending.values() if f.offset >= 0),
                      default=_NO_OFFSET)
        return min(held, pending)


class Windower:
    """Sliding windows for many streams (one instance per Kafka partition in the service)."""

    def __init__(self, config: WindowingConfig | None = None) -> None:
        self.config = config or WindowingConfig()
        self._streams: dict[str, _Stream] = {}
        self._by_fps: dict[float, FrameWindowing] = {}
        self.counters: Counter[str] = Counter()

    def frames(self, fps: float) -> FrameWindowing:
        """The policy in frames at `fps` (computed once per rate)."""
        found = self._by_fps.get(fps)
        if found is None:
            found = self._by_fps[fps] = self.config.frames(fps)
        return found

    @property
    def stream_ids(self) -> list[str]:
        return list(self._streams)

    def add(self, frame: StreamFrame, now_ms: float) -> AddResult:
        """Take one frame; return its outcome and the windows it closed (oldest first)."""
        st = self._streams.get(frame.stream_id)
        i = frame.frame_index
        if i < 0:
            return self._reject(DlqReason.ABSURD_FRAME_INDEX, f"negative frame index {i}")
        if st is None:
            if not (math.isfinite(frame.fps) and frame.fps > 0):
                return self._reject(DlqReason.BAD_FPS, f"stream {frame.stream_id!r}: fps must "
                                    f"be a finite rate > 0, got {frame.fps!r}")
            st = self._streams[frame.stream_id] = _Stream(frame, self.frames(frame.fps), now_ms)
        else:
            if frame.layout != st.layout:
                return self._reject(DlqReason.LAYOUT_CHANGED, f"stream {frame.stream_id!r} "
                                    f"has layout {st.layout!r}, frame has {frame.layout!r}")
            if abs(frame.fps - st.fps) > 1e-6 * st.fps:
                return self._reject(DlqReason.FPS_CHANGED, f"stream {frame.stream_id!r} is at "
                                    f"{st.fps:g} fps, frame says {frame.fps:g}")
            if abs(i - st.max_seen) > st.frames.max_jump_frames:
                return self._reject(DlqReason.ABSURD_FRAME_INDEX,
                                    f"frame index {i} is {abs(i - st.max_seen)} frames from "
                                    f"the stream's latest {st.max_seen} (limit "
                                    f"{st.frames.max_jump_frames}, "
                                    f"{self.config.max_jump_s:g} s)")
            st.last_arrival_ms = now_ms
            if st.released is not None and i <= st.released:
                self.counters["frames_late"] += 1
                return AddResult(FrameOutcome.LATE)
            if i in st.pending:
                self.counters["frames_duplicate"] += 1
                return AddResult(FrameOutcome.DUPLICATE)
        st.pending[i] = frame
        heapq.heappush(st.heap, i)
        st.max_seen = max(st.max_seen, i)
        out: list[Window] = []
        while st.heap and st.heap[0] <= st.max_seen - st.frames.grace_frames:
            self._release(frame.stream_id, st, st.pending.pop(heapq.heappop(st.heap)), out)
        return AddResult(FrameOutcome.ACCEPTED, out)

    def flush_idle(self, now_ms: float) -> list[Window]:
        """Flush and forget every stream without frames for idle_timeout_ms."""
        idle = [sid for sid, st in self._streams.items()
                if now_ms - st.last_arrival_ms >= self.config.idle_timeout_ms]
        out: list[Window] = []
        for sid in idle:
            out.extend(self.flush_stream(sid))
            self.counters["streams_flushed_idle"] += 1
        return out

    def flush_stream(self, stream_id: str) -> list[Window]:
        """Finalise held frames, flush the pending partial window, forget the stream."""
        st = self._streams.pop(stream_id)
        out: list[Window] = []
        while st.heap:
            self._release(stream_id, st, st.pending.pop(heapq.heappop(st.heap)), out)
        out.extend(self._close_segment(stream_id, st))
        return out

    def min_needed_offset(self) -> int | None:
        """Lowest source offset of any frame still held (None when none is)."""
        lowest = min((st.min_offset() for st in self._streams.values()), default=_NO_OFFSET)
        return None if lowest == _NO_OFFSET else lowest

    def _reject(self, reason: DlqReason, detail: str) -> AddResult:
        self.counters["frames_rejected"] += 1
        return AddResult(FrameOutcome.REJECTED, rejection=Rejection(reason, detail))

    def _release(self, sid: str, st: _Stream, frame: StreamFrame, out: list[Window]) -> None:
        """Make one frame final: handle a gap before it, append it, emit full windows."""
        cfg, frames = self.config, st.frames
        i = frame.frame_index
        if st.released is not None and i > st.released + 1:
            gap = i - st.released - 1
            if cfg.gap_policy == "interpolate" and gap <= frames.max_gap_frames:
                self._interpolate(st, gap, frame)
                self.counters["gaps_interpolated"] += 1
                self.counters["frames_interpolated"] += gap
            else:
                out.extend(self._close_segment(sid, st))
                self.counters["gaps_closed"] += 1
        if st.released is None:  # a segment starts here: first window on the grid at >= i
            st.buf_first = i
            st.next_start = -(-i // frames.step_frames) * frames.step_frames
        st.joints.append(frame.joints)
        st.times.append(frame.capture_time_us)
        offset = frame.offset if frame.offset >= 0 else _NO_OFFSET
        st.offsets.append(offset)
        st.synthetic.append(False)
        st.released = i
        st.last_joints, st.last_time, st.last_offset = frame.joints, frame.capture_time_us, offset
        while st.next_start + frames.window_frames - 1 <= i:
            out.append(self._window(sid, st, st.next_start,
                                    st.next_start + frames.window_frames - 1, complete=True))
            st.next_start += frames.step_frames
        self._trim(st)

    def _interpolate(self, st: _Stream, gap: int, frame: StreamFrame) -> None:
        """Fill frames released+1 .. released+gap linearly between the two final frames.

        A filled frame carries the offset of the frame before the gap: a replay must start
        there to fill it again, even after that frame itself was trimmed.
        """
        prev_j, prev_t = st.last_joints, st.last_time
        for k in range(1, gap + 1):
            w = k / (gap + 1)
            st.joints.append(((1.0 - w) * prev_j + w * frame.joints).astype(np.float32))
            st.times.append(int(round(prev_t + w * (frame.capture_time_us - prev_t))))
            st.offsets.append(st.last_offset)
            st.synthetic.append(True)

    def _close_segment(self, sid: str, st: _Stream) -> list[Window]:
        """End the current segment: emit or drop its pending partial window, clear frames."""
        out: list[Window] = []
        if st.released is not None and st.released >= st.next_start:
            num = st.released - st.next_start + 1
            if self.config.flush_policy == "emit" and num >= st.frames.min_frames:
                out.append(self._window(sid, st, st.next_start, st.released, complete=False))
                self.counters["partial_windows_emitted"] += 1
            else:
                self.counters["partial_windows_dropped"] += 1
        st.released = None
        st.joints.clear()
        st.times.clear()
        st.offsets.clear()
        st.synthetic.clear()
        return out

    def _window(self, sid: str, st: _Stream, first: int, last: int, *, complete: bool) -> Window:
        lo, hi = first - st.buf_first, last - st.buf_first + 1
        offsets = min(st.offsets[lo:hi])
        self.counters["windows_emitted"] += 1
        return Window(
            stream_id=sid, window_id=window_id(sid, first), first_frame=first, last_frame=last,
            layout=st.layout, fps=st.fps,
            joints=np.stack(st.joints[lo:hi]),  # (T, J, 3)
            first_capture_time_us=st.times[lo], last_capture_time_us=st.times[hi - 1],
            interpolated_frames=sum(st.synthetic[lo:hi]),
            min_offset=-1 if offsets == _NO_OFFSET else offsets, complete=complete)

    @staticmethod
    def _trim(st: _Stream) -> None:
        """Drop frames before the next window's start: no window will need them again."""
        drop = st.next_start - st.buf_first
        if drop > 0:
            drop = min(drop, len(st.joints))
            del st.joints[:drop], st.times[:drop], st.offsets[:drop], st.synthetic[:drop]
            st.buf_first += drop
