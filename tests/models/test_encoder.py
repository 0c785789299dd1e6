"""JGSE / GLTE: shapes, masking invariance, other layouts, input errors, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mochat.errors import DataFormatError, InvalidSkeletonError
from mochat.models import (
    build_encoder,
    encoder_config,
    encoder_paper,
    encoder_small,
    encoder_tiny,
    load_encoder,
    save_encoder,
)
from mochat.models.encoder import JGSE, count_parameters, encoder_flops
from mochat.skeleton import NTU25, SMPL22, SkeletonLayout, normalize, pad_batch

KINDS = ("jgse", "glte")

# A 5-joint stick figure: hips (root), chest, head, one arm, one leg.
STICK5 = SkeletonLayout.from_spec(
    "stick5", ["hips", "chest", "head", "left_hand", "left_foot"], [-1, 0, 1, 1, 0],
    {"hips": "trunk", "chest": "trunk", "head": "trunk", "left_hand": "arm",
     "left_foot": "leg"})


def _batch(layout: SkeletonLayout, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(n, layout.num_joints, 3)).astype(np.float32) for n in lengths]
    joints, mask = pad_batch(seqs)
    return torch.from_numpy(joints), torch.from_numpy(mask)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", [SMPL22, NTU25, STICK5], ids=lambda lay: lay.name)
def test_forward_shape_any_layout(kind: str, layout: SkeletonLayout) -> None:
    model = build_encoder(kind, encoder_tiny(), layout).eval()
    joints, mask = _batch(layout, [12, 7])
    features = model(joints, mask)
    assert features.shape == (2, 12, 32)  # (B, T, D) with D = encoder_tiny().feature_dim
    assert torch.isfinite(features).all()
    assert (features[1, 7:] == 0).all()  # padded frames come out as zeros
    # JGSE adds the Global Joint token: N = J + 1; GLTE has N = J.
    assert model.num_tokens == layout.num_joints + (kind == "jgse")


@pytest.mark.parametrize("kind", KINDS)
def test_padding_never_changes_real_frames(kind: str) -> None:
    model = build_encoder(kind, encoder_tiny(), SMPL22).eval()
    joints, mask = _batch(SMPL22, [9])
    alone = model(joints, mask)
    # The same sequence padded to 30 frames with junk (even NaN) in the padding, next to a
    # longer neighbour, must give the same features on its 9 real frames.
    padded = torch.full((2, 30, 22, 3), 99.9)
    padded[0, :9] = joints[0]
    padded[0, 20] = float("nan")
    padded[1] = torch.randn(30, 22, 3)
    pmask = torch.zeros(2, 30, dtype=torch.bool)
    pmask[0, :9] = True
    pmask[1] = True
    together = model(padded, pmask)
    torch.testing.assert_close(together[0, :9], alone[0], rtol=0, atol=1e-5)
    assert torch.isfinite(together).all()


def test_temporal_attention_sees_other_frames() -> None:
    # Guard against a mask that hides everything: changing frame 5 must move frame 0.
    model = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    joints, mask = _batch(SMPL22, [8])
    before = model(joints, mask)
    joints[0, 5] += 1.0
    after = model(joints, mask)
    assert (before[0, 0] - after[0, 0]).abs().max() > 1e-4


def test_jgse_groups_come_from_layout() -> None:
    model = JGSE(encoder_tiny(), SMPL22)
    # The paper's groups, in grouped order: arm, leg, trunk.
    assert model.group_order.tolist() == [16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8, 10, 11,
                                          0, 3, 6, 9, 12, 13, 14, 15]
    assert model.group_order[model.restore_order].tolist() == list(range(22))
    stick = JGSE(encoder_tiny(), STICK5)
    assert stick.group_order.tolist() == [3, 4, 0, 1, 2]  # arm, leg, trunk


def test_global_joint_starts_at_mass_centre() -> None:
    model = JGSE(encoder_tiny(), SMPL22)
    joints = torch.randn(1, 3, 22, 3)
    expected = SMPL22.global_joint(joints.numpy())  # (1, 3, 3) mass-weighted centre
    got = model.global_joint(joints)[:, :, 0]
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-5)


def test_works_on_normalized_real_shaped_input() -> None:
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.normal(scale=0.02, size=(40, 22, 3)), axis=0) + \
        rng.normal(size=(1, 22, 3))
    x = normalize(walk.astype(np.float32), SMPL22)
    model = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    features = model.encode(x[None])
    assert features.shape == (1, 40, 32)


@pytest.mark.parametrize(("joints", "mask", "message"), [
    (np.zeros((1, 10, 21, 3), np.float32), None, "expects 22 joints, got 21"),
    (np.zeros((10, 22, 3), np.float32), None, "expected shape (B, T, 22, 3)"),
    (np.full((1, 10, 22, 3), np.nan, np.float32), None, "non-finite"),
    (np.zeros((1, 257, 22, 3), np.float32), None, "257 frames exceeds the encoder's limit of 256"),
    (np.zeros((2, 4, 22, 3), np.float32), np.ones((2, 5), bool), "mask: expected shape (2, 4)"),
    (np.zeros((1, 4, 22, 3), np.float32), np.zeros((1, 4), bool), "no real frame"),
])
def test_bad_inputs_raise(joints: np.ndarray, mask: np.ndarray | None, message: str) -> None:
    model = build_encoder("jgse", encoder_tiny(), SMPL22).eval()  # max_frames = 256
    with pytest.raises(InvalidSkeletonError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model.encode(joints, mask)


def test_nan_in_padding_is_accepted() -> None:
    model = build_encoder("glte", encoder_tiny(), SMPL22).eval()
    joints = np.zeros((1, 6, 22, 3), np.float32)
    joints[0, 4:] = np.nan
    mask = np.array([[True] * 4 + [False] * 2])
    assert torch.isfinite(model.encode(joints, mask)).all()


def test_factory_and_sizes() -> None:
    with pytest.raises(ValueError, match="expected 'jgse' or 'glte'"):
        build_encoder("gcn", encoder_tiny(), SMPL22)
    with pytest.raises(ValueError, match="unknown encoder size 'huge'"):
        encoder_config("huge")
    assert encoder_config("small", feature_dim=64).feature_dim == 64
    assert encoder_paper().num_layers == 4  # GL-Transformer depth, as in the paper
    small = count_parameters(build_encoder("jgse", encoder_small(), SMPL22))
    assert 1_000_000 < small < 3_000_000


def test_analytic_flops_match_flop_counter() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    config = encoder_config("tiny")
    model = build_encoder("jgse", config, SMPL22).eval()
    joints, mask = _batch(SMPL22, [50, 50])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(joints, mask)
    measured = counter.get_total_flops()
    analytic = encoder_flops(config, model.num_tokens, batch=2, frames=50)
    # The analytic count covers the matmuls; the global-joint matmul is the only one left out.
    assert abs(analytic - measured) / measured < 0.01


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip(kind: str, tmp_path) -> None:
    model = build_encoder(kind, encoder_tiny(), STICK5).eval()
    save_encoder(model, tmp_path / "ckpt")
    joints, mask = _batch(STICK5, [6, 4])
    # A full MoChat checkpoint keeps the encoder in encoder/: both directories load.
    save_encoder(model, tmp_path / "mochat" / "encoder")
    for path in (tmp_path / "ckpt", tmp_path / "mochat"):
        loaded = load_encoder(path)
        assert loaded.kind == kind and loaded.layout.name == "stick5"
        torch.testing.assert_close(loaded(joints, mask), model(joints, mask), rtol=0, atol=0)
    with pytest.raises(DataFormatError, match="no encoder checkpoint"):
        load_encoder(tmp_path)
