"""Cyclic stepping: walking, running, marching, side steps, stairs, stepping turns.

A gait is a phase (strides per second times time, with slow random tempo drift) read
through periodic cubic splines of each leg's hip, knee and ankle angles over one stride;
the right leg is half a stride behind the left. Stance is the first `duty` of a leg's
stride: its hip sweeps from flexed (`hip_fwd`) to extended (`hip_back`), so the planted
foot moves back under the pelvis and `physics.place_body`, which holds the support foot
still, carries the body forward at the speed the legs imply. The swing lifts the foot with
knee flexion. Amplitudes ramp in over the first step and out over the last, so a gait
starts and stops with shorter steps, and the arms swing against the legs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.interpolate import CubicSpline

from mochat.synth.v2 import pose as P
from mochat.synth.v2.library.base import Ctx, add_curves, blend
from mochat.synth.v2.motion import AUTO, LEFT_FOOT, RIGHT_FOOT, Track, minjerk, track

FPS = 20.0


@dataclass(frozen=True)
class Style:
    cadence_hz: float = 0.95  # strides (two steps) per second at tempo 1
    duty: float = 0.6  # stance share of a stride
    hip_fwd: float = 24.0  # hip flexion at foot contact
    hip_back: float = 14.0  # hip extension at toe-off
    swing_hip: float = 0.0  # extra hip flexion at mid-swing (marching, high knees)
    knee_swing: float = 58.0
    knee_load: float = 12.0  # knee flexion just after contact
    knee_contact: float = 3.0
    knee_late: float = 4.0  # late stance
    knee_toeoff: float | None = None  # None: half of knee_swing
    ankle_push: float = 14.0  # plantar flexion at toe-off
    ankle_contact: float = -4.0
    ankle_bias: float = 0.0  # tiptoe
    arm: float = 0.6  # shoulder swing per degree of hip swing
    elbow: float = 15.0
    lean: float = 3.0
    flight_m: float = 0.0  # airborne height between steps (running)
    lateral: bool = False  # side steps: hip abduction instead of flexion
    backward: bool = False
    limp: str | None = None  # 'l' / 'r': the leg with the short, stiff stance
    stairs: float = 0.0  # +1 up, -1 down: the support foot is named, the floor follows it
    late_knee: float = 0.3  # knee flexion late in the swing, a share of knee_swing
    retract: float = 5.0  # hip flexion beyond hip_fwd late in the swing, taken back at contact
    ramp_steps: int = 2  # steps to get up to speed, and to stop


WALK = Style(hip_fwd=28, hip_back=18)
JOG = Style(cadence_hz=1.4, duty=0.42, hip_fwd=36, hip_back=22, knee_swing=85, knee_load=22,
            ankle_push=20, arm=0.9, elbow=75, lean=7, flight_m=0.03, late_knee=0.45,
            retract=8.0, knee_contact=12, ramp_steps=3)
RUN = replace(JOG, cadence_hz=1.5, duty=0.36, hip_fwd=42, hip_back=26, knee_swing=100,
              arm=1.1, elbow=85, lean=11, flight_m=0.06)
SPRINT = replace(RUN, cadence_hz=1.75, duty=0.32, hip_fwd=50, hip_back=30, knee_swing=115,
                 swing_hip=55, arm=1.5, elbow=90, lean=16, flight_m=0.09, ramp_steps=4)
TIPTOE = replace(WALK, cadence_hz=1.05, hip_fwd=14, hip_back=8, knee_swing=45,
                 ankle_bias=28, ankle_push=5, ankle_contact=0, arm=0.4, elbow=30)
MARCH = replace(WALK, cadence_hz=0.9, hip_fwd=12, hip_back=6, swing_hip=65, knee_swing=80,
                arm=2.6, elbow=10, lean=0)
IN_PLACE = replace(WALK, hip_fwd=0.0, hip_back=0.0, swing_hip=38, knee_swing=62, arm=0.0,
                   lean=0, ankle_contact=0.0, ankle_push=3.0)
JOG_IN_PLACE = replace(JOG, hip_fwd=0, hip_back=0, swing_hip=45, knee_swing=95, arm=0.0,
                       flight_m=0.035, ankle_contact=4.0, ankle_push=6.0, retract=0.0)
BACKWARD = replace(WALK, cadence_hz=0.85, hip_fwd=18, hip_back=12, knee_swing=50, arm=0.4,
                   lean=-2, backward=True)
SIDESTEP = replace(WALK, cadence_hz=0.8, duty=0.62, hip_fwd=14, hip_back=0, swing_hip=16,
                   knee_swing=38, arm=0.0, lean=0, lateral=True, ankle_contact=0.0,
                   ankle_push=3.0, retract=0.0)
STAIRS_UP = replace(WALK, cadence_hz=0.7, duty=0.62, hip_fwd=60, hip_back=4, swing_hip=68,
                    knee_contact=72, knee_load=45, knee_swing=100, ankle_contact=-10,
                    ankle_push=18, arm=0.3, lean=10, stairs=1.0)
STAIRS_DOWN = replace(WALK, cadence_hz=0.7, duty=0.62, hip_fwd=20, hip_back=-30,
                      swing_hip=34, knee_contact=10, knee_load=28, knee_late=62,
                      knee_toeoff=72, knee_swing=62, ankle_contact=18, ankle_push=0.0,
                      arm=0.3, lean=4, stairs=-1.0, retract=3.0)


def step_seconds(style: Style) -> float:
    return 0.5 / style.cadence_hz


def _periodic(keys: list[tuple[float, float]]) -> CubicSpline:
    phases = np.array([k for k, _ in keys] + [1.0])
    values = np.array([v for _, v in keys] + [keys[0][1]])
    return CubicSpline(phases, values, bc_type="periodic")


def _leg_splines(st: Style) -> dict[str, CubicSpline]:
    d = st.duty
    sw = 1.0 - d
    mid_swing = max(st.hip_fwd * 0.7, st.hip_fwd + st.swing_hip * 0.5, st.swing_hip)
    # late swing: the hip retracts and the knee extends just before contact, so the foot
    # comes down almost still instead of skimming the floor
    hip = [(0.0, st.hip_fwd), (d * 0.5, (st.hip_fwd - st.hip_back) / 2), (d, -st.hip_back),
           (d + sw * 0.5, mid_swing), (d + sw * 0.8, st.hip_fwd + st.retract)]
    toeoff = st.knee_swing * 0.5 if st.knee_toeoff is None else st.knee_toeoff
    knee = [(0.0, st.knee_contact), (0.2 * d, st.knee_load), (0.75 * d, st.knee_late),
            (d, toeoff), (d + sw * 0.4, st.knee_swing),
            (d + sw * 0.8, st.knee_contact + st.late_knee * st.knee_swing)]
    # the foot's own pitch in the world (+ toes down), not the ankle angle: flat through
    # stance, the heel rising at push-off; the ankle follows from hip and knee
    foot = [(0.0, st.ankle_contact), (0.12 * d, 0.0), (0.7 * d, 0.0), (d, st.ankle_push),
            (d + sw * 0.35, -6.0), (d + sw * 0.8, st.ankle_contact - 2)]
    return {"hip": _periodic(hip), "knee": _periodic(knee), "foot": _periodic(foot)}


def _phase(ctx: Ctx, st: Style, frames: int) -> np.ndarray:
    """Strides since the start, per frame, with a slow drift of the tempo (+-5 %)."""
    drift = np.cumsum(ctx.rng.normal(0, 1, frames))
    drift = 0.05 * (drift - drift.mean()) / max(np.abs(drift - drift.mean()).max(), 1e-9)
    rate = st.cadence_hz * ctx.tempo * (1 + drift) / FPS
    return np.concatenate([[0.0], np.cumsum(rate[:-1])]) + ctx.rng.uniform(0.0, 0.2)


def _stance_foot(phase_l: np.ndarray, phase_r: np.ndarray, duty: float) -> np.ndarray:
    """The foot that touched down last among those in stance (stairs)."""
    since = np.stack([phase_l % 1.0, phase_r % 1.0], 1)
    since = np.where(since < duty, since, np.inf)
    foot = np.argmin(since, axis=1)
    return np.where(np.isfinite(since.min(1)), foot, AUTO).astype(np.int8)


def _amplitude(phase: np.ndarray, st: Style) -> np.ndarray:
    """Step amplitude: a staircase 0 -> 0.55 -> 1 ... 1 -> 0.55 -> 0 over the touchdowns
    (either foot), changing only in the middle of a step and flat at every touchdown, so
    each foot lands with the gait's own landing speed and, at the last touchdown that
    leaves a short hold, both legs reach their neutral angles together: the gait stops with
    the feet side by side and no planted foot has to slide."""
    n = len(phase)
    hold = max(2, int(round(0.15 * FPS)))
    steps = np.floor(2 * phase)
    touchdowns = [int(t) for t in np.nonzero(np.diff(steps) > 0)[0] + 1 if t <= n - 1 - hold]
    if len(touchdowns) < 3:
        idx = np.arange(n, dtype=float)
        return np.sin(np.pi * idx / max(n - 1, 1)) ** 2  # too short to step properly
    k = max(1, min(st.ramp_steps, (len(touchdowns) - 1) // 2))
    ramp = np.arange(1, k + 1) / (k + 0.8)
    levels = np.ones(len(touchdowns))
    levels[:k] = ramp
    levels[-k - 1:] = np.r_[ramp[::-1], 0.0]
    amp = np.zeros(n)
    edges = [0, *touchdowns]
    values = [0.0, *levels]
    for k in range(len(edges) - 1):
        a, b_, lo, hi = edges[k], edges[k + 1], values[k], values[k + 1]
        u = (np.arange(a, b_) - a) / max(b_ - a, 1)
        amp[a:b_] = lo + (hi - lo) * minjerk((u - 0.2) / 0.6)
    amp[touchdowns[-1]:] = 0.0
    return amp


def gait(ctx: Ctx, st: Style, *, yaw_total: float = 0.0, lateral_side: str = "l") -> Track:
    """A stepping Track over ctx.frames: start pose -> gait -> ctx.end (see module doc)."""
    n = ctx.frames
    phase = _phase(ctx, st, n)
    idx = np.arange(n, dtype=float)
    amp = _amplitude(phase, st)
    # side steps: the abduction below moves the feet; the hips only flex to lift them
    splines = _leg_splines(replace(st, hip_fwd=0.0, hip_back=0.0) if st.lateral else st)
    curves: dict[str, np.ndarray] = {}
    legs = {"l": phase, "r": phase + 0.5}
    for s, ph in legs.items():
        u = (-ph if st.backward else ph) % 1.0
        scale = ctx.amplitude * amp
        hip, knee, foot = (splines[k](u) for k in ("hip", "knee", "foot"))
        if st.limp == s:
            knee, hip = 0.6 * knee, 0.75 * hip
        if st.lateral:
            lead = 1.0 if s == lateral_side else -1.0
            in_stance = u < st.duty
            frac = np.where(in_stance, u / st.duty, (u - st.duty) / (1 - st.duty))
            rise = minjerk(frac)
            abd = np.where(in_stance, np.where(lead > 0, 1 - rise, rise),
                           np.where(lead > 0, rise, 1 - rise)) * st.hip_fwd
            curves[f"{s}_hip_abd"] = abd * scale
            curves[f"{s}_ankle_inv"] = -abd * scale
        curves[f"{s}_hip_flex"] = hip * scale
        lift = ctx.amplitude * np.minimum(1.0, 2.5 * amp)  # even a first short step lifts
        curves[f"{s}_knee"] = knee * lift
        # the sagittal pitches add up along the leg: foot = -hip + knee + ankle
        curves[f"{s}_ankle"] = (foot * lift + st.ankle_bias * np.minimum(1.0, 2 * amp)
                                + curves[f"{s}_hip_flex"] - curves[f"{s}_knee"])
        curves[f"{s}_sh_flex"] = -st.arm * hip * scale
    curves["spine_flex"] = st.lean * amp
    curves["pelvis_twist"] = 4.0 * np.sin(2 * np.pi * phase) * amp * (not st.lateral)
    curves["spine_twist"] = -curves["pelvis_twist"]
    if st.limp is not None:
        lean_side = -1.0 if st.limp == "l" else 1.0  # lean over the good leg
        phase_bad = legs[st.limp] % 1.0
        bad = phase_bad < st.duty
        curves["spine_lean"] = 6.0 * lean_side * bad * amp
        # hip hiking: the bad leg's side of the pelvis rises while it swings, to clear it
        swing = np.clip((phase_bad - st.duty) / (1 - st.duty), 0, 1)
        curves["pelvis_roll"] = -lean_side * 7.0 * np.sin(np.pi * swing) * amp
    base = blend(ctx.start, ctx.end, minjerk(idx / (n - 1)))
    arms = P.apply(ctx.end, {**P.REST_STYLES["arms_down"], "l_elbow": st.elbow,
                             "r_elbow": st.elbow})
    arm_joints = list(P.ARM["left"] + P.ARM["right"])
    base[:, arm_joints] = blend(base[:, arm_joints], arms[arm_joints],
                                np.minimum(1.0, 1.5 * amp))
    out = track(add_curves(base, curves))
    out.yaw[:] = yaw_total * np.cumsum(amp) / max(amp.sum(), 1e-9)
    if st.flight_m > 0:
        in_l, in_r = phase % 1.0 < st.duty, (phase + 0.5) % 1.0 < st.duty
        airborne = ~(in_l | in_r) & (amp > 0.6)  # no hops while speeding up or stopping
        out.lift[:] = _flights(airborne, st.flight_m * ctx.amplitude * amp)
    if st.stairs:
        stance = _stance_foot(legs["l"], legs["r"], st.duty)
        stance[amp < 0.3] = AUTO  # level steps at the start and end
        out.stance[:] = stance
    return out


def _flights(airborne: np.ndarray, height: np.ndarray) -> np.ndarray:
    """A parabola over every run of airborne frames, peaking at `height` there."""
    lift = np.zeros(len(airborne))
    t = 0
    while t < len(airborne):
        if not airborne[t]:
            t += 1
            continue
        end = t
        while end < len(airborne) and airborne[end]:
            end += 1
        u = (np.arange(t, end) - t + 1.0) / (end - t + 1.0)
        lift[t:end] = 4.0 * height[t:end] * u * (1 - u)
        t = end
    return lift


__all__ = ["AUTO", "LEFT_FOOT", "RIGHT_FOOT", "Style", "gait", "step_seconds"]
