"""What every v2 action is: a spec (names, sides, layer, timing, phrasings) and a maker.

An action's duration comes from its parameters: `(lead_s + cycle_s * reps) / tempo`
seconds. Its maker gets a `Ctx` (the pose it starts from, the rest pose it should end in,
its frames, side, repetitions, tempo, amplitude and extras) and returns a `Track`.

Layers: FULL actions own the whole body; LOWER ones (locomotion, stepping, balancing) own
the legs and root and swing the arms, and an UPPER action (waving, drinking, dribbling) may
run at the same time on its arm(s), replacing the lower action's arm swing; an UPPER action
alone keeps the legs where they are.

Phrasings are templates whose verbs are marked with `^` (inflected for the subject or as a
gerund, mochat.synth.v2.language) and slots in braces (`{hand}`, `{times}`, `{speed}` ...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mochat.synth.v2 import pose as P
from mochat.synth.v2.motion import Track

FULL, LOWER, UPPER = "full", "lower", "upper"
LR = ("left", "right")
LRB = ("left", "right", "both")
NONE = ("none",)
STAND, SIT, LIE = "stand", "sit", "lie"


@dataclass(frozen=True)
class Ctx:
    rng: np.random.Generator
    side: str
    reps: int
    tempo: float  # 1 = typical; > 1 faster
    amplitude: float  # 1 = typical
    start: np.ndarray  # (22, 3) the pose the action starts from
    end: np.ndarray  # (22, 3) the rest pose to end in (when it ends standing)
    frames: int
    extra: dict = field(default_factory=dict)

    @property
    def s(self) -> str:
        """'l' / 'r' of a one-sided action ('l' for none/both)."""
        return "r" if self.side == "right" else "l"

    @property
    def o(self) -> str:
        """The other side's 'l' / 'r'."""
        return P.OTHER[self.s]

    def sec(self, seconds: float) -> float:
        return seconds / self.tempo

    def amp(self, degrees: float) -> float:
        return degrees * self.amplitude


@dataclass(frozen=True)
class Action:
    name: str
    category: str  # locomotion / sports / daily / exercise / acrobatics / dance
    body_part: str  # hand / arm / foot / leg / torso / body (spans' body_part)
    sides: tuple[str, ...]
    layer: str
    lead_s: float  # preparation and recovery, seconds at tempo 1
    cycle_s: float  # one repetition
    make: Callable[[Ctx], Track]
    phrases: tuple[str, ...]
    reps: tuple[int, int] = (1, 1)
    tempo: tuple[float, float] = (0.8, 1.25)
    requires: str = STAND
    leads_to: str = STAND
    overlay_only: bool = False  # an UPPER action that only happens while moving (carry)
    extras: Callable[[np.random.Generator], dict] | None = None

    def seconds(self, reps: int, tempo: float) -> float:
        return (self.lead_s + self.cycle_s * reps) / tempo

    def frames(self, reps: int, tempo: float, fps: float = 20.0) -> int:
        return max(8, int(round(self.seconds(reps, tempo) * fps)))


def upper_joints(side: str) -> tuple[int, ...]:
    """The joints an UPPER action on `side` owns (both arms for 'both'/'none')."""
    if side in ("left", "right"):
        return P.ARM[side]
    return P.ARM["left"] + P.ARM["right"]


@functools.cache
def basis(name: str) -> np.ndarray:
    """(22, 3) Euler change of one DOF by +1 degree (every DOF is linear in its value).
    Cached: callers must not write into it."""
    zero = np.zeros((22, 3))
    out = P.apply(zero, {name: 1.0}) - P.apply(zero, {name: 0.0})
    out.setflags(write=False)
    return out


def add_curves(angles: np.ndarray, curves: dict[str, np.ndarray]) -> np.ndarray:
    """Add per-frame DOF changes {dof: (T,)} to (T, 22, 3) angles, in place; returns it."""
    for name, values in curves.items():
        angles += np.asarray(values)[:, None, None] * basis(name)
    return angles


def blend(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(T, 22, 3) or (22, 3) a -> b by (T,) weight."""
    return a * (1 - weight[:, None, None]) + b * weight[:, None, None]


def set_joints(pose: np.ndarray, source: np.ndarray, joints: tuple[int, ...]) -> np.ndarray:
    """A copy of `pose` with `joints` taken from `source`."""
    out = pose.copy()
    out[list(joints)] = source[list(joints)]
    return out


def leg(s: str, hip: float, knee: float, *, flat: bool = True, ankle: float = 0.0
        ) -> dict[str, float]:
    """One leg's hip and knee flexion; a grounded (flat) foot gets the ankle that keeps its
    sole level (the sagittal pitches add up along the leg: -hip + knee + ankle = 0)."""
    return {f"{s}_hip_flex": hip, f"{s}_knee": knee,
            f"{s}_ankle": hip - knee + ankle if flat else ankle}


def legs(hip: float, knee: float, ankle: float = 0.0) -> dict[str, float]:
    """Both legs bent alike, feet flat (a crouch, a squat, a ready stance)."""
    return leg("l", hip, knee, ankle=ankle) | leg("r", hip, knee, ankle=ankle)


def arm(s: str, flex: float = 0.0, abd: float = 0.0, elbow: float = 10.0,
        horiz: float = 0.0) -> dict[str, float]:
    """One arm: shoulder flexion (forward), abduction (sideways), horizontal adduction
    (across the chest) and elbow flexion, degrees from hanging straight down."""
    return {f"{s}_sh_flex": flex, f"{s}_sh_abd": abd, f"{s}_sh_horiz": horiz,
            f"{s}_elbow": elbow}


def arms(side: str, **kw: float) -> dict[str, float]:
    """`arm` on one side ('left'/'right') or both ('both'/'none')."""
    sides = ("l", "r") if side in ("both", "none") else (side[0],)
    out: dict[str, float] = {}
    for s in sides:
        out |= arm(s, **kw)
    return out


def mirror_for(side: str, dofs: Mapping[str, float]) -> dict[str, float]:
    """DOFs written for a right-sided action, mirrored when the action is left-sided."""
    from mochat.synth.v2.pose import mirror_dofs

    return mirror_dofs(dofs) if side == "left" else dict(dofs)
