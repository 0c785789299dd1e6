import numpy as np
import pytest

from mochat.errors import DataFormatError, InvalidSkeletonError, UnknownLayoutError
from mochat.skeleton import SMPL22, HumanML3DCorpus, load_motion, read_bvh, read_motion
from mochat.synth import SynthConfig, write_corpus
from mochat.synth.body import REST_OFFSETS

THREE_JOINT_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head
    {
      OFFSET 0 5 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 1 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.05
0 90 0 0 0 0 0 0 0 0 0 0
1 90 0 0 0 0 90 0 0 0 0 0
"""


def test_bvh_forward_kinematics_by_hand(tmp_path):
    path = tmp_path / "three.bvh"
    path.write_text(THREE_JOINT_BVH)
    motion = read_bvh(path)
    assert motion.joint_names == ("Hips", "Spine", "Head") and motion.fps == pytest.approx(20)
    # frame 0: straight up; frame 1: root moved +1 in x and the spine rolled 90 deg about z,
    # so the spine (0,10,0) stays and the head offset (0,5,0) turns to (-5,0,0)
    np.testing.assert_allclose(motion.positions[0], [[0, 90, 0], [0, 100, 0], [0, 105, 0]],
                               atol=1e-4)
    np.testing.assert_allclose(motion.positions[1], [[1, 90, 0], [1, 100, 0], [-4, 100, 0]],
                               atol=1e-4)


def _mixamo_bvh(tmp_path):
    """A rest-pose BVH of the SMPL body with Mixamo joint names (in cm)."""
    names = {0: "Hips", 1: "LeftUpLeg", 2: "RightUpLeg", 3: "Spine", 4: "LeftLeg",
             5: "RightLeg", 6: "Spine1", 7: "LeftFoot", 8: "RightFoot", 9: "Spine2",
             10: "LeftToeBase", 11: "RightToeBase", 12: "Neck", 13: "LeftShoulder",
             14: "RightShoulder", 15: "Head", 16: "LeftArm", 17: "RightArm",
             18: "LeftForeArm", 19: "RightForeArm", 20: "LeftHand", 21: "RightHand"}
    children = {j: [k for k, p in enumerate(SMPL22.parents) if p == j] for j in range(22)}

    def emit(j, depth):
        pad = "  " * depth
        kind = "ROOT" if j == 0 else "JOINT"
        off = REST_OFFSETS[j] * 100
        chans = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if j == 0 \
            else "3 Zrotation Xrotation Yrotation"
        body = [f"{pad}{kind} mixamorig:{names[j]}", f"{pad}{{",
                f"{pad}  OFFSET {off[0]:.4f} {off[1]:.4f} {off[2]:.4f}",
                f"{pad}  CHANNELS {chans}"]
        for c in children[j]:
            body += emit(c, depth + 1)
        if not children[j]:
            body += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 1 0", f"{pad}  }}"]
        return body + [f"{pad}}}"]

    values = " ".join(["0 93 0 0 0 0"] + ["0 0 0"] * 21)
    text = "\n".join(["HIERARCHY", *emit(0, 0), "MOTION", "Frames: 1", "Frame Time: 0.05",
                      values]) + "\n"
    path = tmp_path / "mixamo.bvh"
    path.write_text(text)
    return path


def test_bvh_maps_mixamo_names_to_smpl22(tmp_path):
    joints, fps = load_motion(_mixamo_bvh(tmp_path))  # found as "mixamo": cm -> m
    assert joints.shape == (1, 22, 3) and fps == pytest.approx(20)
    # left wrist = root + hip chain... check one bone: elbow - shoulder = rest offset
    np.testing.assert_allclose(joints[0, 18] - joints[0, 16], REST_OFFSETS[18], atol=1e-5)
    assert joints[0, 20, 0] > 0.5  # T-pose left wrist far out on +x


def test_bad_bvh_files_name_the_problem(tmp_path):
    empty = tmp_path / "empty.bvh"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="empty.bvh: empty BVH"):
        read_bvh(empty)
    short = tmp_path / "short.bvh"
    short.write_text(THREE_JOINT_BVH.replace("0 90 0 0 0 0 0 0 0 0 0 0\n", "0 90 0\n"))
    with pytest.raises(DataFormatError, match="short.bvh"):
        read_bvh(short)
    three = tmp_path / "three.bvh"
    three.write_text(THREE_JOINT_BVH)
    with pytest.raises(DataFormatError, match="no known skeleton layout matches"):
        read_motion(three)  # Hips/Spine/Head is no registered convention
    with pytest.raises(DataFormatError, match="lack layout 'smpl22'"):
        read_motion(three, SMPL22)


def test_bad_npy_files_name_the_problem(tmp_path):
    truncated = tmp_path / "trunc.npy"
    np.save(truncated, np.zeros((10, 22, 3), np.float32))
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(DataFormatError, match="trunc.npy"):
        load_motion(truncated)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, 21, 3), np.float32))
    with pytest.raises(InvalidSkeletonError, match="wrong.npy.*got 21"):
        load_motion(wrong)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((2, 22, 3), np.nan, np.float32))
    with pytest.raises(InvalidSkeletonError, match="nan.npy: non-finite"):
        load_motion(nan)
    with pytest.raises(UnknownLayoutError):
        load_motion(wrong, "no-such-layout")
    with pytest.raises(DataFormatError, match="unknown motion format"):
        load_motion(tmp_path / "clip.c3d")


def test_humanml3d_reader_round_trips_the_synthetic_corpus(tmp_path):
    write_corpus(tmp_path, SynthConfig(motions=6, seed=2))
    corpus = HumanML3DCorpus(tmp_path)
    ids = corpus.ids("train") + corpus.ids("val") + corpus.ids("test")
    assert sorted(ids) == [f"S{i:06d}" for i in range(6)]
    record = corpus.load(ids[0])
    raw = np.load(tmp_path / "new_joints" / f"{ids[0]}.npy")
    np.testing.assert_array_equal(record.joints, raw)
    lines = (tmp_path / "texts" / f"{ids[0]}.txt").read_text().splitlines()
    assert [c.to_line() for c in record.captions] == lines
    assert record.spans and record.spans[-1].end < record.num_frames


def test_malformed_caption_line_names_file_and_line(tmp_path):
    write_corpus(tmp_path, SynthConfig(motions=1, seed=2))
    (tmp_path / "texts" / "S000000.txt").write_text("a person walks.#a/DET#0.0#0.0\nbroken\n")
    with pytest.raises(DataFormatError, match=r"S000000.txt:2"):
        HumanML3DCorpus(tmp_path).load("S000000")
