import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mochat.errors import DataFormatError
from mochat.skeleton import SMPL22, get_layout, read_motion
from mochat.skeleton.asf import read_asf_amc, write_asf_amc
from mochat.synth.generate import synthesize_motion

# root -> hip -> thigh -> shin, root -> tail. thigh's axis frame is turned 90 deg about z, so
# its rx dof turns about the global y axis; tail lists its dofs as "rz rx".
TINY_ASF = """# hand-written
:version 1.10
:name tiny
:units
  mass 1.0
  length 1.0
  angle deg
:documentation
  four bones
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name hip
    direction 1 0 0
    length 2
    axis 0 0 0 XYZ
  end
  begin
    id 2
    name thigh
    direction 0 0 1
    length 3
    axis 0 0 90 XYZ
    dof rx ry rz
    limits (-160.0 20.0)
           (-70.0 70.0)
           (-60.0 70.0)
  end
  begin
    id 3
    name shin
    direction 0 0 1
    length 1
    axis 0 0 0 XYZ
    dof rx
  end
  begin
    id 4
    name tail
    direction 1 0 0
    length 1
    axis 0 0 0 XYZ
    dof rz rx
  end
:hierarchy
  begin
    root hip tail
    hip thigh
    thigh shin
  end
"""

TINY_AMC = """#!OML:ASF tiny.asf
:FULLY-SPECIFIED
:DEGREES
1
root 10 0 0 0 90 0
thigh 90 0 0
shin 90
tail 90 90
2
root 0 0 0 0 0 0
thigh 0 0 0
shin 0
tail 0 0
"""


def _write(tmp_path, asf=TINY_ASF, amc=TINY_AMC):
    (tmp_path / "tiny.asf").write_text(asf)
    (tmp_path / "tiny.amc").write_text(amc)
    return tmp_path / "tiny.asf", tmp_path / "tiny.amc"


def test_tiny_skeleton_by_hand(tmp_path):
    motion = read_asf_amc(*_write(tmp_path))
    assert motion.joint_names == ("root", "hip", "thigh", "shin", "tail")
    assert motion.parents == (-1, 0, 1, 2, 0) and motion.fps == 120.0
    # frame 1: the root at (10,0,0) turned 90 deg about y (x -> -z, z -> x)
    #   hip:   root + Ry90 (2,0,0) = (10,0,-2)
    #   thigh: C Rx90 C^-1 = Ry90, so (0,0,3) -> (3,0,0) -> root's Ry90 -> (0,0,-3): (10,0,-5)
    #   shin:  world Ry180 @ Rx90: (0,0,1) -> (0,-1,0) -> (0,-1,0): (10,-1,-5)
    #   tail:  "rz rx" applies z first: (1,0,0) -> (0,1,0) -> (0,0,1) -> Ry90 -> (1,0,0): (11,0,0)
    np.testing.assert_allclose(motion.positions[0], [[10, 0, 0], [10, 0, -2], [10, 0, -5],
                                                     [10, -1, -5], [11, 0, 0]], atol=1e-5)
    # frame 2: the rest pose, each bone end = parent end + direction * length
    np.testing.assert_allclose(motion.positions[1], [[0, 0, 0], [2, 0, 0], [2, 0, 3],
                                                     [2, 0, 4], [1, 0, 0]], atol=1e-5)


def test_radians_and_parent_after_child(tmp_path):
    # bonedata lists shin before its parent thigh: shin's joint is moved after thigh's
    asf = TINY_ASF.replace("angle deg", "angle rad").replace("axis 0 0 90 XYZ",
                                                            "axis 0 0 1.5707963268 XYZ")
    blocks = asf.split("  begin\n")
    asf = "  begin\n".join([blocks[0], blocks[1], blocks[3], blocks[2], *blocks[4:]])
    amc = TINY_AMC.replace(":DEGREES\n", "").replace(" 90", " 1.5707963268")
    motion = read_asf_amc(*_write(tmp_path, asf, amc))
    assert motion.joint_names == ("root", "hip", "thigh", "shin", "tail")
    np.testing.assert_allclose(motion.positions[0, 3], [10, -1, -5], atol=1e-5)


def _bvh_style_fk(parents, offsets, rotations, root_path):
    """World joints of a BVH-style rigid body: joint j's rotation moves its children."""
    frames, num = rotations.shape[:2]
    world = [Rotation.from_rotvec(rotations[:, 0])]
    joints = [root_path]
    for j in range(1, num):
        p = parents[j]
        joints.append(joints[p] + world[p].apply(offsets[j]))
        world.append(world[p] * Rotation.from_rotvec(rotations[:, j]))
    return np.stack(joints, axis=1)  # J x (T, 3) -> (T, J, 3)


@pytest.mark.parametrize("siblings_together", [True, False])
def test_round_trip_rigid_random_tree(tmp_path, siblings_together):
    rng = np.random.default_rng(1)
    names = ["hips", "a", "b", "c", "d", "e", "f", "g"]
    parents = [-1, 0, 1, 1, 0, 4, 5, 5]  # b and c share a parent, so do f and g
    offsets = rng.normal(0, 1, size=(8, 3))
    offsets[6] = 0.0  # a zero-length bone whose joint still has to come back
    rotations = rng.normal(0, 1.5, size=(6, 8, 3))
    root_path = rng.normal(0, 2, size=(6, 3))
    if siblings_together:
        joints = _bvh_style_fk(parents, offsets, rotations, root_path)
    else:  # every bone turns on its own, siblings too: still rigid (lengths constant)
        joints = [root_path]
        for j in range(1, 8):
            turn = Rotation.from_rotvec(rotations[:, j])
            joints.append(joints[parents[j]] + turn.apply(offsets[j]))
        joints = np.stack(joints, axis=1)
    write_asf_amc(tmp_path / "r.asf", tmp_path / "r.amc", names, parents, joints)
    motion = read_asf_amc(tmp_path / "r.asf", tmp_path / "r.amc")
    assert motion.joint_names == ("root", *names[1:]) and motion.parents == tuple(parents)
    size = np.ptp(joints.reshape(-1, 3), axis=0).max()
    assert np.abs(motion.positions - joints).max() < 1e-4 * size


def test_round_trip_smpl22_synthetic_motion(tmp_path):
    joints = synthesize_motion("m0", np.random.default_rng(3)).joints  # (T, 22, 3) metres
    write_asf_amc(tmp_path / "s.asf", tmp_path / "s.amc", SMPL22.joint_names, SMPL22.parents,
                  joints)
    motion = read_asf_amc(tmp_path / "s.asf", tmp_path / "s.amc", fps=20.0)
    assert motion.joint_names == ("root", *SMPL22.joint_names[1:])
    assert motion.parents == SMPL22.parents and motion.fps == 20.0
    assert motion.positions.shape == joints.shape
    assert np.abs(motion.positions - joints).max() < 1e-4  # metres


def _cmu_from_smpl(smpl: np.ndarray) -> np.ndarray:
    """A rigid CMU-named body (T, 25, 3) from SMPL-22 joints: every bone keeps its length.
    SMPL's collar stands in for the clavicle's end (the shoulder does not keep its distance
    from spine3), CMU's head and toes extend the last segment of their chain."""
    s = {n: smpl[:, i] for i, n in enumerate(SMPL22.joint_names)}
    cmu = {"root": s["pelvis"], "lowerback": s["spine1"], "upperback": s["spine2"],
           "thorax": s["spine3"], "lowerneck": s["neck"], "upperneck": s["head"],
           "head": s["head"] + 0.5 * (s["head"] - s["neck"])}
    for side, short in (("left", "l"), ("right", "r")):
        leg = [s[f"{side}_{n}"] for n in ("hip", "knee", "ankle", "foot")]
        leg.append(leg[3] + 0.3 * (leg[3] - leg[2]))  # toes
        arm = [s[f"{side}_{n}"] for n in ("collar", "shoulder", "elbow", "wrist")]
        for names, chain in ((("hipjoint", "femur", "tibia", "foot", "toes"), leg),
                             (("clavicle", "humerus", "radius", "wrist"), arm)):
            cmu.update(zip([short + n for n in names], chain, strict=True))
    return np.stack([cmu[n] for n in get_layout("cmu_asf").joint_names], axis=1)


def test_cmu_named_skeleton_reads_into_cmu_asf_layout(tmp_path):
    layout = get_layout("cmu_asf")
    joints = _cmu_from_smpl(synthesize_motion("m1", np.random.default_rng(4)).joints)
    # write the bones in a different (still parents-first) order than the layout's
    order = [0, *range(11, 25), *range(1, 11)]
    remap = {old: new for new, old in enumerate(order)}
    parents = [-1, *(remap[layout.parents[j]] for j in order[1:])]
    names = [layout.joint_names[j] for j in order]
    write_asf_amc(tmp_path / "c.asf", tmp_path / "c.amc", names, parents, joints[:, order])
    source = read_motion(tmp_path / "c.amc")  # finds c.asf, picks the layout's joints by name
    assert source.layout.name == "cmu_asf" and source.fps == 120.0
    assert np.abs(source.joints - joints).max() < 1e-4  # (T, 25, 3) in the layout's order
    motion = read_asf_amc(tmp_path / "c.asf", tmp_path / "c.amc")
    index = {n: i for i, n in enumerate(motion.joint_names)}
    read_parents = [motion.parents[index[n]] for n in layout.joint_names[1:]]
    assert [motion.joint_names[p] for p in read_parents] == [
        layout.joint_names[p] for p in layout.parents[1:]]


@pytest.mark.parametrize(("asf", "amc", "message"), [
    (TINY_ASF, TINY_AMC.replace("shin 90\n", "shin 90\nfoot 1 2 3\n"),
     r"tiny\.amc:8: unknown bone 'foot'"),
    (TINY_ASF[:TINY_ASF.index("    name shin")], TINY_AMC, r"tiny\.asf:\d+: bone block never"),
    (TINY_ASF[:TINY_ASF.index(":hierarchy")], TINY_AMC, r"tiny\.asf: no :hierarchy"),
    (TINY_ASF, TINY_AMC.replace("thigh 90 0 0", "thigh 90 0"),
     r"tiny\.amc:6: thigh needs 3 numbers"),
    (TINY_ASF, TINY_AMC.replace("\n2\n", "\n3\n"), r"tiny\.amc:9: frame 3 does not follow"),
    (TINY_ASF, TINY_AMC.replace("tail 0 0\n", ""), r"tiny\.amc:9: frame 2 .* lacks \['tail'\]"),
    (TINY_ASF, ":FULLY-SPECIFIED\n:DEGREES\n", r"tiny\.amc: no frames"),
    (TINY_ASF.replace("    hip thigh\n", ""), TINY_AMC, r"tiny\.asf:\d+: bone 'thigh' is not"),
])
def test_malformed_files_name_file_and_line(tmp_path, asf, amc, message):
    with pytest.raises(DataFormatError, match=message):
        read_asf_amc(*_write(tmp_path, asf, amc))


def test_half_turn_and_stretch(tmp_path):
    # frame 1 turns the bone a exactly half around (the swing's b == -a case); frame 2
    # stretches it to length 4, which Acclaim cannot express: it comes back at length 2
    joints = np.array([[[0, 0, 0], [2, 0, 0], [2, 1, 0]],
                       [[0, 0, 0], [-2, 0, 0], [-2, -1, 0]],
                       [[0, 0, 0], [0, 4, 0], [-1, 4, 0]]], dtype=float)
    write_asf_amc(tmp_path / "h.asf", tmp_path / "h.amc", ["o", "a", "b"], [-1, 0, 1], joints)
    motion = read_asf_amc(tmp_path / "h.asf", tmp_path / "h.amc")
    np.testing.assert_allclose(motion.positions[:2], joints[:2], atol=1e-6)
    np.testing.assert_allclose(motion.positions[2], [[0, 0, 0], [0, 2, 0], [-1, 2, 0]],
                               atol=1e-6)
