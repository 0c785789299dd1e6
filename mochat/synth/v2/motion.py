"""Tracks (what one action does to the body over its frames) and keyframe interpolation.

An action is written as a few key poses with durations (`Keys`); `Keys.render` spreads
them over the action's frames and interpolates each angle with a minimum-jerk profile per
segment (zero velocity and acceleration at every key: the point-to-point movements of
reaching, kicking, sitting) or a clamped cubic spline through the keys (cyclic movements:
waving, arm circles). A few key durations are jittered so repetitions are not identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline

from mochat.synth.v2 import pose as P

AUTO, LEFT_FOOT, RIGHT_FOOT = -1, 0, 1  # Track.stance values


def minjerk(u: np.ndarray) -> np.ndarray:
    """0 -> 1 over u in [0, 1] with zero velocity and acceleration at both ends."""
    u = np.clip(u, 0.0, 1.0)
    return u ** 3 * (10.0 - 15.0 * u + 6.0 * u ** 2)


def smoothstep_ramp(frames: int, ramp: int) -> np.ndarray:
    """0 -> 1 over the first `ramp` frames, 1 -> 0 over the last `ramp`. -> (frames,)."""
    if ramp < 1:
        return np.ones(frames)
    idx = np.arange(frames, dtype=float)
    rise = minjerk((idx + 1) / (ramp + 1))
    fall = minjerk((frames - idx) / (ramp + 1))
    return np.minimum(rise, fall)


def parabola(frames: int, start: int, end: int, height: float) -> np.ndarray:
    """Airborne height: 0 outside [start, end), a parabola of `height` at its middle."""
    out = np.zeros(frames)
    if end <= start:
        return out
    idx = np.arange(start, end)
    u = (idx - start + 0.5) / (end - start)
    out[start:end] = 4.0 * height * u * (1.0 - u)
    return out


@dataclass
class Track:
    """One action over its own frames; stacked on a timeline by `assemble`."""

    angles: np.ndarray  # (T, 22, 3) absolute Euler degrees
    weight: np.ndarray  # (T, 22) how much the action owns each joint, 0..1
    yaw: np.ndarray  # (T,) radians turned since the track's first frame, + to the left
    lift: np.ndarray  # (T,) metres above the ground; > 0 is airborne
    flight: np.ndarray  # (T, 2) body-frame (left, forward) m/s added while airborne
    stance: np.ndarray  # (T,) AUTO, LEFT_FOOT or RIGHT_FOOT (the support on uneven ground)
    end_state: str = "stand"
    meta: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.angles.shape[0])


def track(angles: np.ndarray, *, joints: tuple[int, ...] | None = None) -> Track:
    """A Track of `angles` (T, 22, 3) owning `joints` (None: every joint), on the ground."""
    frames = angles.shape[0]
    weight = np.zeros((frames, 22))
    weight[:, list(joints) if joints is not None else slice(None)] = 1.0
    return Track(angles, weight, np.zeros(frames), np.zeros(frames), np.zeros((frames, 2)),
                 np.full(frames, AUTO, dtype=np.int8))


class Keys:
    """Key poses with durations (seconds at the action's tempo), rendered to frames.

    Each `to` applies DOFs on top of the previous key, so a key names only what changes.
    """

    def __init__(self, start: np.ndarray, rng: np.random.Generator | None = None,
                 jitter: float = 0.12) -> None:
        self.poses = [np.asarray(start, dtype=float)]
        self.durations: list[float] = []
        self.rng = rng
        self.jitter = jitter

    @property
    def last(self) -> np.ndarray:
        return self.poses[-1]

    def to(self, seconds: float, dofs: P.Dofs | None = None, *,
           pose: np.ndarray | None = None) -> Keys:
        base = self.last if pose is None else pose
        if self.rng is not None and self.jitter > 0:
            seconds *= float(self.rng.uniform(1 - self.jitter, 1 + self.jitter))
        self.poses.append(P.apply(base, dofs or {}))
        self.durations.append(max(seconds, 1e-3))
        return self

    def hold(self, seconds: float) -> Keys:
        return self.to(seconds)

    def seconds(self) -> float:
        return float(sum(self.durations))

    def times(self, frames: int) -> np.ndarray:
        """Key times in frames, the last key on the last frame."""
        cum = np.concatenate([[0.0], np.cumsum(self.durations)])
        return cum / cum[-1] * (frames - 1)

    def render(self, frames: int, *, spline: bool = False) -> np.ndarray:
        """(frames, 22, 3) angles through every key; the first and last keys are exact."""
        keys = np.stack(self.poses)  # (K, 22, 3)
        if len(keys) == 1 or frames == 1:
            return np.repeat(keys[:1], frames, axis=0)
        times = self.times(frames)
        idx = np.arange(frames, dtype=float)
        if spline and len(keys) > 2:
            return CubicSpline(times, keys, axis=0, bc_type="clamped")(idx)
        seg = np.clip(np.searchsorted(times, idx, side="right") - 1, 0, len(keys) - 2)
        u = (idx - times[seg]) / np.maximum(times[seg + 1] - times[seg], 1e-9)
        s = minjerk(u)[:, None, None]
        return keys[seg] * (1 - s) + keys[seg + 1] * s
