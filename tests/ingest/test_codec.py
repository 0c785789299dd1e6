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


# --- FrameBatch ----------------------------------------------------------------------------

def batch_joints(n: int) -> np.ndarray:
    """(n, 22, 3) poses whose joint 0 x is the frame's position in the batch."""
    joints = np.zeros((n, 22, 3), np.float32)
    joints[:, 0, 0] = np.arange(n)
    return joints


def test_frame_batch_round_trip_decodes_one_block() -> None:
    from ingest.codec import DecodedBatch, decode_frame_batch, encode_frame_batch

    times = [1_000, 9_333, 17_667, 17_667]  # a repeated capture time is carried as given
    payload = encode_frame_batch("cam", 40, batch_joints(4), layout="humanml3d",
                                 capture_times_us=times, fps=120.0)
    batch = decode_frame_batch(payload, offset=5)
    assert isinstance(batch, DecodedBatch) and batch.rejected == []
    b = batch.block
    assert (b.stream_id, b.first_frame, b.num_frames, b.layout, b.fps, b.offset) == \
        ("cam", 40, 4, "smpl22", 120.0, 5)
    assert b.capture_times_us.tolist() == times
    np.testing.assert_array_equal(b.joints, batch_joints(4))
    assert [r.first_frame for r in batch.runs()] == [40]


def test_a_bad_frame_inside_a_batch_is_named_and_its_neighbours_kept() -> None:
    from ingest.codec import decode_frame_batch, encode_frame_batch, frame_payload

    joints = batch_joints(6)
    joints[2, 5, 1] = np.nan
    joints[3, 0, 2] = np.inf
    batch = decode_frame_batch(encode_frame_batch(
        "cam", 10, joints, layout="smpl22", capture_times_us=range(6), fps=20.0))
    # frames 12 and 13 fail; the runs are 10..11 and 14..15
    assert [(i, r.reason) for i, r in batch.rejected] == \
        [(12, DlqReason.NON_FINITE), (13, DlqReason.NON_FINITE)]
    assert [(r.first_frame, r.num_frames) for r in batch.runs()] == [(10, 2), (14, 2)]
    # the dead letter of frame 12 is that frame as a Frame
    one = frames_pb2.Frame.FromString(frame_payload(batch.block, 12))
    assert (one.stream_id, one.frame_index, one.capture_time_us) == ("cam", 12, 2)


def test_empty_huge_and_inconsistent_batches_are_rejected_whole() -> None:
    from ingest.codec import FRAME_BATCH_TYPE, decode_record, encode_frame_batch
    from ingest.validation import DEFAULT_LIMITS, FrameLimits

    def record(n: int, **kw) -> bytes:
        return encode_frame_batch("cam", 0, batch_joints(n), layout="smpl22",
                                  capture_times_us=range(n), fps=20.0, **kw)

    def decode(value: bytes, limits: FrameLimits = DEFAULT_LIMITS) -> Rejection:
        out = decode_record(value, b"cam", limits=limits, record_type=FRAME_BATCH_TYPE)
        assert isinstance(out, Rejection)
        return out

    empty = frames_pb2.FrameBatch(stream_id="cam", layout="smpl22", fps=20.0)
    empty.joints.shape.extend([0, 22, 3])
    rej = decode(empty.SerializeToString())
    assert rej.reason is DlqReason.BAD_SHAPE and "no frames" in rej.detail
    # 17 frames, limit 16: too_large, naming the setting
    rej = decode(record(17), FrameLimits(max_batch_frames=16))
    assert rej.reason is DlqReason.TOO_LARGE and "max_batch_frames" in rej.detail
    # 250 frames of 22 joints are 66,000 bytes of joints: over 64 KiB, never decoded
    rej = decode(record(250))
    assert rej.reason is DlqReason.TOO_LARGE and "max_record_bytes" in rej.detail
    short = frames_pb2.FrameBatch.FromString(record(3))
    del short.capture_offsets_us[-1]  # 3 frames need 2 offsets
    assert decode(short.SerializeToString()).reason is DlqReason.BAD_SHAPE
    bad_rate = frames_pb2.FrameBatch.FromString(record(3))
    bad_rate.fps = 0.0
    assert decode(bad_rate.SerializeToString()).reason is DlqReason.BAD_FPS
    assert decode_record(record(3), b"other", record_type=FRAME_BATCH_TYPE).reason is \
        DlqReason.KEY_MISMATCH


def test_the_type_header_picks_the_message() -> None:
    from ingest.codec import (
        FRAME_BATCH_HEADERS,
        DecodedBatch,
        decode_record,
        encode_frame_batch,
        record_headers,
    )

    batch = encode_frame_batch("cam", 0, batch_joints(2), layout="smpl22",
                               capture_times_us=[0, 1], fps=20.0)
    size, kind = record_headers(FRAME_BATCH_HEADERS)
    assert (size, kind) == (len("mochat-type") + len("frame-batch"), b"frame-batch")
    assert isinstance(decode_record(batch, b"cam", record_type=kind), DecodedBatch)
    assert record_headers(None) == (0, None)  # no header: a Frame
    frame = encode_frame("cam", 0, np.zeros((22, 3), np.float32), layout="smpl22",
                         capture_time_us=0, fps=20.0)
    assert isinstance(decode_record(frame, b"cam"), StreamFrame)
    rej = decode_record(batch, b"cam", record_type=b"frames")
    assert rej.reason is DlqReason.UNDECODABLE and "mochat-type" in rej.detail


def test_mangled_and_crafted_batches_never_raise() -> None:
    from ingest.codec import FRAME_BATCH_TYPE, DecodedBatch, decode_record, encode_frame_batch

    rng = np.random.default_rng(0)
    good = encode_frame_batch("cam", 3, batch_joints(5), layout="smpl22",
                              capture_times_us=range(5), fps=20.0)
    values = []
    for _ in range(2000):  # bytes flipped, cut or inserted
        raw = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(raw)))
            kind = rng.integers(0, 3)
            if kind == 0:
                raw[at] = int(rng.integers(0, 256))
            elif kind == 1:
                del raw[at:]
            else:
                raw[at:at] = rng.bytes(int(rng.integers(1, 9)))
        values.append(bytes(raw))
    for shape in ([0, 2**32 - 1, 3], [2**32 - 1, 0, 3], [1, 2**31, 0], [2**32 - 1] * 3):
        msg = frames_pb2.FrameBatch(stream_id="cam", layout="smpl22", fps=20.0,
                                    first_frame_index=2**63 - 2, first_capture_time_us=2**62,
                                    capture_offsets_us=[2**62, -(2**63)])
        msg.joints.shape.extend(shape)
        values.append(msg.SerializeToString())
    for value in values:
        out = decode_record(value, b"cam", record_type=FRAME_BATCH_TYPE)
        assert isinstance(out, DecodedBatch | Rejection)


def test_frame_numbers_past_int64_fail_alone_and_capture_times_may_not_overflow() -> None:
    from ingest.codec import DecodedBatch, decode_frame_batch, encode_frame_batch, frame_payload

    top = 2**63 - 1
    batch = decode_frame_batch(encode_frame_batch(
        "cam", top - 1, batch_joints(3), layout="smpl22", capture_times_us=[0, 1, 2],
        fps=20.0))
    assert isinstance(batch, DecodedBatch)
    # frames top - 1 and top are fine; top + 1 has no int64 number: rejected, no Frame of it
    assert [(i, r.reason) for i, r in batch.rejected] == \
        [(top + 1, DlqReason.ABSURD_FRAME_INDEX)]
    assert frame_payload(batch.block, top + 1) is None
    msg = frames_pb2.FrameBatch.FromString(encode_frame_batch(
        "cam", 0, batch_joints(2), layout="smpl22", capture_times_us=[0, 1], fps=20.0))
    msg.first_capture_time_us, msg.capture_offsets_us[0] = top - 5, 10  # over int64
    rej = decode_frame_batch(msg.SerializeToString())
    assert isinstance(rej, Rejection) and "overflow" in rej.detail
