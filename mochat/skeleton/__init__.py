"""Skeleton layouts, conventions, retargeting, resampling, normalisation and readers."""

from mochat.skeleton.adapt import ModelMotion, to_model
from mochat.skeleton.asf import read_asf_amc, write_asf_amc
from mochat.skeleton.bvh import BvhMotion, read_bvh
from mochat.skeleton.convention import Convention
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
    load_layout_file,
    register_layout,
)
from mochat.skeleton.normalize import mirror_joints, normalize, pad_batch, validate_joints
from mochat.skeleton.readers import SourceMotion, detect_layout, read_motion
from mochat.skeleton.resample import FrameMap, resample
from mochat.skeleton.retarget import Retargeted, render_layout, retarget

__all__ = [
    "GROUPS", "HUMANML3D_FPS", "NTU25", "SMPL22", "ActionSpan", "BvhMotion", "Caption",
    "Convention", "FrameMap", "HumanML3DCorpus", "ModelMotion", "MotionRecord", "Retargeted",
    "SkeletonLayout", "SourceMotion", "detect_layout", "get_layout", "layout_names",
    "load_layout_file", "load_motion", "load_npy", "mirror_joints", "normalize", "pad_batch",
    "read_asf_amc", "read_bvh", "read_motion", "register_layout", "render_layout", "resample",
    "retarget", "to_model", "validate_joints", "write_asf_amc",
]
