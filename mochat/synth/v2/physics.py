"""Joint angles -> world joints with the body carried by its contacts, not by a velocity.

`place_body` runs forward kinematics with the pelvis at the origin and then:

1. Height. Every joint has a clearance (its height less a contact radius; a foot's is the
   lower of its toe and its ankle less the ankle height). On the ground the body is lifted
   so the support's clearance sits on the floor level: the lowest clearance (AUTO), or the
   named stance foot on uneven ground; when the named foot changes, the floor level moves
   by the height difference of the two feet at that frame (a stair's rise comes from the
   pose). Airborne frames (lift > 0) put the lowest clearance `lift` above the floor.
2. Ground travel. On the ground, the pelvis moves so that the support joint (the joint of
   lowest clearance, or the stance foot's) keeps its horizontal world position from one
   frame to the next: the stance foot pushes the body along, so the root's speed is the
   gait's, a turn pivots about the standing foot, a cartwheel rolls over hands and feet.
   Airborne, the body keeps its take-off velocity plus the track's flight velocity.
3. Foot locking. A foot on the ground that is not the support (double stance) is held in
   place by two-bone IK of its leg (hip fixed, knee kept in the leg's plane); after lift-off
   the correction fades in a few frames. Bone lengths are exact throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from mochat.synth import body as b
from mochat.synth.v2.motion import AUTO

FPS = 20.0
LEGS = {0: (b.L_HIP, b.L_KNEE, b.L_ANKLE, 10), 1: (b.R_HIP, b.R_KNEE, b.R_ANKLE, 11)}
CONTACT_M = 0.02  # a foot this close to its floor level is on the ground ...
CONTACT_MPS = 1.0  # ... unless it moves faster than this: a swinging foot passing low
# contact radius per joint (m): how far the body's surface is below the joint centre
RADIUS = np.array([0.09, 0.08, 0.08, 0.09, 0.05, 0.05, 0.09, 0.0, 0.0, 0.09, 0.0, 0.0,
                   0.06, 0.06, 0.06, 0.10, 0.05, 0.05, 0.04, 0.04, 0.05, 0.05])


@dataclass(frozen=True)
class Placed:
    joints: np.ndarray  # (T, 22, 3) world, metres, y up
    floor: np.ndarray  # (T,) floor level under the support
    contact: np.ndarray  # (T, 2) bool: left / right foot on the ground


def ankle_height(offsets: np.ndarray) -> float:
    """How far a flat foot's ankle is above its toe joint (the sole)."""
    return float(-offsets[10, 1])


def clearances(local: np.ndarray, ankle_h: float) -> np.ndarray:
    """(T, 22, 3) -> (T, 22): joint heights less contact radii; an ankle less the foot's
    height, so a flat foot has toe and ankle clearance equal."""
    clear = local[..., 1] - RADIUS
    clear[:, [b.L_ANKLE, b.R_ANKLE]] -= ankle_h
    return clear


def foot_clearance(clear: np.ndarray) -> np.ndarray:
    """(T, 22) -> (T, 2): each foot's lowest point."""
    return np.stack([clear[:, [b.L_ANKLE, 10]].min(1), clear[:, [b.R_ANKLE, 11]].min(1)], 1)


def _support_joint(clear_t: np.ndarray, motion_t: np.ndarray, stance: int, current: int
                   ) -> int:
    """The joint the body rests on: the named stance foot's lower point; or, among the
    joints within CONTACT_M / 2 of the lowest, the one moving least relative to the body
    (a foot being lifted out of double stance moves, the standing one does not), the
    current support kept unless another moves clearly less."""
    if stance != AUTO:
        ankle, toe = LEGS[stance][2], LEGS[stance][3]
        return ankle if clear_t[ankle] <= clear_t[toe] else toe
    near = np.nonzero(clear_t - clear_t.min() < CONTACT_M / 2)[0]
    best = int(near[np.argmin(motion_t[near])])
    if current in near and motion_t[current] <= 1.5 * motion_t[best] + 1e-4:
        return current
    return best


def _heights(clear: np.ndarray, lift: np.ndarray, stance: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Vertical shift of the pelvis and the floor level per frame (step 1)."""
    frames = clear.shape[0]
    feet = foot_clearance(clear)
    shift, floor = np.zeros(frames), np.zeros(frames)
    level = 0.0
    for t in range(frames):
        if t > 0 and stance[t] != stance[t - 1] and stance[t] != AUTO and stance[t - 1] != AUTO:
            level += feet[t, stance[t]] - feet[t, stance[t - 1]]
        floor[t] = level
        support = clear[t].min() if stance[t] == AUTO or lift[t] > 0 else feet[t, stance[t]]
        shift[t] = level - support + lift[t]
    return shift, floor


def _travel(local: np.ndarray, clear: np.ndarray, yaw: np.ndarray, lift: np.ndarray,
            flight: np.ndarray, stance: np.ndarray, start_xz: np.ndarray, fps: float
            ) -> np.ndarray:
    """Horizontal pelvis positions (T, 2) from the support joint (step 2)."""
    frames = local.shape[0]
    root = np.zeros((frames, 2))
    root[0] = start_xz
    momentum = np.zeros(2)
    joint = -1
    for t in range(1, frames):
        if lift[t] > 0:
            left, fwd = flight[t]
            push = np.array([left * np.cos(yaw[t]) + fwd * np.sin(yaw[t]),
                             -left * np.sin(yaw[t]) + fwd * np.cos(yaw[t])])
            root[t] = root[t - 1] + (momentum + push) / fps
            joint = -1
            continue
        motion = np.linalg.norm(local[t] - local[t - 1], axis=-1)
        joint = _support_joint(clear[t], motion, int(stance[t]), joint)
        root[t] = root[t - 1] + local[t - 1, joint, [0, 2]] - local[t, joint, [0, 2]]
        momentum = 0.5 * momentum + 0.5 * (root[t] - root[t - 1]) * fps
    return root


def two_bone(hip: np.ndarray, knee: np.ndarray, target: np.ndarray, thigh: float,
             shin: float) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle positions reaching `target` from `hip`, the knee in the plane of the
    current knee. (3,) vectors -> (knee, ankle)."""
    reach = target - hip
    dist = float(np.linalg.norm(reach))
    axis = reach / max(dist, 1e-9)
    dist = float(np.clip(dist, abs(thigh - shin) + 1e-4, (thigh + shin) * 0.9999))
    bend = (knee - hip) - np.dot(knee - hip, axis) * axis
    norm = float(np.linalg.norm(bend))
    bend = bend / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])
    along = (thigh ** 2 - shin ** 2 + dist ** 2) / (2 * dist)
    across = np.sqrt(max(thigh ** 2 - along ** 2, 0.0))
    return hip + along * axis + across * bend, hip + dist * axis


def contact_intervals(height: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """(T,) foot height above its floor and horizontal speed -> (T,) bool contact: a run of
    frames below CONTACT_M, starting at its first frame slower than CONTACT_MPS (a foot
    skimming the floor in swing is not planted) and held until the foot lifts."""
    frames = len(height)
    out = np.zeros(frames, bool)
    t = 0
    while t < frames:
        if height[t] >= CONTACT_M:
            t += 1
            continue
        end = t
        while end < frames and height[end] < CONTACT_M:
            end += 1
        slow = np.nonzero(speed[t:end] < CONTACT_MPS)[0]
        if len(slow):
            out[t + slow[0]:end] = True
        t = end
    return out


def _lock_feet(joints: np.ndarray, contact: np.ndarray, clear_world: np.ndarray, *,
               decay: float) -> None:
    """Hold each grounded foot's lowest point in place with leg IK (step 3), in place."""
    frames = joints.shape[0]
    for foot, (hip, knee, ankle, toe) in LEGS.items():
        thigh = float(np.linalg.norm(joints[0, knee] - joints[0, hip]))
        shin = float(np.linalg.norm(joints[0, ankle] - joints[0, knee]))
        shift = np.zeros(2)
        pinned, pin_xz = -1, np.zeros(2)
        for t in range(frames):
            if contact[t, foot]:
                low = ankle if clear_world[t, ankle] <= clear_world[t, toe] else toe
                if low != pinned:  # (re)pin where the corrected point is now
                    pinned, pin_xz = low, joints[t, low, [0, 2]] + shift
                shift = pin_xz - joints[t, low, [0, 2]]
            else:
                pinned = -1
                shift = shift * decay  # the swinging foot catches up within a few frames
            if not np.any(np.abs(shift) > 1e-7):
                continue
            target = joints[t, ankle].copy()
            target[[0, 2]] += shift
            new_knee, new_ankle = two_bone(joints[t, hip], joints[t, knee], target, thigh,
                                           shin)
            joints[t, toe] += new_ankle - joints[t, ankle]
            joints[t, knee], joints[t, ankle] = new_knee, new_ankle


def place_body(angles: np.ndarray, offsets: np.ndarray, yaw: np.ndarray, lift: np.ndarray,
               flight: np.ndarray, stance: np.ndarray, start_xz: np.ndarray, *,
               substeps: int = 3) -> Placed:
    """(T, 22, 3) degrees and per-frame yaw (rad), lift (m), flight (T, 2) m/s, stance
    -> world joints (T, 22, 3) carried by their contacts (see the module docstring).

    The contacts are solved at `substeps` times the frame rate (angles and yaw through a
    cubic spline, lift and flight linearly) and every `substeps`-th frame is kept: at
    20 fps a running foot travels 30 cm between frames, too coarse to plant it."""
    frames = angles.shape[0]
    if substeps > 1 and frames > 3:
        t0 = np.arange(frames, dtype=float)
        t1 = np.arange((frames - 1) * substeps + 1) / substeps
        fine = _place(CubicSpline(t0, angles, axis=0)(t1), offsets,
                      CubicSpline(t0, yaw)(t1), np.interp(t1, t0, lift),
                      np.stack([np.interp(t1, t0, flight[:, k]) for k in (0, 1)], 1),
                      stance[np.round(t1).astype(int)], start_xz, FPS * substeps)
        return Placed(fine.joints[::substeps], fine.floor[::substeps],
                      fine.contact[::substeps])
    return _place(angles, offsets, yaw, lift, flight, stance, start_xz, FPS)


def _place(angles: np.ndarray, offsets: np.ndarray, yaw: np.ndarray, lift: np.ndarray,
           flight: np.ndarray, stance: np.ndarray, start_xz: np.ndarray, fps: float
           ) -> Placed:
    local = b.forward_kinematics(angles, offsets, yaw, np.zeros((len(yaw), 3)))
    ankle_h = ankle_height(offsets)
    clear = clearances(local, ankle_h)
    shift, floor = _heights(clear, lift, stance)
    root = _travel(local, clear, yaw, lift, flight, stance, start_xz, fps)
    joints = local.copy()
    joints[..., 0] += root[:, None, 0]
    joints[..., 1] += shift[:, None]
    joints[..., 2] += root[:, None, 1]
    clear_world = clear + shift[:, None]
    feet = foot_clearance(clear_world)
    speed = np.zeros((len(feet), 2))
    for foot, (_, _, ankle, toe) in LEGS.items():
        step = np.diff(joints[:, [ankle, toe]][..., [0, 2]], axis=0)  # (T-1, 2, 2)
        speed[1:, foot] = np.linalg.norm(step, axis=-1).min(axis=1) * fps
    height = np.where(lift[:, None] > 0, np.inf, feet - floor[:, None])
    contact = np.stack([contact_intervals(height[:, f], speed[:, f]) for f in (0, 1)], 1)
    _lock_feet(joints, contact, clear_world, decay=0.6 ** (FPS / fps))
    return Placed(joints, floor, contact)


def foot_speeds(joints: np.ndarray, ankle_h: float, *, fps: float = FPS,
                contact_m: float = CONTACT_M, stance_only: bool = False,
                floor: np.ndarray | None = None) -> np.ndarray:
    """Horizontal speed (m/s) of each foot's lowest point (toe, or ankle less the foot's
    height) over every frame step where it is within `contact_m` of the floor (y = 0) at
    both frames: the foot-sliding figure, 0 for a planted foot. `stance_only` keeps the
    steps inside runs of at least three such frames, leaving out the first and last step
    of each run (a foot touching down or lifting off). `floor` (T,): the floor level under
    the support (stairs, a box; `Placed.floor`), 0 when None. (T, 22, 3) -> (K,)."""
    clear = clearances(joints, ankle_h)
    if floor is not None:
        clear = clear - floor[:, None]
    out = []
    for _, (_, _, ankle, toe) in LEGS.items():
        low = np.where(clear[:, ankle] <= clear[:, toe], ankle, toe)  # (T,)
        down = np.minimum(clear[:, ankle], clear[:, toe]) < contact_m
        on = down[:-1] & down[1:]
        if stance_only:
            on = on & np.r_[False, on[:-1]] & np.r_[on[1:], False]
        idx = np.nonzero(on)[0]
        step = joints[idx + 1, low[idx]] - joints[idx, low[idx]]
        out.append(np.linalg.norm(step[:, [0, 2]], axis=1) * fps)
    return np.concatenate(out)
