"""Window-relative frames in the model's words -> the stream's absolute frames."""

from __future__ import annotations

import numpy as np

from llm_service.answers import DeltaRewriter, Timing, absolute_text, build_answer
from llm_service.store import MotionView


def _view(first: int = 1000, frames: int = 64) -> MotionView:
    return MotionView("s", ("s:1000",), first, 20.0, np.zeros((frames, 2), np.float32))


def test_frame_numbers_in_text_become_absolute():
    view = _view()
    # 20 -> 1020, 33 -> 1033; CFT tokens too; past the window's end (99) clamps to 1063
    assert absolute_text("From frame 20 to frame 33.", view) == "From frame 1020 to frame 1033."
    assert absolute_text("from <frameid_5> to <frameid_9>", view) == \
        "from frame 1005 to frame 1009"
    assert absolute_text("until frame 99", view) == "until frame 1063"
    assert absolute_text("two people wave", view) == "two people wave"


def test_streamed_deltas_add_up_to_the_rewritten_text():
    view = _view()
    pieces = [" From", " fr", "ame", " 2", "0", " to", " frame", " 3", "3", "."]
    rewriter = DeltaRewriter(view)
    deltas = [rewriter.push(p) for p in pieces]
    deltas.append(rewriter.finish("From frame 20 to frame 33."))
    # "2" + "0" must not go out as "frame 1002" + "0": digits wait for the next space
    assert "".join(deltas) == "From frame 1020 to frame 1033."
    assert "1002" not in deltas


def test_a_120_fps_windows_rows_and_spans_map_to_its_own_frames():
    # 384 frames at 120 fps from frame 960 (captured 1 s apart per 120 frames), read as 64
    # rows at 20 fps: row t is frame 960 + 6 t
    view = MotionView.of_window("cam", "cam:960", 960, 1343, 120.0,
                                np.zeros((64, 2), np.float32), feature_fps=20.0,
                                first_capture_time_us=8_000_000,
                                last_capture_time_us=8_000_000 + round(383 * 1e6 / 120))
    assert absolute_text("from frame 10 to frame 20", view) == "from frame 1020 to frame 1080"

    class Span:
        start, end = 10, 63

    class Answer:
        text, span, num_tokens = "from frame 10 to frame 63", Span(), 4

    out = build_answer(Answer(), view, Timing(0.0, 0.0, 0.0, 1.0, 1), session_id="", turn=0)
    # rows 10 and 63 are frames 1020 and 1338, 60/120 s and 378/120 s after the first
    assert (out.spans[0].first_frame, out.spans[0].last_frame) == (1020, 1338)
    assert out.spans[0].first_capture_time_us == 8_000_000 + 500_000
    assert out.spans[0].last_capture_time_us == 8_000_000 + 3_150_000
    assert out.text == "from frame 1020 to frame 1338"
    assert (out.window.first_frame, out.window.last_frame, out.window.fps) == (960, 1343, 120.0)
