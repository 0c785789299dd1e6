"""Recent motion features per stream, and the views questions are answered from.

Pure code (no Kafka, no torch), so retention, de-duplication and range selection are tested
without a broker. A `MotionView` is a contiguous run of frames of one stream, in the
stream's own terms (absolute frame numbers at its rate, and where the stream has them,
each frame's capture time), plus the (T', D) feature rows the model reads, at the model's
rate: the encoder resampled the window to it, so a 120 fps window of 384 frames has 64 rows
at 20 fps. Each row stands for one stream frame (`MotionFeatures`' rule: row t of a window
is frame first_frame + round(t * fps / feature_fps)); answers map the model's rows back to
stream frames through it, and a question's frame range picks the rows of those frames.

Retention: a window is kept while it is younger than `max_age_s` (by the time it was
produced to Kafka) and while the store stays under `max_bytes`; the oldest windows go first.
A window id seen again (a replay, a restarted producer) is ignored. A window more than
`max_jump_s` (in its stream's time) from the stream's latest stored frame is refused
(`far_jump`): one forged record far ahead cannot become the stream's "latest".
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from llm_service.errors import InvalidRequestError, NotFoundError
from mochat.serving import longest_source
from mochat.skeleton.resample import resampled_length


def capture_times(first_us: int, last_us: int, frames: int) -> np.ndarray | None:
    """Per-frame capture times (T,) interpolated between the first and last frame's; None when
    the producer set none (0)."""
    if first_us <= 0 or last_us < first_us:
        return None
    if frames == 1:
        return np.array([first_us], dtype=np.int64)
    return np.rint(np.linspace(first_us, last_us, frames)).astype(np.int64)


def row_frames(first_frame: int, frames: int, fps: float, feature_fps: float,
               rows: int) -> np.ndarray:
    """(T',) int64 stream frame of each of `rows` feature rows of a window of `frames`
    frames: first_frame + round(t * fps / feature_fps), within the window."""
    ratio = 1.0 if not feature_fps else fps / feature_fps
    relative = np.rint(np.arange(rows) * ratio).astype(np.int64)
    return first_frame + np.clip(relative, 0, frames - 1)


@dataclass(frozen=True, eq=False)
class MotionView:
    """Frames first_frame..last_frame of a stream (at `fps`) and the feature rows that read
    them (at `feature_fps`; 0 = fps, one row per frame).

    `row_frames` names each row's stream frame; None means the window rule (`row_frames`).
    `num_frames` counts the stream frames; 0 means one per row, which only holds when the
    rates are equal. `times_us` holds every stream frame's capture time.
    """

    stream_id: str
    window_ids: tuple[str, ...]
    first_frame: int  # absolute number of the view's first stream frame
    fps: float  # the stream's rate
    features: np.ndarray  # (T', D) float32
    times_us: np.ndarray | None = None  # (T,) int64 capture times, None when unknown
    feature_fps: float = 0.0
    row_frames: np.ndarray | None = None  # (T',) int64 absolute frames, increasing
    num_frames: int = 0

    def __post_init__(self) -> None:
        if not self.feature_fps:
            object.__setattr__(self, "feature_fps", float(self.fps))
        if not self.num_frames:
            if self.row_frames is not None:
                count = int(self.row_frames[-1]) - self.first_frame + 1
            elif self.times_us is not None:
                count = len(self.times_us)
            elif abs(self.feature_fps - self.fps) <= 1e-6 * self.fps:
                count = self.num_rows
            else:
                raise ValueError("a view whose rows are at another rate than its frames "
                                 "needs num_frames")
            object.__setattr__(self, "num_frames", count)

    @property
    def num_rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.num_frames - 1

    @property
    def nbytes(self) -> int:
        extra = 0 if self.times_us is None else self.times_us.nbytes
        extra += 0 if self.row_frames is None else self.row_frames.nbytes
        return int(self.features.nbytes) + extra

    def frames_of_rows(self) -> np.ndarray:
        """(T',) the absolute stream frame of every feature row."""
        if self.row_frames is not None:
            return self.row_frames
        return row_frames(self.first_frame, self.num_frames, self.fps, self.feature_fps,
                          self.num_rows)

    def frame(self, row: int) -> int:
        """A model row (what the model calls 'frame N'; clamped into the view) -> the
        absolute stream frame it stands for."""
        return int(self.frames_of_rows()[min(max(row, 0), self.num_rows - 1)])

    def time_us(self, absolute_frame: int) -> int:
        """Capture time of an absolute frame of this view; 0 when the stream has none."""
        if self.times_us is None:
            return 0
        return int(self.times_us[absolute_frame - self.first_frame])

    def crop(self, first_frame: int, last_frame: int) -> MotionView:
        """The frames first..last (absolute, inclusive), which must lie inside the view, and
        the rows of those frames (the row nearest the range when none falls inside it)."""
        lo, hi = first_frame - self.first_frame, last_frame - self.first_frame + 1
        if lo < 0 or hi > self.num_frames or lo >= hi:
            raise NotFoundError(f"frames {first_frame}..{last_frame} are outside "
                                f"{self.describe()}")
        if lo == 0 and hi == self.num_frames:
            return self
        frames = self.frames_of_rows()
        rows = np.flatnonzero((frames >= first_frame) & (frames <= last_frame))
        if rows.size == 0:  # a range shorter than a row's spacing
            rows = np.array([int(np.argmin(np.abs(frames - (first_frame + last_frame) / 2)))])
        times = None if self.times_us is None else self.times_us[lo:hi]
        return MotionView(self.stream_id, self.window_ids, first_frame, self.fps,
                          self.features[rows], times, self.feature_fps, frames[rows],
                          last_frame - first_frame + 1)

    def frames_between(self, start_us: int, end_us: int) -> tuple[int, int] | None:
        """First and last absolute frame captured within [start_us, end_us], or None."""
        if self.times_us is None:
            return None
        inside = np.flatnonzero((self.times_us >= start_us) & (self.times_us <= end_us))
        if inside.size == 0:
            return None
        return self.first_frame + int(inside[0]), self.first_frame + int(inside[-1])

    def describe(self) -> str:
        return f"stream {self.stream_id!r} frames {self.first_frame}..{self.last_frame}"

    @staticmethod
    def concat(views: list[MotionView]) -> MotionView:
        """Adjacent views of one stream (each starting where the previous ended) -> one."""
        if len(views) == 1:
            return views[0]
        for a, b in zip(views, views[1:], strict=False):
            assert b.first_frame == a.last_frame + 1, "views must be adjacent"
        ids = tuple(dict.fromkeys(i for v in views for i in v.window_ids))
        times = None if any(v.times_us is None for v in views) else \
            np.concatenate([v.times_us for v in views])  # type: ignore[misc]
        features = np.concatenate([v.features for v in views])  # (sum T', D)
        frames = np.concatenate([v.frames_of_rows() for v in views])  # (sum T',)
        first = views[0]
        return MotionView(first.stream_id, ids, first.first_frame, first.fps, features, times,
                          first.feature_fps, frames, sum(v.num_frames for v in views))

    @classmethod
    def of_window(cls, stream_id: str, window_id: str, first_frame: int, last_frame: int,
                  fps: float, features: np.ndarray, *, feature_fps: float = 0.0,
                  first_capture_time_us: int = 0, last_capture_time_us: int = 0
                  ) -> MotionView:
        """One window, as MotionFeatures carries it (rows by the window rule)."""
        frames = last_frame - first_frame + 1
        return cls(stream_id, (window_id,), first_frame, fps, features,
                   capture_times(first_capture_time_us, last_capture_time_us, frames),
                   feature_fps or fps, None, frames)


@dataclass(frozen=True, eq=False)
class StoredWindow:
    view: MotionView
    produced_ms: int  # Kafka record timestamp (wall clock, ms)
    encoder: str = ""

    @property
    def window_id(self) -> str:
        return self.view.window_ids[0]


class AddOutcome(enum.Enum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    EXPIRED = "expired"
    WRONG_DIM = "wrong_dim"
    WRONG_RATE = "wrong_rate"  # rows at another rate than the model reads
    TOO_LARGE = "too_large"
    FAR_JUMP = "far_jump"  # frames far from the stream's latest ones


REFUSED = frozenset({AddOutcome.WRONG_DIM, AddOutcome.WRONG_RATE, AddOutcome.TOO_LARGE,
                     AddOutcome.FAR_JUMP})


@dataclass(frozen=True)
class StoreStats:
    streams: int
    windows: int
    nbytes: int


class FeatureStore:
    """Windows of every stream, bounded by age and bytes; insertion order = eviction order."""

    def __init__(self, *, max_age_s: float, max_bytes: int, feature_dim: int | None = None,
                 feature_fps: float | None = None, max_jump_s: float | None = None,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000.0) -> None:
        self.max_age_ms = max_age_s * 1000.0
        self.max_bytes = max_bytes
        self.feature_dim = feature_dim
        self.feature_fps = feature_fps  # the model's rate: rows at another are refused
        self.max_jump_s = max_jump_s  # None: any frame numbers
        self._latest: dict[str, int] = {}  # last frame of each stream's furthest window
        self._clock_ms = clock_ms
        self._streams: dict[str, dict[str, StoredWindow]] = {}
        self._order: OrderedDict[tuple[str, str], StoredWindow] = OrderedDict()
        self._bytes = 0

    # -- writing -------------------------------------------------------------------------
    def add(self, window: StoredWindow) -> AddOutcome:
        view = window.view
        if self.feature_dim is not None and view.features.shape[1] != self.feature_dim:
            return AddOutcome.WRONG_DIM
        if self.feature_fps is not None and \
                abs(view.feature_fps - self.feature_fps) > 1e-6 * self.feature_fps:
            return AddOutcome.WRONG_RATE
        if view.nbytes > self.max_bytes:
            return AddOutcome.TOO_LARGE
        if self._clock_ms() - window.produced_ms > self.max_age_ms:
            return AddOutcome.EXPIRED
        latest = self._latest.get(view.stream_id)
        if latest is not None and self.max_jump_s is not None:
            limit = self.max_jump_s * view.fps
            if view.first_frame - latest > limit or latest - view.last_frame > limit:
                return AddOutcome.FAR_JUMP
        windows = self._streams.setdefault(view.stream_id, {})
        if window.window_id in windows:
            return AddOutcome.DUPLICATE
        windows[window.window_id] = window
        self._latest[view.stream_id] = max(latest or 0, view.last_frame)
        self._order[(view.stream_id, window.window_id)] = window
        self._bytes += view.nbytes
        self.evict()
        return AddOutcome.ADDED

    def evict(self) -> int:
        """Drop windows past their age, then the oldest until under the byte limit."""
        now, dropped = self._clock_ms(), 0
        while self._order:
            key, oldest = next(iter(self._order.items()))
            if now - oldest.produced_ms <= self.max_age_ms and self._bytes <= self.max_bytes:
                break
            self._remove(key)
            dropped += 1
        return dropped

    def _remove(self, key: tuple[str, str]) -> None:
        window = self._order.pop(key)
        self._bytes -= window.view.nbytes
        windows = self._streams[key[0]]
        del windows[key[1]]
        if not windows:
            del self._streams[key[0]]
            self._latest.pop(key[0], None)

    # -- reading -------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        return StoreStats(len(self._streams), len(self._order), self._bytes)

    def has_stream(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def windows(self, stream_id: str) -> list[StoredWindow]:
        """The stream's windows by first frame; NotFoundError for an unknown stream."""
        self.evict()
        windows = self._streams.get(stream_id)
        if not windows:
            raise NotFoundError(f"stream {stream_id!r} has no features in the store (unknown, "
                                "not started, or older than the retention)")
        return sorted(windows.values(), key=lambda w: (w.view.first_frame, w.view.last_frame))

    def latest(self, stream_id: str) -> MotionView:
        """The window that reaches furthest into the stream (the latest produced on ties)."""
        windows = self.windows(stream_id)
        return max(enumerate(windows), key=lambda iw: (iw[1].view.last_frame,
                                                       iw[1].produced_ms, iw[0]))[1].view

    def select(self, stream_id: str, first_frame: int, last_frame: int, *,
               max_frames: int) -> MotionView:
        """Frames first..last of a stream, stitched from the stored windows that cover them
        (each frame from the covering window that reaches furthest, so few windows are used).
        `max_frames` is the model's limit in rows; the error states it in stream frames."""
        windows = self.windows(stream_id)
        view = windows[0].view
        try:
            check_range(first_frame, last_frame, max_frames, fps=view.fps,
                        feature_fps=view.feature_fps)
        except InvalidRequestError as exc:  # say what the stream holds, too
            stored = (min(w.view.first_frame for w in windows),
                      max(w.view.last_frame for w in windows))
            raise InvalidRequestError(f"{exc}; stream {stream_id!r} holds frames "
                                      f"{stored[0]}..{stored[1]} now") from None
        return select_frames([w.view for w in windows], stream_id, first_frame, last_frame)

    def frames_between(self, stream_id: str, start_us: int, end_us: int) -> tuple[int, int]:
        """The absolute frames captured within [start_us, end_us] in the stored windows."""
        return frames_between([w.view for w in self.windows(stream_id)], stream_id,
                              start_us, end_us)


def check_range(first_frame: int, last_frame: int, max_frames: int, *,
                fps: float = 0.0, feature_fps: float = 0.0) -> None:
    """A question's range of stream frames (at `fps`) must fit the model's `max_frames`
    rows (at `feature_fps`; 0 = the same rate); the error says so in the stream's terms."""
    if first_frame < 0 or last_frame < first_frame:
        raise InvalidRequestError(f"bad frame range {first_frame}..{last_frame}: need "
                                  "0 <= first_frame <= last_frame")
    frames = last_frame - first_frame + 1
    same = not (fps and feature_fps) or abs(fps - feature_fps) <= 1e-6 * fps
    rows = frames if same else resampled_length(frames, fps, feature_fps)
    if rows <= max_frames:
        return
    most = max_frames if same else longest_source(max_frames, fps, feature_fps)
    at = f" at {fps:g} fps ({(most - 1) / fps:.3g} s)" if fps else ""
    raise InvalidRequestError(f"frame range {first_frame}..{last_frame} holds {frames} "
                              f"frames, over the model's limit of {most} frames{at}")


def select_frames(views: list[MotionView], stream_id: str, first_frame: int,
                  last_frame: int) -> MotionView:
    """Greedy cover of first..last by the views (sorted or not) -> one stitched view."""
    pieces: list[MotionView] = []
    cursor = first_frame
    while cursor <= last_frame:
        covering = [v for v in views if v.first_frame <= cursor <= v.last_frame]
        if not covering:
            raise NotFoundError(f"frame {cursor} of stream {stream_id!r} is not in the store; "
                                f"stored: {_ranges(views)}")
        best = max(covering, key=lambda v: v.last_frame)
        end = min(last_frame, best.last_frame)
        pieces.append(best.crop(cursor, end))
        cursor = end + 1
    return MotionView.concat(pieces)


def frames_between(views: Iterable[MotionView], stream_id: str, start_us: int,
                   end_us: int) -> tuple[int, int]:
    if start_us < 0 or end_us < start_us:
        raise InvalidRequestError(f"bad time range {start_us}..{end_us} us: need "
                                  "0 <= start_time_us <= end_time_us")
    views = list(views)
    if all(v.times_us is None for v in views):
        raise NotFoundError(f"stream {stream_id!r} carries no capture times; ask by frames")
    found = [r for v in views if (r := v.frames_between(start_us, end_us)) is not None]
    if not found:
        raise NotFoundError(f"no stored frame of stream {stream_id!r} was captured between "
                            f"{start_us} and {end_us} us")
    return min(a for a, _ in found), max(b for _, b in found)


def _ranges(views: list[MotionView]) -> str:
    """'0..63, 16..79' -> merged '0..79' listing of what is stored."""
    merged: list[list[int]] = []
    for v in sorted(views, key=lambda v: v.first_frame):
        if merged and v.first_frame <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], v.last_frame)
        else:
            merged.append([v.first_frame, v.last_frame])
    return ", ".join(f"{a}..{b}" for a, b in merged) or "nothing"
