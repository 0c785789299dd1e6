"""Daily life: sitting, lying and getting up; picking up and putting down; pushing,
pulling and carrying; bowing; gestures (wave, clap, point, salute, shrug); drinking, a phone
call, looking around or at a watch; folding the arms or putting the hands on the hips."""

from __future__ import annotations

from mochat.synth.v2 import pose as P
from mochat.synth.v2.library.base import (
    FULL,
    LIE,
    LOWER,
    LR,
    LRB,
    NONE,
    SIT,
    UPPER,
    Action,
    Ctx,
    arm,
    arms,
    legs,
    mirror_for,
    upper_joints,
)
from mochat.synth.v2.motion import Keys, Track, track

SEATED = legs(85, 90) | {"spine_flex": 8} | arm("l", flex=40, elbow=45) | \
    arm("r", flex=40, elbow=45)
LYING = {"pelvis_pitch": -88.0, "spine_flex": 0.0, "neck_flex": 10.0} | legs(5, 8) | \
    arm("l", abd=12, elbow=10) | arm("r", abd=12, elbow=10)
CROUCH = legs(100, 130) | {"spine_flex": 35}


def upper(ctx: Ctx, k: Keys, *, head: bool = False, spline: bool = False) -> Track:
    joints = upper_joints(ctx.side) + (P.HEAD if head else ())
    return track(k.render(ctx.frames, spline=spline), joints=joints)


def sit_down(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.5), legs(35, 40) | {"spine_flex": 30} | arms("both", flex=25, elbow=30))
    k.to(ctx.sec(0.7), SEATED | {"spine_flex": 20})
    k.to(ctx.sec(0.4), SEATED)
    out = track(k.render(ctx.frames))
    out.end_state = SIT
    return out


def stand_up(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.45), {"spine_flex": 40} | arms("both", flex=30, elbow=30))
    k.to(ctx.sec(0.6), legs(40, 45) | {"spine_flex": 30})
    k.to(ctx.sec(0.5), pose=ctx.end)
    return track(k.render(ctx.frames))


def lie_down(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.8), CROUCH | arms("both", flex=70, elbow=20))
    k.to(ctx.sec(0.7), {"pelvis_pitch": -35.0, "spine_flex": 25} | legs(80, 95) |
         arms("both", flex=20, elbow=30))
    k.to(ctx.sec(0.8), {"pelvis_pitch": -70.0, "spine_flex": 5} | legs(30, 40))
    k.to(ctx.sec(0.5), LYING)
    out = track(k.render(ctx.frames))
    out.end_state = LIE
    return out


def get_up(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.7), {"pelvis_pitch": -40.0, "spine_flex": 30} | legs(75, 100) |
         arms("both", flex=50, elbow=20))
    k.to(ctx.sec(0.8), {"pelvis_pitch": 0.0} | CROUCH | arms("both", flex=60, elbow=20))
    k.to(ctx.sec(0.8), pose=ctx.end)
    return track(k.render(ctx.frames))


def _bend_down(ctx: Ctx) -> dict[str, float]:
    """Reach the floor: squat with a straight back, or stoop with straight legs."""
    if ctx.extra.get("how") == "squatting":
        return legs(85, 115) | {"spine_flex": 40}
    return legs(20, 15) | {"spine_flex": 75}


def pick_up(ctx: Ctx, *, put: bool = False) -> Track:
    k = Keys(ctx.start, ctx.rng)
    holding = arms(ctx.side, flex=30, elbow=80, horiz=10 if ctx.side == "both" else 0)
    if put:
        k.to(ctx.sec(0.3), holding)
    k.to(ctx.sec(0.8), _bend_down(ctx) | arms(ctx.side, flex=60, elbow=10, horiz=10))
    k.hold(ctx.sec(0.35))
    k.to(ctx.sec(0.8), pose=P.apply(ctx.end, {} if put else holding))
    if not put:
        k.hold(ctx.sec(0.3))
        k.to(ctx.sec(0.45), pose=ctx.end)
    return track(k.render(ctx.frames))


def put_down(ctx: Ctx) -> Track:
    return pick_up(ctx, put=True)


def push(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for rep in range(ctx.reps):
        k.to(ctx.sec(0.35 if rep == 0 else 0.3), arms("both", flex=75, elbow=95) |
             legs(15, 22) | {"spine_flex": 12})
        k.to(ctx.sec(0.55), arms("both", flex=85, elbow=8) | {"spine_flex": 24})
    k.to(ctx.sec(0.5), pose=ctx.end)
    return track(k.render(ctx.frames))


def pull(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for rep in range(ctx.reps):
        k.to(ctx.sec(0.4 if rep == 0 else 0.3), arms("both", flex=80, elbow=10) |
             legs(12, 20) | {"spine_flex": 15})
        k.to(ctx.sec(0.5), arms("both", flex=35, elbow=115) | legs(18, 32) |
             {"spine_flex": -8})
    k.to(ctx.sec(0.5), pose=ctx.end)
    return track(k.render(ctx.frames))


def carry(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.5), arms("both", flex=35, elbow=85, horiz=18))
    k.hold(max(ctx.sec(0.3), ctx.frames / 20.0 - ctx.sec(1.0)))
    k.to(ctx.sec(0.5), pose=ctx.end)
    return upper(ctx, k)


def bow(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.7), {"spine_flex": ctx.amp(55), "neck_flex": 15} |
         arms("both", flex=12, elbow=10) | legs(5, 5))
    k.hold(ctx.sec(0.4))
    k.to(ctx.sec(0.7), pose=ctx.end)
    return track(k.render(ctx.frames))


def wave(ctx: Ctx) -> Track:
    """Raise the arm out to the side, forearm up, and sway the forearm from the elbow."""
    k = Keys(ctx.start, ctx.rng)
    up = arms(ctx.side, abd=90, flex=90, elbow=90)
    k.to(ctx.sec(0.5), up)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.25), arms(ctx.side, abd=90, flex=90, elbow=ctx.amp(60)))
        k.to(ctx.sec(0.25), arms(ctx.side, abd=90, flex=90, elbow=ctx.amp(115)))
    k.to(ctx.sec(0.5), pose=ctx.end)
    return upper(ctx, k, spline=True)


def clap(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    apart = arms("both", flex=60, elbow=70, horiz=10)
    k.to(ctx.sec(0.4), apart)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.16), arms("both", flex=62, elbow=55, horiz=42))
        k.to(ctx.sec(0.16), apart)
    k.to(ctx.sec(0.4), pose=ctx.end)
    return upper(ctx, k)


def point(ctx: Ctx) -> Track:
    where = ctx.extra.get("aim", "forward")
    target = {"forward": arm(ctx.s, flex=88, elbow=3), "up": arm(ctx.s, flex=150, elbow=3),
              "sideways": arm(ctx.s, abd=88, elbow=3)}[where]
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.45), target)
    k.hold(ctx.sec(0.5) * ctx.reps)
    k.to(ctx.sec(0.5), pose=ctx.end)
    return upper(ctx, k)


def _to_face(ctx: Ctx, hand: dict[str, float], head: dict[str, float], hold_s: float
             ) -> Track:
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.6), mirror_for(ctx.side, hand) | head)
    k.hold(hold_s)
    k.to(ctx.sec(0.6), pose=ctx.end)
    return upper(ctx, k, head=True)


def drink(ctx: Ctx) -> Track:
    return _to_face(ctx, {"r_sh_flex": 40, "r_sh_horiz": 45, "r_elbow": 140},
                    {"neck_flex": -18}, ctx.sec(0.8))


def phone_call(ctx: Ctx) -> Track:
    tilt = -8.0 if ctx.side == "right" else 8.0
    return _to_face(ctx, {"r_sh_flex": 40, "r_sh_abd": 30, "r_sh_horiz": 25, "r_elbow": 148},
                    {"neck_tilt": tilt}, 0.9 * ctx.reps)


def scratch_head(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    on = mirror_for(ctx.side, {"r_sh_abd": 120, "r_sh_flex": 45, "r_elbow": 130})
    k.to(ctx.sec(0.6), on | {"neck_flex": 10})
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.18), {f"{ctx.s}_elbow": 118})
        k.to(ctx.sec(0.18), {f"{ctx.s}_elbow": 132})
    k.to(ctx.sec(0.6), pose=ctx.end)
    return upper(ctx, k, head=True)


def look_at_watch(ctx: Ctx) -> Track:
    return _to_face(ctx, {"r_sh_flex": 40, "r_sh_horiz": 45, "r_elbow": 100},
                    {"neck_flex": 28}, ctx.sec(0.9))


def salute(ctx: Ctx) -> Track:
    return _to_face(ctx, {"r_sh_abd": 80, "r_sh_horiz": 45, "r_elbow": 140}, {}, ctx.sec(1.0))


def look_around(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    first = ctx.rng.choice([-1.0, 1.0])
    for rep in range(ctx.reps):
        sign = first if rep % 2 == 0 else -first
        k.to(ctx.sec(0.7), {"neck_turn": sign * 65, "spine_twist": sign * 20})
        k.hold(ctx.sec(0.3))
    k.to(ctx.sec(0.6), {"neck_turn": 0.0, "spine_twist": 0.0})
    return track(k.render(ctx.frames), joints=P.HEAD + P.UPPER_TRUNK)


def shrug(ctx: Ctx) -> Track:
    k = Keys(ctx.start, ctx.rng)
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.35), {"l_collar": 18, "r_collar": 18} |
             arms("both", abd=22, elbow=85, flex=20))
        k.to(ctx.sec(0.35), {"l_collar": 0, "r_collar": 0})
    k.to(ctx.sec(0.4), pose=ctx.end)
    return upper(ctx, k)


def settle(ctx: Ctx) -> Track:
    """Move the arms into the next rest style (the planner gives it as ctx.end)."""
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.9), pose=ctx.end)
    k.hold(ctx.sec(0.3))
    return upper(ctx, k)


def _point_extras(rng) -> dict:
    aim = str(rng.choice(["forward", "up", "sideways"]))
    return {"aim": aim, "where": POINT_WORDS[aim]}


def _bend_extras(rng) -> dict:
    return {"how": str(rng.choice(["squatting", "bending over"]))}


POINT_WORDS = {"forward": "forward", "up": "up", "sideways": "out to the side"}
ACTIONS: tuple[Action, ...] = (
    Action("sit_down", "daily", "body", NONE, LOWER, 1.6, 0.0, sit_down, (
        "^sit down", "^sit down on a chair", "^lower {obj} into a seat",
        "^take a seat {speed}", "^bend {poss} knees and ^sit down"), leads_to=SIT,
        tempo=(0.6, 1.4)),
    Action("stand_up", "daily", "body", NONE, LOWER, 1.55, 0.0, stand_up, (
        "^stand up", "^get up from the chair", "^rise to {poss} feet",
        "^stand back up {speed}", "^push up from the seat and ^stand"), requires=SIT,
        tempo=(0.6, 1.4)),
    Action("lie_down", "daily", "body", NONE, FULL, 2.8, 0.0, lie_down, (
        "^lie down on the floor", "^lie down on {poss} back", "^get down and ^lie flat",
        "^lower {obj} to the ground and ^lie down"), leads_to=LIE, tempo=(0.6, 1.4)),
    Action("get_up", "daily", "body", NONE, FULL, 2.3, 0.0, get_up, (
        "^get up from the floor", "^stand up from lying down", "^get back up to {poss} feet",
        "^sit up and ^stand up"), requires=LIE, tempo=(0.6, 1.4)),
    Action("pick_up", "daily", "hand", LRB, FULL, 2.7, 0.0, pick_up, (
        "^pick something up with {hand}", "^bend down and ^pick up an object with {hand}",
        "^reach down to the floor and ^grab something with {hand}",
        "^lift an object off the ground using {hand}"), extras=_bend_extras),
    Action("put_down", "daily", "hand", LRB, FULL, 2.25, 0.0, put_down, (
        "^put something down with {hand}", "^set an object down on the floor with {hand}",
        "^bend over and ^place something on the ground with {hand}"), extras=_bend_extras),
    Action("push", "daily", "arm", NONE, FULL, 0.5, 0.85, push, (
        "^push something forward with both hands {times}", "^push a heavy object {times}",
        "^shove forward with both arms {times}", "^lean in and ^push with {poss} arms"),
        reps=(1, 3)),
    Action("pull", "daily", "arm", NONE, FULL, 0.5, 0.85, pull, (
        "^pull something toward {obj} {times}", "^pull a rope with both hands {times}",
        "^reach forward and ^pull back with both arms {times}"), reps=(1, 4)),
    Action("carry", "daily", "arm", NONE, UPPER, 1.3, 0.0, carry, (
        "^carry a box in both arms", "^carry something in front of {obj}",
        "^hold an object with both hands"), overlay_only=True),
    Action("bow", "daily", "torso", NONE, FULL, 1.8, 0.0, bow, (
        "^bow", "^bow forward", "^take a deep bow", "^bend at the waist in a bow",
        "^bow politely {speed}")),
    Action("wave", "daily", "hand", LRB, UPPER, 1.0, 0.5, wave, (
        "^wave {hand} {times}", "^wave with {hand}", "^raise {hand} and ^wave {times}",
        "^wave hello with {hand}", "^lift {arm} and ^wave it from side to side"),
        reps=(2, 6)),
    Action("clap", "daily", "hand", NONE, UPPER, 0.8, 0.32, clap, (
        "^clap {poss} hands {times}", "^clap {times}", "^applaud {speed}",
        "^bring {poss} hands together and ^clap {times}", "^give a round of applause"),
        reps=(2, 8)),
    Action("point", "daily", "hand", LR, UPPER, 0.95, 0.5, point, (
        "^point {where} with {poss} {side} hand", "^point {where} using {arm}",
        "^stretch out {arm} and ^point {where}", "^hold {arm} out pointing {where}"),
        reps=(1, 3), extras=_point_extras),
    Action("drink", "daily", "hand", LR, UPPER, 2.0, 0.0, drink, (
        "^drink from a cup in {poss} {side} hand", "^take a sip from a glass with {hand}",
        "^raise {hand} to {poss} mouth and ^drink", "^drink something with {hand}")),
    Action("phone_call", "daily", "hand", LR, UPPER, 1.2, 0.9, phone_call, (
        "^hold a phone to {poss} {side} ear", "^talk on the phone with {hand}",
        "^answer a phone call with {hand}", "^put {hand} to {poss} ear as if on the phone"),
        reps=(2, 4)),
    Action("scratch_head", "daily", "hand", LR, UPPER, 1.2, 0.36, scratch_head, (
        "^scratch {poss} head with {hand}", "^raise {hand} and ^scratch {poss} head",
        "^rub the top of {poss} head with {hand}"), reps=(2, 5)),
    Action("look_at_watch", "daily", "arm", LR, UPPER, 2.1, 0.0, look_at_watch, (
        "^check the watch on {poss} {side} wrist", "^look at a watch on {arm}",
        "^raise {arm} and ^check the time")),
    Action("salute", "daily", "hand", LR, UPPER, 2.2, 0.0, salute, (
        "^salute with {hand}", "^raise {hand} to {poss} forehead in a salute",
        "^give a military salute with {hand}")),
    Action("look_around", "daily", "head", NONE, UPPER, 0.6, 1.0, look_around, (
        "^look around", "^look to both sides", "^turn {poss} head from side to side",
        "^look around {obj} {speed}"), reps=(2, 4)),
    Action("shrug", "daily", "arm", NONE, UPPER, 0.4, 0.7, shrug, (
        "^shrug {poss} shoulders {times}", "^shrug {times}", "^lift {poss} shoulders in a shrug"),
        reps=(1, 3)),
    Action("cross_arms", "daily", "arm", NONE, UPPER, 1.2, 0.0, settle, (
        "^cross {poss} arms", "^fold {poss} arms across {poss} chest",
        "^cross {poss} arms in front of {obj}")),
    Action("hands_on_hips", "daily", "hand", NONE, UPPER, 1.2, 0.0, settle, (
        "^put {poss} hands on {poss} hips", "^rest both hands on {poss} hips",
        "^place {poss} hands on {poss} waist")),
)
REST_AFTER = {"cross_arms": "arms_crossed", "hands_on_hips": "hands_on_hips"}
