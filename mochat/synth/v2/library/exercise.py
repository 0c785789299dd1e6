"""Exercise and rehabilitation: arm circles, raises and abductions, trunk twists, toe
touches, side bends, knee raises, squats, lunges, step-ups, heel raises, balancing on one
leg, stretches and leg swings."""

from __future__ import annotations

import numpy as np

from mochat.synth.v2 import pose as P
from mochat.synth.v2.library.base import (
    FULL,
    LOWER,
    LR,
    LRB,
    NONE,
    UPPER,
    Action,
    Ctx,
    arm,
    arms,
    leg,
    legs,
    upper_joints,
)
from mochat.synth.v2.motion import LEFT_FOOT, RIGHT_FOOT, Keys, Track, track


def arm_circles(ctx: Ctx) -> Track:
    """Big circles: the shoulder's flexion runs a full turn per circle, arm held straight
    and a little out from the body."""
    backward = ctx.extra.get("way") == "backward"
    n = ctx.frames
    ramp = min(n // 4, int(round(0.5 * 20 / ctx.tempo)))
    u = np.clip((np.arange(n) - ramp) / max(n - 2 * ramp, 1), 0, 1)
    flex = 360.0 * ctx.reps * u * (-1 if backward else 1)
    k = Keys(ctx.start)
    k.to(1.0, arms(ctx.side, abd=18, elbow=5))
    k.to(1.0, pose=ctx.end)
    base = k.render(n)
    sides = ("l", "r") if ctx.side == "both" else (ctx.s,)
    for s in sides:
        joint = P.ARM["left" if s == "l" else "right"][1]
        base[:, joint, 0] += -flex  # shoulder flexion is -x
    return track(base, joints=upper_joints(ctx.side))


def _raise(ctx: Ctx, target: dict[str, float]) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for rep in range(ctx.reps):
        k.to(ctx.sec(0.7), target)
        k.hold(ctx.sec(0.15))
        if rep < ctx.reps - 1:
            k.to(ctx.sec(0.6), arms(ctx.side, flex=5, elbow=8))
    k.to(ctx.sec(0.7), pose=ctx.end)
    return track(k.render(ctx.frames), joints=upper_joints(ctx.side))


def arm_raise(ctx: Ctx) -> Track:
    return _raise(ctx, arms(ctx.side, flex=ctx.amp(min(170.0, ctx.extra.get("deg", 90.0))),
                            elbow=5))


def arm_abduction(ctx: Ctx) -> Track:
    return _raise(ctx, arms(ctx.side, abd=ctx.amp(min(170.0, ctx.extra.get("deg", 90.0))),
                            elbow=5))


def trunk_twist(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    hands = arms("both", abd=75, elbow=110, horiz=60)  # elbows out, hands at the chest
    k.to(ctx.sec(0.5), hands)
    first = float(ctx.rng.choice([-1.0, 1.0]))
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.55), {"spine_twist": first * ctx.amp(45), "pelvis_twist": first * 5})
        k.to(ctx.sec(0.55), {"spine_twist": -first * ctx.amp(45), "pelvis_twist": -first * 5})
    k.to(ctx.sec(0.5), {"spine_twist": 0.0, "pelvis_twist": 0.0})
    k.to(ctx.sec(0.4), pose=ctx.end)
    return track(k.render(ctx.frames, spline=True))


def toe_touch(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.9), {"spine_flex": ctx.amp(95), "neck_flex": 10} | legs(10, 4) |
             arms("both", flex=85, elbow=5, horiz=10))
        k.hold(ctx.sec(0.25))
        k.to(ctx.sec(0.8), {"spine_flex": 0.0, "neck_flex": 0.0} | legs(0, 0) |
             arms("both", flex=5, elbow=8))
    k.to(ctx.sec(0.3), pose=ctx.end)
    return track(k.render(ctx.frames))


def side_bend(ctx: Ctx) -> Track:
    sign = 1.0 if ctx.side == "left" else -1.0
    over = "r" if ctx.side == "left" else "l"  # the far arm reaches over the head
    k = Keys(ctx.start, ctx.rng)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.8), {"spine_lean": sign * ctx.amp(30)} | arm(over, abd=165, elbow=20) |
             arm(P.OTHER[over], abd=10, elbow=10))
        k.hold(ctx.sec(0.3))
        k.to(ctx.sec(0.7), {"spine_lean": 0.0} | arm(over, abd=5, elbow=8))
    k.to(ctx.sec(0.3), pose=ctx.end)
    return track(k.render(ctx.frames))


def knee_raise(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for rep in range(ctx.reps):
        s = ctx.s if ctx.side != "both" else ("l" if rep % 2 == 0 else "r")
        k.to(ctx.sec(0.45), leg(s, ctx.amp(95), 100, flat=False, ankle=10) |
             leg(P.OTHER[s], 3, 5))
        k.hold(ctx.sec(0.1))
        k.to(ctx.sec(0.45), leg(s, 0, 2))
    k.to(ctx.sec(0.3), pose=ctx.end)
    return track(k.render(ctx.frames))


def squat(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    depth = ctx.amp(70)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.8), legs(depth, 1.6 * depth) | {"spine_flex": 0.45 * depth} |
             arms("both", flex=85, elbow=5))
        k.hold(ctx.sec(0.15))
        k.to(ctx.sec(0.7), legs(0, 2) | {"spine_flex": 0.0})
    k.to(ctx.sec(0.4), pose=ctx.end)
    return track(k.render(ctx.frames))


def lunge(ctx: Ctx) -> Track:
    """Step the front foot out, sink until both knees bend, rise, step back."""
    s, o = ctx.s, ctx.o
    k = Keys(ctx.start, ctx.rng)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.35), leg(s, 45, 70, flat=False, ankle=-5) | leg(o, -5, 8))
        k.to(ctx.sec(0.3), leg(s, 35, 12, flat=False, ankle=-15) | leg(o, -15, 10, ankle=0))
        k.to(ctx.sec(0.6), leg(s, 70, 90) | leg(o, -25, 85, flat=False, ankle=45) |
             {"spine_flex": 5})
        k.hold(ctx.sec(0.2))
        k.to(ctx.sec(0.5), leg(s, 35, 12, flat=False, ankle=-15) | leg(o, -15, 10))
        k.to(ctx.sec(0.35), leg(s, 45, 70, flat=False, ankle=-5) | leg(o, -5, 8))
        k.to(ctx.sec(0.3), leg(s, 0, 2) | leg(o, 0, 2))
    k.to(ctx.sec(0.3), pose=ctx.end)
    return track(k.render(ctx.frames))


def step_up_down(ctx: Ctx) -> Track:
    """Step onto a box with the lead foot, bring the other up, step back down: the
    support foot is named so the floor follows the box (physics, step 1)."""
    s, o = ctx.s, ctx.o
    lead, trail = (LEFT_FOOT, RIGHT_FOOT) if s == "l" else (RIGHT_FOOT, LEFT_FOOT)
    k = Keys(ctx.start, ctx.rng, jitter=0.05)
    marks = []
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.45), leg(s, 70, 95, flat=False, ankle=-10) | leg(o, 3, 5))
        k.to(ctx.sec(0.3), leg(s, 55, 80) | {"spine_flex": 15})
        marks.append((len(k.durations), lead))
        k.to(ctx.sec(0.6), leg(s, 5, 5) | leg(o, 25, 70, flat=False, ankle=20) |
             {"spine_flex": 5})
        k.to(ctx.sec(0.3), leg(o, 0, 2) | {"spine_flex": 0.0})
        marks.append((len(k.durations), -1))
        k.hold(ctx.sec(0.2))
        k.to(ctx.sec(0.5), leg(s, 40, 75) | leg(o, -10, 8, flat=False, ankle=15))
        marks.append((len(k.durations), trail))
        k.to(ctx.sec(0.5), leg(o, 0, 2) | leg(s, 45, 60, flat=False, ankle=0))
        k.to(ctx.sec(0.35), leg(s, 0, 2))
        marks.append((len(k.durations), -1))
    k.to(ctx.sec(0.3), pose=ctx.end)
    out = track(k.render(ctx.frames))
    times = k.times(ctx.frames)
    for key, foot in marks:
        out.stance[int(round(times[key])):] = foot
    return out


def heel_raise(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.5), {"l_ankle": ctx.amp(32), "r_ankle": ctx.amp(32)})
        k.hold(ctx.sec(0.15))
        k.to(ctx.sec(0.45), {"l_ankle": 0.0, "r_ankle": 0.0})
    k.to(ctx.sec(0.3), pose=ctx.end)
    return track(k.render(ctx.frames))


def balance(ctx: Ctx) -> Track:
    """Stand on `side`, the other leg lifted, arms out; small corrective wobbles."""
    s, o = ctx.s, ctx.o
    k = Keys(ctx.start, ctx.rng)
    lifted = leg(o, ctx.amp(40), 75, flat=False, ankle=15) | leg(s, 3, 6) | \
        arms("both", abd=80, elbow=10)
    k.to(ctx.sec(0.7), lifted)
    for _ in range(ctx.reps):
        lean = ctx.rng.normal(0, 4)
        k.to(ctx.sec(0.5), {"spine_lean": lean, f"{o}_sh_abd": 80 + 3 * lean,
                            f"{s}_sh_abd": 80 - 3 * lean})
    k.to(ctx.sec(0.6), pose=ctx.end)
    return track(k.render(ctx.frames, spline=True))


def quad_stretch(ctx: Ctx) -> Track:
    """Pull the foot up behind with the same-side hand and hold it."""
    s, o = ctx.s, ctx.o
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.7), leg(s, -12, 135, flat=False, ankle=30) | leg(o, 4, 6) |
         arm(s, flex=-35, elbow=40) | arm(o, abd=40, elbow=15))
    k.hold(ctx.sec(0.6) * ctx.reps)
    k.to(ctx.sec(0.7), pose=ctx.end)
    return track(k.render(ctx.frames))


def overhead_stretch(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.8), arms("both", flex=170, elbow=10) | {"spine_flex": -10,
                                                          "neck_flex": -10})
    k.hold(ctx.sec(0.6) * ctx.reps)
    k.to(ctx.sec(0.8), pose=ctx.end)
    return track(k.render(ctx.frames))


def leg_swing(ctx: Ctx) -> Track:
    s, o = ctx.s, ctx.o
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.4), leg(o, 3, 6) | arm(o, abd=45, elbow=10))
    for _ in range(ctx.reps):  # the knee bends as the foot passes under the body
        k.to(ctx.sec(0.2), leg(s, 15, 45, flat=False, ankle=10))
        k.to(ctx.sec(0.2), leg(s, ctx.amp(55), 10, flat=False, ankle=10))
        k.to(ctx.sec(0.2), leg(s, 15, 45, flat=False, ankle=10))
        k.to(ctx.sec(0.2), leg(s, -25, 25, flat=False, ankle=10))
    k.to(ctx.sec(0.45), pose=ctx.end)
    return track(k.render(ctx.frames, spline=True))


def _way(rng: np.random.Generator) -> dict:
    return {"way": str(rng.choice(["forward", "backward"]))}


def _raise_extras(rng: np.random.Generator) -> dict:
    high = bool(rng.random() < 0.5)
    return {"deg": 165.0 if high else 90.0,
            "height": "above {poss} head" if high else "to shoulder height"}


ACTIONS: tuple[Action, ...] = (
    Action("arm_circles", "exercise", "arm", LRB, UPPER, 1.0, 0.9, arm_circles, (
        "^make {way} circles with {arm} {times}", "^circle {arm} {way} {times}",
        "^rotate {arm} in big {way} circles", "^do {n:arm circle} {way} with {arm}"), reps=(2, 5),
        extras=_way),
    Action("arm_raise", "exercise", "arm", LRB, UPPER, 0.7, 1.45, arm_raise, (
        "^raise {arm} forward {height} {times}", "^lift {arm} up in front {times}",
        "^do {n:front raise} with {arm}", "^raise {arm} {height}"), reps=(1, 4),
        extras=_raise_extras),
    Action("arm_abduction", "exercise", "arm", LRB, UPPER, 0.7, 1.45, arm_abduction, (
        "^raise {arm} out to the side {height} {times}", "^lift {arm} sideways {times}",
        "^do {n:lateral raise} with {arm}", "^spread {arm} out to the side {height}"),
        reps=(1, 4), extras=_raise_extras),
    Action("trunk_twist", "exercise", "torso", NONE, FULL, 1.4, 1.1, trunk_twist, (
        "^twist {poss} torso from side to side {times}", "^rotate {poss} upper body left and right",
        "^do {n:trunk twist}", "^turn {poss} waist side to side {times}"), reps=(2, 5)),
    Action("toe_touch", "exercise", "torso", NONE, FULL, 0.3, 1.95, toe_touch, (
        "^bend down and ^touch {poss} toes {times}", "^touch {poss} toes {times}",
        "^do {n:toe touch}", "^reach down to {poss} feet with both hands {times}"),
        reps=(1, 4)),
    Action("side_bend", "exercise", "torso", LR, FULL, 0.3, 1.8, side_bend, (
        "^lean to the {side} {times}", "^bend {poss} torso to the {side} {times}",
        "^do {n:side bend} to the {side}", "^stretch sideways toward the {side}"),
        reps=(1, 3)),
    Action("knee_raise", "exercise", "leg", LRB, LOWER, 0.3, 1.0, knee_raise, (
        "^raise {knee} {times}", "^lift {knee} up toward {poss} chest {times}",
        "^do {n:knee raise} with {leg}", "^bring {knee} up high {times}"), reps=(1, 6)),
    Action("squat", "exercise", "leg", NONE, LOWER, 0.4, 1.65, squat, (
        "^squat down and ^stand back up {times}", "^do {n:squat}", "^squat {times}",
        "^bend {poss} knees into a deep squat {times}", "^perform {n:squat}"),
        reps=(1, 5), tempo=(0.8, 1.3)),
    Action("lunge", "exercise", "leg", LR, LOWER, 0.3, 2.6, lunge, (
        "^lunge forward with the {side} leg {times}", "^do {n:lunge} on the {side} leg",
        "^step forward into a lunge with {leg} {times}",
        "^step out with {poss} {side} foot and ^lunge"), reps=(1, 3)),
    Action("step_up_down", "exercise", "leg", LR, LOWER, 0.3, 3.2, step_up_down, (
        "^step up onto a box with the {side} foot and ^step back down {times}",
        "^do {n:step-up} leading with {leg}",
        "^step up and down on a platform with {leg} first {times}",
        "^climb onto a step with {poss} {side} foot first and ^step down"), reps=(1, 2)),
    Action("heel_raise", "exercise", "foot", NONE, LOWER, 0.3, 1.1, heel_raise, (
        "^rise up onto {poss} toes {times}", "^do {n:calf raise}",
        "^lift {poss} heels off the ground {times}", "^stand on tiptoe and ^come back down"),
        reps=(1, 6)),
    Action("balance", "exercise", "leg", LR, LOWER, 1.3, 0.5, balance, (
        "^balance on {poss} {side} leg", "^stand on the {side} foot",
        "^lift one leg and ^balance on {leg}", "^hold a one-legged stand on the {side} foot"),
        reps=(2, 6)),
    Action("quad_stretch", "exercise", "leg", LR, FULL, 1.4, 0.6, quad_stretch, (
        "^stretch {poss} {side} thigh by pulling the foot up behind",
        "^hold {poss} {side} foot behind {obj}",
        "^bend {knee} back and ^grab the ankle to stretch"), reps=(2, 5)),
    Action("overhead_stretch", "exercise", "arm", NONE, FULL, 1.6, 0.6, overhead_stretch, (
        "^stretch both arms overhead", "^reach up high with both hands",
        "^stretch {poss} arms up above {poss} head", "^raise both arms and ^stretch"),
        reps=(1, 4)),
    Action("leg_swing", "exercise", "leg", LR, LOWER, 0.85, 0.8, leg_swing, (
        "^swing {leg} forward and back {times}", "^do {n:leg swing} with {leg}",
        "^kick {poss} {side} leg back and forth {times}"), reps=(2, 6)),
)
