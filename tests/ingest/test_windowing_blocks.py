"""`Windower.add_block` gives exactly what `Windower.add` of each frame gives.

Hand-checkable cases first (1 fps streams, window_s=4, step_s=2 as in test_windowing.py:
windows [0..3], [2..5], ...), then the same random streams fed both ways - in order, with
reorder holes, late and repeated frame numbers, gaps filled and gaps that close, absurd
jumps, layout and rate changes, Frames and blocks mixed - compared window by window, byte
for byte, with the outcomes, rejections, counters and the offsets still needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from ingest.validation import DlqReason
from ingest.windowing import (
    FrameBlock,
    FrameOutcome,
    StreamFrame,
    Window,
    Windower,
    WindowingConfig,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)


def cfg(**kw) -> WindowingConfig:
    base = dict(window_s=4, step_s=2, grace_ms=0, min_s=1, idle_timeout_ms=100.0)
    return WindowingConfig(**(base | kw))


def block(first: int, n: int, sid: str = "s", *, offset: int = -1, layout: str = "smpl22",
          fps: float = 1.0) -> FrameBlock:
    """Frames first .. first + n - 1 whose one joint's x is the frame number."""
    joints = np.zeros((n, 1, 3), np.float32)
    joints[:, 0, 0] = np.arange(first, first + n)
    times = 1000 * np.arange(first, first + n, dtype=np.int64)
    return FrameBlock(sid, first, joints, times, layout=layout, fps=fps, offset=offset)


def key(w: Window) -> tuple:
    """Everything a window carries, its joints as bytes."""
    return (w.stream_id, w.window_id, w.first_frame, w.last_frame, w.layout, w.fps,
            w.joints.dtype.str, w.joints.shape, w.joints.tobytes(), w.first_capture_time_us,
            w.last_capture_time_us, w.interpolated_frames, w.min_offset, w.complete)


def test_a_block_in_order_gives_the_windows_of_its_frames() -> None:
    w = Windower(cfg())
    result = w.add_block(block(0, 8), 0.0)
    # [0..3] closes at frame 3, [2..5] at 5, [4..7] at 7
    assert [x.window_id for x in result.windows] == ["s:0", "s:2", "s:4"]
    assert [x.joints[:, 0, 0].tolist() for x in result.windows] == \
        [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    assert result.outcomes == {FrameOutcome.ACCEPTED: 8} and result.rejections == []


def test_grace_frames_stay_held_as_rows_across_blocks() -> None:
    w = Windower(cfg(grace_ms=2000))  # grace 2 frames
    first = w.add_block(block(0, 4, offset=10), 0.0)
    # newest 3: frames 0 and 1 are final, 2 and 3 held; no window of 4 yet
    assert first.windows == []
    st = w._streams["s"]  # noqa: SLF001 - the block path holds rows, not frame objects
    assert (st.pending, len(st.held), st.released) == ({}, 2, 1)
    second = w.add_block(block(4, 2, offset=11), 0.0)
    # newest 5: frames 2, 3 final -> [0..3]; 4, 5 held
    assert [x.window_id for x in second.windows] == ["s:0"]
    assert second.windows[0].min_offset == 10
    assert w.min_needed_offset() == 10  # frame 2 (next window's start) came from offset 10


def test_a_late_block_falls_back_frame_by_frame() -> None:
    w = Windower(cfg())
    w.add_block(block(0, 6), 0.0)
    late = w.add_block(block(4, 4), 0.0)
    # 4 and 5 are already final: late; 6 and 7 are new and close [4..7]
    assert late.outcomes == {FrameOutcome.LATE: 2, FrameOutcome.ACCEPTED: 2}
    assert [x.window_id for x in late.windows] == ["s:4"]


def test_out_of_order_and_repeated_batches_across_records() -> None:
    w = Windower(cfg(grace_ms=2000))  # grace 2 frames
    out = w.add_block(block(0, 4), 0.0).windows  # newest 3: 0, 1 final; 2, 3 held
    early = w.add_block(block(6, 2), 0.0)  # newest 7: 2, 3 final; 4, 5 missing; 6, 7 held
    assert early.outcomes == {FrameOutcome.ACCEPTED: 2}
    out += early.windows  # [0..3]
    behind = w.add_block(block(4, 2), 0.0)  # the batch before, within grace: not late
    assert behind.outcomes == {FrameOutcome.ACCEPTED: 2}
    out += behind.windows  # 4, 5 final -> [2..5]
    again = w.add_block(block(6, 2), 0.0)  # 6, 7 are still held: duplicates
    assert again.outcomes == {FrameOutcome.DUPLICATE: 2} and again.windows == []
    overlap = w.add_block(block(3, 7), 0.0)  # 3..5 final: late; 6, 7 held: duplicate; 8, 9 new
    assert overlap.outcomes == {FrameOutcome.LATE: 3, FrameOutcome.DUPLICATE: 2,
                                FrameOutcome.ACCEPTED: 2}
    out += overlap.windows  # newest 9: 6, 7 final -> [4..7]
    assert [x.window_id for x in out] == ["s:0", "s:2", "s:4"]
    # each window holds its frames once, in order, as if they had come in order
    assert [x.joints[:, 0, 0].tolist() for x in out] == \
        [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    assert (w.counters["frames_late"], w.counters["frames_duplicate"]) == (3, 4)
    assert all(x.interpolated_frames == 0 for x in out)


def test_block_rejections_name_each_frame() -> None:
    w = Windower(cfg(max_jump_s=100))
    w.add_block(block(0, 2), 0.0)
    changed = w.add_block(block(2, 3, layout="ntu25"), 0.0)
    assert [(i, r.reason) for i, r in changed.rejections] == \
        [(i, DlqReason.LAYOUT_CHANGED) for i in (2, 3, 4)]
    jump = w.add_block(block(500, 2), 0.0)
    assert [(i, r.reason) for i, r in jump.rejections] == \
        [(500, DlqReason.ABSURD_FRAME_INDEX), (501, DlqReason.ABSURD_FRAME_INDEX)]
    assert w.counters["frames_rejected"] == 5


# --- the same streams both ways ------------------------------------------------------------

def random_chunks(rng: np.random.Generator, config: WindowingConfig, count: int,
                  fps: float) -> list[tuple[str, int, int, str, float]]:
    """(stream, first frame, frames, layout, fps) of `count` chunks of consecutive frames,
    mostly in order, with every kind of trouble mixed in."""
    frames = config.frames(fps)
    longest = 12 * max(1, round(fps / 10))  # records of up to 0.1 s at 120 fps
    cur = {"a": int(rng.integers(0, 50)), "b": 1000}
    chunks = []
    for _ in range(count):
        sid = "a" if rng.random() < 0.7 else "b"
        n = int(rng.integers(1, longest + 1))
        layout, rate, first = "smpl22", fps, cur[sid]
        kind = rng.random()
        if kind < 0.08:  # a gap, filled or closing the segment
            first += int(rng.integers(1, frames.max_gap_frames + 4))
        elif kind < 0.16:  # out of order or late: back by up to 10 frames
            first = max(0, first - int(rng.integers(1, 11)))
        elif kind < 0.19:  # a reorder hole: skip one, send it next
            chunks.append((sid, first + 1, n, layout, rate))
            n = 1
        elif kind < 0.21:  # absurdly far
            first += frames.max_jump_frames + int(rng.integers(1, 5))
        elif kind < 0.23:
            layout = "ntu25"
        elif kind < 0.25:
            rate = 2 * fps
        elif kind < 0.26:
            first = -int(rng.integers(1, 4))  # negative frame numbers (the windower's check)
        chunks.append((sid, first, n, layout, rate))
        if kind >= 0.16 and layout == "smpl22" and rate == fps and 0 <= first and \
                first - cur[sid] <= frames.max_jump_frames:
            cur[sid] = max(cur[sid], first + n)
    return chunks


def chunk_block(sid: str, first: int, n: int, layout: str, fps: float, offset: int,
                rng: np.random.Generator) -> FrameBlock:
    joints = rng.normal(size=(n, 2, 3)).astype(np.float32)
    times = 10_000 * np.arange(first, first + n, dtype=np.int64) + \
        rng.integers(0, 100, n).astype(np.int64)
    return FrameBlock(sid, first, joints, times, layout=layout, fps=fps, offset=offset)


@pytest.mark.parametrize(("seed", "kw", "fps"), [
    (1, dict(grace_ms=0), 1.0),
    (2, dict(grace_ms=3000), 1.0),
    (3, dict(grace_ms=2000, gap_policy="close"), 1.0),
    (4, dict(grace_ms=1000, max_gap_ms=3000, flush_policy="drop", min_s=3), 1.0),
    (5, dict(grace_ms=5000, max_jump_s=40), 1.0),
    (6, dict(window_s=3.2, step_s=0.8, grace_ms=200, max_gap_ms=400, min_s=0.8), 120.0),
    (7, dict(window_s=3.2, step_s=3.2, grace_ms=0, max_gap_ms=0, min_s=0), 20.0),
])
def test_blocks_and_frames_give_the_same_windows_byte_for_byte(seed, kw, fps) -> None:
    rng = np.random.default_rng(seed)
    config = cfg(**kw)
    by_frame, by_block = Windower(config), Windower(config)
    got_frame: list[tuple] = []
    got_block: list[tuple] = []
    for offset, (sid, first, n, layout, rate) in enumerate(
            random_chunks(rng, config, 400, fps)):
        blk = chunk_block(sid, first, n, layout, rate, offset, rng)
        now = 10.0 * offset
        for k in range(n):
            one = by_frame.add(blk.frame(k), now)
            got_frame.append((one.outcome, [key(x) for x in one.windows],
                              None if one.rejection is None else
                              (first + k, one.rejection)))
        if rng.random() < 0.15:  # the block side takes some chunks frame by frame too
            for k in range(n):
                one = by_block.add(blk.frame(k), now)
                got_block.append((one.outcome, [key(x) for x in one.windows],
                                  None if one.rejection is None else
                                  (first + k, one.rejection)))
        else:
            result = by_block.add_block(blk, now)
            # per frame in order: the block's windows and rejections, outcome counts
            windows = [key(x) for x in result.windows]
            got_frame_tail = got_frame[-n:]
            assert [w for _, ws, _ in got_frame_tail for w in ws] == windows
            assert [r for _, _, r in got_frame_tail if r is not None] == result.rejections
            counts = {o: sum(1 for x, _, _ in got_frame_tail if x is o) for o in FrameOutcome}
            assert {o: c for o, c in counts.items() if c} == dict(result.outcomes)
            got_block.extend(got_frame_tail)
        assert by_frame.min_needed_offset() == by_block.min_needed_offset()
        if rng.random() < 0.01:  # a stream goes quiet
            t = now + 1e6
            assert [key(x) for x in by_frame.flush_idle(t)] == \
                [key(x) for x in by_block.flush_idle(t)]
    assert got_block == got_frame
    end_frame = [key(x) for sid in by_frame.stream_ids for x in by_frame.flush_stream(sid)]
    end_block = [key(x) for sid in by_block.stream_ids for x in by_block.flush_stream(sid)]
    assert end_block == end_frame
    assert by_block.counters == by_frame.counters
    assert by_frame.counters["windows_emitted"] > 20  # the streams did make windows


def test_in_order_blocks_never_fall_back() -> None:
    # 120 fps, the service defaults: 200 ms grace = 24 frames held, always as rows
    w = Windower(WindowingConfig())
    out = []
    for k in range(100):
        out += w.add_block(chunk_block("s", 8 * k, 8, "smpl22", 120.0, k,
                                       np.random.default_rng(k)), 0.0).windows
        st = w._streams["s"]  # noqa: SLF001
        assert st.pending == {} and len(st.held) <= 24
    # 800 frames: windows of 384 every 96 up to frame 800 - 1 - 24 = 775: 0, 96, ..., 384
    assert [x.first_frame for x in out] == [0, 96, 192, 288, 384]


def test_a_stream_may_mix_frames_and_blocks() -> None:
    w = Windower(cfg(grace_ms=2000))
    out = w.add_block(block(0, 3), 0.0).windows
    joints = np.array([[3.0, 0.0, 0.0]], np.float32)
    out += w.add(StreamFrame("s", 3, joints, fps=1.0, capture_time_us=3000), 0.0).windows
    out += w.add_block(block(4, 4), 0.0).windows
    out += w.flush_stream("s")
    assert [(x.window_id, x.complete) for x in out] == \
        [("s:0", True), ("s:2", True), ("s:4", True), ("s:6", False)]
    assert out[0].joints[:, 0, 0].tolist() == [0, 1, 2, 3]
