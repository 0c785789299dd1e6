"""Window-relative frames in the model's words -> the stream's absolute frames."""

from __future__ import annotations

import numpy as np

from llm_service.answers import DeltaRewriter, absolute_text
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
