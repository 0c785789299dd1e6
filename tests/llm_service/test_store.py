"""The feature store: retention by age and bytes, de-duplication, range selection."""

from __future__ import annotations

import numpy as np
import pytest

from llm_service.errors import InvalidRequestError, NotFoundError
from llm_service.store import AddOutcome, FeatureStore, MotionView, StoredWindow, capture_times
from mochat.errors import DataFormatError
from tests.llm_service.conftest import FPS, T0_US


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000.0

    def __call__(self) -> float:
        return self.ms


def window(stream: str, first: int, frames: int, produced_ms: float, dim: int = 2
           ) -> StoredWindow:
    # Row t of the features holds [frame number, t]: easy to check what a view contains.
    rows = np.stack([np.arange(first, first + frames), np.arange(frames)], 1)[:, :dim]
    first_us = T0_US + round(first * 1e6 / FPS)
    times = capture_times(first_us, first_us + round((frames - 1) * 1e6 / FPS), frames)
    view = MotionView(stream, (f"{stream}:{first}",), first, FPS, rows.astype(np.float32), times)
    return StoredWindow(view, int(produced_ms))


def test_capture_times_interpolate_between_first_and_last():
    # 5 frames from 0 to 200 us -> every 50 us; no times (0) -> None
    assert capture_times(1000, 1200, 5).tolist() == [1000, 1050, 1100, 1150, 1200]
    assert capture_times(0, 0, 5) is None


def test_duplicates_wrong_width_and_expired_windows_are_not_added():
    clock = Clock()
    store = FeatureStore(max_age_s=10, max_bytes=10**6, feature_dim=2, clock_ms=clock)
    assert store.add(window("a", 0, 8, clock.ms)) is AddOutcome.ADDED
    assert store.add(window("a", 0, 8, clock.ms)) is AddOutcome.DUPLICATE  # replayed id
    assert store.add(window("a", 8, 8, clock.ms, dim=1)) is AddOutcome.WRONG_DIM
    assert store.add(window("a", 16, 8, clock.ms - 10_001)) is AddOutcome.EXPIRED
    assert store.stats().windows == 1


def test_windows_older_than_the_retention_are_evicted():
    clock = Clock()
    store = FeatureStore(max_age_s=10, max_bytes=10**6, clock_ms=clock)
    store.add(window("a", 0, 8, clock.ms))
    clock.ms += 5_000
    store.add(window("a", 8, 8, clock.ms))
    clock.ms += 5_001  # the first window is now 10.001 s old, the second 5.001 s
    assert [w.window_id for w in store.windows("a")] == ["a:8"]
    clock.ms += 5_000
    with pytest.raises(NotFoundError, match="no features"):
        store.windows("a")
    assert store.stats().streams == 0


def test_the_oldest_windows_go_when_over_the_byte_limit():
    clock = Clock()
    # each window: 8 frames * 2 dims * 4 B + 8 times * 8 B = 128 B; the limit holds two
    store = FeatureStore(max_age_s=60, max_bytes=300, clock_ms=clock)
    for i, stream in enumerate(["a", "b", "a"]):
        store.add(window(stream, 8 * i, 8, clock.ms + i))
    assert store.stats().windows == 2 and store.stats().nbytes == 256
    # "a:0" was the oldest and went; "b:8" and "a:16" stay
    assert [w.window_id for w in store.windows("a")] == ["a:16"]
    assert [w.window_id for w in store.windows("b")] == ["b:8"]


def test_latest_is_the_window_reaching_furthest():
    clock = Clock()
    store = FeatureStore(max_age_s=60, max_bytes=10**6, clock_ms=clock)
    store.add(window("a", 16, 16, clock.ms))  # frames 16..31
    store.add(window("a", 0, 16, clock.ms + 1))  # late arrival of frames 0..15
    latest = store.latest("a")
    assert (latest.first_frame, latest.last_frame) == (16, 31)


def test_a_range_is_stitched_from_overlapping_windows():
    clock = Clock()
    store = FeatureStore(max_age_s=60, max_bytes=10**6, clock_ms=clock)
    store.add(window("a", 0, 16, clock.ms))  # 0..15
    store.add(window("a", 8, 16, clock.ms))  # 8..23
    store.add(window("a", 30, 8, clock.ms))  # 30..37, after a gap
    view = store.select("a", 4, 20, max_frames=64)
    # frame 4 lies only in "a:0", which gives 4..15; frame 16 then comes from "a:8";
    # column 0 holds the frame number
    assert view.window_ids == ("a:0", "a:8")
    assert view.features[:, 0].tolist() == list(range(4, 21))
    assert view.times_us is not None and view.time_us(20) == T0_US + 20 * 50_000
    with pytest.raises(NotFoundError, match=r"frame 24 .* stored: 0\.\.23, 30\.\.37"):
        store.select("a", 20, 32, max_frames=64)
    with pytest.raises(InvalidRequestError, match="over the model's limit of 8"):
        store.select("a", 0, 10, max_frames=8)
    # far past the stream's end: the error says what the stream holds, too
    with pytest.raises(InvalidRequestError,
                       match=r"limit of 8 frames at 20 fps .*; stream .a. holds frames 0\.\.37"):
        store.select("a", 0, 1000, max_frames=8)


def test_a_time_range_maps_to_the_frames_captured_in_it():
    clock = Clock()
    store = FeatureStore(max_age_s=60, max_bytes=10**6, clock_ms=clock)
    store.add(window("a", 0, 16, clock.ms))
    # frames are 50 ms apart: [frame 3's time - 1 us, frame 7's time + 1 us] -> 3..7
    start, end = T0_US + 3 * 50_000 - 1, T0_US + 7 * 50_000 + 1
    assert store.frames_between("a", start, end) == (3, 7)
    with pytest.raises(NotFoundError, match="no stored frame"):
        store.frames_between("a", T0_US + 10**9, T0_US + 2 * 10**9)


def test_view_maps_relative_frames_to_absolute_ones_clamped():
    view = window("a", 100, 10, 0).view
    assert (view.frame(0), view.frame(9), view.frame(50), view.frame(-3)) == (100, 109, 109, 100)


def window_120(first: int, produced_ms: float) -> StoredWindow:
    """384 frames at 120 fps (3.2 s) as 64 rows at 20 fps; row t holds [its frame, t]."""
    frames = first + 6 * np.arange(64)
    rows = np.stack([frames, np.arange(64)], 1).astype(np.float32)
    first_us = T0_US + round(first * 1e6 / 120)
    view = MotionView.of_window("fast", f"fast:{first}", first, first + 383, 120.0, rows,
                                feature_fps=20.0, first_capture_time_us=first_us,
                                last_capture_time_us=first_us + round(383 * 1e6 / 120))
    return StoredWindow(view, int(produced_ms))


def test_windows_at_120_fps_are_stored_as_rows_at_the_models_rate():
    clock = Clock()
    store = FeatureStore(max_age_s=60, max_bytes=10**6, feature_dim=2, feature_fps=20.0,
                         clock_ms=clock)
    assert store.add(window_120(0, clock.ms)) is AddOutcome.ADDED
    assert store.add(window_120(96, clock.ms)) is AddOutcome.ADDED  # 96..479
    # a producer whose rows are at 120 fps (no resampling encoder) cannot be read
    per_frame = MotionView("fast", ("fast:480",), 480, 120.0, np.zeros((384, 2), np.float32))
    assert store.add(StoredWindow(per_frame, int(clock.ms))) is AddOutcome.WRONG_RATE
    view = store.latest("fast")
    assert (view.first_frame, view.last_frame, view.num_frames, view.num_rows) == \
        (96, 479, 384, 64)
    assert (view.frame(0), view.frame(1), view.frame(63), view.frame(99)) == (96, 102, 474, 474)
    # frames 50..420 of the stream: frame 50 lies only in "fast:0", which gives 50..383
    # (rows of frames 54, 60, ..., 378), then "fast:96" gives 384..420 (rows of 384..420)
    picked = store.select("fast", 50, 420, max_frames=64)
    assert picked.window_ids == ("fast:0", "fast:96")
    assert picked.features[:, 0].tolist() == list(range(54, 421, 6))
    assert (picked.first_frame, picked.last_frame, picked.num_rows) == (50, 420, 62)
    assert picked.frame(0) == 54 and picked.time_us(54) == T0_US + round(54 * 1e6 / 120)
    # a question's range is limited in the stream's terms: 64 rows at 20 fps read at most
    # 384 frames at 120 fps (rows at 0, 6, ..., 378 <= 383), one window
    assert store.select("fast", 0, 383, max_frames=64).num_rows == 64
    with pytest.raises(InvalidRequestError, match=r"0\.\.384 holds 385 frames, over the "
                                                  r"model's limit of 384 frames at 120 fps"):
        store.select("fast", 0, 384, max_frames=64)


def test_a_range_between_two_rows_still_gets_one():
    view = window_120(0, 0).view
    # frames 13..15 at 120 fps hold no row (rows are at 12 and 18): the nearest one, 12
    cut = view.crop(13, 15)
    assert (cut.num_rows, cut.frame(0), cut.num_frames) == (1, 12, 3)


def test_features_records_carry_their_rate():
    from types import SimpleNamespace

    from llm_service.consumer import decode_features
    from protos.convert import array_to_proto
    from protos.mochat.v1 import frames_pb2

    msg = frames_pb2.MotionFeatures(stream_id="cam", window_id="cam:960", first_frame=960,
                                    last_frame=1343, fps=120.0, feature_fps=20.0,
                                    first_capture_time_us=T0_US,
                                    last_capture_time_us=T0_US + 3_191_667)
    array_to_proto(np.zeros((64, 2), np.float32), msg.features)
    record = SimpleNamespace(value=msg.SerializeToString(), timestamp=5)
    view = decode_features(record).view
    assert (view.num_rows, view.num_frames, view.feature_fps, view.frame(2)) == \
        (64, 384, 20.0, 972)
    array_to_proto(np.zeros((384, 2), np.float32), msg.features)  # rows per frame: refused
    with pytest.raises(DataFormatError, match=r"expected shape \(64, '\*'\)"):
        decode_features(SimpleNamespace(value=msg.SerializeToString(), timestamp=5))


def test_a_forged_far_window_does_not_become_the_latest():
    clock = Clock()
    # max_jump_s 10 at 20 fps: a window may start at most 200 frames past the latest frame
    store = FeatureStore(max_age_s=100, max_bytes=10**6, max_jump_s=10, clock_ms=clock)
    assert store.add(window("a", 0, 8, clock.ms)) is AddOutcome.ADDED  # latest frame 7
    assert store.add(window("a", 207, 8, clock.ms)) is AddOutcome.ADDED  # 200 past 7
    assert store.add(window("a", 10**9, 8, clock.ms)) is AddOutcome.FAR_JUMP  # forged
    assert store.latest("a").first_frame == 207
    assert store.add(window("b", 10**9, 8, clock.ms)) is AddOutcome.ADDED  # a new stream
    clock.ms += 101_000  # everything of "a" expires: its frame numbers may start anew
    store.evict()
    assert store.add(window("a", 10**9, 8, clock.ms)) is AddOutcome.ADDED
