"""Malformed inputs for the services, deterministic by seed (tests and bench/chaos.py).

- `frame_records(n, seed)`: records for the frames topic. Every one is bad by construction
  (a random instance of a kind: truncated protobuf, garbage, wrong shapes, NaN/inf, absurd
  frame numbers, huge strings, wrong keys, bad fps, oversized records and headers, unknown
  or changing layouts); each names the dead-letter reasons that may account for it. A
  stateful kind (a frame far from its stream's latest, an fps or layout change) comes with
  a `prelude` of good frames of its own stream, sent first under the same key.
- `encoder_requests(n, seed)`, `llm_requests(n, seed)`: serialized requests (or garbage)
  for a method of EncoderService / LlmService; every one must be refused with a status
  other than OK, INTERNAL and UNKNOWN. The LLM ones name no stored stream, so none reaches
  the model.

Defaults match the services' defaults (max_record_bytes 64 KiB, stream ids up to 256
characters, layout names up to 128, max_jump_s 3600 s).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

from protos.convert import array_to_proto
from protos.mochat.v1 import encoder_pb2, frames_pb2, llm_pb2

FPS = 20.0
J = 22  # smpl22
# (2**32 - 1 and friends are the largest dims a uint32 shape holds.) 3 * A * B = 2**64 + 26:
# with int64 arithmetic, a (A, B, 3) array "needs" 4 * 26 bytes.
WRAP_A, WRAP_B, WRAP_BYTES = 2_154_230_017, 2_854_344_542, 104


@dataclass(frozen=True)
class BadRecord:
    kind: str
    key: bytes | None
    value: bytes | None
    reasons: frozenset[str]
    headers: tuple[tuple[str, bytes], ...] = ()
    prelude: tuple[tuple[bytes, bytes], ...] = ()  # (key, value) good frames sent first


@dataclass(frozen=True)
class BadRequest:
    kind: str
    method: str  # e.g. "Encode", "EncodeStream", "Ask"
    payload: bytes  # one serialized request (a stream sends it as its only item)
    streaming_request: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def _pose(rng: np.random.Generator, joints: int = J) -> np.ndarray:
    return rng.normal(0.0, 0.3, size=(joints, 3)).astype(np.float32)  # (J, 3)


def _frame(stream_id: str, index: int, joints: np.ndarray, *, layout: str = "smpl22",
           fps: float = FPS, capture_time_us: int = 1) -> frames_pb2.Frame:
    msg = frames_pb2.Frame(stream_id=stream_id, frame_index=index, layout=layout, fps=fps,
                           capture_time_us=capture_time_us)
    array_to_proto(joints, msg.joints)
    return msg


def _undecodable(data: bytes, message: type) -> bool:
    try:
        message.FromString(data)
    except DecodeError:
        return True
    return False


def _huge(r: random.Random, lo: int, hi: int) -> int:
    """A size drawn log-uniformly from [lo, hi]."""
    return int(round(lo * (hi / lo) ** r.random()))


class _Frames:
    """One generator per kind: (rng, case number) -> BadRecord."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.np = np.random.default_rng(seed)

    def sid(self, i: int) -> str:
        return f"fz{i}-{self.r.randrange(10**6)}"

    def good(self, sid: str, index: int = 0, **kw: object) -> bytes:
        return _frame(sid, index, _pose(self.np), **kw).SerializeToString()  # type: ignore[arg-type]

    def bad(self, kind: str, sid: str, msg: frames_pb2.Frame, reasons: str,
            key: bytes | None = None, **kw: object) -> BadRecord:
        return BadRecord(kind, sid.encode() if key is None else key, msg.SerializeToString(),
                         frozenset(reasons.split()), **kw)  # type: ignore[arg-type]

    def truncated(self, i: int) -> BadRecord:
        sid = self.sid(i)
        full = self.good(sid)
        while True:
            cut = full[:self.r.randrange(1, len(full) - 1)]
            if _undecodable(cut, frames_pb2.Frame):
                return BadRecord("truncated", sid.encode(), cut, frozenset({"undecodable"}))

    def garbage(self, i: int) -> BadRecord:
        while True:
            data = self.np.bytes(self.r.randrange(1, 3000))
            if _undecodable(data, frames_pb2.Frame):
                return BadRecord("garbage", self.sid(i).encode(), data,
                                 frozenset({"undecodable"}))

    def empty(self, i: int) -> BadRecord:
        return BadRecord("empty", self.sid(i).encode(), self.r.choice([b"", None]),
                         frozenset({"undecodable"}))

    def shape(self, i: int) -> BadRecord:
        sid, r = self.sid(i), self.r
        msg = _frame(sid, r.randrange(1000), _pose(self.np))
        choice = r.randrange(6)
        if choice == 0:  # (J, 2)
            array_to_proto(self.np.normal(size=(J, 2)), msg.joints)
        elif choice == 1:  # another joint count
            array_to_proto(self.np.normal(size=(r.choice([0, 1, 21, 23, 25, 52]), 3)),
                           msg.joints)
            return self.bad("joint_count", sid, msg, "wrong_joint_count")
        elif choice == 2:  # (T, J, 3): a window, not a frame
            array_to_proto(self.np.normal(size=(2, J, 3)), msg.joints)
        elif choice == 3:  # bytes short of the shape
            msg.joints.data = msg.joints.data[:-4 * r.randrange(1, 60)]
        elif choice == 4:  # dims that overflow int64 arithmetic, bytes that "match"
            msg.joints.shape[:] = [2**32 - 1, 2**32 - 1]
            msg.joints.data = b"\0" * r.choice([0, 4, WRAP_BYTES])
        else:  # a rank-3 crafted shape
            msg.joints.shape[:] = [WRAP_A, WRAP_B, 3]
            msg.joints.data = b"\0" * WRAP_BYTES
        return self.bad("shape", sid, msg, "bad_shape")

    def non_finite(self, i: int) -> BadRecord:
        sid = self.sid(i)
        joints = _pose(self.np)
        joints[self.r.randrange(J), self.r.randrange(3)] = self.r.choice(
            [np.nan, np.inf, -np.inf])
        return self.bad("non_finite", sid, _frame(sid, self.r.randrange(1000), joints),
                        "non_finite")

    def negative_frame(self, i: int) -> BadRecord:
        sid = self.sid(i)
        index = -self.r.choice([1, self.r.randrange(2, 10**6), 2**63])
        return self.bad("negative_frame", sid, _frame(sid, index, _pose(self.np)),
                        "absurd_frame_index")

    def far_frame(self, i: int) -> BadRecord:
        sid = self.sid(i)
        start = self.r.randrange(10**6)
        far = start + self.r.choice([72_001, 10**9, 2**62])  # 3600 s at 20 fps = 72,000
        return self.bad("far_frame", sid, _frame(sid, far, _pose(self.np)),
                        "absurd_frame_index", prelude=((sid.encode(), self.good(sid, start)),))

    def long_stream_id(self, i: int) -> BadRecord:
        sid = "x" * _huge(self.r, 257, 1_200_000) + self.sid(i)
        key = self.r.choice([sid.encode(), b"short"])
        return self.bad("long_stream_id", sid, _frame(sid, 0, _pose(self.np)),
                        "too_long too_large key_mismatch", key=key)

    def long_layout(self, i: int) -> BadRecord:
        sid = self.sid(i)
        layout = "smpl22" + "x" * _huge(self.r, 123, 1_200_000)
        return self.bad("long_layout", sid, _frame(sid, 0, _pose(self.np), layout=layout),
                        "too_long too_large")

    def wrong_key(self, i: int) -> BadRecord:
        sid = self.sid(i)
        key = self.r.choice([None, b"", (sid + "x").encode(), sid.upper().encode(),
                             self.np.bytes(8)])
        if key is None:
            return BadRecord("wrong_key", None, self.good(sid), frozenset({"key_mismatch"}))
        return self.bad("wrong_key", sid, _frame(sid, 0, _pose(self.np)), "key_mismatch",
                        key=key)

    def huge_key(self, i: int) -> BadRecord:
        sid = self.sid(i)
        return self.bad("huge_key", sid, _frame(sid, 0, _pose(self.np)), "too_large",
                        key=b"k" * _huge(self.r, 1025, 1_000_000))

    def bad_fps(self, i: int) -> BadRecord:
        sid = self.sid(i)
        fps = self.r.choice([float("nan"), float("inf"), -float("inf"), 0.0, -20.0, 1001.0,
                             1e30, -1e-30])
        return self.bad("bad_fps", sid, _frame(sid, 0, _pose(self.np), fps=fps), "bad_fps")

    def fps_changed(self, i: int) -> BadRecord:
        sid = self.sid(i)
        return self.bad("fps_changed", sid, _frame(sid, 1, _pose(self.np), fps=30.0),
                        "fps_changed", prelude=((sid.encode(), self.good(sid, 0)),))

    def layout(self, i: int) -> BadRecord:
        sid = self.sid(i)
        name = self.r.choice(["octopus8", "", "SMPL-23", "../../etc/passwd.yaml", "x.json",
                              "\u00e9t\u00e9"])
        return self.bad("layout", sid, _frame(sid, 0, _pose(self.np), layout=name),
                        "unknown_layout")

    def layout_changed(self, i: int) -> BadRecord:
        sid = self.sid(i)
        return self.bad("layout_changed", sid, _frame(sid, 1, _pose(self.np, 25),
                                                      layout="ntu25"),
                        "layout_changed", prelude=((sid.encode(), self.good(sid, 0)),))

    def oversized(self, i: int) -> BadRecord:
        sid = self.sid(i)
        msg = _frame(sid, 0, _pose(self.np))
        pad = self.np.bytes(_huge(self.r, 66_000, 1_200_000))
        return BadRecord("oversized", sid.encode(), msg.SerializeToString() + b"\x7a" + pad,
                         frozenset({"too_large"}))

    def headers(self, i: int) -> BadRecord:
        sid = self.sid(i)
        return BadRecord("headers", sid.encode(), self.good(sid), frozenset({"too_large"}),
                         headers=(("bloat", b"h" * _huge(self.r, 4097, 200_000)),))

    def missing_stream_id(self, i: int) -> BadRecord:
        return BadRecord("missing_stream_id", b"", _frame("", 0, _pose(self.np))
                         .SerializeToString(), frozenset({"missing_stream_id"}))


FRAME_KINDS: list[str] = [
    "truncated", "garbage", "empty", "shape", "non_finite", "negative_frame", "far_frame",
    "long_stream_id", "long_layout", "wrong_key", "huge_key", "bad_fps", "fps_changed",
    "layout", "layout_changed", "oversized", "headers", "missing_stream_id"]


def frame_records(n: int = 1000, seed: int = 0) -> list[BadRecord]:
    """n bad frame records: every kind once, then kinds drawn at random (a prefix of a
    longer list of the same seed)."""
    gen = _Frames(seed)
    out = []
    for i in range(n):  # the first k of n records are frame_records(k, seed)
        kind = FRAME_KINDS[i] if i < len(FRAME_KINDS) else gen.r.choice(FRAME_KINDS)
        out.append(getattr(gen, kind)(i))
    return out


# --- gRPC ----------------------------------------------------------------------------------

def _window(rng: np.random.Generator, frames: int = 16, *, sid: str = "fz", first: int = 0,
            layout: str = "smpl22", joints: int = J, fps: float = FPS
            ) -> frames_pb2.MotionWindow:
    w = frames_pb2.MotionWindow(stream_id=sid, window_id=f"{sid}:{first}", first_frame=first,
                                last_frame=first + frames - 1, fps=fps, layout=layout)
    array_to_proto(rng.normal(0, 0.3, size=(frames, joints, 3)), w.joints)  # (T, J, 3)
    return w


def _enc(*windows: frames_pb2.MotionWindow, request_id: str = "fz") -> bytes:
    return encoder_pb2.EncodeRequest(windows=list(windows), request_id=request_id) \
        .SerializeToString()


def _encoder_case(r: random.Random, rng: np.random.Generator) -> tuple[str, bytes]:
    """(kind, serialized EncodeRequest) of one invalid request."""
    kind = r.choice(["garbage", "truncated", "rank", "joints", "zero_frames", "data",
                     "wrap", "huge_dims", "non_finite", "fps", "frames", "ids", "layout",
                     "no_windows", "too_many_windows", "too_long", "too_large"])
    w = _window(rng, r.randrange(2, 40))
    if kind == "garbage":
        while True:
            data = rng.bytes(r.randrange(1, 2000))
            if _undecodable(data, encoder_pb2.EncodeRequest):
                return kind, data
    if kind == "truncated":
        full = _enc(w)
        while True:
            cut = full[:r.randrange(1, len(full) - 1)]
            if _undecodable(cut, encoder_pb2.EncodeRequest):
                return kind, cut
    if kind == "rank":
        array_to_proto(rng.normal(size=r.choice([(16, 66), (16, J, 3, 1), (66,)])), w.joints)
    elif kind == "joints":
        w = _window(rng, 16, joints=r.choice([1, 21, 23, 25]))
    elif kind == "zero_frames":
        array_to_proto(np.zeros((0, J, 3), np.float32), w.joints)
    elif kind == "data":
        w.joints.data = w.joints.data[:-4 * r.randrange(1, 30)]
    elif kind == "wrap":
        w.joints.shape[:] = [WRAP_A, WRAP_B, 3]
        w.joints.data = b"\0" * WRAP_BYTES
    elif kind == "huge_dims":
        w.joints.shape[:] = [2**32 - 1, r.choice([J, 2**32 - 1]), 3]
        w.joints.data = b""
    elif kind == "non_finite":
        values = rng.normal(size=(16, J, 3)).astype(np.float32)
        values[r.randrange(16), r.randrange(J), r.randrange(3)] = r.choice([np.nan, np.inf])
        array_to_proto(values, w.joints)
    elif kind == "fps":
        w.fps = r.choice([float("nan"), float("inf"), 0.0, -20.0, 1001.0, 1e30])
    elif kind == "frames":
        first, last = r.choice([(-1, w.last_frame - w.first_frame - 1), (5, 2),
                                (0, 10**12), (-(2**63), 2**63 - 1), (100, 100)])
        w.first_frame, w.last_frame = first, last
    elif kind == "ids":
        long = "i" * _huge(r, 1025, 1_000_000)
        which = r.randrange(3)
        if which == 0:
            return kind, _enc(w, request_id=long)
        if which == 1:
            w.stream_id = long
        else:
            w.window_id = long
    elif kind == "layout":
        w.layout = r.choice(["octopus", "", "/etc/x.yaml", "l" * _huge(r, 129, 100_000)])
    elif kind == "no_windows":
        return kind, _enc()
    elif kind == "too_many_windows":
        small = _window(rng, 2)
        return kind, _enc(*[small] * r.randrange(257, 400))
    elif kind == "too_long":  # over the model's frame limit (tiny test models: 128 / 256)
        w = _window(rng, r.randrange(600, 1200), fps=20.0)
    elif kind == "too_large":  # over max_request_bytes (16 MiB): 4 windows of 5.3 MB
        big = _window(rng, 20_000)
        return kind, _enc(big, big, big, big)
    return kind, _enc(w)


def encoder_requests(n: int = 1000, seed: int = 0) -> list[BadRequest]:
    """n invalid requests for EncoderService: Encode (mostly), EncodeStream (a stream of
    one) and GetModelInfo (garbage only)."""
    r, rng = random.Random(seed), np.random.default_rng(seed)
    out: list[BadRequest] = []
    large = 0
    while len(out) < n:
        kind, payload = _encoder_case(r, rng)
        large += kind == "too_large"
        if kind == "too_large" and large > 2:  # 21 MB each: two are enough
            continue
        method = r.choices(["Encode", "EncodeStream", "GetModelInfo"], [8, 2, 1])[0]
        if method == "GetModelInfo" and kind != "garbage":
            method = "Encode"
        if method == "GetModelInfo" and not _undecodable(payload,
                                                         encoder_pb2.GetModelInfoRequest):
            method = "Encode"
        out.append(BadRequest(kind, method, payload, method == "EncodeStream"))
    return out


def _upload(rng: np.random.Generator, frames: int = 8, **fields: object
            ) -> llm_pb2.CreateSessionRequest:
    seq = llm_pb2.UploadedSequence(layout="smpl22", fps=FPS)
    array_to_proto(rng.normal(0, 0.3, size=(frames, J, 3)), seq.joints)
    for name, value in fields.items():
        setattr(seq, name, value)
    return llm_pb2.CreateSessionRequest(sequence=seq)


def _llm_case(r: random.Random, rng: np.random.Generator) -> tuple[str, str, bytes]:
    """(kind, method, serialized request) of one invalid LlmService request."""
    unknown = f"no-such-{r.randrange(10**9)}"
    asks: dict[str, Callable[[], llm_pb2.AskRequest]] = {
        "unknown_stream": lambda: llm_pb2.AskRequest(stream_id=unknown, question="what?"),
        "unknown_session": lambda: llm_pb2.AskRequest(session_id=unknown, question="what?"),
        "no_target": lambda: llm_pb2.AskRequest(question="what?"),
        "empty_question": lambda: llm_pb2.AskRequest(stream_id=unknown, question=" \n"),
        "long_question": lambda: llm_pb2.AskRequest(stream_id=unknown,
                                                    question="q" * _huge(r, 1001, 400_000)),
        "long_id": lambda: llm_pb2.AskRequest(stream_id="s" * _huge(r, 300, 400_000),
                                              question="what?"),
        "frames": lambda: llm_pb2.AskRequest(
            stream_id=unknown, question="what?", frames=llm_pb2.FrameRange(
                **r.choice([{"first_frame": 9, "last_frame": 3}, {"first_frame": -1},
                            {"first_frame": 0, "last_frame": 2**63 - 1}]))),
        "times": lambda: llm_pb2.AskRequest(
            stream_id=unknown, question="what?",
            times=llm_pb2.TimeRange(start_time_us=9, end_time_us=r.choice([3, -5]))),
        "tokens": lambda: llm_pb2.AskRequest(stream_id=unknown, question="what?",
                                             max_new_tokens=r.choice([257, 2**32 - 1])),
        "priority": lambda: llm_pb2.AskRequest(stream_id=unknown, question="what?",
                                               priority=r.choice([3, 99, 2**31 - 1])),
    }
    sessions: dict[str, Callable[[], llm_pb2.CreateSessionRequest]] = {
        "no_source": lambda: llm_pb2.CreateSessionRequest(),
        "session_unknown_stream": lambda: llm_pb2.CreateSessionRequest(stream_id=unknown),
        "upload_fps": lambda: _upload(rng, fps=r.choice([float("nan"), float("inf"), 0.0,
                                                         -1.0, 1001.0])),
        "upload_layout": lambda: _upload(rng, layout=r.choice(["octopus", "/x.yaml", "",
                                                               "l" * 5000])),
        "upload_first_frame": lambda: _upload(rng, first_frame=-r.randrange(1, 2**63)),
        "upload_too_long": lambda: _upload(rng, frames=r.randrange(5000, 8000)),
    }
    method = r.choices(["Ask", "AskStream", "CreateSession", "EndSession"], [4, 2, 3, 1])[0]
    if r.random() < 0.15:  # undecodable, for any method
        while True:
            data = rng.bytes(r.randrange(1, 500))
            if _undecodable(data, llm_pb2.AskRequest) and \
                    _undecodable(data, llm_pb2.CreateSessionRequest):
                return "garbage", method, data
    if method in ("Ask", "AskStream"):
        kind = r.choice(list(asks))
        return kind, method, asks[kind]().SerializeToString()
    if method == "EndSession":
        sid = r.choice([unknown, "", "e" * 5000])
        return "end_session", method, llm_pb2.EndSessionRequest(session_id=sid) \
            .SerializeToString()
    kind = r.choice([*sessions, "upload_shape", "upload_nan", "upload_wrap"])
    if kind == "upload_shape":
        req = _upload(rng)
        choice = r.randrange(3)
        if choice == 0:
            req.sequence.joints.data = req.sequence.joints.data[:-4]
        elif choice == 1:
            array_to_proto(rng.normal(size=(8, r.choice([1, 21, 25]), 3)), req.sequence.joints)
        else:
            array_to_proto(rng.normal(size=(8, J)), req.sequence.joints)
    elif kind == "upload_nan":
        req = _upload(rng)
        values = rng.normal(size=(8, J, 3)).astype(np.float32)
        values[r.randrange(8), r.randrange(J), 1] = np.nan
        array_to_proto(values, req.sequence.joints)
    elif kind == "upload_wrap":
        req = _upload(rng)
        req.sequence.joints.shape[:] = [WRAP_A, WRAP_B, 3]
        req.sequence.joints.data = b"\0" * WRAP_BYTES
    else:
        req = sessions[kind]()
    return kind, "CreateSession", req.SerializeToString()


def llm_requests(n: int = 1000, seed: int = 0) -> list[BadRequest]:
    """n invalid requests for LlmService (Ask, AskStream, CreateSession, EndSession)."""
    r, rng = random.Random(seed), np.random.default_rng(seed)
    out = []
    for _ in range(n):
        kind, method, payload = _llm_case(r, rng)
        out.append(BadRequest(kind, method, payload))
    return out
