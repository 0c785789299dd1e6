"""Safe commit offsets: the lowest offset any open or in-flight window still needs."""

from __future__ import annotations

import numpy as np

from ingest.offsets import PartitionState
from ingest.windowing import StreamFrame, WindowingConfig

# At 1 fps a second is a frame: windows of 4 frames every 2, no grace, partials of >= 1.
CFG = WindowingConfig(window_s=4, step_s=2, grace_ms=0, min_s=1)


def feed(st: PartitionState, sid: str, index: int, offset: int) -> list:
    st.consumed(offset)
    joints = np.zeros((1, 3), np.float32)
    return st.windower.add(StreamFrame(sid, index, joints, fps=1.0, offset=offset), 0.0).windows


def test_nothing_consumed_nothing_to_commit() -> None:
    assert PartitionState(CFG).safe_offset() is None


def test_commit_waits_for_open_and_in_flight_windows() -> None:
    st = PartitionState(CFG)
    # stream a at offsets 0..3 (frames 0..3), stream b at offset 4 (frame 0)
    wins = [w for i in range(4) for w in feed(st, "a", i, i)]
    assert [w.window_id for w in wins] == ["a:0"]
    feed(st, "b", 0, 4)
    st.hold(wins[0].min_offset)  # a:0 (offsets 0..3) is being encoded
    assert st.safe_offset() == 0
    st.release(wins[0].min_offset)
    # a:0 is delivered; a's next window starts at frame 2 (offset 2), b holds offset 4
    assert st.safe_offset() == 2
    assert st.commit_due() == 2
    st.committed = 2
    assert st.commit_due() is None  # nothing new


def test_dead_letters_in_flight_hold_the_commit() -> None:
    st = PartitionState(CFG)
    st.consumed(0)
    st.hold(0)  # a dead letter for offset 0 not yet acknowledged
    st.consumed(1)
    assert st.safe_offset() == 0
    st.release(0)
    assert st.safe_offset() == 2  # everything read is done: commit the next offset
    assert st.in_flight == 0


def test_windowing_events_are_reported_once() -> None:
    st = PartitionState(CFG)
    feed(st, "a", 0, 0)
    feed(st, "a", 0, 1)  # frame 0 again, already final (grace 0): late
    assert st.new_events() == {"frames_late": 1}
    assert st.new_events() == {}
