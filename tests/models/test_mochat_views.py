"""A MoChat checkpoint keeps its encoder's views (the shipped model reads the `lagged`
one): it reloads reading the motion as it was trained to."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from mochat.models import build_encoder, encoder_tiny
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


def test_a_checkpoint_reloads_in_its_encoders_views(tiny_llm_dir, tmp_path) -> None:
    torch.manual_seed(0)
    llm, tokenizer = load_llm(str(tiny_llm_dir))
    encoder = build_encoder("jgse", replace(encoder_tiny(), views=("body", "heading")), SMPL22)
    model = MoChat(MoChatConfig(llm=str(tiny_llm_dir), pool_frames=2), encoder, llm,
                   tokenizer).eval()
    assert model.projector.weight.shape[1] == 35  # body (32) + heading (3)
    model.save_pretrained(tmp_path / "ckpt")
    again = MoChat.from_pretrained(tmp_path / "ckpt")
    assert again.encoder.config.views == ("body", "heading")
    joints = synthesize_motion("m", np.random.default_rng(1)).joints[:24]
    motion = torch.from_numpy(normalize(joints, SMPL22))[None]  # (1, 24, 22, 3)
    torch.testing.assert_close(_logits(again, motion), _logits(model, motion))
