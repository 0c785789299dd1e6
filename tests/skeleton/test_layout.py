import numpy as np
import pytest

from mochat.errors import UnknownLayoutError
from mochat.skeleton import NTU25, SMPL22, SkeletonLayout, get_layout


def test_smpl22_groups_match_the_paper():
    # the paper's JGSE groups for HumanML3D's 22 joints
    assert SMPL22.group_indices("arm") == (16, 17, 18, 19, 20, 21)
    assert SMPL22.group_indices("leg") == (1, 2, 4, 5, 7, 8, 10, 11)
    assert SMPL22.group_indices("trunk") == (0, 3, 6, 9, 12, 13, 14, 15)


def test_builtin_layouts_are_consistent():
    assert SMPL22.num_joints == 22 and NTU25.num_joints == 25
    assert abs(sum(SMPL22.mass_weights) - 1.0) < 1e-9
    assert (1, 2) in SMPL22.left_right  # left_hip <-> right_hip
    assert len(NTU25.group_indices("leg")) == 8


def test_lookup_by_name_and_alias():
    assert get_layout("HumanML3D") is SMPL22
    assert get_layout("ntu") is NTU25
    with pytest.raises(UnknownLayoutError, match="expected one of"):
        get_layout("kinect-v9")


def test_custom_layout_from_spec():
    layout = SkeletonLayout.from_spec(
        "stick5", ["hips", "left_leg", "right_leg", "chest", "left_arm"], [-1, 0, 0, 0, 3],
        {"hips": "trunk", "left_leg": "leg", "right_leg": "leg", "chest": "trunk",
         "left_arm": "arm"})
    assert layout.group_indices("trunk") == (0, 3)
    # default weights trunk 3, leg 2, arm 1 -> hips 3/11
    assert layout.mass_weights[0] == pytest.approx(3 / 11)
    centre = layout.global_joint(np.eye(5, 3)[None].repeat(2, 0))
    assert centre.shape == (2, 3)


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="unknown groups"):
        SkeletonLayout.from_spec("x", ["a", "b"], [-1, 0], ["trunk", "tail"])
    with pytest.raises(ValueError, match="parent cycle"):
        SkeletonLayout.from_spec("x", ["a", "b", "c"], [-1, 2, 1], ["trunk"] * 3)
    with pytest.raises(ValueError, match="no group"):
        SkeletonLayout.from_spec("x", ["a", "b"], [-1, 0], {"a": "trunk"})
