"""The shipped checkpoint loads offline in `mochat chat` and answers the three kinds of
question about a motion of the synthetic test split."""

from __future__ import annotations

import json

import pytest

from mochat.cli import main
from mochat.pipeline import DEFAULT_MODEL_DIR
from mochat.skeleton import HumanML3DCorpus
from mochat.synth import SynthConfig, write_corpus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "mochat_config.json").exists(),
                       reason="no shipped checkpoint"),
]


def test_chat_answers_caption_side_and_when_questions(tmp_path, capsys):
    write_corpus(tmp_path, SynthConfig(motions=2000, seed=0))  # the training corpus's split
    corpus = HumanML3DCorpus(tmp_path)
    motion_id = corpus.ids("test")[0]
    frames = corpus.load(motion_id).num_frames
    motion = str(tmp_path / "new_joints" / f"{motion_id}.npy")
    answers = {}
    for kind, question in (
            ("caption", "Describe the action concisely as represented in the skeleton sequence."),
            ("side", "a person waves their ( ) hand. Complete the content in brackets with "
                     "left or right."),
            ("when", "From which frame does the first action start and at which frame does "
                     "it end?")):
        assert main(["chat", motion, "--ask", question, "--json"]) == 0
        answers[kind] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for answer in answers.values():
        assert answer["text"].strip() and answer["num_frames"] == frames
    assert answers["caption"]["span"] is None
    span = answers["when"]["span"]
    assert 0 <= span["start"] <= span["end"] < frames
    assert span["end_s"] == pytest.approx(span["end"] / 20.0, abs=1e-3)
