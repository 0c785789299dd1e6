"""Motion corpora in HumanML3D layout, and single-file motion readers.

A corpus directory holds `new_joints/<id>.npy` (T, 22, 3) at 20 fps, `texts/<id>.txt` with
one `caption#tokens#start#end` line per caption, and `train.txt`/`val.txt`/`test.txt` id
lists. The synthetic corpus adds `spans/<id>.json` with ground-truth action spans; real
HumanML3D has none, and everything that reads a corpus works without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mochat.errors import DataFormatError, InvalidSkeletonError
from mochat.skeleton.convention import Convention
from mochat.skeleton.layout import SMPL22, SkeletonLayout, get_layout
from mochat.skeleton.normalize import validate_joints
from mochat.skeleton.readers import HUMANML3D_FPS, read_motion

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Caption:
    """One HumanML3D caption; start_s/end_s = 0 means the caption covers the whole motion."""

    text: str
    tokens: str = ""
    start_s: float = 0.0
    end_s: float = 0.0

    def to_line(self) -> str:
        return f"{self.text}#{self.tokens}#{self.start_s:.1f}#{self.end_s:.1f}"


@dataclass(frozen=True)
class ActionSpan:
    """Ground truth of one atomic action: inclusive frame span, body part and side."""

    action: str
    phrase: str
    body_part: str
    side: str  # "left", "right", "both" or "none"
    start: int
    end: int


@dataclass
class MotionRecord:
    motion_id: str
    joints: np.ndarray  # (T, J, 3) world positions, metres, y up
    captions: list[Caption]
    spans: list[ActionSpan] | None = None
    fps: float = HUMANML3D_FPS
    layout: SkeletonLayout = field(default=SMPL22)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


def parse_caption_line(line: str, *, source: str) -> Caption:
    parts = line.rstrip("\n").split("#")
    if len(parts) != 4 or not parts[0].strip():
        raise DataFormatError(f"{source}: expected 'caption#tokens#start#end', got {line!r}")
    try:
        start, end = float(parts[2] or 0.0), float(parts[3] or 0.0)
    except ValueError as err:
        raise DataFormatError(f"{source}: bad start/end in {line!r}") from err
    # HumanML3D writes NaN for "whole motion" in a few files.
    start, end = (0.0 if np.isnan(start) else start), (0.0 if np.isnan(end) else end)
    return Caption(parts[0].strip(), parts[1], start, end)


def load_npy(path: str | Path, layout: SkeletonLayout | str = SMPL22, *,
             max_frames: int | None = None) -> np.ndarray:
    """Read a (T, J, 3) joint array and validate it against a layout (by object or name)."""
    path = Path(path)
    layout = get_layout(layout) if isinstance(layout, str) else layout
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataFormatError(f"{path}: cannot read .npy: {err}") from err
    if arr.ndim == 2 and arr.shape[1] == layout.num_joints * 3:  # flattened (T, J*3)
        arr = arr.reshape(arr.shape[0], layout.num_joints, 3)
    return validate_joints(arr, layout, max_frames=max_frames, source=str(path))


def load_motion(path: str | Path, layout: SkeletonLayout | str | None = None, *,
                convention: Convention | None = None, fps: float | None = None,
                model_layout: SkeletonLayout = SMPL22) -> tuple[np.ndarray, float]:
    """Read any supported motion file -> ((T, J, 3) in `model_layout`, y up, metres; fps).

    `layout` is the file's skeleton (found from a BVH's joint names when None; SMPL-22 for
    npy). The rate is the file's own: `mochat.skeleton.to_model` also resamples.
    """
    from mochat.skeleton.adapt import to_model

    motion = read_motion(path, layout, fps=fps)
    moved = to_model(motion.joints, motion.layout, motion.fps, model_layout=model_layout,
                     model_fps=motion.fps, convention=convention, source=motion.source)
    return moved.joints, motion.fps


class HumanML3DCorpus:
    """Reader for a corpus in HumanML3D layout (the real dataset or `mochat synth` output)."""

    def __init__(self, root: str | Path, *, joints_dir: str = "new_joints") -> None:
        self.root = Path(root)
        self.joints_dir = self.root / joints_dir
        if not self.joints_dir.is_dir():
            raise DataFormatError(f"{self.root}: not a HumanML3D-layout corpus "
                                  f"(no {joints_dir}/ folder)")

    def ids(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        path = self.root / f"{split}.txt"
        if not path.exists():
            raise DataFormatError(f"{path}: split file missing")
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]

    def load(self, motion_id: str) -> MotionRecord:
        joints = load_npy(self.joints_dir / f"{motion_id}.npy", SMPL22)
        text_path = self.root / "texts" / f"{motion_id}.txt"
        captions: list[Caption] = []
        if text_path.exists():
            for n, line in enumerate(text_path.read_text().splitlines(), start=1):
                if line.strip():
                    captions.append(parse_caption_line(line, source=f"{text_path}:{n}"))
        return MotionRecord(motion_id, joints, captions, self.spans(motion_id))

    def spans(self, motion_id: str) -> list[ActionSpan] | None:
        """The motion's ground-truth action spans (spans/ID.json), without its joints; None
        when it has none."""
        path = self.root / "spans" / f"{motion_id}.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return [ActionSpan(**a) for a in data["actions"]]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataFormatError(f"{path}: malformed spans file: {err}") from err

    def iter(self, split: str) -> Iterator[MotionRecord]:
        for motion_id in self.ids(split):
            yield self.load(motion_id)


def write_record(root: Path, record: MotionRecord) -> None:
    """Write one motion in HumanML3D layout (+ spans/ when the record has spans)."""
    if record.joints.ndim != 3 or record.joints.shape[1:] != (SMPL22.num_joints, 3):
        raise InvalidSkeletonError(f"{record.motion_id}: expected (T, 22, 3), "
                                   f"got {record.joints.shape}")
    np.save(root / "new_joints" / f"{record.motion_id}.npy", record.joints.astype(np.float32))
    (root / "texts" / f"{record.motion_id}.txt").write_text(
        "".join(c.to_line() + "\n" for c in record.captions))
    if record.spans is not None:
        payload = {"motion_id": record.motion_id, "fps": record.fps,
                   "num_frames": record.num_frames,
                   "actions": [asdict(s) for s in record.spans]}
        (root / "spans" / f"{record.motion_id}.json").write_text(
            json.dumps(payload, indent=1, sort_keys=True) + "\n")
