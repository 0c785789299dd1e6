"""Model answers -> `mochat.v1.Answer`: frame numbers moved from the window to the stream.

The model reads a window and speaks in window-relative frames ("from frame 20 to frame 33").
Clients get the stream's absolute frames: spans are mapped through the `MotionView`, and
frame numbers in the text are rewritten ("from frame 1020 to frame 1033", CFT's
`<frameid_20>` likewise). The session history keeps the model's own words, since the model
reads it again. Streamed text is rewritten too: `DeltaRewriter` holds back the last,
possibly unfinished word, so that every emitted piece is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from llm_service.store import MotionView
from protos.mochat.v1 import llm_pb2

_FRAME_RE = re.compile(r"(\bframes?\s*)(\d+)|<frameid_(\d+)>", re.IGNORECASE)


def absolute_text(text: str, view: MotionView) -> str:
    """Every 'frame N' / '<frameid_N>' of `text` -> the absolute frame of the view's row N."""

    def repl(match: re.Match[str]) -> str:
        if match.group(3) is not None:
            return f"frame {view.frame(int(match.group(3)))}"
        return f"{match.group(1)}{view.frame(int(match.group(2)))}"

    return _FRAME_RE.sub(repl, text)


class DeltaRewriter:
    """Raw token pieces in, absolute-frame text deltas out (their concatenation is exactly
    `absolute_text` of the whole raw text)."""

    def __init__(self, view: MotionView) -> None:
        self.view = view
        self.raw = ""
        self.sent = ""

    def push(self, piece: str) -> str:
        self.raw += piece
        stable = self.raw.lstrip()
        cut = max(stable.rfind(" "), stable.rfind("\n"))
        return self._emit(stable[:cut + 1])

    def finish(self, final_raw: str | None = None) -> str:
        """The rest. `final_raw` (the pipeline's cleaned full text) wins where it extends what
        was streamed; the final Answer's text is authoritative either way."""
        streamed = self.raw.strip()
        full = final_raw if final_raw is not None and final_raw.startswith(streamed) \
            else streamed
        return self._emit(full)

    def _emit(self, stable_raw: str) -> str:
        text = absolute_text(stable_raw, self.view)
        if not text.startswith(self.sent):  # cannot happen for whitespace-bounded prefixes
            return ""
        delta, self.sent = text[len(self.sent):], text
        return delta


class SpanLike(Protocol):
    start: int
    end: int


class AnswerLike(Protocol):  # mochat.pipeline.ChatAnswer, without importing torch here
    text: str
    span: SpanLike | None
    num_tokens: int


@dataclass(frozen=True)
class Timing:
    """Monotonic seconds of one question's life."""

    arrived_s: float
    started_s: float  # the batch that answered it started
    first_token_s: float
    done_s: float
    batch_size: int


def window_ref(view: MotionView) -> llm_pb2.WindowRef:
    return llm_pb2.WindowRef(
        stream_id=view.stream_id, window_ids=list(view.window_ids),
        first_frame=view.first_frame, last_frame=view.last_frame, fps=view.fps,
        first_capture_time_us=view.time_us(view.first_frame),
        last_capture_time_us=view.time_us(view.last_frame))


def latency(timing: Timing, tokens: int) -> llm_pb2.Latency:
    generation_s = max(timing.done_s - timing.started_s, 1e-9)
    return llm_pb2.Latency(
        queue_wait_ms=1000.0 * (timing.started_s - timing.arrived_s),
        time_to_first_token_ms=1000.0 * (timing.first_token_s - timing.arrived_s),
        total_ms=1000.0 * (timing.done_s - timing.arrived_s),
        generated_tokens=tokens, tokens_per_s=tokens / generation_s,
        batch_size=timing.batch_size)


def build_answer(answer: AnswerLike, view: MotionView, timing: Timing, *, session_id: str,
                 turn: int) -> llm_pb2.Answer:
    """The client's Answer: absolute-frame text and span, the window used, latency."""
    text = absolute_text(answer.text, view)
    out = llm_pb2.Answer(session_id=session_id, turn=turn, text=text, window=window_ref(view),
                         latency=latency(timing, answer.num_tokens))
    if answer.span is not None:
        first, last = view.frame(answer.span.start), view.frame(answer.span.end)
        out.spans.append(llm_pb2.Span(first_frame=first, last_frame=last,
                                      first_capture_time_us=view.time_us(first),
                                      last_capture_time_us=view.time_us(last), label=text))
    return out
