"""Lay a plan's actions on one timeline and place the body in the world.

Each base action starts from the pose the previous one ended in (a rest style, seated,
lying) and ends in its own rest pose, so transitions are continuous and need no cut.
Between actions the body holds its pose; the tremor noise (low-pass, per joint, smaller on
the legs) keeps it alive. An upper-body action owns only its joints and fades in and out
over a few frames on top of what is below it (a walk's arm swing, a seated pose). The
joint angles are unwrapped over time (a cartwheel ends one turn on) and handed to
`physics.place_body` with the accumulated yaw, lift, flight velocity and stance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mochat.synth.v2 import physics
from mochat.synth.v2 import pose as P
from mochat.synth.v2.library import STAND, Ctx
from mochat.synth.v2.motion import AUTO, Track, smoothstep_ramp
from mochat.synth.v2.plan import Plan, Step

LEG_JOINTS = (1, 2, 4, 5, 7, 8, 10, 11)


@dataclass(frozen=True)
class Placed:
    step: Step
    start: int  # first frame, inclusive
    end: int  # last frame, inclusive
    overlay: bool


@dataclass(frozen=True)
class Assembled:
    joints: np.ndarray  # (T, 22, 3) world, metres
    floor: np.ndarray  # (T,) floor level under the support
    airborne: np.ndarray  # (T,) bool
    placed: list[Placed]


def _wrapped(pose: np.ndarray) -> np.ndarray:
    """The same pose with every angle in (-180, 180]: what the next action starts from."""
    return (pose + 180.0) % 360.0 - 180.0


def _make(step: Step, rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> Track:
    ctx = Ctx(rng, step.side, step.reps, step.tempo, step.amplitude, start, end, step.frames,
              dict(step.extra))
    out = step.spec.make(ctx)
    if out.frames != step.frames:
        raise AssertionError(f"{step.action}: {out.frames} frames, planned {step.frames}")
    return out


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], degrees: float
                  ) -> np.ndarray:
    """Low-pass Gaussian noise along time (axis 0): tremor without frame jumps."""
    raw = rng.normal(0.0, 1.0, size=(shape[0] + 24, *shape[1:]))
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    kernel /= np.sqrt((kernel ** 2).sum())
    out = np.zeros(shape)
    for i, k in enumerate(kernel):
        out += k * raw[i:i + shape[0]]
    return degrees * out


class _Timeline:
    def __init__(self, frames: int, pose: np.ndarray) -> None:
        self.angles = np.repeat(pose[None], frames, axis=0)
        self.yaw = np.zeros(frames)
        self.lift = np.zeros(frames)
        self.flight = np.zeros((frames, 2))
        self.stance = np.full(frames, AUTO, dtype=np.int8)

    def put(self, track: Track, at: int, yaw0: float, *, fade: int = 0) -> None:
        """Write a track from frame `at`; its weights (times a fade in/out of `fade`
        frames) mix it over what is there."""
        sl = slice(at, at + track.frames)
        weight = track.weight * smoothstep_ramp(track.frames, fade)[:, None]  # (T, 22)
        self.angles[sl] += weight[..., None] * (track.angles - self.angles[sl])
        if track.weight[:, 0].any():  # the root is the action's: it moves the body
            self.yaw[sl] = yaw0 + track.yaw
            self.lift[sl] = track.lift
            self.flight[sl] = track.flight
            self.stance[sl] = track.stance

    def hold(self, at: int, pose: np.ndarray, yaw: float) -> None:
        self.angles[at:] = pose
        self.yaw[at:] = yaw


def assemble(plan: Plan, rng: np.random.Generator, offsets: np.ndarray, *,
             noise_degrees: float, start_xz: np.ndarray, facing: float) -> Assembled:
    rest = {name: P.rest_pose(name, rng) for name in P.REST_STYLES}
    pose = rest[plan.rest_style]
    line = _Timeline(plan.frames, pose)
    cursor, yaw, state = plan.lead, 0.0, STAND
    placed: list[Placed] = []
    for step in plan.steps:
        cursor += step.gap_before
        end_pose = rest[step.rest_after] if state == STAND else pose
        if state != STAND and step.spec.layer != "upper":
            end_pose = rest[step.rest_after]  # standing up / getting up: a rest pose
        track = _make(step, rng, pose, end_pose)
        line.put(track, cursor, yaw)
        if step.overlay is not None:
            at = cursor + step.overlay_offset
            over = step.overlay
            span = slice(at, at + over.frames)
            under = line.angles[span]
            ov = _make(over, rng, under[0], under[-1])
            line.put(ov, at, yaw, fade=min(6, over.frames // 5))
            placed.append(Placed(over, at, at + over.frames - 1, True))
        placed.append(Placed(step, cursor, cursor + step.frames - 1, False))
        cursor += step.frames
        yaw += float(track.yaw[-1])
        state = track.end_state if step.spec.layer != "upper" else state
        pose = _wrapped(line.angles[cursor - 1])
        line.hold(cursor, line.angles[cursor - 1], yaw)
    angles = np.degrees(np.unwrap(np.radians(line.angles), axis=0))
    noise = _smooth_noise(rng, angles.shape, noise_degrees * rng.uniform(0.4, 1.4))
    noise[:, LEG_JOINTS] *= 0.25  # planted legs barely tremble
    noise[:, 0] = 0.0
    angles += noise
    body = physics.place_body(angles, offsets, facing + line.yaw, line.lift, line.flight,
                              line.stance, start_xz)
    placed.sort(key=lambda p: (p.start, p.end))
    return Assembled(body.joints, body.floor, line.lift > 0, placed)
