"""Coordinate conventions: which axis is up, the length unit, handedness.

The model reads y-up, right-handed, metre coordinates (HumanML3D's). Capture systems differ:
AMASS is z-up, Azure Kinect is y-down millimetres, CMU's ASF unit is 1/0.45 inch, Unity is
left-handed. `Convention.to_model` brings any of them to the model's frame with one rotation
(scipy's `Rotation`), one optional mirror and one scale. A wrong convention does not fail:
it silently gives a body lying on its back or 100 times too tall, so `plausibility` checks
the result and says what looks wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from mochat.errors import ConfigError

# metres per unit; "cmu" is the CMU ASF/BVH unit (ASF `length 0.45`: 1/0.45 inch)
UNITS: dict[str, float] = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "in": 0.0254,
                           "ft": 0.3048, "cmu": 0.0254 / 0.45}
UP_AXES = ("y", "z", "x", "-y", "-z", "-x")
HANDEDNESS = ("right", "left")
# The rotation taking each up axis to +y (right-handed, so a body stays a body).
_TO_Y_UP = {
    "y": Rotation.identity(),
    "z": Rotation.from_euler("x", -90, degrees=True),   # (x, y, z) -> (x, z, -y)
    "x": Rotation.from_euler("z", 90, degrees=True),    # (x, y, z) -> (-y, x, z)
    "-y": Rotation.from_euler("x", 180, degrees=True),  # (x, y, z) -> (x, -y, -z)
    "-z": Rotation.from_euler("x", 90, degrees=True),   # (x, y, z) -> (x, -z, y)
    "-x": Rotation.from_euler("z", -90, degrees=True),  # (x, y, z) -> (y, -x, z)
}
HUMAN_HEIGHT_M = (1.0, 2.3)  # a plausible standing body, head joint above the ankles


@dataclass(frozen=True)
class Convention:
    """How a source writes coordinates. `units` is a name in UNITS or 'auto' (guessed from
    the body's size, see `guess_units`)."""

    up_axis: str = "y"
    units: str = "m"
    handedness: str = "right"

    def __post_init__(self) -> None:
        if self.up_axis not in UP_AXES:
            raise ConfigError(f"unknown up axis {self.up_axis!r}; expected one of {UP_AXES}")
        if self.units != "auto" and self.units not in UNITS:
            raise ConfigError(f"unknown units {self.units!r}; expected 'auto' or one of "
                              f"{sorted(UNITS)}")
        if self.handedness not in HANDEDNESS:
            raise ConfigError(f"unknown handedness {self.handedness!r}; expected one of "
                              f"{HANDEDNESS}")

    def with_overrides(self, *, up_axis: str | None = None, units: str | None = None,
                       handedness: str | None = None) -> Convention:
        """This convention with the options a user gave (None keeps the layout's default)."""
        return Convention(up_axis or self.up_axis, units or self.units,
                          handedness or self.handedness)

    def to_model(self, joints: np.ndarray, *, scale: float | None = None) -> np.ndarray:
        """(T, J, 3) in this convention -> (T, J, 3) y-up, right-handed, metres.

        `scale` (metres per unit) replaces the unit lookup, e.g. the one `guess_units` found
        for units='auto'. A left-handed source is mirrored in x first: the joint labelled
        left then lies on the body's left in a right-handed frame.
        """
        if scale is None:
            if self.units == "auto":
                raise ConfigError("units='auto' needs the scale guess_units found")
            scale = UNITS[self.units]
        out = np.asarray(joints, dtype=np.float64)
        if self.handedness == "left":
            out = out * np.array([-1.0, 1.0, 1.0])
        out = _TO_Y_UP[self.up_axis].apply(out.reshape(-1, 3)).reshape(out.shape)
        return (out * scale).astype(np.float32)

    def from_model(self, joints: np.ndarray) -> np.ndarray:
        """The inverse of `to_model`: y-up metre joints -> this convention (for writers)."""
        if self.units == "auto":
            raise ConfigError("units='auto' has no inverse; name the units to write")
        out = np.asarray(joints, dtype=np.float64) / UNITS[self.units]
        out = _TO_Y_UP[self.up_axis].inv().apply(out.reshape(-1, 3)).reshape(out.shape)
        if self.handedness == "left":
            out = out * np.array([-1.0, 1.0, 1.0])
        return out.astype(np.float32)


def guess_units(height: float) -> tuple[str, float]:
    """The unit under which a body `height` (in file units) is most human: (name, m/unit).

    Candidates are the UNITS; the pick is the one whose height in metres is closest, in
    log ratio, to 1.6 m.
    """
    if not height > 0:
        raise ConfigError("cannot guess units of a body with zero height")
    name = min(UNITS, key=lambda u: abs(np.log(height * UNITS[u] / 1.6)))
    return name, UNITS[name]


def plausibility(joints: np.ndarray, *, head: int, feet: tuple[int, ...],
                 up: int = 1) -> list[str]:
    """Warnings about y-up metre joints (T, J, 3) that look wrong; [] when they look human.

    Checks: standing height (head above the lowest foot, median over frames) within
    HUMAN_HEIGHT_M; the body's longest extent along another axis than y (a z-up motion read
    as y-up lies down); feet far below the floor (y = 0) for most of the motion.
    """
    warnings: list[str] = []
    foot_y = joints[:, list(feet), up].min(axis=1)  # (T,)
    height = float(np.median(joints[:, head, up] - foot_y))
    extent = np.median(np.abs(joints[:, head] - joints[:, list(feet)].mean(axis=1)), axis=0)
    lo, hi = HUMAN_HEIGHT_M
    if int(np.argmax(extent)) != up:
        axis = "xyz"[int(np.argmax(extent))]
        warnings.append(f"the body is longest along {axis}, not up (y): is the data "
                        f"{axis}-up? (set the up axis)")
    elif not lo <= height <= hi:
        warnings.append(f"standing height {height:.3g} m is outside {lo}-{hi} m: are the "
                        "units right? (set the units)")
    if np.mean(foot_y < -0.25) > 0.5 and lo <= height <= hi:
        warnings.append(f"feet are {-float(np.median(foot_y)):.2f} m below the floor (y = 0) "
                        "for most frames: the floor is elsewhere (fine for camera "
                        "coordinates; heights then read relative to the first frame)")
    return warnings
