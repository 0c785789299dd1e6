"""Retargeting: any skeleton's joints -> the model's SMPL-22 joints, by correspondence.

A source layout names, for each model joint it has, the source joint (or joints, whose
midpoint stands in) at the same anatomical place (`SkeletonLayout.correspondence`; a layout
that uses the model's own joint names maps by name). Model joints the source lacks are
synthesised from the ones it has, with proportions taken from the SMPL rest pose:

- pelvis: above the hips' midpoint along the trunk;
- spine1..3: along the chain from the pelvis to the neck, at their rest heights;
- neck: above the shoulders' midpoint; head: above the neck;
- collars: between the top of the spine, the neck and the shoulder;
- feet (toes): the rest pose's foot, carried by the shin's swing in the body's heading.

Every source must give the limbs themselves (hips, knees, ankles, shoulders, elbows,
wrists); a source without them cannot stand in for the model's body. The result records
which joints were synthesised, so a caller can say so.
Shapes: (T, J_src, 3) -> (T, 22, 3), y up, metres (convert with `Convention` first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mochat.errors import InvalidSkeletonError
from mochat.skeleton.layout import SMPL22, SkeletonLayout
from mochat.skeleton.rotations import shortest_arc

REQUIRED = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
            "right_wrist")
# Rest heights above the pelvis as fractions of the neck's (mochat.synth.body.REST_OFFSETS).
_SPINE_FRACTION = {"pelvis": 0.0, "spine1": 0.214, "spine2": 0.476, "spine3": 0.583,
                   "neck": 1.0}
_SPINE_CHAIN = ("pelvis", "spine1", "spine2", "spine3", "neck")


@dataclass(frozen=True)
class Retargeted:
    """Joints in the target layout and which of them were synthesised, not measured."""

    joints: np.ndarray  # (T, J_target, 3) float32
    layout: SkeletonLayout
    source: SkeletonLayout
    synthesized: tuple[str, ...]


def source_joints(source: SkeletonLayout, target: SkeletonLayout = SMPL22
                  ) -> dict[str, tuple[int, ...]]:
    """Target joint name -> source joint indices (a midpoint when several) it maps to."""
    if source.correspondence:
        return {t: tuple(source.index(s) for s in names)
                for t, names in source.correspondence.items() if t in target.joint_names}
    by_name = {n: i for i, n in enumerate(source.joint_names)}
    return {t: (by_name[t],) for t in target.joint_names if t in by_name}


def retarget(joints: np.ndarray, source: SkeletonLayout,
             target: SkeletonLayout = SMPL22) -> Retargeted:
    """(T, J_src, 3) world joints in `source` -> `Retargeted` joints in `target`.

    A source that is the target comes back unchanged. Synthesis knows the SMPL-22 joints;
    another target must be covered by the correspondence.
    """
    arr = np.asarray(joints, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[1:] != (source.num_joints, 3):
        raise InvalidSkeletonError(f"layout {source.name!r}: expected (T, "
                                   f"{source.num_joints}, 3), got {tuple(arr.shape)}")
    if source.name == target.name:
        return Retargeted(arr, target, source, ())
    links = source_joints(source, target)
    found = {t: arr[:, list(idx)].mean(axis=1) for t, idx in links.items()}  # (T, 3) each
    missing = [t for t in target.joint_names if t not in found]
    if target.name != SMPL22.name:
        if missing:
            raise InvalidSkeletonError(f"layout {source.name!r} does not cover layout "
                                       f"{target.name!r}; missing {missing}")
    else:
        absent = [t for t in REQUIRED if t not in found]
        if absent:
            raise InvalidSkeletonError(
                f"layout {source.name!r} gives no {absent}: the model needs hips, knees, "
                "ankles, shoulders, elbows and wrists (add them to its correspondence)")
        for name in _SYNTHESIS_ORDER:
            if name not in found:
                found[name] = _SYNTHESIS[name](found).astype(np.float32)
    out = np.stack([found[t] for t in target.joint_names], axis=1)  # (T, J_target, 3)
    return Retargeted(out, target, source, tuple(missing))


# -- synthesis of missing SMPL-22 joints -------------------------------------------------------
Joints = dict[str, np.ndarray]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _mid(j: Joints, a: str, b: str) -> np.ndarray:
    return 0.5 * (j[a] + j[b])


def _trunk_up(j: Joints) -> np.ndarray:
    """(T, 3) unit vector from the hips' midpoint to the shoulders' midpoint."""
    return _unit(_mid(j, "left_shoulder", "right_shoulder") - _mid(j, "left_hip", "right_hip"))


def _width(j: Joints, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(j[a] - j[b], axis=-1, keepdims=True)  # (T, 1)


def _pelvis(j: Joints) -> np.ndarray:
    # rest: the hips are 0.09 m below the pelvis and 0.14 m apart
    return _mid(j, "left_hip", "right_hip") + 0.64 * _width(j, "left_hip", "right_hip") * \
        _trunk_up(j)


def _neck(j: Joints) -> np.ndarray:
    # rest: the neck is 0.065 m above shoulders 0.35 m apart
    return _mid(j, "left_shoulder", "right_shoulder") + \
        0.19 * _width(j, "left_shoulder", "right_shoulder") * _trunk_up(j)


def _head(j: Joints) -> np.ndarray:
    # rest: the head joint is 0.09 m above the neck
    up = _unit(j["neck"] - j["spine3"]) if "spine3" in j else _trunk_up(j)
    return j["neck"] + 0.26 * _width(j, "left_shoulder", "right_shoulder") * up


def _spine(name: str) -> Callable[[Joints], np.ndarray]:
    """A spine joint on the chain between the nearest known joints below and above it."""
    def build(j: Joints) -> np.ndarray:
        k = _SPINE_CHAIN.index(name)
        lo = next(n for n in reversed(_SPINE_CHAIN[:k]) if n in j)
        hi = next(n for n in _SPINE_CHAIN[k + 1:] if n in j)
        f = (_SPINE_FRACTION[name] - _SPINE_FRACTION[lo]) / \
            (_SPINE_FRACTION[hi] - _SPINE_FRACTION[lo])
        return j[lo] + f * (j[hi] - j[lo])
    return build


def _collar(side: str) -> Callable[[Joints], np.ndarray]:
    # rest: collar = spine3 + 0.24 (neck - spine3) + 0.46 (shoulder - spine3)
    def build(j: Joints) -> np.ndarray:
        base = j["spine3"]
        return base + 0.24 * (j["neck"] - base) + 0.46 * (j[f"{side}_shoulder"] - base)
    return build


def _foot(side: str) -> Callable[[Joints], np.ndarray]:
    """The toes as if rigid with the shin (the foot's own angle is unknown): the rest-pose
    offset, per metre of shin 0.30 forward, 0.1375 down, 0.0625 outward of the ankle in the
    body's heading frame, turned by the shin's swing away from straight down."""
    def build(j: Joints) -> np.ndarray:
        ankle, knee = j[f"{side}_ankle"], j[f"{side}_knee"]
        up = np.array([0.0, 1.0, 0.0])
        across = (j["left_hip"] - j["right_hip"]).astype(np.float64)  # toward the left
        across = _unit(across - (across @ up)[:, None] * up)
        heading = np.stack([across, np.broadcast_to(up, across.shape),
                            np.cross(across, up)], axis=-1)  # (T, 3, 3): body -> world
        shin = np.einsum("tji,tj->ti", heading, ankle - knee)  # in the body frame
        down = np.tile([0.0, -1.0, 0.0], (len(shin), 1))
        outward = 1.0 if side == "left" else -1.0
        rest = np.array([0.0625 * outward, -0.1375, 0.30])
        offset = shortest_arc(down, shin).apply(np.tile(rest, (len(shin), 1)))
        length = np.linalg.norm(shin, axis=-1, keepdims=True)
        return ankle + length * np.einsum("tij,tj->ti", heading, offset)
    return build


_SYNTHESIS: dict[str, Callable[[Joints], np.ndarray]] = {
    "pelvis": _pelvis, "neck": _neck, "head": _head,
    "spine1": _spine("spine1"), "spine2": _spine("spine2"), "spine3": _spine("spine3"),
    "left_collar": _collar("left"), "right_collar": _collar("right"),
    "left_foot": _foot("left"), "right_foot": _foot("right"),
}
# pelvis and neck first: the spine chain runs between them; spine3 before the collars/head
_SYNTHESIS_ORDER = ("pelvis", "neck", "spine3", "spine2", "spine1", "head", "left_collar",
                    "right_collar", "left_foot", "right_foot")


def render_layout(model_joints: np.ndarray, layout: SkeletonLayout,
                  model: SkeletonLayout = SMPL22) -> np.ndarray:
    """The inverse direction, for tests and benchmarks: model joints (T, 22, 3) -> the
    joints (T, J, 3) a capture in `layout` would give for the same body.

    Joints that correspond to a model joint take its position (a midpoint correspondence
    puts its joints at that point); the others are placed by extending their parent's bone
    by a third (leaves: hand tips, toes, eyes) or halfway to their first child.
    """
    arr = np.asarray(model_joints, dtype=np.float32)
    if layout.name == model.name:
        return arr.copy()
    out = np.full((arr.shape[0], layout.num_joints, 3), np.nan, dtype=np.float32)
    for t, idx in source_joints(layout, model).items():
        out[:, list(idx)] = arr[:, model.index(t)][:, None]
    children = {j: [c for c, p in enumerate(layout.parents) if p == j]
                for j in range(layout.num_joints)}
    placed = ~np.isnan(out[0, :, 0])
    while not placed.all():
        progress = _place_between(out, placed, layout.parents, children) or \
            _place_beyond(out, placed, layout.parents)
        if not progress:
            todo = [layout.joint_names[j] for j in np.flatnonzero(~placed)]
            raise InvalidSkeletonError(f"layout {layout.name!r}: cannot place joints {todo} "
                                       "from the model's")
    return out


def _place_between(out: np.ndarray, placed: np.ndarray, parents: tuple[int, ...],
                   children: dict[int, list[int]]) -> bool:
    """Unplaced joints with a placed child: halfway from the parent (the root: the children's
    midpoint). True when any was placed."""
    progress = False
    for j in map(int, np.flatnonzero(~placed)):
        known = [c for c in children[j] if placed[c]]
        p = parents[j]
        if known and p >= 0 and placed[p]:
            out[:, j] = 0.5 * (out[:, p] + out[:, known[0]])
        elif known and p < 0:
            out[:, j] = out[:, known].mean(axis=1)
        else:
            continue
        placed[j] = progress = True
    return progress


def _place_beyond(out: np.ndarray, placed: np.ndarray, parents: tuple[int, ...]) -> bool:
    """Unplaced joints with a placed parent: the parent's bone extended by a third."""
    progress = False
    for j in map(int, np.flatnonzero(~placed)):
        p = parents[j]
        if p >= 0 and placed[p]:
            gp = parents[p]
            bone = out[:, p] - out[:, gp] if gp >= 0 else np.zeros_like(out[:, p])
            out[:, j] = out[:, p] + bone / 3.0
            placed[j] = progress = True
    return progress
