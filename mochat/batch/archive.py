"""Motion archives `mochat batch` reads: a HumanML3D-layout corpus or a folder of files.

A HumanML3D archive (`new_joints/` + `texts/`, optionally `spans/` and split lists) names
its motions by id (all of `new_joints/*.npy`, or one split's list); every motion is SMPL-22
at 20 fps. A folder archive holds .bvh, .amc (+ .asf), .npy and .npz files at any depth; a
motion's id is its path below the folder without the suffix (`subject/131_03`). npy/npz
files take the stated `layout` and `fps`; BVH files find their own layout from their joint
names (a layout file given as `layout` is registered first, so it is found too) and AMC
files read as `cmu_asf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mochat.errors import ConfigError, DataFormatError
from mochat.skeleton import (
    HUMANML3D_FPS,
    SMPL22,
    Convention,
    HumanML3DCorpus,
    SkeletonLayout,
    SourceMotion,
    get_layout,
    read_motion,
)
from mochat.skeleton.readers import MOTION_SUFFIXES

_STATED = (".npy", ".npz")  # formats that carry no layout of their own (npz may state one)


@dataclass(frozen=True)
class ReadOptions:
    """How to read a folder archive's files: the npy/npz layout and rate, an AMC's
    skeleton file, and overrides of the layout's convention (None: the layout's own)."""

    layout: str | None = None  # a layout name or layout file, for .npy/.npz
    fps: float | None = None
    asf: str | None = None
    up_axis: str | None = None
    units: str | None = None
    handedness: str | None = None

    def resolved_layout(self) -> SkeletonLayout | None:
        # get_layout registers a layout file, so BVH detection considers it too
        return None if self.layout is None else get_layout(self.layout)


class Archive:
    """Motion ids -> files, in a fixed order (sorted ids, or the split list's order)."""

    def __init__(self, root: Path, paths: dict[str, Path], *,
                 corpus: HumanML3DCorpus | None = None,
                 options: ReadOptions | None = None) -> None:
        self.root = root
        self.paths = paths
        self.corpus = corpus
        self.options = options or ReadOptions()
        self._layout = self.options.resolved_layout()

    @property
    def kind(self) -> str:
        return "humanml3d" if self.corpus is not None else "folder"

    def ids(self) -> list[str]:
        return list(self.paths)

    def path(self, motion_id: str) -> Path:
        return self.paths[motion_id]

    def read(self, motion_id: str) -> tuple[SourceMotion, Convention]:
        """The motion's own joints, layout and rate, and the convention to adapt it by."""
        path = self.paths[motion_id]
        if self.corpus is not None:
            motion = read_motion(path, SMPL22, fps=HUMANML3D_FPS)
        else:
            stated = self._layout if path.suffix.lower() in _STATED else None
            motion = read_motion(path, stated, fps=self.options.fps, asf=self.options.asf)
        convention = motion.layout.convention.with_overrides(
            up_axis=self.options.up_axis, units=self.options.units,
            handedness=self.options.handedness)
        return motion, convention


def open_archive(path: str | Path, *, split: str | None = None,
                 options: ReadOptions | None = None) -> Archive:
    """A HumanML3D folder (`new_joints/` inside), a folder of motion files, or one file."""
    root = Path(path)
    options = options or ReadOptions()
    if not root.exists():
        raise DataFormatError(f"{root}: no such archive")
    if (root / "new_joints").is_dir():
        if options.layout is not None or options.fps is not None:
            raise ConfigError(f"{root} is a HumanML3D archive (SMPL-22 at 20 fps); --layout "
                              "and --fps are for folders of motion files")
        corpus = HumanML3DCorpus(root)
        ids = (corpus.ids(split) if split is not None
               else sorted(p.stem for p in corpus.joints_dir.glob("*.npy")))
        files = {m: corpus.joints_dir / f"{m}.npy" for m in ids}
        return _non_empty(Archive(root, files, corpus=corpus, options=options))
    if split is not None:
        raise ConfigError(f"--split needs a HumanML3D archive (with new_joints/); {root} "
                          "is not one")
    if root.is_file():
        if root.suffix.lower() not in MOTION_SUFFIXES:
            raise DataFormatError(f"{root}: not a motion file; expected one of "
                                  f"{MOTION_SUFFIXES}")
        return Archive(root.parent, {root.stem: root}, options=options)
    paths: dict[str, Path] = {}
    for file in sorted(p for p in root.rglob("*")
                       if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES):
        motion_id = file.relative_to(root).with_suffix("").as_posix()
        if motion_id in paths:
            raise DataFormatError(f"{paths[motion_id]} and {file} would both be motion "
                                  f"{motion_id!r}; keep one of them in the archive")
        paths[motion_id] = file
    return _non_empty(Archive(root, paths, options=options))


def _non_empty(archive: Archive) -> Archive:
    if not archive.paths:
        raise DataFormatError(f"{archive.root}: no motions found (expected "
                              f"{', '.join(MOTION_SUFFIXES)} files or a HumanML3D new_joints/)")
    return archive
