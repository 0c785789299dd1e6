"""Windowing policies on tiny hand-checkable streams.

Frames carry one joint whose x coordinate is the frame number, so a window's joints read as
the frame numbers it holds, and interpolated frames show up as in-between values.
The policy is set in seconds; most tests run a 1 fps stream, where a second is a frame:
window_s=4, step_s=2 give windows [0..3], [2..5], [4..7], ...
"""

from __future__ import annotations

import numpy as np
import pytest

from ingest.validation import DlqReason
from ingest.windowing import FrameOutcome, StreamFrame, Window, Windower, WindowingConfig
from mochat.errors import ConfigError


def frame(i: int, sid: str = "s", *, offset: int = -1, layout: str = "smpl22",
          fps: float = 1.0) -> StreamFrame:
    joints = np.array([[float(i), 0.0, 0.0]], dtype=np.float32)  # (J=1, 3)
    return StreamFrame(sid, i, joints, layout=layout, capture_time_us=1000 * i, fps=fps,
                       offset=offset)


def cfg(**kw) -> WindowingConfig:
    base = dict(window_s=4, step_s=2, grace_ms=0, min_s=1, idle_timeout_ms=100.0)
    return WindowingConfig(**(base | kw))


def feed(w: Windower, indices, sid: str = "s", now_ms: float = 0.0) -> list[Window]:
    out: list[Window] = []
    for i in indices:
        out.extend(w.add(frame(i, sid), now_ms).windows)
    return out


def xs(win: Window) -> list[float]:
    return win.joints[:, 0, 0].tolist()


def test_in_order_sliding_windows() -> None:
    w = Windower(cfg())
    first = feed(w, [0, 1, 2])
    assert first == []  # 3 frames: no window of 4 is complete yet
    wins = first + feed(w, [3, 4, 5, 6, 7])
    # [0..3] closes at frame 3, [2..5] at 5, [4..7] at 7
    assert [x.window_id for x in wins] == ["s:0", "s:2", "s:4"]
    assert [xs(x) for x in wins] == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    assert all(x.complete and x.interpolated_frames == 0 for x in wins)
    assert (wins[0].first_capture_time_us, wins[0].last_capture_time_us) == (0, 3000)
    assert wins[0].joints.shape == (4, 1, 3) and wins[0].joints.dtype == np.float32


def test_tumbling_when_step_equals_window() -> None:
    wins = feed(Windower(cfg(step_s=4)), range(12))
    assert [(x.first_frame, x.last_frame) for x in wins] == [(0, 3), (4, 7), (8, 11)]


def test_windows_align_to_the_frame_grid() -> None:
    # A stream first seen at frame 5: the first grid window at or after 5 starts at 6.
    wins = feed(Windower(cfg()), range(5, 12))
    assert [(x.first_frame, x.last_frame) for x in wins] == [(6, 9), (8, 11)]


def test_out_of_order_within_grace_is_reordered() -> None:
    w = Windower(cfg(grace_ms=2000))
    order = [0, 1, 3, 2, 5, 4, 6, 7, 8, 9]
    got = []
    for i in order:
        got.append((i, [x.window_id for x in w.add(frame(i), 0.0).windows]))
    # frame 3 becomes final once frame 5 (= 3 + grace) has been seen
    assert got[4] == (5, ["s:0"])
    assert [xs(x) for x in feed(Windower(cfg(grace_ms=2000)), order)] == \
        [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    assert w.counters["frames_late"] == 0


def test_late_frame_beyond_grace_is_dropped_and_counted() -> None:
    w = Windower(cfg(grace_ms=1000, max_gap_ms=2000))
    for i in [0, 1, 2, 4, 5]:  # frame 4 is final at 5 (grace 1): 3 missing -> interpolated
        assert w.add(frame(i), 0.0).outcome is FrameOutcome.ACCEPTED
    late = w.add(frame(3), 0.0)
    assert late.outcome is FrameOutcome.LATE and late.windows == []
    assert w.counters["frames_late"] == 1
    wins = feed(w, [6])  # 5 becomes final: window [2..5]; [0..3] closed when 4 became final
    assert [x.window_id for x in wins] == ["s:2"]
    assert xs(wins[0]) == [2, 3, 4, 5] and wins[0].interpolated_frames == 1  # 3 was filled


def test_duplicate_held_frame_is_dropped() -> None:
    w = Windower(cfg(grace_ms=3000))
    w.add(frame(0), 0.0)
    assert w.add(frame(0), 0.0).outcome is FrameOutcome.DUPLICATE
    assert w.counters["frames_duplicate"] == 1


def test_gap_is_interpolated_linearly_up_to_the_limit() -> None:
    w = Windower(cfg(max_gap_ms=2000))
    wins = feed(w, [0, 1, 4, 5])
    # frames 2 and 3 are filled at 1/3 and 2/3 of the way from frame 1 to frame 4
    assert [x.window_id for x in wins] == ["s:0", "s:2"]
    assert xs(wins[0]) == pytest.approx([0, 1, 2, 3])
    assert wins[0].interpolated_frames == 2 and wins[1].interpolated_frames == 2
    assert w.counters["frames_interpolated"] == 2 and w.counters["gaps_interpolated"] == 1


def test_interpolated_capture_times() -> None:
    win = feed(Windower(cfg(max_gap_ms=2000)), [0, 1, 4, 5])[0]
    # capture time is 1000 us per frame: filled frames 2, 3 get 2000 and 3000
    assert (win.first_capture_time_us, win.last_capture_time_us) == (0, 3000)


@pytest.mark.parametrize("kw", [dict(gap_policy="close"), dict(max_gap_ms=4000)])
def test_gap_closes_the_window(kw) -> None:
    w = Windower(cfg(**kw))
    wins = feed(w, [0, 1, 2, 3, 4, 10, 11, 12, 13])
    # [0..3] full; gap of 5 closes [2..4] as a partial window; a new segment starts at 10
    assert [(x.first_frame, x.last_frame, x.complete) for x in wins] == \
        [(0, 3, True), (2, 4, False), (10, 13, True)]
    assert xs(wins[1]) == [2, 3, 4]
    assert w.counters["gaps_closed"] == 1


def test_gap_close_drops_partial_below_min_frames() -> None:
    w = Windower(cfg(gap_policy="close", min_s=4))
    wins = feed(w, [0, 1, 2, 3, 4, 10, 11, 12, 13])
    assert [x.window_id for x in wins] == ["s:0", "s:10"]  # [2..4] has 3 < 4 frames
    assert w.counters["partial_windows_dropped"] == 1


def test_idle_stream_is_flushed_after_timeout() -> None:
    w = Windower(cfg())
    assert [x.window_id for x in feed(w, range(7), now_ms=0.0)] == ["s:0", "s:2"]
    assert w.flush_idle(now_ms=99.0) == []  # 99 ms < 100 ms timeout
    wins = w.flush_idle(now_ms=100.0)
    # pending window [4..7] has frames 4, 5, 6: emitted partial, and the stream is forgotten
    assert [(x.window_id, x.last_frame, x.complete) for x in wins] == [("s:4", 6, False)]
    assert w.stream_ids == [] and w.counters["streams_flushed_idle"] == 1


def test_idle_flush_finalises_held_frames() -> None:
    w = Windower(cfg(grace_ms=3000))
    assert feed(w, [0, 1, 2, 4, 3]) == []  # all still held: the newest is 4, grace 3
    wins = w.flush_idle(now_ms=500.0)
    assert [(x.first_frame, x.last_frame, x.complete) for x in wins] == \
        [(0, 3, True), (2, 4, False)]


@pytest.mark.parametrize("kw", [dict(flush_policy="drop"), dict(min_s=4)])
def test_idle_flush_drop_policy(kw) -> None:
    w = Windower(cfg(**kw))
    feed(w, range(7))
    assert w.flush_idle(now_ms=1e6) == []
    assert w.counters["partial_windows_dropped"] == 1


def test_replay_from_mid_stream_yields_the_same_ids() -> None:
    full = {x.window_id: xs(x) for x in feed(Windower(cfg()), range(20))}
    replay = {x.window_id: xs(x) for x in feed(Windower(cfg()), range(7, 20))}
    # the replay starts at frame 7: its windows start at 8, 10, ..., 16, identical to the
    # full run's windows with those ids
    assert sorted(replay, key=lambda k: int(k.split(":")[1])) == \
        ["s:8", "s:10", "s:12", "s:14", "s:16"]
    assert all(full[k] == v for k, v in replay.items())


def test_offsets_needed_by_open_windows() -> None:
    w = Windower(cfg())
    wins = []
    for i in range(6):
        wins += w.add(frame(i, offset=100 + i), 0.0).windows
    # [0..3] and [2..5] are out; the next window starts at 4, so frames 4, 5 are still held
    assert [x.min_offset for x in wins] == [100, 102]
    assert w.min_needed_offset() == 104
    w.flush_idle(now_ms=1e6)
    assert w.min_needed_offset() is None


def test_offsets_of_held_frames_count() -> None:
    w = Windower(cfg(grace_ms=2000))
    w.add(frame(0, offset=7), 0.0)
    w.add(frame(1, offset=8), 0.0)
    assert w.min_needed_offset() == 7  # frame 0 is held (not final), its record is needed


def test_streams_are_independent() -> None:
    w = Windower(cfg())
    out = []
    for i in range(4):
        out += w.add(frame(i, "a"), 0.0).windows + w.add(frame(i + 10, "b"), 0.0).windows
    # a: [0..3]; b starts at 10 and has only frames 10..13: window [10..13]
    assert sorted(x.window_id for x in out) == ["a:0", "b:10"]


def test_rejections() -> None:
    w = Windower(cfg(max_jump_s=100))
    assert w.add(frame(-1), 0.0).rejection.reason is DlqReason.ABSURD_FRAME_INDEX
    w.add(frame(0), 0.0)
    jump = w.add(frame(101), 0.0)
    assert jump.outcome is FrameOutcome.REJECTED
    assert jump.rejection.reason is DlqReason.ABSURD_FRAME_INDEX
    changed = w.add(frame(1, layout="ntu25"), 0.0)
    assert changed.rejection.reason is DlqReason.LAYOUT_CHANGED
    assert w.add(frame(100), 0.0).outcome is FrameOutcome.ACCEPTED  # exactly the limit
    assert w.counters["frames_rejected"] == 3


@pytest.mark.parametrize("kw", [dict(step_s=5), dict(step_s=0),
                                dict(gap_policy="skip"), dict(flush_policy="keep"),
                                dict(min_s=5), dict(grace_ms=-1), dict(window_s=float("nan"))])
def test_bad_config_is_refused(kw) -> None:
    with pytest.raises(ConfigError):
        cfg(**kw)


def test_interpolated_frames_keep_the_gap_anchor_needed() -> None:
    w = Windower(cfg(max_gap_ms=2000))
    for i in (0, 1, 4):
        w.add(frame(i, offset=10 + i), 0.0)
    # [0..3] is out (frames 2, 3 filled from frame 1 and 4); the next window [2..5] starts
    # with filled frames, so rebuilding it needs frame 1's record (offset 11)
    assert w.min_needed_offset() == 11


def test_seconds_become_each_streams_own_frames() -> None:
    # The defaults: 3.2 s windows every 0.8 s, 200 ms grace. At 20 fps that is 64 / 16 / 4
    # frames; at 120 fps 384 / 96 / 24; at 29.97 fps round(95.9) = 96 / round(23.98) = 24.
    config = WindowingConfig()

    def counts(fps: float) -> tuple[int, int, int]:
        f = config.frames(fps)
        return f.window_frames, f.step_frames, f.grace_frames

    assert [counts(fps) for fps in (20.0, 120.0, 29.97)] == [(64, 16, 4), (384, 96, 24),
                                                              (96, 24, 6)]
    with pytest.raises(ConfigError):
        config.frames(0.0)


def test_a_120_fps_stream_gets_384_frame_windows_every_96() -> None:
    w = Windower(WindowingConfig(grace_ms=0))
    fast, slow = [], []
    for i in range(700):  # 120 fps: 5.8 s; the 20 fps stream sends its first 117 frames
        fast += w.add(frame(i, "fast", fps=120.0), 0.0).windows
        if i < 117:
            slow += w.add(frame(i, "slow", fps=20.0), 0.0).windows
    # [0..383] closes at frame 383, [96..479] at 479, ..., [288..671] at 671; the grid is
    # still on absolute frame numbers, so the ids are those of any replay
    assert [(x.first_frame, x.last_frame) for x in fast] == \
        [(0, 383), (96, 479), (192, 575), (288, 671)]
    assert all(x.fps == 120.0 and x.num_frames == 384 for x in fast)
    # the 20 fps stream beside it keeps 64-frame windows every 16: 0, 16, 32, 48 (<= 116)
    assert [(x.first_frame, x.last_frame) for x in slow] == \
        [(0, 63), (16, 79), (32, 95), (48, 111)]


def test_a_stream_keeps_its_rate() -> None:
    w = Windower(cfg())
    assert w.add(frame(0, fps=0.0), 0.0).rejection.reason is DlqReason.BAD_FPS
    w.add(frame(0), 0.0)
    changed = w.add(frame(1, fps=30.0), 0.0)
    assert changed.rejection.reason is DlqReason.FPS_CHANGED
    assert "at 1 fps, frame says 30" in changed.rejection.detail
