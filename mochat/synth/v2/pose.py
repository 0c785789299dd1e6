"""Named degrees of freedom over the v1 body's Euler angles, and standing rest styles.

A keyframe is written as a dict of anatomical DOFs in degrees, positive in the natural
direction of the motion, e.g. {"l_hip_flex": 30, "r_elbow": 90, "spine_flex": 20}; `apply`
writes them into a (22, 3) Euler pose of `mochat.synth.body` (R = Rx @ Ry @ Rz per joint,
the body facing +z with its left at +x). Right-side DOFs mirror the left ones: a mirror in
x keeps a rotation's x angle and negates its y and z angles. Measured signs (body.py's FK):
hip flexion -x, knee flexion +x, ankle plantar flexion +x, spine flexion +x, spine twist to
the left +y, spine lean to the right +z, shoulder flexion -x, shoulder abduction +z from the
hanging -80 (left), shoulder horizontal adduction -y (left), elbow flexion -y (left),
pelvis pitch +x (forward: +90 lies face down, -90 on the back), pelvis roll +z (to the
right).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mochat.synth import body as b

ARM_HANG = 80.0  # shoulder z angle of an arm hanging at the side (body.base_pose)
SIDES = ("l", "r")
OTHER = {"left": "right", "right": "left", "l": "r", "r": "l"}

# dof -> (left joint, axis, left sign, right joint); the right sign mirrors the axis
_LIMB_DOFS: dict[str, tuple[int, int, float, int]] = {
    "hip_flex": (b.L_HIP, 0, -1.0, b.R_HIP),
    "hip_abd": (b.L_HIP, 2, 1.0, b.R_HIP),
    "hip_rot": (b.L_HIP, 1, -1.0, b.R_HIP),  # internal rotation
    "knee": (b.L_KNEE, 0, 1.0, b.R_KNEE),
    "ankle": (b.L_ANKLE, 0, 1.0, b.R_ANKLE),  # plantar flexion (toes down)
    "ankle_inv": (b.L_ANKLE, 2, 1.0, b.R_ANKLE),  # sole tilt; -hip_abd keeps the sole flat
    "sh_flex": (b.L_SHOULDER, 0, -1.0, b.R_SHOULDER),
    "sh_abd": (b.L_SHOULDER, 2, 1.0, b.R_SHOULDER),
    "sh_horiz": (b.L_SHOULDER, 1, -1.0, b.R_SHOULDER),  # toward the front of the chest
    "elbow": (b.L_ELBOW, 1, -1.0, b.R_ELBOW),
    "collar": (13, 2, 1.0, 14),  # shrug: the shoulder girdle up
}
# trunk dofs are spread over the spine joints
_SPINE = ((b.SPINE1, 0.4), (b.SPINE2, 0.35), (b.SPINE3, 0.25))
_TRUNK_DOFS: dict[str, tuple[int, float]] = {"spine_flex": (0, 1.0), "spine_twist": (1, 1.0),
                                             "spine_lean": (2, -1.0)}  # lean to the left
_HEAD_DOFS = {"neck_flex": (b.NECK, 0, 1.0), "head_flex": (b.HEAD, 0, 1.0),
              "neck_turn": (b.NECK, 1, 1.0), "neck_tilt": (b.NECK, 2, -1.0)}  # to the left
_ROOT_DOFS = {"pelvis_pitch": (0, 1.0), "pelvis_roll": (2, 1.0), "pelvis_twist": (1, 1.0)}

Dofs = Mapping[str, float]
# joints each body region owns, for layering an upper-body action over a lower-body one
ARM = {"left": (13, b.L_SHOULDER, b.L_ELBOW, 20), "right": (14, b.R_SHOULDER, b.R_ELBOW, 21)}
HEAD = (b.NECK, b.HEAD)
UPPER_TRUNK = (b.SPINE2, b.SPINE3)


def dof_names() -> list[str]:
    limbs = [f"{s}_{d}" for d in _LIMB_DOFS for s in SIDES]
    return limbs + list(_TRUNK_DOFS) + list(_HEAD_DOFS) + list(_ROOT_DOFS)


def apply(pose: np.ndarray, dofs: Dofs) -> np.ndarray:
    """A copy of the (22, 3) Euler pose with `dofs` set (absolute values, degrees)."""
    out = pose.copy()
    for name, value in dofs.items():
        _set(out, name, float(value))
    return out


def read(pose: np.ndarray, name: str) -> float:
    """The value of one DOF in a (22, 3) pose (the inverse of `apply` for that DOF)."""
    if name in _TRUNK_DOFS:
        axis, sign = _TRUNK_DOFS[name]
        return sign * sum(pose[j, axis] for j, _ in _SPINE)
    if name in _HEAD_DOFS:
        joint, axis, sign = _HEAD_DOFS[name]
        return sign * pose[joint, axis]
    if name in _ROOT_DOFS:
        axis, sign = _ROOT_DOFS[name]
        return sign * pose[b.PELVIS, axis]
    side, dof = _split(name)
    joint, axis, sign = _limb(dof, side)
    value = sign * pose[joint, axis]
    return value + ARM_HANG if dof == "sh_abd" else value


def _split(name: str) -> tuple[str, str]:
    side, _, dof = name.partition("_")
    if side not in SIDES or dof not in _LIMB_DOFS:
        raise ValueError(f"unknown dof {name!r}; expected one of {dof_names()}")
    return side, dof


def _limb(dof: str, side: str) -> tuple[int, int, float]:
    left_joint, axis, sign, right_joint = _LIMB_DOFS[dof]
    if side == "l":
        return left_joint, axis, sign
    return right_joint, axis, sign if axis == 0 else -sign


def _set(pose: np.ndarray, name: str, value: float) -> None:
    if name in _TRUNK_DOFS:
        axis, sign = _TRUNK_DOFS[name]
        for joint, share in _SPINE:
            pose[joint, axis] = sign * share * value
    elif name in _HEAD_DOFS:
        joint, axis, sign = _HEAD_DOFS[name]
        pose[joint, axis] = sign * value
    elif name in _ROOT_DOFS:
        axis, sign = _ROOT_DOFS[name]
        pose[b.PELVIS, axis] = sign * value
    else:
        side, dof = _split(name)
        joint, axis, sign = _limb(dof, side)
        pose[joint, axis] = sign * (value - ARM_HANG if dof == "sh_abd" else value)


def sided(side: str, **dofs: float) -> dict[str, float]:
    """{'elbow': 90} for side 'left' -> {'l_elbow': 90}; side 'both' sets both sides."""
    sides = ("l", "r") if side == "both" else (side[0],)
    return {f"{s}_{k}": v for s in sides for k, v in dofs.items()}


def mirror_dofs(dofs: Dofs) -> dict[str, float]:
    """Swap the l_/r_ DOFs and negate the lateral trunk, head and root DOFs."""
    out: dict[str, float] = {}
    for name, value in dofs.items():
        if name[:2] in ("l_", "r_"):
            out[f"{OTHER[name[0]]}_{name[2:]}"] = value
        elif name in ("spine_twist", "spine_lean", "neck_turn", "neck_tilt", "pelvis_roll",
                      "pelvis_twist"):
            out[name] = -value
        else:
            out[name] = value
    return out


def neutral() -> np.ndarray:
    """Upright, arms hanging, every other angle 0. -> (22, 3) degrees."""
    return b.base_pose(1)[0] * [1.0, 0.0, 1.0]  # base_pose's elbow bend is a rest style's


# Standing rest styles: what the arms do between actions. A motion starts in one and an
# action may end in another, so actions do not all return to one pose.
REST_STYLES: dict[str, dict[str, float]] = {
    "arms_down": {"l_elbow": 8, "r_elbow": 8, "l_sh_abd": 2, "r_sh_abd": 2},
    "arms_relaxed": {"l_elbow": 20, "r_elbow": 20, "l_sh_flex": 8, "r_sh_flex": 8,
                     "l_sh_abd": 6, "r_sh_abd": 6},
    "hands_on_hips": {"l_sh_abd": 45, "r_sh_abd": 45, "l_elbow": 100, "r_elbow": 100,
                      "l_sh_flex": -10, "r_sh_flex": -10, "l_sh_horiz": -20,
                      "r_sh_horiz": -20},
    "hands_clasped": {"l_sh_flex": 20, "r_sh_flex": 20, "l_elbow": 65, "r_elbow": 65,
                      "l_sh_horiz": 25, "r_sh_horiz": 25, "l_sh_abd": -6, "r_sh_abd": -6},
    "arms_crossed": {"l_sh_flex": 35, "r_sh_flex": 35, "l_elbow": 115, "r_elbow": 115,
                     "l_sh_horiz": 45, "r_sh_horiz": 45, "l_sh_abd": 10, "r_sh_abd": 10},
    "hands_behind": {"l_sh_flex": -25, "r_sh_flex": -25, "l_elbow": 45, "r_elbow": 45,
                     "l_sh_abd": 5, "r_sh_abd": 5},
}


def rest_pose(style: str, rng: np.random.Generator, *, stance_deg: float = 3.0) -> np.ndarray:
    """A standing rest pose of one style, with a little personal variation. -> (22, 3)."""
    if style not in REST_STYLES:
        raise ValueError(f"unknown rest style {style!r}; expected one of {list(REST_STYLES)}")
    dofs = dict(REST_STYLES[style])
    for name in list(dofs):
        dofs[name] += rng.normal(0.0, 3.0)
    dofs |= {"l_hip_abd": stance_deg, "r_hip_abd": stance_deg, "l_ankle_inv": -stance_deg,
             "r_ankle_inv": -stance_deg, "spine_flex": rng.normal(2.0, 2.0),
             "neck_flex": rng.normal(3.0, 3.0)}
    return apply(neutral(), dofs)
