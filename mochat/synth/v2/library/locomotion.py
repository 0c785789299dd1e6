"""Locomotion: gaits (walk, jog, run, sprint, backwards, tiptoe, march, limp, side steps,
stairs, circles), stepping turns and spins, and airborne moves (jumps, hops, skips)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mochat.synth.v2 import pose as P
from mochat.synth.v2.library import gait as G
from mochat.synth.v2.library.base import FULL, LOWER, LR, NONE, Action, Ctx
from mochat.synth.v2.motion import Keys, Track, parabola, track

GRAVITY = 9.81


def _steps(style: G.Style, **kw: object):  # -> make function
    def make(ctx: Ctx) -> Track:
        return G.gait(ctx, style, **kw)  # type: ignore[arg-type]
    return make


def _walk_like(name: str, style: G.Style, phrases: tuple[str, ...], *,
               steps: tuple[int, int] = (4, 10), tempo: tuple[float, float] = (0.75, 1.3),
               body_part: str = "body", layer: str = LOWER, sides: tuple[str, ...] = NONE,
               make=None) -> Action:
    return Action(name, "locomotion", body_part, sides, layer, 0.5, G.step_seconds(style),
                  make or _steps(style), phrases, reps=steps, tempo=tempo)


def limp(ctx: Ctx) -> Track:
    return G.gait(ctx, replace(G.WALK, limp=ctx.s, cadence_hz=0.85))


def sidestep(ctx: Ctx) -> Track:
    return G.gait(ctx, G.SIDESTEP, lateral_side=ctx.s)


def _turning(style: G.Style, degrees: float, arms_out: bool = False):
    def make(ctx: Ctx) -> Track:
        sign = 1.0 if ctx.side == "left" else -1.0
        total = np.radians(degrees * ctx.rng.uniform(0.9, 1.1) if degrees < 300 else degrees)
        out = G.gait(ctx, style, yaw_total=sign * total)
        if arms_out:  # arms spread for balance while spinning
            env = np.sin(np.linspace(0, np.pi, ctx.frames)) ** 2
            lifted = P.apply(out.angles[0], {"l_sh_abd": 75, "r_sh_abd": 75,
                                             "l_elbow": 15, "r_elbow": 15})
            for j in P.ARM["left"] + P.ARM["right"]:
                out.angles[:, j] += env[:, None] * (lifted[j] - out.angles[0, j])
        return out
    return make


def _crouch(depth: float, arms: float) -> dict[str, float]:
    """Both legs bent with flat feet (ankle = hip - knee keeps the sole level)."""
    knee = 2 * depth
    return {"l_hip_flex": depth, "r_hip_flex": depth, "l_knee": knee, "r_knee": knee,
            "l_ankle": depth - knee, "r_ankle": depth - knee, "spine_flex": 0.55 * depth,
            "l_sh_flex": arms, "r_sh_flex": arms}


def _flight(keys: Keys, frames: int, takeoff: int, landing: int, height: float) -> np.ndarray:
    times = keys.times(frames)
    return parabola(frames, int(round(times[takeoff])), int(round(times[landing])), height)


_JACK_OPEN = {"l_hip_abd": 22, "r_hip_abd": 22, "l_ankle_inv": -22, "r_ankle_inv": -22,
              "l_sh_abd": 165, "r_sh_abd": 165}
_JACK_CLOSED = {"l_hip_abd": 3, "r_hip_abd": 3, "l_ankle_inv": -3, "r_ankle_inv": -3,
                "l_sh_abd": 5, "r_sh_abd": 5}


def jumps(ctx: Ctx, *, forward: bool = False, one_leg: str | None = None,
          jacks: bool = False) -> Track:
    """`reps` jumps: crouch, take off, fly (airborne for 2 sqrt(2h/g) s), land, absorb."""
    height = (0.05 if one_leg or jacks else 0.22) * ctx.amplitude * ctx.rng.uniform(0.8, 1.2)
    fly = 2 * np.sqrt(2 * height / GRAVITY)
    k = Keys(ctx.start, ctx.rng, jitter=0.08)
    held = {}
    if one_leg:  # the free leg stays bent behind
        free = P.OTHER[one_leg]
        held = {f"{free}_hip_flex": 25, f"{free}_knee": 85, f"{free}_ankle": 20}
    flights = []
    for rep in range(ctx.reps):
        depth = 14 if (one_leg or jacks) else 35 * ctx.amplitude
        arms_back = -25 if not (jacks or one_leg) else 0
        k.to(ctx.sec(0.25 if rep == 0 else 0.2), _crouch(depth, arms_back) | held)
        up = {**_crouch(0, 110 if not (jacks or one_leg) else 0), "l_ankle": 25,
              "r_ankle": 25, **held}
        k.to(ctx.sec(0.18), up)
        takeoff = len(k.durations)
        air = {"l_knee": 20, "r_knee": 20} if not one_leg else {}
        if not (jacks or one_leg):
            air |= {"l_sh_flex": 150, "r_sh_flex": 150}
        if jacks:  # legs and arms open (or close) in the air, never on the ground
            air |= _JACK_OPEN if rep % 2 == 0 else _JACK_CLOSED
        k.to(fly * 0.5, air)
        k.to(fly * 0.5, {"l_ankle": 15, "r_ankle": 15, "l_knee": 10, "r_knee": 10} | held |
             ({"l_sh_flex": 40, "r_sh_flex": 40} if not (jacks or one_leg) else {}))
        flights.append((takeoff, len(k.durations)))
    k.to(ctx.sec(0.18), _crouch(25 if not jacks else 12, 30) | held)
    k.to(ctx.sec(0.35), pose=ctx.end)
    frames = ctx.frames
    out = track(k.render(frames))
    for takeoff, landing in flights:
        out.lift[:] = np.maximum(out.lift, _flight(k, frames, takeoff, landing, height))
    if forward or one_leg:
        speed = (0.9 if forward else 0.5) * ctx.amplitude * ctx.extra.get("travel", 1.0)
        out.flight[:, 1] = np.where(out.lift > 0, speed, 0.0)
    return out


def jump_forward(ctx: Ctx) -> Track:
    return jumps(ctx, forward=True)


def jump_up(ctx: Ctx) -> Track:
    return jumps(ctx)


def hop(ctx: Ctx) -> Track:
    return jumps(ctx, one_leg=ctx.s)


def jumping_jacks(ctx: Ctx) -> Track:
    reps = ctx.reps * 2  # out and in
    return jumps(Ctx(ctx.rng, ctx.side, reps, ctx.tempo, ctx.amplitude, ctx.start, ctx.end,
                     ctx.frames, ctx.extra), jacks=True)


def skip(ctx: Ctx) -> Track:
    """Skipping: hop-steps on alternating legs, the free knee high, travelling forward."""
    k = Keys(ctx.start, ctx.rng, jitter=0.08)
    height = 0.07 * ctx.amplitude
    fly = 2 * np.sqrt(2 * height / GRAVITY)
    flights = []
    for rep in range(ctx.reps):
        s = "l" if rep % 2 == 0 else "r"
        o = P.OTHER[s]
        k.to(ctx.sec(0.15), {f"{s}_hip_flex": 15, f"{s}_knee": 30, f"{s}_ankle": -15,
                             f"{o}_hip_flex": 20, f"{o}_knee": 45, f"{o}_ankle": 10,
                             f"{s}_sh_flex": -20, f"{o}_sh_flex": 50, "l_elbow": 60,
                             "r_elbow": 60})
        k.to(ctx.sec(0.1), {f"{s}_hip_flex": -5, f"{s}_knee": 5, f"{s}_ankle": 25,
                            f"{o}_hip_flex": 70, f"{o}_knee": 95, f"{s}_sh_flex": -35,
                            f"{o}_sh_flex": 80})
        takeoff = len(k.durations)
        k.to(fly, {f"{s}_knee": 15, f"{o}_hip_flex": 45, f"{o}_knee": 60})
        flights.append((takeoff, len(k.durations)))
    k.to(ctx.sec(0.4), pose=ctx.end)
    out = track(k.render(ctx.frames))
    for takeoff, landing in flights:
        out.lift[:] = np.maximum(out.lift, _flight(k, ctx.frames, takeoff, landing, height))
    out.flight[:, 1] = np.where(out.lift > 0, 1.6 * ctx.amplitude, 0.0)
    return out


def _hop_extras(rng: np.random.Generator) -> dict:
    forward = rng.random() < 0.5
    return {"travel": 1.0 if forward else 0.0, "way": "forward" if forward else "in place"}


ACTIONS: tuple[Action, ...] = (
    _walk_like("walk", G.WALK, (
        "^walk forward {speed}", "^walk straight ahead {speed}", "^take {n:step} forward",
        "^walk {speed} in a straight line", "^stroll forward {speed}",
        "^move forward with {n:step}"), steps=(4, 12)),
    _walk_like("walk_backward", G.BACKWARD, (
        "^walk backward {speed}", "^walk backwards", "^take {n:step} backward",
        "^step back {speed}", "^back up {speed} with {n:step}", "^retreat backwards"),
        steps=(3, 8)),
    _walk_like("jog", G.JOG, (
        "^jog forward {speed}", "^jog ahead", "^jog a few steps forward",
        "^do a light jog forward", "^trot forward {speed}"), steps=(6, 14)),
    _walk_like("run", G.RUN, (
        "^run forward {speed}", "^run ahead", "^run straight forward",
        "^break into a run", "^dash forward"), steps=(6, 14), tempo=(0.9, 1.2)),
    _walk_like("sprint", G.SPRINT, (
        "^sprint forward", "^sprint ahead at full speed", "^run as fast as possible",
        "^dash forward at top speed"), steps=(8, 16), tempo=(0.95, 1.15), layer=FULL),
    _walk_like("tiptoe", G.TIPTOE, (
        "^walk forward on tiptoes", "^tiptoe forward {speed}", "^sneak forward on tiptoe",
        "^walk on the tips of {poss} toes"), steps=(4, 10), body_part="foot"),
    _walk_like("march", G.MARCH, (
        "^march forward", "^march ahead, lifting {poss} knees high",
        "^march with big arm swings", "^walk forward in a march"), steps=(4, 10),
        layer=FULL),
    _walk_like("march_in_place", replace(G.MARCH, hip_fwd=0, hip_back=0), (
        "^march in place", "^march on the spot", "^lift {poss} knees high in place",
        "^march in place {speed}"), steps=(4, 12), layer=LOWER),
    _walk_like("jog_in_place", G.JOG_IN_PLACE, (
        "^jog in place", "^jog on the spot {speed}", "^run in place",
        "^do a jog in place"), steps=(6, 16)),
    _walk_like("limp", G.WALK, (
        "^limp forward, favoring {poss} {side} leg", "^walk with a limp on the {side} leg",
        "^limp along, putting little weight on {leg}",
        "^hobble forward on an injured {side} leg"), steps=(4, 8), sides=LR, make=limp,
        tempo=(0.7, 1.0), body_part="leg"),
    _walk_like("sidestep", G.SIDESTEP, (
        "^sidestep to the {side}", "^step sideways to the {side} {speed}",
        "^shuffle to the {side}", "^take {n:step} to the {side}",
        "^move sideways toward {poss} {side}"), steps=(3, 8), sides=LR, make=sidestep,
        body_part="leg"),
    _walk_like("stairs_up", G.STAIRS_UP, (
        "^walk up the stairs", "^climb up a flight of stairs", "^go up some steps {speed}",
        "^ascend a staircase", "^walk up {n:step}"), steps=(4, 8), tempo=(0.8, 1.15),
        layer=LOWER),
    _walk_like("stairs_down", G.STAIRS_DOWN, (
        "^walk down the stairs", "^go down a flight of stairs", "^descend some steps",
        "^walk down {n:step} {speed}", "^step carefully down the stairs"), steps=(4, 8),
        tempo=(0.8, 1.15), layer=LOWER),
    _walk_like("walk_curve", G.WALK, (
        "^walk forward and ^curve to the {side}", "^walk in an arc to the {side}",
        "^walk forward while turning {side}", "^walk a curved path toward the {side}"),
        steps=(5, 10), sides=LR, make=_turning(G.WALK, 90)),
    _walk_like("walk_circle", G.WALK, (
        "^walk in a circle to the {side}", "^walk around in a full circle, turning {side}",
        "^circle around to the {side}", "^walk a full loop toward the {side}"),
        steps=(8, 14), sides=LR, make=_turning(G.WALK, 360)),
    Action("turn", "locomotion", "body", LR, LOWER, 0.4, G.step_seconds(G.IN_PLACE),
           _turning(G.IN_PLACE, 90), (
               "^turn to the {side}", "^turn {side}", "^turn ninety degrees to the {side}",
               "^rotate {poss} body to the {side}", "^face {poss} {side}"),
           reps=(2, 4), tempo=(0.8, 1.3)),
    Action("turn_around", "locomotion", "body", LR, LOWER, 0.4, G.step_seconds(G.IN_PLACE),
           _turning(G.IN_PLACE, 180), (
               "^turn around to the {side}", "^turn around over {poss} {side} shoulder",
               "^turn all the way around toward the {side}",
               "^do an about-face to the {side}"), reps=(3, 6), tempo=(0.8, 1.3)),
    Action("spin", "acrobatics", "body", LR, FULL, 0.3, 0.3,
           _turning(replace(G.IN_PLACE, cadence_hz=1.6), 360, arms_out=True), (
               "^spin around to the {side}", "^spin in a full circle toward the {side}",
               "^twirl around to the {side}", "^do a full spin to the {side}"),
           reps=(3, 6), tempo=(0.9, 1.3)),
    Action("jump_forward", "locomotion", "body", NONE, FULL, 0.65, 0.7, jump_forward, (
        "^jump forward {times}", "^leap forward {times}", "^do {n:jump} forward",
        "^jump ahead with both feet {times}", "^hop forward on both feet {times}"),
        reps=(1, 3)),
    Action("jump_up", "locomotion", "body", NONE, FULL, 0.65, 0.7, jump_up, (
        "^jump up {times}", "^jump straight up in place {times}", "^do {n:vertical jump}",
        "^jump up and down {times}", "^spring up into the air {times}"), reps=(1, 4)),
    Action("hop", "locomotion", "foot", LR, FULL, 0.6, 0.5, hop, (
        "^hop on {poss} {side} foot {times}", "^hop {way} on the {side} leg {times}",
        "^do {n:hop} on the {side} foot", "^balance on {leg} and ^hop {way}"),
        reps=(2, 6), extras=_hop_extras),
    Action("skip", "locomotion", "body", NONE, FULL, 0.45, 0.5, skip, (
        "^skip forward", "^skip ahead {speed}", "^skip along happily",
        "^do {n:skip} forward"), reps=(3, 8)),
    Action("jumping_jacks", "exercise", "body", NONE, FULL, 0.5, 0.95, jumping_jacks, (
        "^do {n:jumping jack}", "^perform jumping jacks {times}",
        "^jump and ^spread {poss} arms and legs {times}",
        "^do star jumps, ^clap overhead {times}"), reps=(2, 6), tempo=(0.8, 1.25)),
)
