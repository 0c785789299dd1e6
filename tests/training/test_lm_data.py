"""Mirror augmentation of the instruction data: the dialogue and the features must agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mochat.dialogue import mirror_text
from mochat.errors import DataFormatError
from mochat.models import build_encoder, encoder_tiny
from mochat.skeleton import SMPL22, HumanML3DCorpus, mirror_joints, normalize
from training.lm_data import MIRROR_SUFFIX, encode_corpus, load_record, mirror_dialogue


def test_mirror_dialogue_swaps_sides_and_keeps_the_span():
    row = {"id": "temporal-M1-0", "motion_id": "M1", "task": "temporal", "span": [3, 9],
           "conversations": [{"from": "human", "value": "<skeleton>\nWhen does the person "
                                                        "kick with the left foot?"},
                             {"from": "gpt", "value": "From frame 3 to frame 9."}]}
    out = mirror_dialogue(row)
    assert out["motion_id"] == "M1" + MIRROR_SUFFIX and out["id"] == "temporal-M1-0~mirror"
    assert out["conversations"][0]["value"].endswith("kick with the right foot?")
    assert out["conversations"][1]["value"] == "From frame 3 to frame 9."
    assert out["span"] == [3, 9] and row["motion_id"] == "M1"  # the original is untouched
    with pytest.raises(DataFormatError, match="no motion to mirror"):
        mirror_dialogue({"id": "general-7", "motion_id": None, "conversations": []})


def test_mirror_ids_encode_the_mirrored_motion(corpus):
    torch.manual_seed(0)
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    motion_id = HumanML3DCorpus(corpus).ids("train")[0]
    feats = encode_corpus(encoder, corpus, [motion_id, motion_id + MIRROR_SUFFIX],
                          progress=False)
    joints = mirror_joints(HumanML3DCorpus(corpus).load(motion_id).joints, SMPL22)
    x = torch.from_numpy(normalize(joints, SMPL22))[None]  # (1, T, J, 3)
    with torch.no_grad():
        expected = encoder(x, torch.ones(x.shape[:2], dtype=torch.bool))[0]
    torch.testing.assert_close(feats[motion_id + MIRROR_SUFFIX], expected, atol=1e-5,
                               rtol=1e-4)
    assert not torch.allclose(feats[motion_id], expected, atol=1e-3)


def test_encode_corpus_keeps_no_autograd_graph(corpus):
    # the encoder is frozen by training, but a freshly loaded one still requires grad: a
    # feature that kept its graph would hold every activation of the corpus in memory
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    motion_id = HumanML3DCorpus(corpus).ids("train")[0]
    feats = encode_corpus(encoder, corpus, [motion_id], progress=False)
    assert not feats[motion_id].requires_grad and feats[motion_id].grad_fn is None


def test_load_record_of_a_mirror_id_swaps_sides_everywhere(corpus):
    motion_id = HumanML3DCorpus(corpus).ids("train")[0]
    record = load_record(HumanML3DCorpus(corpus), motion_id)
    mirrored = load_record(HumanML3DCorpus(corpus), motion_id + MIRROR_SUFFIX)
    np.testing.assert_array_equal(mirrored.joints, mirror_joints(record.joints, SMPL22))
    assert [c.text for c in mirrored.captions] == [mirror_text(c.text) for c in record.captions]
    swap = {"left": "right", "right": "left", "none": "none", "both": "both"}
    assert [(s.action, swap[s.side], s.start) for s in record.spans] == \
        [(s.action, s.side, s.start) for s in mirrored.spans]
