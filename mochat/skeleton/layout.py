"""Skeleton layouts: joint names, kinematic parents and the JGSE group of every joint.

JGSE (the paper's Joints-Grouped Skeleton Encoder) embeds joints per anatomical group and
adds a Global Joint, a weighted combination of all joints. Group membership comes from the
layout, never from fixed indices, so the encoder runs on any skeleton that names its groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mochat.errors import UnknownLayoutError

GROUPS: tuple[str, ...] = ("arm", "leg", "trunk")


@dataclass(frozen=True)
class SkeletonLayout:
    """A skeleton: joints in storage order, their parents, groups and Global Joint weights.

    `parents[j]` is the index of joint j's parent, -1 for the root (joint 0).
    `groups[j]` is one of GROUPS. `mass_weights[j]` sum to 1 and give the default Global
    Joint (a mass-weighted centre); the encoder learns its own weights starting from these.
    `left_right` pairs mirror-image joints, for mirroring and side checks.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    groups: tuple[str, ...]
    mass_weights: tuple[float, ...]
    left_right: tuple[tuple[int, int], ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if n == 0:
            raise ValueError(f"layout {self.name!r} has no joints")
        for what, seq in (("parents", self.parents), ("groups", self.groups),
                          ("mass_weights", self.mass_weights)):
            if len(seq) != n:
                raise ValueError(f"layout {self.name!r}: {len(seq)} {what} for {n} joints")
        if self.parents[0] != -1 or any(not 0 <= p < n for p in self.parents[1:]):
            raise ValueError(f"layout {self.name!r}: parents must be -1 for joint 0 and a "
                             "joint index otherwise")
        for j in range(n):  # every chain must reach the root without a cycle
            seen, k = 0, j
            while k != 0:
                k, seen = self.parents[k], seen + 1
                if seen > n:
                    raise ValueError(f"layout {self.name!r}: parent cycle through joint {j}")
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"layout {self.name!r}: unknown groups {unknown}; expected {GROUPS}")
        if len(set(self.joint_names)) != n:
            raise ValueError(f"layout {self.name!r}: joint names must be unique")
        total = float(sum(self.mass_weights))
        if total <= 0 or any(w < 0 for w in self.mass_weights):
            raise ValueError(f"layout {self.name!r}: mass weights must be >= 0 with a positive sum")
        if abs(total - 1.0) > 1e-6:
            object.__setattr__(self, "mass_weights",
                               tuple(float(w) / total for w in self.mass_weights))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def group_indices(self, group: str) -> tuple[int, ...]:
        """Joint indices of one group, in storage order."""
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
        return tuple(j for j, g in enumerate(self.groups) if g == group)

    def index(self, joint_name: str) -> int:
        """Index of a joint by name or alias."""
        name = self.aliases.get(joint_name, joint_name)
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no joint {joint_name!r}") from None

    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs, one per non-root joint."""
        return [(p, j) for j, p in enumerate(self.parents) if p >= 0]

    def global_joint(self, joints: np.ndarray) -> np.ndarray:
        """Default Global Joint: (..., J, 3) -> (..., 3), the mass-weighted centre."""
        w = np.asarray(self.mass_weights, dtype=joints.dtype)
        return np.einsum("...jc,j->...c", joints, w)

    @classmethod
    def from_spec(cls, name: str, joint_names: Sequence[str], parents: Sequence[int],
                  groups: Mapping[str, str] | Sequence[str],
                  mass_weights: Sequence[float] | None = None) -> SkeletonLayout:
        """Build a layout for any skeleton: names + parents + a group per joint.

        `groups` is either a sequence aligned with `joint_names` or a mapping from joint
        name to group. Without `mass_weights`, trunk joints weigh 3, legs 2, arms 1.
        """
        if isinstance(groups, Mapping):
            missing = [n for n in joint_names if n not in groups]
            if missing:
                raise ValueError(f"layout {name!r}: no group for joints {missing}")
            group_seq = [groups[n] for n in joint_names]
        else:
            group_seq = list(groups)
        if mass_weights is None:
            default = {"trunk": 3.0, "leg": 2.0, "arm": 1.0}
            mass_weights = [default.get(g, 1.0) for g in group_seq]
        return cls(name=name, joint_names=tuple(joint_names), parents=tuple(parents),
                   groups=tuple(group_seq), mass_weights=tuple(mass_weights),
                   left_right=_mirror_pairs(joint_names))


def _mirror_pairs(joint_names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) index pairs by name: 'left_x'/'right_x', 'LeftX'/'RightX', 'l_x'/'r_x'."""
    lowered = [n.lower() for n in joint_names]
    pairs = []
    for i, low in enumerate(lowered):
        if "left" in low:
            other = low.replace("left", "right", 1)
        elif low.startswith("l_"):
            other = "r_" + low[2:]
        else:
            continue
        if other in lowered:
            pairs.append((i, lowered.index(other)))
    return tuple(pairs)


# HumanML3D / SMPL 22-joint order and kinematic chain (y up, facing +z, left = +x).
_SMPL22_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
_SMPL22_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
# The paper's groups: Arm = 16,18,20,17,19,21; Leg = 1,4,7,10,2,5,8,11; Trunk = the rest.
_SMPL22_GROUPS = tuple(
    "arm" if j in (16, 17, 18, 19, 20, 21) else
    "leg" if j in (1, 2, 4, 5, 7, 8, 10, 11) else "trunk"
    for j in range(22)
)
# Rough segment mass fractions (Dempster-style) lumped onto the joint that starts each segment.
_SMPL22_MASS = (0.14, 0.10, 0.10, 0.10, 0.045, 0.045, 0.10, 0.015, 0.015, 0.08, 0.005, 0.005,
                0.02, 0.01, 0.01, 0.07, 0.028, 0.028, 0.016, 0.016, 0.006, 0.006)

SMPL22 = SkeletonLayout(
    name="smpl22",
    joint_names=_SMPL22_NAMES,
    parents=_SMPL22_PARENTS,
    groups=_SMPL22_GROUPS,
    mass_weights=_SMPL22_MASS,
    left_right=_mirror_pairs(_SMPL22_NAMES),
)

# Kinect v2 / NTU RGB+D 25-joint order (0-based parents).
_NTU25_NAMES = (
    "spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
    "left_hand", "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip",
    "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
    "right_foot", "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip",
    "right_thumb",
)
_NTU25_PARENTS = (-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1,
                  7, 7, 11, 11)
_NTU25_GROUPS = tuple(
    "arm" if j in (4, 5, 6, 7, 8, 9, 10, 11, 21, 22, 23, 24) else
    "leg" if 12 <= j <= 19 else "trunk"
    for j in range(25)
)
_NTU25_MASS = tuple({"trunk": 0.11, "leg": 0.04, "arm": 0.0125}[g] for g in _NTU25_GROUPS)

NTU25 = SkeletonLayout(
    name="ntu25",
    joint_names=_NTU25_NAMES,
    parents=_NTU25_PARENTS,
    groups=_NTU25_GROUPS,
    mass_weights=_NTU25_MASS,
    left_right=_mirror_pairs(_NTU25_NAMES),
)

_REGISTRY: dict[str, SkeletonLayout] = {SMPL22.name: SMPL22, NTU25.name: NTU25}
_NAME_ALIASES = {"humanml3d": "smpl22", "smpl": "smpl22", "smpl-22": "smpl22", "ntu": "ntu25",
                 "ntu-25": "ntu25", "kinect": "ntu25"}


def register_layout(layout: SkeletonLayout) -> None:
    """Make a custom layout available by name (for readers, services and the CLI)."""
    _REGISTRY[layout.name] = layout


def get_layout(name: str) -> SkeletonLayout:
    """Look a layout up by name; the error lists the known names."""
    key = _NAME_ALIASES.get(name.lower(), name.lower())
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownLayoutError(
            f"unknown layout {name!r}; expected one of {sorted(_REGISTRY)}") from None


def layout_names() -> list[str]:
    return sorted(_REGISTRY)
