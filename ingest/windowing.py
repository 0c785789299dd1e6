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

Frames come one at a time (`Windower.add`, a `StreamFrame`) or as a block of consecutive
frames of one stream (`Windower.add_block`, a `FrameBlock`: one FrameBatch record's). A block
gives exactly the outcomes, windows and ids that adding its frames one by one would; a
stream whose frames arrive in order is handled a block at a time on numpy arrays
(ingest/rows.py), anything else (a reorder hole, a late or repeated frame number, an absurd
jump) falls back to the frame-by-frame logic for that block.

Every frame may carry an `offset` (the Kafka offset of the record it came from). The windower
reports the lowest offset any frame it still holds came from (`min_needed_offset`) and every
window reports the lowest offset among its frames, so the caller can commit only offsets whose
frames no open window needs.

Shapes: a frame's joints are (J, 3); a block's (N, J, 3); a window's (T, J, 3),
T = last - first + 1.
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

from ingest.rows import FrameRows
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


@dataclass(frozen=True, slots=True)
class FrameBlock:
    """Frames first_frame .. first_frame + N - 1 of one stream, decoded and validated (one
    FrameBatch record's, or a run of it). Every frame has the block's `offset`."""

    stream_id: str
    first_frame: int
    joints: np.ndarray  # (N, J, 3) float32
    capture_times_us: np.ndarray  # (N,) int64
    layout: str = "smpl22"
    fps: float = 0.0
    offset: int = -1

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def slice(self, start: int, stop: int) -> FrameBlock:
        """Frames at positions start .. stop - 1 (a view)."""
        return FrameBlock(self.stream_id, self.first_frame + start, self.joints[start:stop],
                          self.capture_times_us[start:stop], self.layout, self.fps,
                          self.offset)

    def frame(self, k: int) -> StreamFrame:
        """The frame at position k (its joints a view)."""
        return StreamFrame(self.stream_id, self.first_frame + k, self.joints[k],
                           layout=self.layout, capture_time_us=int(self.capture_times_us[k]),
                           fps=self.fps, offset=self.offset)


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


@dataclass
class BlockResult:
    """What `Windower.add_block` did with a block's frames, and the windows they closed."""

    outcomes: Counter[FrameOutcome] = field(default_factory=Counter)  # frames per outcome
    windows: list[Window] = field(default_factory=list)
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)  # (frame, why)


def window_id(stream_id: str, first_frame: int) -> str:
    return f"{stream_id}:{first_frame}"


class _Stream:
    """Mutable state of one stream: frames held for the grace wait + the final frames of the
    segment (`rows`).

    Held frames are in `pending` (a dict and a heap: any order) or, while they are the
    consecutive in-order run that a block path leaves, in `held` (arrays); never both.
    """

    __slots__ = ("layout", "fps", "frames", "pending", "heap", "held", "max_seen", "released",
                 "rows", "next_start", "last_arrival_ms", "last_joints", "last_time",
                 "last_offset")

    def __init__(self, layout: str, fps: float, frames: FrameWindowing, first: int,
                 joints: np.ndarray, capture_time_us: int, now_ms: float) -> None:
        self.layout = layout
        self.fps = fps
        self.frames = frames  # the policy in this stream's frames
        self.pending: dict[int, StreamFrame] = {}
        self.heap: list[int] = []
        self.held = FrameRows(joints.shape, frames.grace_frames + 64)
        self.max_seen = first
        self.released: int | None = None  # last final frame number of the current segment
        self.rows = FrameRows(joints.shape, 2 * frames.window_frames + frames.step_frames)
        self.next_start = 0  # first frame of the next window to emit
        self.last_arrival_ms = now_ms
        self.last_joints = joints  # the last final frame, kept even when trimmed
        self.last_time = capture_time_us
        self.last_offset = _NO_OFFSET

    def min_offset(self) -> int:
        lowest = _NO_OFFSET
        for rows in (self.rows, self.held):
            if len(rows):
                lowest = min(lowest, int(rows.offsets[rows.lo:rows.hi].min()))
        pending = min((f.offset for f in self.pending.values() if f.offset >= 0),
                      default=_NO_OFFSET)
        return min(lowest, pending)


def _buffer_offset(offset: int) -> int:
    return offset if offset >= 0 else _NO_OFFSET


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
            st = self._streams[frame.stream_id] = _Stream(
                frame.layout, frame.fps, self.frames(frame.fps), i, frame.joints,
                frame.capture_time_us, now_ms)
        else:
            rejection = self._check_stream(frame.stream_id, st, frame.layout, frame.fps, i)
            if rejection is not None:
                return rejection
            st.last_arrival_ms = now_ms
            if st.released is not None and i <= st.released:
                self.counters["frames_late"] += 1
                return AddResult(FrameOutcome.LATE)
            if len(st.held):
                self._unhold(frame.stream_id, st)
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

    def add_block(self, block: FrameBlock, now_ms: float) -> BlockResult:
        """Take consecutive frames of one stream; the same outcomes, windows and ids as `add`
        of each frame in order would give.

        The block path: when the stream's held frames are an in-order run (or none) and the
        block continues it (or starts after the last final frame, a gap being handled as
        `add` handles it), every frame is accepted at once; frames up to the newest minus
        grace_frames become final as one run of rows, windows are cut from the rows, the rest
        stays held as rows. Anything else goes frame by frame through `add`.
        """
        n, sid, first = block.num_frames, block.stream_id, block.first_frame
        result = BlockResult()
        if n == 0:
            return result
        st = self._streams.get(sid)
        if st is None:
            if first < 0 or not (math.isfinite(block.fps) and block.fps > 0):
                return self._add_each(block, now_ms)
            st = self._streams[sid] = _Stream(
                block.layout, block.fps, self.frames(block.fps), first, block.joints[0],
                int(block.capture_times_us[0]), now_ms)
        else:
            if block.layout != st.layout or abs(block.fps - st.fps) > 1e-6 * st.fps:
                return self._add_each(block, now_ms)  # every frame rejected the same way
            if first - st.max_seen > st.frames.max_jump_frames:
                return self._add_each(block, now_ms)
            if st.pending and not self._hold_pending(st):
                return self._add_each(block, now_ms)  # a reorder hole: frame by frame
            if len(st.held) == 0:
                if st.released is not None and first <= st.released:
                    return self._add_each(block, now_ms)  # late frames
            elif first != st.held.last + 1:
                return self._add_each(block, now_ms)  # out of order or a gap in held frames
            st.last_arrival_ms = now_ms
        st.max_seen = max(st.max_seen, first + n - 1)
        final = st.max_seen - st.frames.grace_frames  # frames up to here become final
        held, offset = st.held, _buffer_offset(block.offset)
        if len(held) and held.first <= final:
            k = min(len(held), final - held.first + 1)
            rows = held.rows(held.first, held.first + k - 1)
            self._release_run(sid, st, held.first, held.joints[rows], held.times[rows],
                              held.offsets[rows], result.windows)
            held.drop_front(k)
        k = max(0, min(n, final - first + 1))
        if k:
            self._release_run(sid, st, first, block.joints[:k], block.capture_times_us[:k],
                              offset, result.windows)
        if k < n:
            if len(held) == 0:
                held.clear(first + k)
            held.append(block.joints[k:], block.capture_times_us[k:], offset)
        result.outcomes[FrameOutcome.ACCEPTED] = n
        return result

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
        held = st.held
        if len(held):
            rows = held.rows(held.first, held.last)
            self._release_run(stream_id, st, held.first, held.joints[rows], held.times[rows],
                              held.offsets[rows], out)
        while st.heap:
            self._release(stream_id, st, st.pending.pop(heapq.heappop(st.heap)), out)
        out.extend(self._close_segment(stream_id, st))
        return out

    def min_needed_offset(self) -> int | None:
        """Lowest source offset of any frame still held (None when none is)."""
        lowest = min((st.min_offset() for st in self._streams.values()), default=_NO_OFFSET)
        return None if lowest == _NO_OFFSET else lowest

    def _check_stream(self, sid: str, st: _Stream, layout: str, fps: float,
                      i: int) -> AddResult | None:
        if layout != st.layout:
            return self._reject(DlqReason.LAYOUT_CHANGED, f"stream {sid!r} has layout "
                                f"{st.layout!r}, frame has {layout!r}")
        if abs(fps - st.fps) > 1e-6 * st.fps:
            return self._reject(DlqReason.FPS_CHANGED, f"stream {sid!r} is at {st.fps:g} fps, "
                                f"frame says {fps:g}")
        if abs(i - st.max_seen) > st.frames.max_jump_frames:
            return self._reject(DlqReason.ABSURD_FRAME_INDEX,
                                f"frame index {i} is {abs(i - st.max_seen)} frames from the "
                                f"stream's latest {st.max_seen} (limit "
                                f"{st.frames.max_jump_frames}, {self.config.max_jump_s:g} s)")
        return None

    def _reject(self, reason: DlqReason, detail: str) -> AddResult:
        self.counters["frames_rejected"] += 1
        return AddResult(FrameOutcome.REJECTED, rejection=Rejection(reason, detail))

    def _add_each(self, block: FrameBlock, now_ms: float) -> BlockResult:
        """The block frame by frame (the reference path)."""
        result = BlockResult()
        for k in range(block.num_frames):
            one = self.add(block.frame(k), now_ms)
            result.outcomes[one.outcome] += 1
            result.windows.extend(one.windows)
            if one.rejection is not None:
                result.rejections.append((block.first_frame + k, one.rejection))
        return result

    def _hold_pending(self, st: _Stream) -> bool:
        """Move pending frames into `held` when they are consecutive (they are then exactly
        what the block path would have held); False, and nothing moved, otherwise."""
        low, count = st.heap[0], len(st.pending)
        if max(st.pending) - low + 1 != count:
            return False
        frames = [st.pending[i] for i in range(low, low + count)]
        st.held.clear(low)
        st.held.append(np.stack([f.joints for f in frames]),  # (n, J, 3)
                       np.array([f.capture_time_us for f in frames], np.int64),
                       np.array([_buffer_offset(f.offset) for f in frames], np.int64))
        st.pending.clear()
        st.heap.clear()
        return True

    @staticmethod
    def _unhold(sid: str, st: _Stream) -> None:
        """Held rows -> pending frames, for the frame-by-frame path."""
        held = st.held
        for r, i in zip(range(held.lo, held.hi), range(held.first, held.last + 1), strict=True):
            offset = int(held.offsets[r])
            st.pending[i] = StreamFrame(sid, i, held.joints[r].copy(), layout=st.layout,
                                        capture_time_us=int(held.times[r]), fps=st.fps,
                                        offset=-1 if offset == _NO_OFFSET else offset)
            st.heap.append(i)  # ascending: a valid heap
        held.clear()

    def _release(self, sid: str, st: _Stream, frame: StreamFrame, out: list[Window]) -> None:
        """Make one frame final: handle a gap before it, append it, emit full windows."""
        i = frame.frame_index
        self._start_run(sid, st, i, frame.joints, frame.capture_time_us, out)
        offset = _buffer_offset(frame.offset)
        st.rows.append_one(frame.joints, frame.capture_time_us, offset)
        st.released = i
        st.last_joints, st.last_time, st.last_offset = frame.joints, frame.capture_time_us, offset
        self._emit_through(sid, st, i, out)

    def _release_run(self, sid: str, st: _Stream, first: int, joints: np.ndarray,
                     times: np.ndarray, offsets: np.ndarray | int, out: list[Window]) -> None:
        """Make frames first .. first + n - 1 final at once, as `_release` of each in turn
        would. joints: (n, J, 3) (views that may be overwritten later: copied here)."""
        self._start_run(sid, st, first, joints[0], int(times[0]), out)
        st.rows.append(joints, times, offsets)
        last = first + len(joints) - 1
        st.released = last
        st.last_joints, st.last_time = joints[-1].copy(), int(times[-1])
        st.last_offset = offsets if isinstance(offsets, int) else int(offsets[-1])
        self._emit_through(sid, st, last, out)

    def _start_run(self, sid: str, st: _Stream, i: int, joints: np.ndarray, time_us: int,
                   out: list[Window]) -> None:
        """Before frame i becomes final: fill or close a gap, or start a segment."""
        cfg, frames = self.config, st.frames
        if st.released is not None and i > st.released + 1:
            gap = i - st.released - 1
            if cfg.gap_policy == "interpolate" and gap <= frames.max_gap_frames:
                self._interpolate(st, gap, joints, time_us)
                self.counters["gaps_interpolated"] += 1
                self.counters["frames_interpolated"] += gap
            else:
                out.extend(self._close_segment(sid, st))
                self.counters["gaps_closed"] += 1
        if st.released is None:  # a segment starts here: first window on the grid at >= i
            st.rows.clear(i)
            st.next_start = -(-i // frames.step_frames) * frames.step_frames

    def _emit_through(self, sid: str, st: _Stream, last: int, out: list[Window]) -> None:
        """Emit every window that ends at or before frame `last`, then drop the frames before
        the next window's start: no window will need them again."""
        frames = st.frames
        while st.next_start + frames.window_frames - 1 <= last:
            out.append(self._window(sid, st, st.next_start,
                                    st.next_start + frames.window_frames - 1, complete=True))
            st.next_start += frames.step_frames
        drop = st.next_start - st.rows.first
        if drop > 0:
            st.rows.drop_front(min(drop, len(st.rows)))

    def _interpolate(self, st: _Stream, gap: int, joints: np.ndarray, time_us: int) -> None:
        """Fill frames released+1 .. released+gap linearly between the two final frames.

        A filled frame carries the offset of the frame before the gap: a replay must start
        there to fill it again, even after that frame itself was trimmed.
        """
        w = np.arange(1, gap + 1) / (gap + 1)  # (gap,) float64
        # float32 arithmetic with each weight rounded to float32, as a float32 array times a
        # Python float computes it
        w32 = w.astype(np.float32)[:, None, None]
        filled = (1.0 - w).astype(np.float32)[:, None, None] * st.last_joints + w32 * joints
        times = np.rint(st.last_time + w * (time_us - st.last_time))
        st.rows.append(filled.astype(np.float32),  # (gap, J, 3)
                       np.clip(times, -2.0**63, 2.0**63 - 1024).astype(np.int64),
                       st.last_offset, synthetic=True)

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
        st.rows.clear()
        return out

    def _window(self, sid: str, st: _Stream, first: int, last: int, *, complete: bool) -> Window:
        rows = st.rows.rows(first, last)
        offsets = int(st.rows.offsets[rows].min())
        self.counters["windows_emitted"] += 1
        return Window(
            stream_id=sid, window_id=window_id(sid, first), first_frame=first, last_frame=last,
            layout=st.layout, fps=st.fps,
            joints=st.rows.joints[rows].copy(),  # (T, J, 3)
            first_capture_time_us=int(st.rows.times[rows.start]),
            last_capture_time_us=int(st.rows.times[rows.stop - 1]),
            interpolated_frames=int(st.rows.synthetic[rows].sum()),
            min_offset=-1 if offsets == _NO_OFFSET else offsets, complete=complete)
