"""Skeleton layouts: joint names, kinematic parents and the JGSE group of every joint.

JGSE (the paper's Joints-Grouped Skeleton Encoder) embeds joints per anatomical group and
adds a Global Joint, a weighted combination of all joints. Group membership comes from the
layout, never from fixed indices, so the encoder runs on any skeleton that names its groups.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from mochat.errors import ConfigError, UnknownLayoutError
from mochat.skeleton.convention import Convention

GROUPS: tuple[str, ...] = ("arm", "leg", "trunk")


@dataclass(frozen=True)
class SkeletonLayout:
    """A skeleton: joints in storage order, their parents, groups and Global Joint weights.

    `parents[j]` is the index of joint j's parent, -1 for the root (joint 0).
    `groups[j]` is one of GROUPS. `mass_weights[j]` sum to 1 and give the default Global
    Joint (a mass-weighted centre); the encoder learns its own weights starting from these.
    `left_right` pairs mirror-image joints, for mirroring and side checks.
    `correspondence` maps a model joint name (SMPL-22) to this layout's joint, or to a tuple
    of its joints whose midpoint stands in (`mochat.skeleton.retarget`); model joints it
    leaves out are synthesised. `convention` is how this layout's data is usually written
    (up axis, units, handedness); readers and services let the user override it.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    groups: tuple[str, ...]
    mass_weights: tuple[float, ...]
    left_right: tuple[tuple[int, int], ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    correspondence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    convention: Convention = field(default_factory=Convention)

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
        self._check_correspondence()

    def _check_correspondence(self) -> None:
        fed: dict[str, str] = {}
        for model_joint, sources in self.correspondence.items():
            if not sources:
                raise ValueError(f"layout {self.name!r}: correspondence of {model_joint!r} "
                                 "names no joint")
            unknown = [s for s in sources if s not in self.joint_names]
            if unknown:
                raise ValueError(f"layout {self.name!r}: correspondence of {model_joint!r} "
                                 f"names unknown joints {unknown}")
            if len(sources) == 1:  # one source joint may feed one model joint only
                other = fed.setdefault(sources[0], model_joint)
                if other != model_joint:
                    raise ValueError(
                        f"layout {self.name!r}: model joints {other!r} and {model_joint!r} "
                        f"are both fed by {sources[0]!r}; map one and let the other be "
                        "synthesised")

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
                  mass_weights: Sequence[float] | None = None, *,
                  correspondence: Mapping[str, str | Sequence[str]] | None = None,
                  convention: Convention | None = None) -> SkeletonLayout:
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
        links = {k: (v,) if isinstance(v, str) else tuple(v)
                 for k, v in (correspondence or {}).items()}
        return cls(name=name, joint_names=tuple(joint_names), parents=tuple(parents),
                   groups=tuple(group_seq), mass_weights=tuple(mass_weights),
                   left_right=_mirror_pairs(joint_names), correspondence=links,
                   convention=convention or Convention())


def _mirror_pairs(joint_names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) index pairs by name: 'left_x'/'right_x', 'LeftX'/'RightX', 'l_x'/'r_x'."""
    lowered = [n.lower() for n in joint_names]
    pairs = []
    for i, low in enumerate(lowered):
        if "left" in low:
            other = low.replace("left", "right", 1)
        elif low.startswith("l"):  # l_x, lCollar, LHipJoint, lfemur
            other = "r" + low[1:]
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



def layout_from_dict(data: Mapping[str, object], *, source: str = "layout") -> SkeletonLayout:
    """A layout from a layout file's content (see `load_layout_file`)."""
    try:
        rows = data["joints"]
        if not isinstance(rows, list) or not rows:
            raise TypeError("'joints' must be a non-empty list of [name, parent, group]")
        names = [str(r[0]) for r in rows]
        index = {n: i for i, n in enumerate(names)}
        parents = [-1 if r[1] is None else index[str(r[1])] for r in rows]
        groups = [str(r[2]) for r in rows]
        convention = Convention(**dict(data.get("convention") or {}))  # type: ignore[call-overload]
        weights = data.get("mass_weights")
        layout = SkeletonLayout.from_spec(
            str(data["name"]), names, parents, groups,
            None if weights is None else [float(w) for w in weights],  # type: ignore[attr-defined]
            correspondence=dict(data.get("correspondence") or {}),  # type: ignore[call-overload]
            convention=convention)
    except (KeyError, TypeError, IndexError, ValueError) as err:
        raise ConfigError(f"{source}: bad layout file: {err}; expected keys name, joints "
                          "([name, parent or null, group] per joint), optional "
                          "correspondence, convention, aliases, mass_weights") from err
    if parents[0] != -1:
        raise ConfigError(f"{source}: the first joint must be the root (parent null)")
    return layout


def load_layout_file(path: str | Path) -> SkeletonLayout:
    """Read a layout file (YAML or JSON) and register it under its name.

    Keys: `name`; `joints`, one `[name, parent, group]` per joint in storage order (the
    first is the root, parent null; group arm/leg/trunk); optional `correspondence` (model
    joint -> this layout's joint, or a list whose midpoint stands in), `convention`
    (`up_axis`, `units`, `handedness`), `aliases` and `mass_weights`. The built-in layouts
    in mochat/skeleton/layouts/ are written in this format.
    """
    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read layout file: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a layout file holds a mapping, got {type(data).__name__}")
    layout = layout_from_dict(data, source=str(path))
    register_layout(layout, aliases=[str(a) for a in data.get("aliases") or ()])
    return layout


_REGISTRY: dict[str, SkeletonLayout] = {SMPL22.name: SMPL22}
_NAME_ALIASES = {"humanml3d": "smpl22", "smpl": "smpl22", "smpl-22": "smpl22"}
LAYOUT_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def register_layout(layout: SkeletonLayout, *, aliases: Sequence[str] = ()) -> None:
    """Make a custom layout available by name (for readers, services and the CLI)."""
    _REGISTRY[layout.name.lower()] = layout
    for alias in aliases:
        _NAME_ALIASES[alias.lower()] = layout.name.lower()


def get_layout(name: str) -> SkeletonLayout:
    """Look a layout up by name, alias or layout-file path; the error lists the known names.

    A value ending in .yaml/.yml/.json is read as a layout file (and registered), so every
    option that takes a layout name also takes a user's own layout file.
    """
    if name.lower().endswith(LAYOUT_FILE_SUFFIXES):
        return load_layout_file(name)
    key = _NAME_ALIASES.get(name.lower(), name.lower())
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownLayoutError(
            f"unknown layout {name!r}; expected one of {sorted(_REGISTRY)} or a layout "
            "file (.yaml/.json)") from None


def layout_names() -> list[str]:
    return sorted(_REGISTRY)


def _load_builtin_layouts() -> None:
    folder = resources.files("mochat.skeleton") / "layouts"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            load_layout_file(Path(str(entry)))


_load_builtin_layouts()
NTU25 = get_layout("ntu25")
