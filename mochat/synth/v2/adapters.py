"""Training motions that came in through the adapters users' data goes through.

`through_adapter` writes a model-layout motion as another capture would hand it over (a
rendition of mochat.skeleton.formats: layout, rate, convention, file type), reads the file
back with `read_motion` and adapts it with `to_model`, exactly as `mochat chat` does with a
user's file. What comes back carries what the adapters change: synthesised joints (pelvis,
spine, collars, toes of a layout without them), the BVH fit and forward kinematics, the
anti-aliased resampling there and back. The corpus' `adapter_share` sends that share of the
training motions this way, so the model sees adapted motion in training; val and test stay
canonical, and `bench/adapters.py` measures the adapters on their own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mochat.skeleton.adapt import to_model
from mochat.skeleton.formats import RENDITIONS, Rendition, write_rendition
from mochat.skeleton.readers import read_motion

# every rendition but the identity (SMPL-22 at 20 fps, y up, metres)
ADAPTER_RENDITIONS: tuple[Rendition, ...] = tuple(r for r in RENDITIONS
                                                  if r.name != "smpl22-20fps")


def through_adapter(joints: np.ndarray, rendition: Rendition, *,
                    model_fps: float = 20.0) -> np.ndarray:
    """(T, 22, 3) model joints -> the same motion after a round trip through `rendition`'s
    file, at `model_fps` and exactly T frames (a rate that does not divide evenly can end
    one frame short: the last frame is repeated)."""
    with tempfile.TemporaryDirectory(prefix="mochat-adapter-") as folder:
        path = write_rendition(joints, rendition, Path(folder), "motion", model_fps=model_fps)
        layout = None if rendition.file == "bvh" else rendition.layout
        fps = rendition.fps if rendition.file in ("npy", "amc") else None
        source = read_motion(path, layout, fps=fps)
        moved = to_model(source.joints, source.layout, source.fps, model_fps=model_fps,
                         convention=rendition.convention, source=rendition.name).joints
    frames = joints.shape[0]
    if len(moved) < frames:
        moved = np.concatenate([moved, np.repeat(moved[-1:], frames - len(moved), axis=0)])
    return np.ascontiguousarray(moved[:frames], dtype=np.float32)


def pick_rendition(rng: np.random.Generator, share: float) -> Rendition | None:
    """With probability `share`, one of ADAPTER_RENDITIONS (uniformly); else None.
    Draws from `rng` the same way whatever the share, so a motion's other draws do not
    depend on it."""
    coin, which = float(rng.random()), int(rng.integers(len(ADAPTER_RENDITIONS)))
    return ADAPTER_RENDITIONS[which] if coin < share else None
