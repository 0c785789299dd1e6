"""A MoChat checkpoint continued with a second encoder view starts as the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mochat.models import build_encoder, encoder_tiny
from mochat.models.encoder import body_view
from mochat.models.layers import widen_inputs
from mochat.models.llm import load_llm
from mochat.models.mochat import MoChat, MoChatConfig
from mochat.skeleton import SMPL22, normalize
from mochat.synth import synthesize_motion
from training.lm_data import collate

ROWS = [{"motion_id": "m", "task": "basic", "span": None,
         "conversations": [{"from": "human", "value": "<skeleton>\nDescribe it."},
                           {"from": "gpt", "value": "a person claps."}]}]


def _logits(model: MoChat, joints: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(joints.shape[:2], dtype=torch.bool)
    features = {"m": model.encode_motion(joints, mask)[0]}
    batch = collate(ROWS, features, model.tokenizer, 2)
    with torch.no_grad():
        return model(batch.features, batch.feature_mask, batch.input_ids,
                     batch.attention_mask).logits


@pytest.mark.parametrize(("views", "width"), [(["first_frame", "body"], 64),
                                              (["body", "heading"], 35)])
def test_more_views_start_from_the_same_function(tiny_llm_dir, tmp_path, views, width) -> None:
    torch.manual_seed(0)
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    model = MoChat(MoChatConfig(llm=str(tiny_llm_dir), pool_frames=2), encoder, llm,
                   tokenizer).eval()
    model.save_pretrained(tmp_path / "one")
    both = MoChat.from_pretrained(tmp_path / "one", encoder_views=views)
    assert both.encoder.feature_dim == width and both.projector.weight.shape[1] == width
    joints = synthesize_motion("m", np.random.default_rng(1)).joints[:24]
    motion = torch.from_numpy(normalize(joints, SMPL22))[None]  # (1, 24, 22, 3)
    facing = body_view(motion, 1, 2)  # every frame faces +z: the views agree, no turn
    # logits reach ~16; halving the projector's weights between two views rounds at ~1e-4
    torch.testing.assert_close(_logits(both, facing), _logits(model, facing),
                               atol=1e-3, rtol=1e-4)
    angles = torch.linspace(0.0, 3.0, 24).reshape(1, -1, 1)  # a turn: they differ
    x, z = facing[..., 0], facing[..., 2]
    turned = facing.clone()
    turned[:, :, 1:, 0] = (angles.cos() * x + angles.sin() * z)[:, :, 1:]
    turned[:, :, 1:, 2] = (angles.cos() * z - angles.sin() * x)[:, :, 1:]
    assert (_logits(both, turned) - _logits(model, turned)).abs().max() > 0.1
    both.save_pretrained(tmp_path / "two")  # saved with its views, reloads as it is
    again = MoChat.from_pretrained(tmp_path / "two")
    assert again.encoder.config.views == tuple(views)
    torch.testing.assert_close(_logits(again, turned), _logits(both, turned))


def test_a_projector_shares_its_weights_among_trunk_views_only() -> None:
    weight = torch.arange(6.0).reshape(2, 3)
    wide = widen_inputs(weight, {"first_frame": 3, "body": 3, "heading": 2})
    torch.testing.assert_close(wide, torch.cat([weight / 2, weight / 2, torch.zeros(2, 2)], 1))
    wide = widen_inputs(weight, {"body": 3, "heading": 2})
    torch.testing.assert_close(wide, torch.cat([weight, torch.zeros(2, 2)], dim=1))
    with pytest.raises(ValueError, match="none of them is 3 wide"):
        widen_inputs(weight, {"body": 4})
