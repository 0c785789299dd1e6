"""Corpus v2 building blocks: pose DOFs, language, physics, the action library."""

import numpy as np
import pytest

from mochat.skeleton import SMPL22
from mochat.synth import body as b
from mochat.synth.v2 import language as L
from mochat.synth.v2 import physics as ph
from mochat.synth.v2 import pose as P
from mochat.synth.v2.library import ACTIONS, LIE, SIT, UPPER, Ctx, action_variants
from mochat.synth.v2.library.daily import LYING, SEATED

BRIEF = ("walk", "jog", "run", "sprint", "walk_backward", "sidestep", "tiptoe", "march",
         "limp", "stairs_up", "stairs_down", "hop", "skip", "jump_forward", "jump_up", "kick",
         "punch", "punch_combo", "throw", "catch", "golf_swing", "tennis_forehand",
         "baseball_swing", "basketball_shot", "dribble", "sit_down", "stand_up", "lie_down",
         "get_up", "pick_up", "put_down", "push", "pull", "carry", "bow", "wave", "clap",
         "point", "drink", "phone_call", "jumping_jacks", "arm_circles", "arm_raise",
         "arm_abduction", "trunk_twist", "toe_touch", "side_bend", "knee_raise", "squat",
         "lunge", "step_up_down", "heel_raise", "balance", "jog_in_place", "quad_stretch",
         "overhead_stretch", "cartwheel", "forward_roll", "crawl", "turn", "spin")


def test_library_has_the_actions_the_issue_names():
    assert len(ACTIONS) >= 60
    assert set(BRIEF) <= set(ACTIONS)
    assert {a.category for a in ACTIONS.values()} == {
        "locomotion", "sports", "daily", "exercise", "acrobatics", "dance"}
    assert len(action_variants()) > 100
    for action in ACTIONS.values():
        assert len(action.phrases) >= 3, action.name  # several independent phrasings
        if set(action.sides) & {"left", "right"}:  # the side is in every phrasing
            assert all(any(s in p for s in ("{side}", "{hand}", "{arm}", "{leg}", "{foot}",
                                              "{knee}")) for p in action.phrases), action.name


def test_dof_read_inverts_apply_and_mirror_swaps_sides():
    pose = P.apply(P.neutral(), {"l_sh_abd": 90, "r_elbow": 40, "spine_twist": 30})
    assert P.read(pose, "l_sh_abd") == pytest.approx(90)  # abduction counts from hanging
    assert P.read(pose, "spine_twist") == pytest.approx(30)
    assert P.mirror_dofs({"l_knee": 30, "spine_lean": 10}) == {"r_knee": 30, "spine_lean": -10}


def test_shoulder_flexion_points_the_arm_forward():
    pose = b.base_pose(1)
    pose[0] = P.apply(P.neutral(), {"l_sh_flex": 90, "l_elbow": 0})
    joints = b.forward_kinematics(pose, b.REST_OFFSETS, np.zeros(1), np.zeros((1, 3)))[0]
    arm = joints[20] - joints[16]  # left shoulder -> wrist
    assert arm[2] > 0.45 and abs(arm[1]) < 0.1  # forward (+z), level


@pytest.mark.parametrize(("verb", "third", "ger"), [
    ("wave", "waves", "waving"), ("jog", "jogs", "jogging"), ("carry", "carries", "carrying"),
    ("lie", "lies", "lying"), ("punch", "punches", "punching"), ("do", "does", "doing"),
    ("tiptoe", "tiptoes", "tiptoeing"), ("hit", "hits", "hitting")])
def test_inflection(verb, third, ger):
    assert L.third_person(verb) == third and L.gerund(verb) == ger


def test_realize_fills_slots_and_inflects_marked_verbs():
    rng = np.random.default_rng(0)
    kw = dict(side="left", reps=3, tempo=1.0, poss="his", obj="himself", rng=rng)
    text = L.realize("^raise {arm} and ^wave {times}", form="3sg", detail=2, **kw)
    assert text.startswith("raises") and "left arm" in text and text.endswith(
        "and waves three times")
    assert L.realize("^do {n:squat}", form="ger", detail=2, **kw) == "doing three squats"
    assert L.realize("^do {n:squat}", form="3sg", detail=0, **kw) == "does some squats"
    assert L.realize("^clap {times}", form="3sg", detail=0, **kw) == "claps"  # terse: no count


def test_two_bone_ik_keeps_bone_lengths_and_reaches():
    hip, knee = np.zeros(3), np.array([0.0, -0.4, 0.05])
    target = np.array([0.1, -0.7, 0.2])
    new_knee, ankle = ph.two_bone(hip, knee, target, 0.4, 0.4)
    assert np.linalg.norm(new_knee - hip) == pytest.approx(0.4)
    assert np.linalg.norm(ankle - new_knee) == pytest.approx(0.4)
    assert np.allclose(ankle, target)  # reachable: reached
    normal = np.cross(knee - hip, target - hip)  # the knee stays in the leg's plane
    assert abs(np.dot(new_knee - hip, normal)) < 1e-9


def test_foot_speeds_is_zero_for_a_planted_foot_and_measures_a_slide():
    joints = np.zeros((5, 22, 3))
    joints[:, :, 1] = 1.0  # everything high ...
    joints[:, [7, 10], 1] = [0.055, 0.0]  # ... but the left foot, flat on the floor
    assert np.allclose(ph.foot_speeds(joints, 0.055), 0.0)
    joints[:, [7, 10], 0] += np.arange(5)[:, None] * 0.01  # sliding 1 cm a frame
    assert np.allclose(ph.foot_speeds(joints, 0.055), 0.2)  # 0.01 m x 20 fps


def build(name, side=None, seed=1, reps=None):
    """One action alone, from the pose its posture needs, through the physics."""
    action = ACTIONS[name]
    rng = np.random.default_rng(seed)
    rest = P.rest_pose("arms_down", rng)
    start = {SIT: P.apply(rest, SEATED), LIE: P.apply(rest, LYING)}.get(action.requires, rest)
    reps = reps or min(action.reps[1], 3)
    frames = action.frames(reps, 1.0)
    ctx = Ctx(rng, side or action.sides[0], reps, 1.0, 1.0, start, rest, frames,
              action.extras(rng) if action.extras else {})
    track = action.make(ctx)
    angles = track.angles
    if action.layer == UPPER:
        w = track.weight[..., None]
        angles = start[None] * (1 - w) + track.angles * w
    angles = np.degrees(np.unwrap(np.radians(angles), axis=0))
    return track, ph.place_body(angles, b.REST_OFFSETS, track.yaw, track.lift, track.flight,
                                track.stance, np.zeros(2))


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_is_physically_plausible(name):
    track, placed = build(name)
    joints = placed.joints
    assert track.angles.shape[0] == ACTIONS[name].frames(min(ACTIONS[name].reps[1], 3), 1.0)
    for parent, child in SMPL22.bones():  # forward kinematics + IK keep bones rigid
        lengths = np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1)
        assert lengths.std() < 1e-6
    clear = ph.clearances(joints, ph.ankle_height(b.REST_OFFSETS)) - placed.floor[:, None]
    # nothing below the floor it stands on; on stairs the trailing foot is a step lower
    assert clear.min() > (-0.25 if (track.stance >= 0).any() else -1e-6)
    speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1) * 20
    assert speed.max() < 20.0  # m/s: a fast kick's foot, a thrown hand
    stance = ph.foot_speeds(joints, ph.ankle_height(b.REST_OFFSETS), stance_only=True,
                            floor=placed.floor)
    if len(stance):
        assert stance.mean() < 0.25, name  # m/s; planted feet, a few transitions


@pytest.mark.parametrize(("name", "low", "high"), [
    ("walk", 0.5, 1.8), ("run", 1.5, 4.5), ("walk_backward", -1.5, -0.2)])
def test_the_legs_carry_the_body(name, low, high):
    # the root is solved from the planted foot: speed follows the gait, not a setting;
    # m/s over 10 steps, starting and stopping included
    _, placed = build(name, seed=2, reps=10)
    frames = placed.joints.shape[0]
    travel = placed.joints[-1, 0, 2] - placed.joints[0, 0, 2]  # facing +z (yaw 0)
    assert low < travel / (frames / 20.0) < high


def test_stairs_raise_the_floor_and_cartwheels_travel_sideways():
    _, up = build("stairs_up", reps=6)
    assert up.floor[-1] > 0.3  # several steps of ~0.1-0.2 m
    _, wheel = build("cartwheel", side="left")
    move = wheel.joints[-1, 0] - wheel.joints[0, 0]
    assert move[0] > 1.0 and abs(move[2]) < 0.5  # to the body's left (+x)
