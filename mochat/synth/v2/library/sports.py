"""Sports: kicks, punches and combinations, throwing and catching, swings (golf, tennis,
baseball), a basketball jump shot, dribbling and bowling. One-sided moves are written for
the right side and mirrored (`mirror_for`)."""

from __future__ import annotations

import numpy as np

from mochat.synth.v2.library.base import (
    FULL,
    LR,
    NONE,
    UPPER,
    Action,
    Ctx,
    arm,
    leg,
    legs,
    mirror_for,
    upper_joints,
)
from mochat.synth.v2.motion import Keys, Track, parabola, track

GUARD = arm("l", flex=45, elbow=115, horiz=20) | arm("r", flex=45, elbow=115, horiz=20)


def kick(ctx: Ctx, *, sideways: bool = False) -> Track:
    """Chamber the knee, snap the leg out (forward or to the side), re-chamber, step down."""
    k = Keys(ctx.start, ctx.rng)
    s, o = ctx.s, ctx.o
    height = ctx.amp(75 if not sideways else 65)
    for rep in range(ctx.reps):
        chamber = {f"{s}_hip_flex": 60, f"{s}_knee": 95, f"{s}_ankle": 10} | GUARD
        strike = {f"{s}_hip_flex": height, f"{s}_knee": 8, f"{s}_ankle": 30,
                  "spine_flex": -10}
        if sideways:
            sign = 1.0 if s == "l" else -1.0
            chamber |= {f"{s}_hip_abd": 40, "spine_lean": -15 * sign}
            strike = {f"{s}_hip_flex": 15, f"{s}_hip_abd": height, f"{s}_knee": 5,
                      f"{s}_ankle": 10, "spine_lean": -30 * sign}
        k.to(ctx.sec(0.3 if rep == 0 else 0.15), chamber | leg(o, 8, 12))
        k.to(ctx.sec(0.15), strike)
        k.to(ctx.sec(0.2), chamber)
    k.to(ctx.sec(0.35), pose=ctx.end)
    return track(k.render(ctx.frames))


def side_kick(ctx: Ctx) -> Track:
    return kick(ctx, sideways=True)


def punch(ctx: Ctx, *, combo: bool = False) -> Track:
    """From a guard, straight punches with one fist (or lead-rear combinations)."""
    k = Keys(ctx.start, ctx.rng)
    stance = leg("l", 12, 20) | leg("r", 12, 20)
    k.to(ctx.sec(0.3), GUARD | stance)
    for _ in range(ctx.reps):
        hands = (ctx.s, ctx.o) if combo else (ctx.s,)
        for h in hands:
            twist = 20.0 if h == "r" else -20.0
            k.to(ctx.sec(0.12), arm(h, flex=88, elbow=8, horiz=25) | {"spine_twist": twist})
            k.to(ctx.sec(0.16), GUARD | {"spine_twist": 0.0})
    k.to(ctx.sec(0.35), pose=ctx.end)
    return track(k.render(ctx.frames))


def punch_combo(ctx: Ctx) -> Track:
    return punch(ctx, combo=True)


def throw(ctx: Ctx) -> Track:
    """Overhand throw: wind up behind the head, step-in lean, whip the arm over."""
    k = Keys(ctx.start, ctx.rng)
    right = {"r_sh_abd": 95, "r_sh_flex": -20, "r_elbow": 95, "spine_twist": -30,
             "spine_lean": 10, "l_sh_flex": 60, "l_elbow": 30} | leg("l", 20, 15) | \
        leg("r", 5, 15)
    k.to(ctx.sec(0.45), mirror_for(ctx.side, right))
    release = {"r_sh_abd": 40, "r_sh_flex": 140, "r_elbow": 20, "spine_twist": 25,
               "spine_flex": 20, "spine_lean": 0, "l_sh_flex": 20}
    k.to(ctx.sec(0.18), mirror_for(ctx.side, release))
    k.to(ctx.sec(0.3), mirror_for(ctx.side, {"r_sh_flex": 50, "r_sh_horiz": 50,
                                             "r_elbow": 30, "spine_twist": 30}))
    k.to(ctx.sec(0.45), pose=ctx.end)
    return track(k.render(ctx.frames))


def catch(ctx: Ctx) -> Track:
    """Reach out with both hands, receive, draw the ball in to the chest."""
    k = Keys(ctx.start, ctx.rng)
    reach = arm("l", flex=80, elbow=25, horiz=15) | arm("r", flex=80, elbow=25, horiz=15)
    k.to(ctx.sec(0.4), reach | legs(10, 18))
    k.to(ctx.sec(0.25), reach)
    k.to(ctx.sec(0.3), arm("l", flex=40, elbow=110, horiz=30) |
         arm("r", flex=40, elbow=110, horiz=30) | legs(15, 28) | {"spine_flex": 10})
    k.hold(ctx.sec(0.3))
    k.to(ctx.sec(0.45), pose=ctx.end)
    return track(k.render(ctx.frames))


def golf_swing(ctx: Ctx) -> Track:
    """Address the ball, turn into the backswing, swing through to a high finish."""
    k = Keys(ctx.start, ctx.rng)
    address = legs(22, 25) | {"spine_flex": 35} | arm("l", flex=35, elbow=10, horiz=35) | \
        arm("r", flex=35, elbow=15, horiz=35)
    k.to(ctx.sec(0.6), address)
    k.hold(ctx.sec(0.3))
    k.to(ctx.sec(0.7), {"spine_twist": -55, "l_sh_horiz": 70, "l_sh_flex": 100,
                        "r_sh_abd": 70, "r_elbow": 90, "r_sh_flex": 60})
    k.to(ctx.sec(0.25), address | {"spine_twist": 10})
    k.to(ctx.sec(0.35), {"spine_twist": 60, "spine_flex": 10, "r_sh_horiz": 70,
                         "r_sh_flex": 120, "l_sh_abd": 80, "l_elbow": 80, "l_sh_flex": 70})
    k.hold(ctx.sec(0.3))
    k.to(ctx.sec(0.6), pose=ctx.end)
    return track(k.render(ctx.frames))


def racket(ctx: Ctx, *, backhand: bool = False) -> Track:
    """A tennis stroke with the racket arm: forehand swings across the body from the
    racket side; backhand starts across the chest and swings out."""
    k = Keys(ctx.start, ctx.rng)
    ready = legs(15, 25) | {"spine_flex": 10} | arm("l", flex=40, elbow=70, horiz=30) | \
        arm("r", flex=40, elbow=70, horiz=30)
    if backhand:
        back = {"spine_twist": 45, "r_sh_horiz": 85, "r_sh_flex": 35, "r_elbow": 40}
        through = {"spine_twist": -35, "r_sh_horiz": -35, "r_sh_abd": 85, "r_elbow": 10}
    else:
        back = {"spine_twist": -45, "r_sh_horiz": -50, "r_sh_abd": 60, "r_elbow": 25}
        through = {"spine_twist": 40, "r_sh_horiz": 75, "r_sh_flex": 70, "r_sh_abd": 40,
                   "r_elbow": 40}
    k.to(ctx.sec(0.4), mirror_for(ctx.side, ready))
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.45), mirror_for(ctx.side, back))
        k.to(ctx.sec(0.25), mirror_for(ctx.side, through))
        k.to(ctx.sec(0.35), mirror_for(ctx.side, ready))
    k.to(ctx.sec(0.45), pose=ctx.end)
    return track(k.render(ctx.frames))


def forehand(ctx: Ctx) -> Track:
    return racket(ctx)


def backhand(ctx: Ctx) -> Track:
    return racket(ctx, backhand=True)


def baseball_swing(ctx: Ctx) -> Track:
    """Batting stance, load, level swing around, follow-through."""
    k = Keys(ctx.start, ctx.rng)
    stance = legs(18, 28) | {"spine_flex": 12, "l_sh_flex": 60, "l_sh_horiz": 60,
                             "l_elbow": 80, "r_sh_abd": 75, "r_elbow": 110, "r_sh_flex": 30}
    k.to(ctx.sec(0.5), stance)
    k.to(ctx.sec(0.4), {"spine_twist": -30})
    k.to(ctx.sec(0.25), {"spine_twist": 55, "l_sh_horiz": -20, "l_sh_abd": 80,
                         "l_elbow": 15, "r_sh_horiz": 70, "r_sh_flex": 80, "r_elbow": 30})
    k.to(ctx.sec(0.3), {"spine_twist": 70, "l_elbow": 80, "r_elbow": 80})
    k.to(ctx.sec(0.55), pose=ctx.end)
    return track(k.render(ctx.frames))


def basketball_shot(ctx: Ctx) -> Track:
    """Ball at the chest, dip, jump with the arms going up, release at the top, land."""
    k = Keys(ctx.start, ctx.rng)
    ball = arm("l", flex=55, elbow=110, horiz=25) | arm("r", flex=60, elbow=115, horiz=20)
    k.to(ctx.sec(0.4), ball)
    k.to(ctx.sec(0.3), legs(35, 70) | {"spine_flex": 15})
    k.to(ctx.sec(0.12), legs(0, 5, ankle=25) | arm("l", flex=140, elbow=60, horiz=20) |
         arm("r", flex=150, elbow=70, horiz=15) | {"spine_flex": 0})
    takeoff = len(k.durations)
    height = 0.25 * ctx.amplitude
    fly = 2 * np.sqrt(2 * height / 9.81)
    k.to(fly * 0.5, arm("r", flex=165, elbow=10) | arm("l", flex=150, elbow=30, horiz=25))
    k.to(fly * 0.5, legs(10, 15, ankle=15))
    landing = len(k.durations)
    k.to(ctx.sec(0.2), legs(25, 50))
    k.to(ctx.sec(0.45), pose=ctx.end)
    out = track(k.render(ctx.frames))
    times = k.times(ctx.frames)
    out.lift[:] = parabola(ctx.frames, int(round(times[takeoff])), int(round(times[landing])),
                           height)
    return out


def dribble(ctx: Ctx) -> Track:
    """Bounce a ball: the hand pushes down and rides it back up, once per bounce."""
    k = Keys(ctx.start, ctx.rng)
    up = {"r_sh_flex": 35, "r_elbow": 75, "r_sh_abd": 15}
    down = {"r_sh_flex": 22, "r_elbow": 25, "r_sh_abd": 15}
    k.to(ctx.sec(0.35), mirror_for(ctx.side, up))
    for _ in range(ctx.reps):
        k.to(ctx.sec(0.22), mirror_for(ctx.side, down))
        k.to(ctx.sec(0.22), mirror_for(ctx.side, up))
    k.to(ctx.sec(0.35), pose=ctx.end)
    return track(k.render(ctx.frames, spline=True), joints=upper_joints(ctx.side))


def bowl(ctx: Ctx) -> Track:
    """Bowling: swing the ball back, stride and slide into a low release."""
    k = Keys(ctx.start, ctx.rng)
    k.to(ctx.sec(0.4), mirror_for(ctx.side, {"r_sh_flex": 50, "r_elbow": 60,
                                             "l_sh_flex": 40, "l_elbow": 60}))
    k.to(ctx.sec(0.5), mirror_for(ctx.side, {"r_sh_flex": -60, "r_elbow": 5,
                                             "l_sh_abd": 50, "spine_flex": 25} |
                                  leg("l", 30, 40) | leg("r", 10, 20)))
    k.to(ctx.sec(0.35), mirror_for(ctx.side, {"r_sh_flex": 40, "spine_flex": 40} |
                                   leg("l", 60, 80) | leg("r", -15, 35)))
    k.to(ctx.sec(0.35), mirror_for(ctx.side, {"r_sh_flex": 110, "r_elbow": 20}))
    k.to(ctx.sec(0.6), pose=ctx.end)
    return track(k.render(ctx.frames))


ACTIONS: tuple[Action, ...] = (
    Action("kick", "sports", "foot", LR, FULL, 0.65, 0.5, kick, (
        "^kick forward with {poss} {side} foot {times}", "^kick with the {side} leg {times}",
        "^do {n:front kick} with {poss} {side} leg", "^kick {poss} {side} foot out in front",
        "^lift the {side} knee and ^kick {times}"), reps=(1, 3)),
    Action("side_kick", "sports", "leg", LR, FULL, 0.65, 0.5, side_kick, (
        "^kick out to the side with the {side} leg {times}",
        "^do {n:side kick} with {poss} {side} foot",
        "^raise {leg} sideways in a kick {times}"), reps=(1, 3)),
    Action("punch", "sports", "arm", LR, FULL, 0.65, 0.28, punch, (
        "^punch with {poss} {side} fist {times}", "^throw {n:punch} with the {side} hand",
        "^jab forward with {poss} {side} arm {times}",
        "^raise {poss} fists and ^punch with the {side} hand {times}"), reps=(1, 5)),
    Action("punch_combo", "sports", "arm", LR, FULL, 0.65, 0.56, punch_combo, (
        "^throw a {side} jab and a {other} cross {times}",
        "^punch with the {side} fist and then the {other} fist {times}",
        "^alternate {side} and {other} punches {times}",
        "^do {n:one-two combination} leading with the {side} hand"), reps=(1, 3)),
    Action("throw", "sports", "arm", LR, FULL, 1.4, 0.0, throw, (
        "^throw a ball with {poss} {side} arm", "^throw something overhand with {hand}",
        "^wind up and ^throw with the {side} hand",
        "^make an overhand throwing motion with {arm}")),
    Action("catch", "sports", "hand", NONE, FULL, 1.7, 0.0, catch, (
        "^catch a ball with both hands", "^reach out and ^catch something",
        "^catch an object and ^pull it to {poss} chest", "^hold out {poss} hands to catch")),
    Action("golf_swing", "sports", "arm", NONE, FULL, 3.1, 0.0, golf_swing, (
        "^swing a golf club", "^take a golf swing", "^address the ball and ^swing like a golfer",
        "^make a full golf swing and ^hold the finish")),
    Action("tennis_forehand", "sports", "arm", LR, FULL, 0.85, 1.05, forehand, (
        "^hit a forehand with {poss} {side} hand {times}",
        "^swing a tennis racket with the {side} arm {times}",
        "^play a tennis forehand on the {side} side",
        "^swing {arm} across {poss} body like a tennis player {times}"), reps=(1, 3)),
    Action("tennis_backhand", "sports", "arm", LR, FULL, 0.85, 1.05, backhand, (
        "^hit a backhand with {poss} {side} hand {times}",
        "^swing a backhand with the racket in the {side} hand {times}",
        "^play a tennis backhand with {arm}"), reps=(1, 3)),
    Action("baseball_swing", "sports", "arm", NONE, FULL, 2.0, 0.0, baseball_swing, (
        "^swing a baseball bat", "^take a swing with a bat", "^bat like a baseball player",
        "^get into a batting stance and ^swing")),
    Action("basketball_shot", "sports", "arm", NONE, FULL, 2.0, 0.0, basketball_shot, (
        "^shoot a basketball", "^jump and ^shoot a ball toward a hoop",
        "^take a jump shot", "^throw a ball up with both hands in a jump shot")),
    Action("dribble", "sports", "hand", LR, UPPER, 0.7, 0.44, dribble, (
        "^dribble a ball with {poss} {side} hand", "^bounce a ball with the {side} hand",
        "^dribble a basketball {times} with {hand}"), reps=(3, 8), tempo=(0.85, 1.3)),
    Action("bowl", "sports", "arm", LR, FULL, 2.2, 0.0, bowl, (
        "^bowl a ball with {poss} {side} hand", "^roll a bowling ball with the {side} arm",
        "^swing {arm} back and ^bowl")),
)
