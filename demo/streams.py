"""What the demo plays and asks: capture streams in several layouts and rates, each with
questions whose answers are known.

Synthetic streams: a motion from `mochat.synth` (never in any training corpus: its own
seeds), written by `write_rendition` as one of RENDITIONS (SMPL-22 .npy at 20 fps, NTU-25
at 30 fps, CMU BVH at 120 fps, ...) and read back the way `mochat replay` reads a file. The
motion is picked so that every question has one right answer from its ground truth:

- caption: the first of its three reference captions is printed beside the answer;
- side: the caption names exactly one side ('left' or 'right'), that of the motion's only
  one-sided action; the gap question blanks it ("a person waves their ( ) hand ...");
- when: an action that occurs once in the motion; the expected span is its ground-truth
  span in the stream's own frames (model frame f at 20 fps is stream frame
  round(f * fps / 20)).

A real CMU trial (../shared/data/cmu-bvh/131_03.bvh, "Start Hop Stop", 120 fps) is played
when that folder exists: it has no frame-level ground truth, so its questions print the
CMU index description instead of an expected answer and it is asked no side question.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.replay import ReplayStream, load_streams
from mochat.dialogue import templates as tpl
from mochat.dialogue.builders import GapItem, side_words
from mochat.errors import ConfigError
from mochat.skeleton.corpus import HUMANML3D_FPS, MotionRecord
from mochat.skeleton.formats import RENDITIONS, Rendition, write_rendition
from mochat.synth import ACTIONS, synthesize_motion

DEMO_SEED = 20_240_917  # the demo's motions: seeds no corpus uses
CMU_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu-bvh"
CMU_TRIAL = ("131_03", "Start Hop Stop", "hops up and down once")  # file, CMU index, phrase
# The order streams are added in; renditions whose layout file or convention the services
# would have to be told about (custom layout, z-up centimetres) are left out.
KINDS = ("smpl22-20fps", "ntu25-30fps", "cmu-bvh-120fps", "cmu-trial", "azure32-30fps",
         "mediapipe33-30fps", "mixamo-bvh-30fps", "daz-bvh-120fps", "smpl22-120fps",
         "cmu-asf-amc-120fps")
CAPTION_QUESTION = tpl.BASIC_INSTRUCTIONS[8]  # "Describe the action concisely as ..."
MULTI_ACTION_FRAMES = 120  # 6 s: room for two actions
MIN_SECONDS = 2.0  # the shortest synthetic motions (one 20-frame action) last ~1.5 s


@dataclass(frozen=True)
class Question:
    kind: str  # "caption", "side" or "when"
    text: str
    expected: str  # the right answer, or what is known instead
    expected_span: tuple[int, int] | None = None  # in the stream's own frames
    about: str = ""  # the action a "when" question names ("a person does a squat")


@dataclass(frozen=True)
class DemoStream:
    replay: ReplayStream  # stream id, joints (T, J, 3) in its layout, fps, start frame
    source: str  # where it comes from, for the listing
    path: Path  # the motion file it was read from
    questions: tuple[Question, ...]
    start_delay_s: float = 0.0

    @property
    def stream_id(self) -> str:
        return self.replay.stream_id

    @property
    def seconds(self) -> float:
        return (self.replay.num_frames - 1) / self.replay.fps

    @property
    def frames(self) -> tuple[int, int]:
        first = self.replay.start_frame
        return first, first + self.replay.num_frames - 1


def available_kinds(cmu_dir: Path = CMU_DIR) -> list[str]:
    """KINDS, without the real trial when its file is not there."""
    trial = cmu_dir / f"{CMU_TRIAL[0]}.bvh"
    return [k for k in KINDS if k != "cmu-trial" or trial.is_file()]


def _one_sided(record: MotionRecord) -> tuple[GapItem, int] | None:
    """The gap item of a caption naming one side, that of the motion's only one-sided
    action, and that action's index; None when the motion has no such caption."""
    spans = record.spans or []
    sided = [i for i, s in enumerate(spans) if s.side in ("left", "right")]
    caption = record.captions[0].text
    words = side_words(caption)
    if len(sided) != 1 or len(words) != 1 or words[0].group(0).lower() != spans[sided[0]].side:
        return None
    return GapItem(record.motion_id, caption, words[0].start(), words[0].end()), sided[0]


def _when_target(record: MotionRecord, sided: int) -> int | None:
    """An action that occurs once in the motion; another than the one-sided one where
    there is one, so that the two questions are about different actions."""
    names = [s.action for s in record.spans or []]
    unique = [i for i, n in enumerate(names) if names.count(n) == 1]
    others = [i for i in unique if i != sided]
    picked = others or unique
    return picked[0] if picked else None


def synthetic_motions(max_frames: int | None, count: int) -> Iterator[tuple[MotionRecord,
                                                                            GapItem, int]]:
    """`count` motions with unambiguous questions (see the module docstring), at most
    `max_frames` frames at 20 fps; their one-sided actions differ until every one has been
    used. Motions of one action are taken only when the length allows no more (a "when"
    question about the only action is an easy one)."""
    min_actions = 2 if max_frames is None or max_frames >= MULTI_ACTION_FRAMES else 1
    one_sided = {name for name, spec in ACTIONS.items() if "left" in spec.sides}
    seen: set[str] = set()
    found = 0
    for k in range(5_000):
        record = synthesize_motion(f"demo{k}", np.random.default_rng([DEMO_SEED, k]))
        if max_frames is not None and record.num_frames > max_frames or \
                len(record.spans or []) < min_actions:
            continue
        gap = _one_sided(record)
        if gap is None:
            continue
        target = _when_target(record, gap[1])
        spans = record.spans or []
        if target is None or spans[gap[1]].action in seen:
            continue
        seen.add(spans[gap[1]].action)
        if seen == one_sided:
            seen.clear()
        yield record, gap[0], target
        found += 1
        if found == count:
            return
    raise ConfigError(f"found only {found} of {count} synthetic motions of at most "
                      f"{max_frames} frames with unambiguous questions; allow more --seconds")


def _stream_frame(model_frame: int, fps: float) -> int:
    return round(model_frame * fps / HUMANML3D_FPS)


def synthetic_stream(record: MotionRecord, gap: GapItem, target: int, rendition: Rendition,
                     folder: Path) -> DemoStream:
    """Write `record` as `rendition`, read it back as a replay stream, attach questions."""
    path = write_rendition(record.joints, rendition, folder, f"{rendition.name}-{record.motion_id}")
    # an .npy carries neither layout nor rate: say them, as `mochat replay --layout
    # NAME --file-fps FPS` would
    npy = rendition.file == "npy"
    (replay,) = load_streams([path], streams=1, prefix=rendition.name,
                             layout=rendition.layout if npy else None,
                             file_fps=rendition.fps if npy else None)
    replay = dataclasses.replace(replay, stream_id=rendition.name)
    span = (record.spans or [])[target]
    first = _stream_frame(span.start, replay.fps)
    last = min(_stream_frame(span.end, replay.fps), replay.num_frames - 1)
    questions = (
        Question("caption", CAPTION_QUESTION, record.captions[0].text),
        Question("side", gap.question, gap.answer),
        Question("when", tpl.TEMPORAL_INSTRUCTIONS[0].format(motion=f"a person {span.phrase}"),
                 f"frames {first}-{last}", (first, last), about=f"a person {span.phrase}"),
    )
    actions = len(record.spans or [])
    source = (f"synthetic {record.motion_id} ({actions} action{'s' * (actions != 1)}) as "
              f"{replay.layout} at {replay.fps:g} fps ({rendition.file})")
    return DemoStream(replay, source, path, questions)


def cmu_stream(cmu_dir: Path, max_seconds: float | None) -> DemoStream:
    """The real CMU trial, cut to `max_seconds` when given."""
    name, description, phrase = CMU_TRIAL
    path = cmu_dir / f"{name}.bvh"
    (replay,) = load_streams([path], streams=1, prefix="cmu")
    replay = dataclasses.replace(replay, stream_id=f"cmu-{name}")
    if max_seconds is not None:
        keep = int(max_seconds * replay.fps) + 1
        replay = dataclasses.replace(replay, joints=replay.joints[:keep])
    unknown = f"(no ground truth; CMU index: {description!r})"
    questions = (
        Question("caption", CAPTION_QUESTION, unknown),
        Question("when", tpl.TEMPORAL_INSTRUCTIONS[0].format(motion=f"a person {phrase}"),
                 unknown, about=f"a person {phrase}"),
    )
    return DemoStream(replay, f"real CMU trial {name} ({description}) as {replay.layout} at "
                      f"{replay.fps:g} fps (bvh)", path, questions)


def demo_streams(count: int, folder: Path, *, max_seconds: float | None = None,
                 stagger_s: float = 1.5, cmu_dir: Path = CMU_DIR) -> list[DemoStream]:
    """The first `count` of `available_kinds()`, stream i starting i * stagger_s late."""
    kinds = available_kinds(cmu_dir)
    if not 1 <= count <= len(kinds):
        raise ConfigError(f"--streams must be 1..{len(kinds)} (one per kind: "
                          f"{', '.join(kinds)}), got {count}")
    if max_seconds is not None and max_seconds < MIN_SECONDS:
        raise ConfigError(f"--seconds must be >= {MIN_SECONDS:g}, got {max_seconds:g}")
    kinds = kinds[:count]
    max_frames = None if max_seconds is None else int(max_seconds * HUMANML3D_FPS) + 1
    renditions = {r.name: r for r in RENDITIONS}
    synthetic = synthetic_motions(max_frames, sum(k != "cmu-trial" for k in kinds))
    streams = []
    for i, kind in enumerate(kinds):
        if kind == "cmu-trial":
            stream = cmu_stream(cmu_dir, max_seconds)
        else:
            stream = synthetic_stream(*next(synthetic), renditions[kind], folder)
        streams.append(dataclasses.replace(stream, start_delay_s=i * stagger_s))
    return streams
