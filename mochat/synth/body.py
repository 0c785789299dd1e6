"""A procedural SMPL-22 body: rest offsets, joint-angle rotations and forward kinematics.

Frame: y up, metres, the body faces +z and its left is +x (HumanML3D's convention).
A pose is a (T, 22, 3) array of local Euler angles in degrees, applied to each joint's
children as R = Rx(ax) @ Ry(ay) @ Rz(az). Sign conventions used by the action library:
hip flexion (thigh forward) is -ax, knee flexion +ax, spine flexion (bend forward) +ax,
arm down from the T-pose is az = -80 (left) / +80 (right), arm forward is -ax,
left-arm elbow flexion -ay (right +ay), hip abduction +az (left) / -az (right).
"""

from __future__ import annotations

import numpy as np

from mochat.skeleton.layout import SMPL22

# Offsets of each joint from its parent in the rest (T-) pose, metres (SMPL neutral, rounded).
REST_OFFSETS = np.array([
    [0.000, 0.000, 0.000],    # 0 pelvis (root; placed by the trajectory)
    [0.070, -0.090, 0.000],   # 1 left_hip
    [-0.070, -0.090, 0.000],  # 2 right_hip
    [0.000, 0.110, -0.025],   # 3 spine1
    [0.035, -0.378, 0.000],   # 4 left_knee
    [-0.035, -0.378, 0.000],  # 5 right_knee
    [0.000, 0.135, 0.000],    # 6 spine2
    [-0.015, -0.400, -0.040],  # 7 left_ankle
    [0.015, -0.400, -0.040],  # 8 right_ankle
    [0.000, 0.055, 0.025],    # 9 spine3
    [0.025, -0.055, 0.120],   # 10 left_foot
    [-0.025, -0.055, 0.120],  # 11 right_foot
    [0.000, 0.215, -0.040],   # 12 neck
    [0.080, 0.120, -0.035],   # 13 left_collar
    [-0.080, 0.120, -0.035],  # 14 right_collar
    [0.000, 0.090, 0.050],    # 15 head
    [0.095, 0.030, -0.010],   # 16 left_shoulder
    [-0.095, 0.030, -0.010],  # 17 right_shoulder
    [0.260, 0.000, -0.020],   # 18 left_elbow
    [-0.260, 0.000, -0.020],  # 19 right_elbow
    [0.250, 0.000, 0.000],    # 20 left_wrist
    [-0.250, 0.000, 0.000],   # 21 right_wrist
], dtype=np.float64)

PARENTS = np.array(SMPL22.parents)
FOOT_JOINTS = (7, 8, 10, 11)
ARM_JOINTS = {"left": (16, 18, 20), "right": (17, 19, 21)}
LEG_JOINTS = {"left": (1, 4, 7, 10), "right": (2, 5, 8, 11)}

# Joint indices used by the action library.
PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2 = 0, 1, 2, 3, 4, 5, 6
L_ANKLE, R_ANKLE, SPINE3, NECK, HEAD = 7, 8, 9, 12, 15
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 16, 17, 18, 19
HIP = {"left": L_HIP, "right": R_HIP}
KNEE = {"left": L_KNEE, "right": R_KNEE}
SHOULDER = {"left": L_SHOULDER, "right": R_SHOULDER}
ELBOW = {"left": L_ELBOW, "right": R_ELBOW}
SIDE_SIGN = {"left": 1.0, "right": -1.0}


def base_pose(frames: int) -> np.ndarray:
    """Relaxed standing: arms hanging with a slight elbow bend. -> (T, 22, 3) degrees."""
    pose = np.zeros((frames, 22, 3))
    pose[:, L_SHOULDER, 2] = -80.0
    pose[:, R_SHOULDER, 2] = 80.0
    pose[:, L_ELBOW, 1] = -8.0
    pose[:, R_ELBOW, 1] = 8.0
    return pose


def euler_to_matrix(degrees: np.ndarray) -> np.ndarray:
    """(..., 3) Euler angles (x, y, z) in degrees -> (..., 3, 3) = Rx @ Ry @ Rz."""
    ax, ay, az = np.moveaxis(np.radians(degrees), -1, 0)
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    one, zero = np.ones_like(ax), np.zeros_like(ax)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*ax.shape, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*ax.shape, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*ax.shape, 3, 3)
    return rx @ ry @ rz


def yaw_matrix(yaw: np.ndarray) -> np.ndarray:
    """(T,) radians about +y -> (T, 3, 3)."""
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.zeros((len(yaw), 3, 3))
    out[:, 0, 0], out[:, 0, 2], out[:, 1, 1], out[:, 2, 0], out[:, 2, 2] = c, s, 1.0, -s, c
    return out


def forward_kinematics(pose: np.ndarray, offsets: np.ndarray, yaw: np.ndarray,
                       root: np.ndarray) -> np.ndarray:
    """Joint angles -> world positions.

    pose (T, 22, 3) degrees, offsets (22, 3) metres, yaw (T,) radians, root (T, 3) metres
    -> (T, 22, 3). The root's own angles tilt the whole body after the yaw.
    """
    local = euler_to_matrix(pose)  # (T, 22, 3, 3)
    frames = pose.shape[0]
    world_rot = np.empty((frames, 22, 3, 3))
    world_pos = np.empty((frames, 22, 3))
    world_rot[:, 0] = yaw_matrix(yaw) @ local[:, 0]
    world_pos[:, 0] = root
    for j in range(1, 22):
        p = PARENTS[j]
        world_pos[:, j] = world_pos[:, p] + world_rot[:, p] @ offsets[j]
        world_rot[:, j] = world_rot[:, p] @ local[:, j]
    return world_pos


def body_offsets(rng: np.random.Generator) -> np.ndarray:
    """Random proportions: overall height 0.85-1.15 and per-limb factors 0.92-1.08."""
    offsets = REST_OFFSETS * rng.uniform(0.85, 1.15)
    arm, leg, trunk = rng.uniform(0.92, 1.08, size=3)
    for j in (18, 19, 20, 21):
        offsets[j] *= arm
    for j in (4, 5, 7, 8, 10, 11):
        offsets[j] *= leg
    for j in (3, 6, 9, 12, 15):
        offsets[j] *= trunk
    return offsets
