"""The atomic action library of the synthetic corpus.

Each action turns (frames, rng, side) into a `Piece`: joint-angle offsets added to the base
pose, a body-frame velocity, a yaw rate and a jump lift, all over the action's own frames.
Transient actions fade in and out with an envelope, so consecutive pieces join smoothly;
`sit_down` ends seated, and only `stand_up` may follow it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mochat.synth import body as b


@dataclass
class Piece:
    angles: np.ndarray  # (T, 22, 3) degrees added to the base pose
    velocity: np.ndarray  # (T, 2) m/s in the body frame: (left, forward)
    yaw_rate: np.ndarray  # (T,) rad/s, positive turns left
    lift: np.ndarray  # (T,) metres above the ground contact


@dataclass(frozen=True)
class ActionSpec:
    name: str
    sides: tuple[str, ...]  # ("none",) or ("left", "right") or ("left", "right", "both")
    body_part: str  # hand / arm / foot / leg / torso / body
    frames: tuple[int, int]  # duration range at 20 fps
    phrases: tuple[str, ...]  # "{side}" is replaced by the side word
    make: Callable[[int, np.random.Generator, str], Piece]


def _empty(n: int) -> Piece:
    return Piece(np.zeros((n, 22, 3)), np.zeros((n, 2)), np.zeros(n), np.zeros(n))


def envelope(n: int, ramp: float = 0.25) -> np.ndarray:
    """0 -> 1 -> 0 with smoothstep ramps over `ramp` of the duration at each end."""
    u = np.linspace(0.0, 1.0, n)
    rise = np.clip(u / ramp, 0, 1)
    fall = np.clip((1 - u) / ramp, 0, 1)
    s = np.minimum(rise, fall)
    return s * s * (3 - 2 * s)


def _ramp_up(n: int) -> np.ndarray:
    s = np.linspace(0.0, 1.0, n)
    return s * s * (3 - 2 * s)


def _gait(n: int, rng: np.random.Generator, *, speed: float, stride_hz: float, hip: float,
          knee: float, arm: float, lean: float, backward: bool = False) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.15)
    t = np.arange(n) / 20.0
    phase = 2 * np.pi * stride_hz * t * (-1 if backward else 1) + rng.uniform(0, 2 * np.pi)
    for side, shift in (("left", 0.0), ("right", np.pi)):
        swing = np.sin(phase + shift)
        piece.angles[:, b.HIP[side], 0] = -hip * swing * env
        bend = np.clip(np.sin(phase + shift + 1.2), 0, None)  # knee bends in the swing phase
        piece.angles[:, b.KNEE[side], 0] = knee * bend * env
        piece.angles[:, b.SHOULDER[side], 0] = arm * swing * env  # arms swing against legs
    piece.angles[:, b.SPINE1, 0] = lean * env
    piece.velocity[:, 1] = (-speed if backward else speed) * env
    return piece


def walk(n: int, rng: np.random.Generator, side: str) -> Piece:
    return _gait(n, rng, speed=rng.uniform(0.9, 1.4), stride_hz=0.9, hip=25, knee=45, arm=18,
                 lean=3)


def walk_backward(n: int, rng: np.random.Generator, side: str) -> Piece:
    return _gait(n, rng, speed=rng.uniform(0.5, 0.9), stride_hz=0.8, hip=20, knee=40, arm=10,
                 lean=-3, backward=True)


def run(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _gait(n, rng, speed=rng.uniform(2.0, 3.0), stride_hz=1.4, hip=40, knee=90, arm=35,
                  lean=12)
    piece.angles[:, b.L_ELBOW, 1] += -70 * envelope(n, 0.15)
    piece.angles[:, b.R_ELBOW, 1] += 70 * envelope(n, 0.15)
    return piece


def _crouch(piece: Piece, amount: np.ndarray, depth: float) -> None:
    for side in ("left", "right"):
        piece.angles[:, b.HIP[side], 0] += -depth * amount
        piece.angles[:, b.KNEE[side], 0] += 2 * depth * amount
    piece.angles[:, b.SPINE1, 0] += 0.6 * depth * amount


def jump(n: int, rng: np.random.Generator, side: str, *, forward: bool = False) -> Piece:
    piece = _empty(n)
    u = np.linspace(0, 1, n)
    # crouch 0-35 %, flight 35-65 %, landing crouch 65-100 %
    crouch = np.exp(-((u - 0.25) / 0.1) ** 2) + np.exp(-((u - 0.78) / 0.1) ** 2)
    _crouch(piece, crouch, rng.uniform(30, 45))
    flight = np.clip((u - 0.35) / 0.3, 0, 1)
    piece.lift[:] = np.where((u > 0.35) & (u < 0.65), 4 * flight * (1 - flight), 0.0)
    piece.lift *= rng.uniform(0.2, 0.4)
    arms = np.exp(-((u - 0.45) / 0.15) ** 2)
    piece.angles[:, b.L_SHOULDER, 0] += -60 * arms
    piece.angles[:, b.R_SHOULDER, 0] += -60 * arms
    if forward:
        piece.velocity[:, 1] = np.where((u > 0.3) & (u < 0.7), rng.uniform(1.5, 2.5), 0.0)
    return piece


def jump_forward(n: int, rng: np.random.Generator, side: str) -> Piece:
    return jump(n, rng, side, forward=True)


def squat(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.4)
    _crouch(piece, env, rng.uniform(55, 75))
    for arm in ("left", "right"):
        piece.angles[:, b.SHOULDER[arm], 0] += -70 * env
    return piece


SIT_ANGLES = {(b.L_HIP, 0): -85.0, (b.R_HIP, 0): -85.0, (b.L_KNEE, 0): 90.0,
              (b.R_KNEE, 0): 90.0, (b.SPINE1, 0): 10.0}


def sit_down(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    ramp = _ramp_up(n)
    for (joint, axis), angle in SIT_ANGLES.items():
        piece.angles[:, joint, axis] = angle * ramp
    return piece


def stand_up(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = sit_down(n, rng, side)
    piece.angles = piece.angles[::-1].copy()
    lean = np.sin(np.linspace(0, np.pi, n))
    piece.angles[:, b.SPINE1, 0] += 25 * lean  # lean forward to rise
    return piece


def turn(n: int, rng: np.random.Generator, side: str, *, degrees: float | None = None) -> Piece:
    piece = _gait(n, rng, speed=0.0, stride_hz=1.0, hip=10, knee=20, arm=4, lean=0)
    total = np.radians(degrees if degrees is not None else rng.uniform(80, 180))
    env = envelope(n, 0.3)
    piece.yaw_rate[:] = b.SIDE_SIGN[side] * total * 20.0 * env / env.sum()
    return piece


def spin(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = turn(n, rng, rng.choice(["left", "right"]), degrees=360.0)
    env = envelope(n, 0.3)
    for arm in ("left", "right"):
        piece.angles[:, b.SHOULDER[arm], 2] += b.SIDE_SIGN[arm] * 60 * env  # arms out
    return piece


def _raise(piece: Piece, side: str, amount: np.ndarray, degrees: float) -> None:
    sides = ("left", "right") if side == "both" else (side,)
    for s in sides:
        piece.angles[:, b.SHOULDER[s], 2] += b.SIDE_SIGN[s] * degrees * amount


def raise_arm(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    _raise(piece, side, envelope(n, 0.3), rng.uniform(140, 165))
    return piece


def wave(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.2)
    _raise(piece, side, env, 135)
    t = np.arange(n) / 20.0
    osc = np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
    piece.angles[:, b.ELBOW[side], 1] += -b.SIDE_SIGN[side] * (45 + 30 * osc) * env
    return piece


def kick(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    u = np.linspace(0, 1, n)
    lift = np.exp(-((u - 0.5) / 0.18) ** 2)
    chamber = np.exp(-((u - 0.35) / 0.12) ** 2)
    piece.angles[:, b.HIP[side], 0] = -rng.uniform(60, 85) * lift
    piece.angles[:, b.KNEE[side], 0] = 80 * chamber
    other = "right" if side == "left" else "left"
    piece.angles[:, b.SHOULDER[other], 0] = -25 * lift
    piece.angles[:, b.SPINE1, 0] = -8 * lift
    return piece


def punch(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.25)
    u = np.linspace(0, 1, n)
    strike = np.exp(-((u - 0.55) / 0.12) ** 2)
    sign = b.SIDE_SIGN[side]
    piece.angles[:, b.SHOULDER[side], 2] += sign * 70 * env  # arm up to shoulder height
    piece.angles[:, b.SHOULDER[side], 1] += -sign * 80 * env  # pointing forward
    piece.angles[:, b.ELBOW[side], 1] += -sign * 110 * env * (1 - strike)
    piece.angles[:, b.SPINE2, 1] += -sign * 15 * strike  # twist into the punch
    return piece


def step_side(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.3)
    u = np.linspace(0, 1, n)
    abduct = np.sin(np.pi * u) ** 2
    sign = b.SIDE_SIGN[side]
    piece.angles[:, b.HIP[side], 2] = sign * 20 * abduct
    piece.velocity[:, 0] = sign * rng.uniform(0.4, 0.7) * env
    return piece


def bend_forward(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.35)
    depth = rng.uniform(50, 80)
    for joint, share in ((b.SPINE1, 0.5), (b.SPINE2, 0.3), (b.SPINE3, 0.2)):
        piece.angles[:, joint, 0] = depth * share * env
    for arm in ("left", "right"):
        piece.angles[:, b.SHOULDER[arm], 0] += -30 * env
    return piece


def clap(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.2)
    t = np.arange(n) / 20.0
    osc = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
    for arm in ("left", "right"):
        sign = b.SIDE_SIGN[arm]
        piece.angles[:, b.SHOULDER[arm], 2] += sign * 60 * env
        piece.angles[:, b.SHOULDER[arm], 1] += -sign * (55 + 35 * osc) * env  # hands meet
    return piece


def throw(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    u = np.linspace(0, 1, n)
    windup = np.exp(-((u - 0.35) / 0.12) ** 2)
    release = np.exp(-((u - 0.6) / 0.1) ** 2)
    sign = b.SIDE_SIGN[side]
    piece.angles[:, b.SHOULDER[side], 2] += sign * 150 * (windup + 0.7 * release)
    piece.angles[:, b.SHOULDER[side], 0] += 50 * windup - 70 * release
    piece.angles[:, b.SPINE2, 1] += sign * 25 * windup - sign * 20 * release
    return piece


def lunge(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    env = envelope(n, 0.35)
    other = "right" if side == "left" else "left"
    piece.angles[:, b.HIP[side], 0] = -70 * env
    piece.angles[:, b.KNEE[side], 0] = 75 * env
    piece.angles[:, b.HIP[other], 0] = 25 * env
    piece.angles[:, b.KNEE[other], 0] = 70 * env
    return piece


def idle(n: int, rng: np.random.Generator, side: str) -> Piece:
    piece = _empty(n)
    t = np.arange(n) / 20.0
    piece.angles[:, b.SPINE1, 2] = 2.0 * np.sin(2 * np.pi * 0.3 * t)
    return piece


LR = ("left", "right")
ACTIONS: dict[str, ActionSpec] = {s.name: s for s in (
    ActionSpec("walk_forward", ("none",), "body", (40, 80),
               ("walks forward", "walks straight ahead", "takes a few steps forward"), walk),
    ActionSpec("walk_backward", ("none",), "body", (40, 70),
               ("walks backward", "walks backwards slowly", "steps back a few paces"),
               walk_backward),
    ActionSpec("run", ("none",), "body", (30, 60),
               ("runs forward", "jogs ahead", "runs quickly forward"), run),
    ActionSpec("jump", ("none",), "body", (24, 36),
               ("jumps in place", "jumps up", "hops up and down once"), jump),
    ActionSpec("jump_forward", ("none",), "body", (24, 36),
               ("jumps forward", "leaps forward", "does a jump forward"), jump_forward),
    ActionSpec("squat", ("none",), "leg", (30, 50),
               ("squats down and stands back up", "does a squat", "bends the legs into a squat"),
               squat),
    ActionSpec("sit_down", ("none",), "body", (30, 45),
               ("sits down", "lowers into a seat", "sits down slowly"), sit_down),
    ActionSpec("stand_up", ("none",), "body", (30, 45),
               ("stands up", "gets up from the seat", "rises to stand"), stand_up),
    ActionSpec("turn", LR, "body", (25, 45),
               ("turns to the {side}", "turns {side}", "turns around to the {side}"), turn),
    ActionSpec("wave", LR, "hand", (35, 60),
               ("waves their {side} hand", "waves with the {side} hand",
                "raises the {side} hand and waves"), wave),
    ActionSpec("raise_arm", (*LR, "both"), "arm", (30, 50),
               ("raises the {side} arm", "lifts their {side} arm up",
                "puts the {side} arm up and lowers it"), raise_arm),
    ActionSpec("kick", LR, "foot", (20, 35),
               ("kicks with the {side} foot", "kicks forward with their {side} leg",
                "does a kick with the {side} foot"), kick),
    ActionSpec("punch", LR, "arm", (20, 35),
               ("punches with the {side} arm", "throws a punch with the {side} hand",
                "punches forward with their {side} fist"), punch),
    ActionSpec("step_side", LR, "leg", (25, 40),
               ("steps to the {side}", "takes a step {side}", "sidesteps to the {side}"),
               step_side),
    ActionSpec("bend_forward", ("none",), "torso", (35, 55),
               ("bends forward", "bends the torso forward", "leans down and bends over"),
               bend_forward),
    ActionSpec("clap", ("none",), "hand", (30, 50),
               ("claps their hands", "claps both hands together", "applauds"), clap),
    ActionSpec("throw", LR, "arm", (25, 40),
               ("throws something with the {side} hand", "throws a ball with their {side} arm",
                "makes a throwing motion with the {side} arm"), throw),
    ActionSpec("lunge", LR, "leg", (35, 55),
               ("lunges forward with the {side} leg", "does a lunge on the {side} leg",
                "steps into a lunge with their {side} leg"), lunge),
    ActionSpec("spin", ("none",), "body", (30, 45),
               ("spins around", "turns a full circle", "spins in place"), spin),
    ActionSpec("idle", ("none",), "body", (20, 40),
               ("stands still", "stays in place", "stands idle"), idle),
)}


def action_variants() -> list[tuple[str, str]]:
    """Every (action, side) pair: the atomic action classes of the corpus."""
    return [(name, side) for name, spec in ACTIONS.items() for side in spec.sides]
