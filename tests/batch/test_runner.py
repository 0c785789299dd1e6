"""Answers in the input's own frames: a segment's span in the whole motion, a 60 fps file's
span in its 60 fps frames (tiny random MoChat)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mochat.batch import WorkUnit, model_info, open_archive
from mochat.batch.runner import _Motions, answer_batch_rows
from mochat.cli import main
from mochat.pipeline import MoChatPipeline
from mochat.skeleton import HumanML3DCorpus, resample

WHEN = "When does the person raise the arm?"


@pytest.fixture(scope="module")
def pipeline(tiny_checkpoint) -> MoChatPipeline:
    return MoChatPipeline.from_pretrained(tiny_checkpoint, max_new_tokens=8)


def test_a_segment_is_asked_as_the_evaluator_asks_it(corpus, tiny_checkpoint, pipeline):
    from training.lm_data import encode_corpus
    from training.lm_eval import answer_rows

    archive = open_archive(corpus, split="test")
    motion_id = archive.ids()[0]
    unit = WorkUnit(motion_id, "seg", WHEN, frames=(10, 29))
    row, = answer_batch_rows(pipeline, _Motions(pipeline, archive), archive,
                             model_info(tiny_checkpoint), [(0, unit)])
    # the evaluator: the motion's features, rows 10..29, asked alone
    dialogue = {"motion_id": motion_id, "frames": [10, 29], "conversations": [
        {"from": "human", "value": f"<skeleton>\n{WHEN}"}, {"from": "gpt", "value": ""}]}
    features = encode_corpus(pipeline.model.encoder, corpus, [motion_id], progress=False)
    theirs, = answer_rows(pipeline, [dialogue], features)
    assert row["answer"] == theirs.text
    # its span is in the segment's rows; ours is the same span in the whole motion's frames
    assert (row["span"]["start"], row["span"]["end"]) == (10 + theirs.span.start,
                                                          10 + theirs.span.end)
    assert 10 <= row["span"]["start"] <= row["span"]["end"] <= 29
    assert row["num_frames"] == HumanML3DCorpus(corpus).load(motion_id).num_frames


def test_a_folder_archive_answers_in_each_file_s_own_frames(corpus, tiny_checkpoint, tmp_path):
    joints = HumanML3DCorpus(corpus).load(HumanML3DCorpus(corpus).ids("test")[0]).joints
    (tmp_path / "mocap" / "day1").mkdir(parents=True)
    fast = resample(joints, 20.0, 60.0)  # (3T, 22, 3) at 60 fps
    np.save(tmp_path / "mocap" / "day1" / "take.npy", fast)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"motion_id": "day1/take", "question": WHEN}) + "\n")
    out = tmp_path / "out"
    assert main(["batch", "--archive", str(tmp_path / "mocap"), "--fps", "60", "--questions",
                 str(questions), "--out", str(out), "--model", str(tiny_checkpoint),
                 "--max-new-tokens", "8", "--no-progress"]) == 0
    row, = [json.loads(line) for line in (out / "shard-0-of-1.jsonl").read_text().splitlines()]
    assert (row["motion_id"], row["fps"], row["num_frames"]) == ("day1/take", 60.0, len(fast))
    span = row["span"]
    assert 0 <= span["start"] <= span["end"] < len(fast)
    assert span["start_s"] == pytest.approx(span["start"] / 60, abs=1e-4)  # 60 fps instants
    assert not (out / "metrics-shard-0.json").exists()  # no ground truth, no metrics
