"""Acrobatics (cartwheel, forward roll, crawling, kneeling) and dance (sway, twist, disco
point, robot). Rolling moves turn the whole body through the pelvis angles; the physics
carries the body over whatever touches the floor (hands, back, knees)."""

from __future__ import annotations

import numpy as np

from mochat.synth.v2.library.base import (
    FULL,
    LR,
    NONE,
    Action,
    Ctx,
    arm,
    arms,
    leg,
    legs,
    mirror_for,
)
from mochat.synth.v2.motion import Keys, Track, track


def _turned(pose: np.ndarray, axis: int, degrees: float) -> np.ndarray:
    """The same pose with the pelvis angle one full turn on: the angles stay continuous
    (the assembler wraps the next action's start back)."""
    out = pose.copy()
    out[0, axis] += degrees
    return out


def cartwheel(ctx: Ctx) -> Track:
    """Arms up, legs wide, the body wheels a full turn sideways toward `side`."""
    sign = -1.0 if ctx.side == "left" else 1.0  # pelvis roll + goes over the right side
    star = arms("both", abd=170, elbow=5) | {"l_hip_abd": 40, "r_hip_abd": 40,
                                             "l_knee": 5, "r_knee": 5}
    k = Keys(ctx.start, ctx.rng, jitter=0.05)
    k.to(ctx.sec(0.5), star | {"spine_lean": 10 * sign})
    for quarter in range(1, 5):
        k.to(ctx.sec(0.3), star | {"pelvis_roll": sign * 90.0 * quarter})
    k.to(ctx.sec(0.6), pose=_turned(ctx.end, 2, sign * 360.0))
    return track(k.render(ctx.frames))


def forward_roll(ctx: Ctx) -> Track:
    """Crouch, tuck the head, roll over the back a full turn, come up to a crouch."""
    tuck = legs(110, 140) | {"spine_flex": 55, "neck_flex": 40} | \
        arms("both", flex=70, elbow=20)
    k = Keys(ctx.start, ctx.rng, jitter=0.05)
    k.to(ctx.sec(0.7), tuck)
    for quarter in range(1, 5):
        k.to(ctx.sec(0.28), {"pelvis_pitch": 90.0 * quarter})
    k.to(ctx.sec(0.8), pose=_turned(ctx.end, 0, 360.0))
    return track(k.render(ctx.frames))


FOURS = {"pelvis_pitch": 85.0, "spine_flex": 0.0, "neck_flex": -40.0} | \
    leg("l", 85, 95, flat=False, ankle=30) | leg("r", 85, 95, flat=False, ankle=30) | \
    arms("both", flex=85, elbow=5)


def crawl(ctx: Ctx) -> Track:
    """Get down on hands and knees, crawl forward (diagonal pairs move together), get up."""
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.7), legs(100, 130) | {"spine_flex": 45} | arms("both", flex=80, elbow=10))
    k.to(ctx.sec(0.6), FOURS)
    for rep in range(ctx.reps):
        s = "l" if rep % 2 == 0 else "r"
        o = "r" if s == "l" else "l"
        k.to(ctx.sec(0.3), {f"{s}_sh_flex": 100, f"{s}_elbow": 25, f"{o}_hip_flex": 100,
                            f"{o}_knee": 110, f"{o}_sh_flex": 78, f"{s}_hip_flex": 78})
        k.to(ctx.sec(0.25), {f"{s}_elbow": 5, f"{o}_knee": 95})
    k.to(ctx.sec(0.6), FOURS)
    k.to(ctx.sec(0.7), {"pelvis_pitch": 0.0} | legs(100, 130) | {"spine_flex": 45})
    k.to(ctx.sec(0.7), pose=ctx.end)
    return track(k.render(ctx.frames))


def kneel(ctx: Ctx) -> Track:
    """Step back onto one knee, hold, stand back up."""
    s, o = ctx.s, ctx.o  # s: the knee that goes down
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.5), leg(s, 10, 40, flat=False, ankle=20) | leg(o, 20, 25))
    k.to(ctx.sec(0.8), leg(s, -5, 95, flat=False, ankle=40) | leg(o, 85, 90) |
         {"spine_flex": 10})
    k.hold(ctx.sec(0.5) * ctx.reps)
    k.to(ctx.sec(0.8), leg(s, 10, 40, flat=False, ankle=20) | leg(o, 20, 25))
    k.to(ctx.sec(0.5), pose=ctx.end)
    return track(k.render(ctx.frames))


def sway(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for rep in range(ctx.reps):
        sign = 1.0 if rep % 2 == 0 else -1.0
        k.to(ctx.sec(0.5), {"pelvis_roll": 6 * sign, "spine_lean": 10 * sign} |
             leg("l", 10, 20 + 10 * sign) | leg("r", 10, 20 - 10 * sign) |
             arms("both", abd=135, elbow=25) | {"l_sh_flex": 20 * sign, "r_sh_flex": -20 * sign})
    k.to(ctx.sec(0.5), pose=ctx.end)
    return track(k.render(ctx.frames, spline=True))


def twist(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.4), legs(25, 45) | arms("both", abd=40, elbow=90, flex=30))
    for rep in range(ctx.reps):
        sign = 1.0 if rep % 2 == 0 else -1.0
        k.to(ctx.sec(0.3), {"pelvis_twist": 25 * sign, "spine_twist": -35 * sign,
                            "l_sh_flex": 30 + 25 * sign, "r_sh_flex": 30 - 25 * sign})
    k.to(ctx.sec(0.4), pose=ctx.end)
    return track(k.render(ctx.frames, spline=True))


def disco(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    hip = {"pelvis_roll": 5.0}
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.35), mirror_for(ctx.side, {"r_sh_abd": 150, "r_sh_flex": 20,
                                                  "r_elbow": 3, "spine_lean": 8} | hip))
        k.to(ctx.sec(0.35), mirror_for(ctx.side, {"r_sh_abd": 30, "r_sh_horiz": 55,
                                                  "r_elbow": 10, "spine_lean": -4,
                                                  "pelvis_roll": -5.0}))
    k.to(ctx.sec(0.45), pose=ctx.end)
    return track(k.render(ctx.frames))


def robot(ctx: Ctx) -> Track:
    """Stiff, angular arm poses held between sharp moves."""
    k = Keys(ctx.start, ctx.rng, jitter=0.05)
    for rep in range(ctx.reps):
        s = "l" if rep % 2 == 0 else "r"
        o = "r" if s == "l" else "l"
        k.to(ctx.sec(0.15), arm(s, abd=90, flex=90, elbow=90) | arm(o, abd=20, elbow=90) |
             {"neck_turn": 30.0 if s == "l" else -30.0})
        k.hold(ctx.sec(0.3))
    k.to(ctx.sec(0.4), pose=ctx.end)
    return track(k.render(ctx.frames))


ACTIONS: tuple[Action, ...] = (
    Action("cartwheel", "acrobatics", "body", LR, FULL, 2.3, 0.0, cartwheel, (
        "^do a cartwheel to the {side}", "^cartwheel toward the {side}",
        "^turn a cartwheel sideways to the {side}", "^perform a cartwheel to {poss} {side}")),
    Action("forward_roll", "acrobatics", "body", NONE, FULL, 2.7, 0.0, forward_roll, (
        "^do a forward roll", "^roll forward on the ground", "^tuck and ^roll forward",
        "^perform a somersault forward")),
    Action("crawl", "acrobatics", "body", NONE, FULL, 3.3, 0.55, crawl, (
        "^get down and ^crawl forward on hands and knees", "^crawl forward {speed}",
        "^crawl on all fours", "^drop to the floor and ^crawl"), reps=(2, 6)),
    Action("kneel", "acrobatics", "leg", LR, FULL, 2.6, 0.5, kneel, (
        "^kneel down on the {side} knee", "^go down on {poss} {side} knee and ^stand back up",
        "^kneel on {knee} briefly", "^drop to {knee} and ^get up again"), reps=(1, 3)),
    Action("dance_sway", "dance", "body", NONE, FULL, 0.5, 0.5, sway, (
        "^dance, swaying {poss} hips from side to side", "^sway side to side with arms raised",
        "^dance with {poss} arms up", "^sway to music {times}"), reps=(3, 8)),
    Action("dance_twist", "dance", "body", NONE, FULL, 0.8, 0.3, twist, (
        "^dance the twist", "^twist {poss} hips while dancing",
        "^do the twist with bent knees"), reps=(4, 10)),
    Action("disco_point", "dance", "arm", LR, FULL, 0.45, 0.7, disco, (
        "^do a disco move, pointing {poss} {side} hand up and across",
        "^point {poss} {side} arm up and down in a disco dance {times}",
        "^dance disco style with the {side} hand"), reps=(2, 5)),
    Action("dance_robot", "dance", "arm", NONE, FULL, 0.4, 0.45, robot, (
        "^dance the robot", "^do a robot dance with stiff arm moves",
        "^move {poss} arms stiffly like a robot"), reps=(3, 8)),
)
