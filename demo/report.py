"""What the demo prints and writes: each answer beside the expected one, spans in the
stream's own frames, seconds from its first frame and wall-clock capture times; one JSON
line per answer in answers.jsonl; GIFs; the closing summary."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from demo.streams import DemoStream, Question

WIDTH = 18  # stream id column


def clock(time_us: int) -> str:
    """Capture time (epoch microseconds) -> local wall-clock 'HH:MM:SS.mmm'."""
    return dt.datetime.fromtimestamp(time_us / 1e6).strftime("%H:%M:%S.%f")[:-3]


def _now() -> str:
    return dt.datetime.now().strftime("%H:%M:%S.%f")[:-3]


def _line(stream: DemoStream, text: str) -> str:
    return f"[{_now()}] {stream.stream_id:<{WIDTH}} {text}"


def listing(stream: DemoStream) -> str:
    r = stream.replay
    return (f"   {stream.stream_id:<{WIDTH}} {stream.source}: {r.num_frames} frames, "
            f"{stream.seconds:.2f} s, starts at +{stream.start_delay_s:.1f} s\n"
            f"   {'':<{WIDTH}} file {stream.path}")


def started(stream: DemoStream) -> str:
    first, last = stream.frames
    return _line(stream, f"> playing frames {first}-{last} ({stream.replay.layout}, "
                 f"{stream.replay.fps:g} fps, {stream.seconds:.2f} s)")


def ended(stream: DemoStream, frames_sent: int, max_lag_ms: float) -> str:
    return _line(stream, f"| sent {frames_sent} frames (worst lag {max_lag_ms:.0f} ms); "
                 "asking once its motion is in")


def frame_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Overlap / union of two inclusive frame spans."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    union = max(a[1], b[1]) - min(a[0], b[0]) + 1
    return max(0, inter) / union


def side_of(text: str) -> str | None:
    """'Left.' -> 'left'; None for an answer that names no side first."""
    words = text.strip().lower().replace(".", " ").split()
    return next((w for w in words if w in ("left", "right")), None)


def _span_text(stream: DemoStream, span: dict[str, Any]) -> str:
    first = stream.replay.start_frame
    fps = stream.replay.fps
    text = (f"frames {span['first_frame']}-{span['last_frame']} = "
            f"{(span['first_frame'] - first) / fps:.2f}-{(span['last_frame'] - first) / fps:.2f}"
            " s into the stream")
    if span["first_capture_time_us"]:
        text += (f", captured {clock(span['first_capture_time_us'])}-"
                 f"{clock(span['last_capture_time_us'])}")
    return text


class AnswerSink:
    """Prints each answer as it arrives and appends it to answers.jsonl."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        self.records: list[dict[str, Any]] = []

    def _write(self, record: dict[str, Any], text: str) -> None:
        self.records.append(record)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def answered(self, stream: DemoStream, question: Question, answer: Any,
                 after_end_s: float) -> None:
        spans = [{"first_frame": s.first_frame, "last_frame": s.last_frame,
                  "first_capture_time_us": s.first_capture_time_us,
                  "last_capture_time_us": s.last_capture_time_us} for s in answer.spans]
        record: dict[str, Any] = {
            "stream": stream.stream_id, "kind": question.kind, "question": question.text,
            "answer": answer.text, "spans": spans, "expected": question.expected,
            "expected_span": list(question.expected_span) if question.expected_span else None,
            "stream_frames": list(stream.frames), "fps": stream.replay.fps,
            "layout": stream.replay.layout, "window_ids": list(answer.window.window_ids),
            "decode_ms": round(answer.latency.total_ms, 1),
            "after_stream_end_s": round(after_end_s, 2)}
        pad = " " * (16 + WIDTH)
        lines = [_line(stream, f"{question.kind:<7} Q: {question.text}"),
                 f"{pad}A: {answer.text!r}  ({answer.latency.total_ms / 1000:.1f} s to "
                 f"answer, batch of {answer.latency.batch_size}; {after_end_s:.1f} s after "
                 "the stream ended)"]
        lines += [f"{pad}   span {_span_text(stream, s)}" for s in spans]
        verdict = ""
        if question.kind == "side":
            record["correct"] = side_of(answer.text) == question.expected
            verdict = "  -> correct" if record["correct"] else "  -> WRONG"
        elif question.kind == "when" and question.expected_span and spans:
            got = (spans[0]["first_frame"], spans[0]["last_frame"])
            record["iou"] = round(frame_iou(got, question.expected_span), 3)
            verdict = f"  -> frame IoU {record['iou']:.2f}"
        lines.append(f"{pad}expected: {question.expected}{verdict}")
        self._write(record, "\n".join(lines))

    def failed(self, stream: DemoStream, question: Question, error: str) -> None:
        record = {"stream": stream.stream_id, "kind": question.kind,
                  "question": question.text, "error": error}
        self._write(record, _line(stream, f"{question.kind:<7} FAILED: {error}"))

    def when_span(self, stream_id: str) -> tuple[int, int] | None:
        for r in self.records:
            if r["stream"] == stream_id and r["kind"] == "when" and r.get("spans"):
                return r["spans"][0]["first_frame"], r["spans"][0]["last_frame"]
        return None

    def complete(self, streams: list[DemoStream]) -> bool:
        """Every question of every stream answered (no failure)."""
        answered = {(r["stream"], r["kind"]) for r in self.records if "answer" in r}
        return all((s.stream_id, q.kind) in answered for s in streams for q in s.questions)


def render_gif(stream: DemoStream, span: tuple[int, int] | None, out: Path) -> str:
    """<out>/<stream>.gif of the stream's motion in the model's skeleton at ~10 fps, the
    answered span (the stream's own frames) highlighted."""
    from mochat.render import render_motion
    from mochat.skeleton import SMPL22, get_layout, to_model

    r = stream.replay
    joints = to_model(r.joints, get_layout(r.layout), r.fps, model_fps=r.fps,
                      source=stream.stream_id).joints
    local = None
    if span is not None:
        a, b = (max(0, min(r.num_frames - 1, f - r.start_frame)) for f in span)
        local = (a, b) if a <= b else None
    about = next((q.about for q in stream.questions if q.kind == "when"), "")
    stride = max(1, round(r.fps / 10))
    t0 = time.monotonic()
    path = render_motion(joints, out / f"{stream.stream_id}.gif", layout=SMPL22, fps=r.fps,
                         span=local, stride=stride,
                         title=f"{stream.stream_id} ({r.layout}, {r.fps:g} fps)\n"
                         f"answered span: {about}")
    shown = f"span {span[0]}-{span[1]}" if span is not None and local else "no span answered"
    return (f"   {stream.stream_id:<{WIDTH}} {path} ({shown}; every {stride} frames, "
            f"{time.monotonic() - t0:.1f} s)")


def summary(streams: list[DemoStream], sink: AnswerSink, out: Path) -> str:
    answered = [r for r in sink.records if "answer" in r]
    sides = [r for r in answered if "correct" in r]
    ious = [r["iou"] for r in answered if "iou" in r]
    asked = sum(len(s.questions) for s in streams)
    lines = [f"== done: {len(answered)} of {asked} questions answered over {len(streams)} "
             f"stream{'s' * (len(streams) != 1)}"]
    if sides:
        lines.append(f"   side: {sum(r['correct'] for r in sides)} of {len(sides)} right")
    if ious:
        lines.append(f"   when: mean frame IoU {sum(ious) / len(ious):.2f} over {len(ious)}")
    lines.append(f"   answers: {sink.path}; logs: {out / 'logs'}")
    return "\n".join(lines)
