"""Skeleton layouts, validation, normalisation and motion readers."""

from mochat.skeleton.bvh import BvhMotion, bvh_to_layout, read_bvh
from mochat.skeleton.corpus import (
    HUMANML3D_FPS,
    ActionSpan,
    Caption,
    HumanML3DCorpus,
    MotionRecord,
    load_motion,
    load_npy,
)
from mochat.skeleton.layout import (
    GROUPS,
    NTU25,
    SMPL22,
    SkeletonLayout,
    get_layout,
    layout_names,
    register_layout,
)
from mochat.skeleton.normalize import mirror_joints, normalize, pad_batch, validate_joints

__all__ = [
    "GROUPS", "HUMANML3D_FPS", "NTU25", "SMPL22", "ActionSpan", "BvhMotion", "Caption",
    "HumanML3DCorpus", "MotionRecord", "SkeletonLayout", "bvh_to_layout", "get_layout",
    "layout_names", "load_motion", "load_npy", "mirror_joints", "normalize", "pad_batch",
    "read_bvh", "register_layout", "validate_joints",
]
