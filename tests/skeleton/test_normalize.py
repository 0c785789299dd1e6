import dataclasses

import numpy as np
import pytest

from mochat.errors import InvalidSkeletonError
from mochat.skeleton import SMPL22, mirror_joints, normalize, pad_batch, validate_joints
from mochat.synth import synthesize_motion


def _motion() -> np.ndarray:
    return synthesize_motion("m", np.random.default_rng(3)).joints


def test_validate_rejects_bad_arrays():
    good = np.zeros((4, 22, 3), np.float32)
    with pytest.raises(InvalidSkeletonError, match="has 22 joints, got 21"):
        validate_joints(good[:, :21], SMPL22)
    with pytest.raises(InvalidSkeletonError, match="empty sequence"):
        validate_joints(good[:0], SMPL22)
    with pytest.raises(InvalidSkeletonError, match="exceeds the limit of 3"):
        validate_joints(good, SMPL22, max_frames=3)
    bad = good.copy()
    bad[2, 5, 1] = np.nan
    with pytest.raises(InvalidSkeletonError, match="frame 2, joint 5 .right_knee."):
        validate_joints(bad, SMPL22, source="clip.npy")


def test_normalize_is_invariant_to_facing_position_and_scale():
    joints = _motion()
    angle = 1.1
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)
    moved = (joints @ rot.T + np.array([3.0, 0.0, -2.0], np.float32)) * 100.0  # metres -> cm
    np.testing.assert_allclose(normalize(moved, SMPL22), normalize(joints, SMPL22), atol=1e-3)


def test_normalized_body_faces_plus_z_and_root_starts_at_origin():
    out = normalize(_motion(), SMPL22)
    across = out[0, 1] - out[0, 2]  # left hip - right hip, both root-relative
    assert across[0] > 0 and abs(across[2]) < 1e-4
    assert abs(out[0, 0, 0]) < 1e-6 and abs(out[0, 0, 2]) < 1e-6


def test_pad_batch_masks_real_frames():
    batch, mask = pad_batch([np.ones((3, 22, 3)), np.ones((5, 22, 3))])
    assert batch.shape == (2, 5, 22, 3)
    assert mask.tolist() == [[True, True, True, False, False], [True] * 5]
    assert batch[0, 3:].sum() == 0


def test_mirror_swaps_left_and_right_joints_and_undoes_itself():
    joints = _motion()
    mirrored = mirror_joints(joints, SMPL22)
    left_wrist, right_wrist = 20, 21  # SMPL22 order
    # the mirrored left wrist is the original right wrist reflected in x
    np.testing.assert_array_equal(mirrored[:, left_wrist],
                                  joints[:, right_wrist] * np.float32([-1, 1, 1]))
    np.testing.assert_array_equal(mirror_joints(mirrored, SMPL22), joints)
    # normalising a mirror image = mirroring the normalised motion (facing is a y rotation)
    np.testing.assert_allclose(normalize(mirrored, SMPL22),
                               mirror_joints(normalize(joints, SMPL22), SMPL22), atol=1e-4)
    with pytest.raises(InvalidSkeletonError, match="pairs no left/right joints"):
        mirror_joints(joints, dataclasses.replace(SMPL22, name="flat", left_right=()))
