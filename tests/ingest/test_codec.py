"""Frame bytes <-> windower types."""

from __future__ import annotations

import numpy as np

from ingest.codec import decode_frame, encode_frame, window_to_proto
from ingest.validation import DlqReason, Rejection
from ingest.windowing import StreamFrame, Windower, WindowingConfig
from protos.convert import array_from_proto
from protos.mochat.v1 import frames_pb2


def test_frame_round_trip_with_canonical_layout() -> None:
    joints = np.arange(66, dtype=np.float32).reshape(22, 3)
    payload = encode_frame("cam", 7, joints, layout="humanml3d", capture_time_us=123, fps=120.0)
    frame = decode_frame(payload, offset=42)
    assert isinstance(frame, StreamFrame)
    assert (frame.stream_id, frame.frame_index, frame.layout, frame.capture_time_us,
            frame.fps, frame.offset) == ("cam", 7, "smpl22", 123, 120.0, 42)
    np.testing.assert_array_equal(frame.joints, joints)


def test_undecodable_and_bad_shapes() -> None:
    assert decode_frame(b"").reason is DlqReason.UNDECODABLE
    assert decode_frame(b"\xff\xff\xff").reason is DlqReason.UNDECODABLE
    msg = frames_pb2.Frame(stream_id="s", layout="smpl22")
    msg.joints.shape.extend([22, 3])
    msg.joints.data = b"\x00" * (4 * 66 - 4)  # one float short
    rej = decode_frame(msg.SerializeToString())
    assert isinstance(rej, Rejection) and rej.reason is DlqReason.BAD_SHAPE


def test_window_to_proto_keeps_coordinates() -> None:
    # 2 frames at 30 fps: windows of 1/15 s every 1/15 s
    w = Windower(WindowingConfig(window_s=1 / 15, step_s=1 / 15, grace_ms=0, min_s=0))
    out = []
    for i in range(2):
        out += w.add(StreamFrame("s", i, np.full((22, 3), i, np.float32), capture_time_us=10 * i,
                                 fps=30.0), 0.0).windows
    msg = window_to_proto(out[0])
    assert (msg.window_id, msg.first_frame, msg.last_frame, msg.fps, msg.layout,
            msg.first_capture_time_us, msg.last_capture_time_us) == \
        ("s:0", 0, 1, 30.0, "smpl22", 0, 10)
    assert array_from_proto(msg.joints).shape == (2, 22, 3)


def test_decode_record_checks_size_then_frame_then_key() -> None:
    from ingest.codec import decode_record
    from ingest.validation import FrameLimits

    joints = np.zeros((22, 3), np.float32)
    payload = encode_frame("cam", 7, joints, layout="smpl22", capture_time_us=1, fps=20.0)
    assert isinstance(decode_record(payload, b"cam", offset=3), StreamFrame)
    small = FrameLimits(max_record_bytes=len(payload) - 1)
    assert decode_record(payload, b"cam", limits=small).reason is DlqReason.TOO_LARGE
    # over the size limit, garbage is never decoded: too_large, not undecodable
    assert decode_record(b"\xff" * 70_000, b"cam").reason is DlqReason.TOO_LARGE
    assert decode_record(payload, b"other").reason is DlqReason.KEY_MISMATCH
    assert decode_record(payload, None).reason is DlqReason.KEY_MISMATCH
    assert decode_record(b"\xff\xff", b"cam").reason is DlqReason.UNDECODABLE


def test_a_huge_joint_shape_is_bad_shape_in_python_ints() -> None:
    msg = frames_pb2.Frame(stream_id="s", layout="smpl22", fps=20.0)
    msg.joints.shape.extend([2**32 - 1, 2**32 - 1])
    rej = decode_frame(msg.SerializeToString())
    assert isinstance(rej, Rejection) and rej.reason is DlqReason.BAD_SHAPE
