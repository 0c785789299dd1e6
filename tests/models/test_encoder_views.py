"""Encoder views: the body view turns each frame to its own facing, the lagged view to the
facing of a second earlier; two views side by side."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mochat.models import build_encoder, encoder_tiny, load_encoder, save_encoder
from mochat.models.encoder import (
    EncoderConfig,
    body_view,
    heading_view,
    lagged_view,
    with_views,
)
from mochat.skeleton import SMPL22, normalize
from mochat.synth import synthesize_motion

LEFT_HIP, RIGHT_HIP = 1, 2  # SMPL-22


def _yaw(joints: torch.Tensor, angles: torch.Tensor, *, root: bool = False) -> torch.Tensor:
    """Turn each frame's joints 1.. about +y through the root by its angle (radians); with
    `root`, the root's position about the origin too."""
    cos, sin = angles.cos().reshape(1, -1, 1), angles.sin().reshape(1, -1, 1)
    first = 0 if root else 1
    limbs = joints[:, :, first:]
    x, y, z = limbs[..., 0], limbs[..., 1], limbs[..., 2]
    turned = torch.stack([cos * x + sin * z, y, cos * z - sin * x], dim=-1)
    return torch.cat([joints[:, :, :first], turned], dim=2)


def _walk() -> torch.Tensor:
    """30 frames of a synthetic motion, normalised: (1, 30, 22, 3)."""
    joints = synthesize_motion("m", np.random.default_rng(0)).joints[:30]
    return torch.from_numpy(normalize(joints, SMPL22))[None]


def test_body_view_undoes_a_turn_of_every_frame() -> None:
    walk = _walk()
    angles = torch.linspace(0.0, 3.0, walk.shape[1])  # up to ~170 degrees, frame by frame
    turned = _yaw(walk, angles)
    assert (turned - walk).abs().max() > 0.5
    torch.testing.assert_close(body_view(turned, LEFT_HIP, RIGHT_HIP),
                               body_view(walk, LEFT_HIP, RIGHT_HIP), atol=1e-5, rtol=0)
    across = body_view(turned, LEFT_HIP, RIGHT_HIP)[0, :, LEFT_HIP] \
        - body_view(turned, LEFT_HIP, RIGHT_HIP)[0, :, RIGHT_HIP]
    assert (across[:, 0] > 0).all() and across[:, 2].abs().max() < 1e-5  # left hip at +x
    torch.testing.assert_close(body_view(turned, 1, 2)[..., 0, :], walk[..., 0, :])  # root kept


def test_heading_follows_the_turn_and_its_side() -> None:
    walk = _walk()
    angles = torch.linspace(0.0, 3.0, walk.shape[1])  # a steady turn, 0.1 rad per frame
    # _yaw turns the hips' across vector away from +x toward -z: a yaw to the left
    heading = heading_view(_yaw(body_view(walk, 1, 2), angles), LEFT_HIP, RIGHT_HIP)[0]
    torch.testing.assert_close(heading[:, 0], angles.cos(), atol=1e-5, rtol=0)
    torch.testing.assert_close(heading[:, 1], angles.sin(), atol=1e-5, rtol=0)
    assert heading[0, 2] == 0  # no previous frame
    torch.testing.assert_close(heading[1:, 2], torch.full((29,), 10 * np.sin(3.0 / 29)),
                               atol=1e-4, rtol=0)


def test_heading_turns_left_where_the_corpus_says_left() -> None:
    turns = {"left": [], "right": []}
    for seed in range(40):
        record = synthesize_motion("m", np.random.default_rng(seed))
        motion = torch.from_numpy(normalize(record.joints, SMPL22))[None]
        turn = heading_view(motion, LEFT_HIP, RIGHT_HIP)[0, :, 2]
        for span in record.spans or []:
            if span.action == "turn":
                turns[span.side].append(float(turn[span.start:span.end + 1].mean()))
    assert all(turns.values()), turns  # both sides occur in these seeds (5 left, 1 right)
    assert min(turns["left"]) > 0.2 and max(turns["right"]) < -0.2, turns


def test_lagged_view_shows_a_turn_then_takes_the_body_side() -> None:
    walk = _walk()
    t = walk.shape[1]
    torch.testing.assert_close(lagged_view(walk, LEFT_HIP, RIGHT_HIP, t), walk,
                               atol=1e-5, rtol=0)  # never caught up: the first frame's view
    angles = torch.cat([torch.zeros(10), torch.linspace(0.0, np.pi / 2, 10),
                        torch.full((t - 20,), np.pi / 2)])  # a quarter turn left in frames 10-19
    turned, lag = _yaw(walk, angles), 5
    view, plain = (lagged_view(m, LEFT_HIP, RIGHT_HIP, lag)[0] for m in (turned, walk))
    across = view[:, LEFT_HIP] - view[:, RIGHT_HIP]
    assert across[19, 2] < -0.3 * across[19].norm()  # mid-turn: turned to the left
    # `lag` frames after the turn the view has caught up: limbs as if there was no turn
    torch.testing.assert_close(view[19 + lag:, 1:], plain[19 + lag:, 1:], atol=1e-5, rtol=0)
    assert (turned[0, 19 + lag:] - walk[0, 19 + lag:]).abs().max() > 0.5


def test_lagged_view_ignores_where_the_body_faces() -> None:
    walk = _walk()  # its root starts at x = z = 0, as `normalize` leaves it
    whole = _yaw(walk, torch.full((30,), 1.0), root=True)  # the whole motion, elsewhere
    assert (whole[..., 0, :] - walk[..., 0, :]).abs().max() > 0.1
    for lag in (0, 5):
        torch.testing.assert_close(lagged_view(whole, LEFT_HIP, RIGHT_HIP, lag),
                                   lagged_view(walk, LEFT_HIP, RIGHT_HIP, lag),
                                   atol=1e-5, rtol=0)


def test_two_views_put_the_first_frame_features_first() -> None:
    torch.manual_seed(0)
    single = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    both = with_views(single, ["first_frame", "body"]).eval()
    assert both.feature_dim == 2 * single.feature_dim == 64
    walk = _walk()
    turned = torch.cat([walk, _yaw(walk, torch.linspace(0.0, 3.0, walk.shape[1]))])
    mask = torch.ones(2, walk.shape[1], dtype=torch.bool)
    mask[1, 20:] = False
    with torch.no_grad():
        out = both(turned, mask)
        first = single(turned, mask)
        body = single(body_view(turned, LEFT_HIP, RIGHT_HIP), mask)
    torch.testing.assert_close(out[..., :32], first)
    torch.testing.assert_close(out[..., 32:], body)
    # the turned walk reads as the walk in the body view, not in the first frame's
    torch.testing.assert_close(out[1, :20, 32:], both(walk, mask[1:])[0, :20, 32:],
                               atol=1e-4, rtol=0)
    assert (out[1, :20, :32] - out[0, :20, :32]).abs().max() > 1e-2
    assert out[1, 20:].abs().max() == 0  # padded frames stay zero


def test_views_are_checked_and_kept_in_the_checkpoint(tmp_path) -> None:
    for bad in ([], ["body", "body"], ["side"]):  # none, twice, unknown
        with pytest.raises(ValueError, match="expected distinct names"):
            EncoderConfig(views=tuple(bad))
    with pytest.raises(ValueError, match="lag_frames"):
        EncoderConfig(views=("lagged",), lag_frames=-1)
    model = with_views(build_encoder("jgse", encoder_tiny(), SMPL22), ["body", "heading"])
    assert model.view_dims() == {"body": 32, "heading": 3} and model.feature_dim == 35
    save_encoder(model, tmp_path / "enc")
    loaded = load_encoder(tmp_path / "enc")
    assert loaded.config.views == ("body", "heading") and loaded.feature_dim == 35
    joints = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 5, 22, 3))).float()
    mask = torch.ones(1, 5, dtype=torch.bool)
    torch.testing.assert_close(loaded(joints, mask), model.eval()(joints, mask))


@pytest.mark.parametrize("views", [["first_frame", "body"], ["body", "heading"], ["lagged"]])
def test_views_export_to_onnx_with_parity(tmp_path, views: list[str]) -> None:
    from mochat.export.onnx import check_parity, export_onnx

    torch.manual_seed(0)
    model = with_views(build_encoder("jgse", encoder_tiny(), SMPL22), views)
    path = export_onnx(model, tmp_path / "encoder.onnx")
    report = check_parity(model, path, shapes=[(1, 7), (3, 50)])
    assert report.max_abs_err <= 1e-4, report
