"""Bring any motion to the model: its layout, its frame rate, y up, metres.

The model speaks one language, the checkpoint's layout (SMPL-22) at the checkpoint's rate
(20 fps), y up, right-handed, metres. `to_model` translates a source motion into it in four
steps: the source's coordinate convention (`Convention`: up axis, units or a guess of them,
handedness), retargeting to the model's joints (`retarget`), a plausibility check that
warns when the result does not look like a standing human, and resampling to the model's
rate. The returned `FrameMap` takes every answer back to the source's own frame numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import structlog

from mochat.skeleton.convention import Convention, guess_units, plausibility
from mochat.skeleton.layout import SMPL22, SkeletonLayout
from mochat.skeleton.normalize import validate_joints
from mochat.skeleton.resample import FrameMap, resample
from mochat.skeleton.retarget import retarget

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ModelMotion:
    """A motion in the model's language, and how it was made from the source."""

    joints: np.ndarray  # (T', J_model, 3) float32, y up, metres, at frames.model_fps
    frames: FrameMap
    source_layout: str
    synthesized: tuple[str, ...]  # model joints the source did not have
    units: str  # the source unit used (the guess, when units were 'auto')
    warnings: tuple[str, ...]  # what looked wrong (see convention.plausibility)

    @property
    def fps(self) -> float:
        return self.frames.model_fps


_WARN_EVERY_S = 60.0
_warned: dict[tuple[str, str, str], tuple[float, int]] = {}  # key -> (last logged, repeats)


def _warn_implausible(source: str, layout: str, detail: str) -> None:
    """Log an implausible-motion warning at most once a minute per (source, layout,
    detail), with the number of repeats since: a live stream's every window would
    otherwise log the same line (the warnings are on every ModelMotion regardless)."""
    key, now = (source, layout, detail), time.monotonic()
    last, repeats = _warned.get(key, (-_WARN_EVERY_S, 0))
    if now - last < _WARN_EVERY_S:
        _warned[key] = (last, repeats + 1)
        return
    if len(_warned) >= 1024:  # bounded: any number of distinct details
        _warned.clear()
    _warned[key] = (now, 0)
    log.warning("implausible_motion", source=source, layout=layout, detail=detail,
                **({"repeats": repeats} if repeats else {}))


def to_model(joints: np.ndarray, layout: SkeletonLayout, fps: float, *,
             model_layout: SkeletonLayout = SMPL22, model_fps: float = 20.0,
             convention: Convention | None = None, first_frame: int = 0,
             source: str = "motion") -> ModelMotion:
    """(T, J, 3) source joints at `fps` -> `ModelMotion` at `model_fps` in `model_layout`.

    `convention` defaults to the layout's own (e.g. Azure Kinect: y down, millimetres).
    Raises InvalidSkeletonError for a shape that does not fit the layout, NaN/inf, no
    frames, or a rate that is not a finite positive number.
    """
    arr = validate_joints(joints, layout, max_frames=None, source=source)
    conv = convention or layout.convention
    upright = conv.to_model(arr, scale=1.0 if conv.units == "auto" else None)
    moved = retarget(upright, layout, model_layout)
    body = moved.joints
    units = conv.units
    feet = tuple(model_layout.index(n) for n in ("left_ankle", "right_ankle"))
    head = model_layout.index("head") if "head" in model_layout.joint_names else 0
    if units == "auto":
        height = float(np.median(body[:, head, 1] - body[:, list(feet), 1].min(axis=1)))
        units, scale = guess_units(abs(height) or 1.0)
        body = body * np.float32(scale)
    warnings = tuple(plausibility(body, head=head, feet=feet))
    for warning in warnings:
        _warn_implausible(source, layout.name, warning)
    frame_map = FrameMap(float(fps), float(model_fps), arr.shape[0], first_frame)
    at_rate = resample(body, fps, model_fps)
    return ModelMotion(at_rate, frame_map, layout.name, moved.synthesized, units, warnings)
