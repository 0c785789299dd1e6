"""numpy <-> Float32Array round trips and the shape/byte checks."""

from __future__ import annotations

import numpy as np
import pytest

from mochat.errors import DataFormatError, InvalidSkeletonError, UnknownLayoutError
from protos.convert import (
    array_from_proto,
    array_to_proto,
    features_from_proto,
    frame_joints,
    joints_from_proto,
)
from protos.mochat.v1 import frames_pb2


def test_round_trip_keeps_values_and_shape() -> None:
    arr = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
    msg = array_to_proto(arr)
    assert list(msg.shape) == [2, 4, 3]
    assert len(msg.data) == 24 * 4  # 24 float32 values
    assert msg.data[:8] == b"\x00\x00\x00\x00\x00\x00\x80\x3f"  # 0.0, 1.0 little-endian
    back = array_from_proto(msg, (None, 4, 3))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, arr)


def test_fills_submessage_in_place() -> None:
    frame = frames_pb2.Frame(stream_id="s", frame_index=7, layout="smpl22")
    array_to_proto(np.ones((22, 3)), frame.joints)
    assert list(frame.joints.shape) == [22, 3]
    np.testing.assert_array_equal(frame_joints(frame), np.ones((22, 3), np.float32))


def test_byte_count_must_match_shape() -> None:
    msg = frames_pb2.Float32Array(shape=[2, 3], data=b"\x00" * 20)  # needs 24 bytes
    with pytest.raises(DataFormatError, match="needs 24 bytes"):
        array_from_proto(msg)


def test_expected_shape_is_checked() -> None:
    msg = array_to_proto(np.zeros((5, 21, 3)))
    with pytest.raises(DataFormatError, match=r"expected shape \('\*', 22, 3\)"):
        array_from_proto(msg, (None, 22, 3))
    with pytest.raises(DataFormatError, match="expected shape"):
        array_from_proto(msg, (None, 21))  # wrong rank


def test_joints_are_validated_against_the_layout() -> None:
    good = np.random.rand(8, 22, 3)
    np.testing.assert_allclose(joints_from_proto(array_to_proto(good), "smpl22"), good,
                               rtol=1e-6)
    with pytest.raises(InvalidSkeletonError, match="22 joints, got 25"):
        joints_from_proto(array_to_proto(np.zeros((8, 25, 3))), "smpl22")
    bad = good.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(InvalidSkeletonError, match="frame 3, joint 4"):
        joints_from_proto(array_to_proto(bad), "smpl22")
    with pytest.raises(InvalidSkeletonError, match="exceeds the limit of 4"):
        joints_from_proto(array_to_proto(good), "smpl22", max_frames=4)
    with pytest.raises(UnknownLayoutError, match="unknown layout 'nope'"):
        joints_from_proto(array_to_proto(good), "nope")
    with pytest.raises(DataFormatError, match="expected shape"):
        joints_from_proto(array_to_proto(good.reshape(8, 66)), "smpl22")


def test_features_rows_match_the_frame_range() -> None:
    msg = frames_pb2.MotionFeatures(window_id="s:10", first_frame=10, last_frame=13)
    array_to_proto(np.zeros((4, 16)), msg.features)  # frames 10..13 -> 4 rows
    assert features_from_proto(msg).shape == (4, 16)
    msg.last_frame = 14
    with pytest.raises(DataFormatError, match=r"features s:10: expected shape \(5, '\*'\)"):
        features_from_proto(msg)


def test_a_shape_whose_int64_product_wraps_is_refused_not_reshaped() -> None:
    # 65536**4 = 2**64 is 0 in int64: the byte check used to pass with no data at all and the
    # reshape then raised a bare ValueError (INTERNAL at a servicer)
    msg = frames_pb2.Float32Array(shape=[65536] * 4, data=b"")
    with pytest.raises(DataFormatError, match="more than 268435456 elements"):
        array_from_proto(msg)
    # (2**31, 2**31, 4) is 2**64 too, with a data length that matches 0
    with pytest.raises(DataFormatError, match="more than"):
        array_from_proto(frames_pb2.Float32Array(shape=[2**31, 2**31, 4]))


def test_rank_and_element_limits() -> None:
    with pytest.raises(DataFormatError, match="9 axes, over the limit of 8"):
        array_from_proto(frames_pb2.Float32Array(shape=[1] * 9, data=b"\0" * 4))
    small = array_to_proto(np.zeros((4, 3)))  # 12 elements
    assert array_from_proto(small, max_elements=12).shape == (4, 3)
    with pytest.raises(DataFormatError, match="more than 11 elements"):
        array_from_proto(small, max_elements=11)


def test_a_huge_layout_name_is_refused_without_being_quoted() -> None:
    from protos.convert import wire_layout

    with pytest.raises(UnknownLayoutError, match="1000000 characters, over the limit of 128"
                       ) as err:
        wire_layout("x" * 1_000_000)
    assert len(str(err.value)) < 200
