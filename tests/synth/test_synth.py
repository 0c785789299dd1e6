import json

import numpy as np
import pytest

from mochat.cli import main
from mochat.skeleton import SMPL22
from mochat.synth import ACTIONS, SynthConfig, action_variants, synthesize_motion, write_corpus
from mochat.synth.body import FOOT_JOINTS


def test_action_library_covers_the_issue():
    assert len(ACTIONS) >= 20 and len(action_variants()) >= 24
    for needed in ("walk_forward", "walk_backward", "run", "jump", "squat", "sit_down",
                   "stand_up", "turn", "wave", "raise_arm", "kick", "punch", "step_side",
                   "bend_forward", "clap", "throw", "lunge", "spin", "idle"):
        assert needed in ACTIONS
    assert ACTIONS["kick"].sides == ("left", "right")


def test_cli_writes_the_layout_and_same_seed_is_byte_identical(tmp_path):
    for out in ("a", "b"):
        assert main(["synth", "--out", str(tmp_path / out), "--motions", "50",
                     "--seed", "1"]) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    for sub in ("new_joints", "texts", "spans"):
        names = sorted(p.name for p in (a / sub).iterdir())
        assert len(names) == 50
        for name in names:
            assert (a / sub / name).read_bytes() == (b / sub / name).read_bytes()
    split_sizes = [len((a / f"{s}.txt").read_text().split()) for s in ("train", "val", "test")]
    assert split_sizes == [40, 2, 8]  # 80/5/15 of 50, rounded


def test_other_seed_differs(tmp_path):
    write_corpus(tmp_path / "a", SynthConfig(motions=2, seed=1))
    write_corpus(tmp_path / "b", SynthConfig(motions=2, seed=2))
    a = (tmp_path / "a" / "new_joints" / "S000000.npy").read_bytes()
    assert a != (tmp_path / "b" / "new_joints" / "S000000.npy").read_bytes()


@pytest.mark.parametrize("seed", range(40))
def test_motions_are_physically_plausible(seed):
    record = synthesize_motion("m", np.random.default_rng(seed))
    joints = record.joints.astype(np.float64)
    # bone lengths constant through the motion (forward kinematics)
    for parent, child in SMPL22.bones():
        lengths = np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1)
        assert lengths.std() < 1e-4
    # feet on the ground whenever the person is not jumping
    airborne = np.zeros(len(joints), bool)
    for span in record.spans:
        if span.action.startswith("jump"):
            airborne[span.start:span.end + 1] = True
    lowest = joints[:, FOOT_JOINTS, 1].min(axis=1)
    assert np.abs(lowest[~airborne]).max() < 1e-4
    assert lowest.min() > -1e-4  # never below the floor
    # no joint jumps: at most 0.5 m between frames (10 m/s at 20 fps, a kicking foot's peak)
    assert np.linalg.norm(np.diff(joints, axis=0), axis=-1).max() < 0.5
    # a standing adult: head between 1.2 and 2.2 m on the first frame
    assert 1.2 < joints[0, 15, 1] < 2.2


def test_spans_are_ordered_inside_the_motion_and_named_in_captions(tmp_path):
    write_corpus(tmp_path, SynthConfig(motions=20, seed=4))
    for path in sorted((tmp_path / "spans").iterdir()):
        data = json.loads(path.read_text())
        ends = [-1]
        for action in data["actions"]:
            assert ends[-1] < action["start"] <= action["end"] < data["num_frames"] <= 196
            ends.append(action["end"])
            assert action["side"] in ACTIONS[action["action"]].sides
            if action["side"] in ("left", "right"):
                assert action["side"] in action["phrase"]
        assert 1 <= len(data["actions"]) <= 4


def test_sitting_is_followed_only_by_standing_up(tmp_path):
    write_corpus(tmp_path, SynthConfig(motions=200, seed=5))
    seen = 0
    for path in (tmp_path / "spans").iterdir():
        actions = [a["action"] for a in json.loads(path.read_text())["actions"]]
        for before, after in zip(actions, actions[1:], strict=False):
            if before == "sit_down":
                seen += 1
                assert after == "stand_up"
    assert seen > 0
