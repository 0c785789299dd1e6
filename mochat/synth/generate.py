"""Compose atomic actions into HumanML3D-layout motions with captions and exact spans.

A motion is 1-4 actions back to back (with short idle gaps), on a body with random
proportions, start position and facing. Joint angles get smooth noise; forward kinematics
gives world joints; the lowest foot is put on the ground except while airborne. The ground
truth of every action (frames, body part, side) is recorded as it is placed, so the
temporal and spatial tasks have exact answers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mochat.skeleton.corpus import HUMANML3D_FPS, ActionSpan, Caption, MotionRecord, write_record
from mochat.synth import body as b
from mochat.synth.actions import ACTIONS, Piece

MAX_FRAMES = 196  # HumanML3D's longest motions are 196 frames (9.8 s at 20 fps)
SUBJECTS = ("a person", "someone", "the person", "a man", "a woman", "a figure")
JOINERS = ((", then ", " and then ", ", after that "), (", ", " and "))


@dataclass(frozen=True)
class SynthConfig:
    """`version` 1 is the original corpus (the default, byte for byte unchanged); 2 is
    mochat.synth.v2 (>= 60 action types, planted feet, overlapping actions, varied
    captions, composition splits). `capture_noise_m` (v2 only) adds marker jitter;
    `adapter_share` (v2 only) sends that share of the training motions through a file of
    another layout, rate and convention and back (mochat.synth.v2.adapters)."""

    motions: int = 2000
    seed: int = 0
    min_actions: int = 1
    max_actions: int = 4
    noise_degrees: float = 1.5
    split_fractions: tuple[float, float, float] = (0.80, 0.05, 0.15)
    version: int = 1
    capture_noise_m: float = 0.0
    adapter_share: float = 0.0

    def __post_init__(self) -> None:
        if self.version not in (1, 2):
            raise ValueError(f"unknown corpus version {self.version!r}; expected 1 or 2")
        if not 0.0 <= self.adapter_share <= 1.0:
            raise ValueError(f"adapter_share must be in [0, 1], got {self.adapter_share!r}")
        if self.version == 1 and (self.adapter_share or self.capture_noise_m):
            raise ValueError("adapter_share and capture_noise_m need corpus version 2")


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], degrees: float) -> np.ndarray:
    """Low-pass Gaussian noise along time (axis 0): realistic tremor, no frame jumps."""
    raw = rng.normal(0.0, 1.0, size=shape)
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.5) ** 2)
    kernel /= np.sqrt((kernel ** 2).sum())
    padded = np.pad(raw, [(6, 6)] + [(0, 0)] * (raw.ndim - 1), mode="reflect")
    out = sum(k * padded[i:i + shape[0]] for i, k in enumerate(kernel))
    return degrees * out


def _plan(rng: np.random.Generator, config: SynthConfig) -> list[tuple[str, str, int, int]]:
    """Pick actions and durations: [(action, side, frames, gap_before)], within MAX_FRAMES."""
    count = int(rng.integers(config.min_actions, config.max_actions + 1))
    plan: list[tuple[str, str, int, int]] = []
    used = 24  # room for the lead-in and tail standing that _assemble adds
    seated = False
    names = [n for n in ACTIONS if n != "stand_up"]
    for _ in range(count):
        name = "stand_up" if seated else str(rng.choice(names))
        spec = ACTIONS[name]
        side = str(rng.choice(spec.sides))
        frames = int(rng.integers(spec.frames[0], spec.frames[1] + 1))
        gap = int(rng.integers(0, 8)) if plan else 0
        if used + gap + frames > MAX_FRAMES:
            break
        plan.append((name, side, frames, gap))
        used += gap + frames
        seated = name == "sit_down"
    return plan


def _phrase(rng: np.random.Generator, action: str, side: str) -> str:
    template = str(rng.choice(ACTIONS[action].phrases))
    text = template.replace("{side}", side)
    return text.replace("the both arm", "both arms").replace("their both arm", "both arms")


def _caption(rng: np.random.Generator, phrases: list[str]) -> str:
    subject = str(rng.choice(SUBJECTS))
    text = phrases[0]
    for k, phrase in enumerate(phrases[1:], start=1):
        last = k == len(phrases) - 1
        joiner = str(rng.choice(JOINERS[0] if last else JOINERS[1]))
        text += joiner + phrase
    return f"{subject} {text}."


_POS = {"a": "DET", "an": "DET", "the": "DET", "their": "DET", "both": "DET",
        "with": "ADP", "to": "ADP", "in": "ADP", "into": "ADP", "on": "ADP", "from": "ADP",
        "up": "ADP", "down": "ADP", "then": "ADV", "forward": "ADV", "backward": "ADV",
        "backwards": "ADV", "ahead": "ADV", "slowly": "ADV", "quickly": "ADV", "and": "CCONJ",
        "left": "ADJ", "right": "ADJ", "after": "ADP", "that": "DET", "once": "ADV"}


def _tokens(text: str) -> str:
    """HumanML3D's 'word/POS' token string, with a tiny rule-based tagger."""
    out = []
    words = text.rstrip(".").replace(",", "").split()
    for i, word in enumerate(words):
        pos = _POS.get(word)
        if pos is None:
            is_verb = word.endswith("s") and i > 0 and words[i - 1] in (
                "person", "someone", "man", "woman", "figure", "then", "and")
            pos = "VERB" if is_verb else "NOUN"
            if is_verb:
                word = word[:-2] if word.endswith(("shes", "ches", "sses")) else word[:-1]
        out.append(f"{word}/{pos}")
    return " ".join(out)


def _assemble(plan: list[tuple[str, str, int, int]], rng: np.random.Generator
              ) -> tuple[Piece, list[tuple[str, str, int, int]]]:
    """Concatenate pieces on one timeline; seated pose carries over from sit_down."""
    lead = int(rng.integers(4, 12))
    total = lead + sum(gap + frames for _, _, frames, gap in plan) + int(rng.integers(4, 12))
    timeline = Piece(np.zeros((total, 22, 3)), np.zeros((total, 2)), np.zeros(total),
                     np.zeros(total))
    placed = []
    cursor = lead
    hold = np.zeros((22, 3))  # pose held after an action that ends in a new state
    for name, side, frames, gap in plan:
        timeline.angles[cursor:cursor + gap] += hold
        cursor += gap
        piece = ACTIONS[name].make(frames, rng, side)
        sl = slice(cursor, cursor + frames)
        timeline.angles[sl] += piece.angles + (0 if name == "stand_up" else hold)
        timeline.velocity[sl] += piece.velocity
        timeline.yaw_rate[sl] += piece.yaw_rate
        timeline.lift[sl] += piece.lift
        hold = piece.angles[-1] if name == "sit_down" else np.zeros((22, 3))
        placed.append((name, side, cursor, cursor + frames - 1))
        cursor += frames
    timeline.angles[cursor:] += hold
    return timeline, placed


def synthesize_motion(motion_id: str, rng: np.random.Generator,
                      config: SynthConfig = SynthConfig()) -> MotionRecord:
    """One random motion with 3 captions and its action spans."""
    if config.version == 2:
        from mochat.synth.v2.generate import synthesize_motion_v2

        return synthesize_motion_v2(motion_id, rng, config)
    plan = _plan(rng, config)
    timeline, placed = _assemble(plan, rng)
    frames = timeline.angles.shape[0]
    pose = b.base_pose(frames) + timeline.angles
    pose += _smooth_noise(rng, pose.shape, config.noise_degrees)
    yaw = rng.uniform(0, 2 * np.pi) + np.cumsum(timeline.yaw_rate) / HUMANML3D_FPS
    # body-frame velocity (left, forward) -> world xz through the current yaw
    vx = timeline.velocity[:, 0] * np.cos(yaw) + timeline.velocity[:, 1] * np.sin(yaw)
    vz = -timeline.velocity[:, 0] * np.sin(yaw) + timeline.velocity[:, 1] * np.cos(yaw)
    root = np.zeros((frames, 3))
    root[:, 0] = rng.uniform(-1, 1) + np.cumsum(vx) / HUMANML3D_FPS
    root[:, 2] = rng.uniform(-1, 1) + np.cumsum(vz) / HUMANML3D_FPS
    joints = b.forward_kinematics(pose, b.body_offsets(rng), yaw, root)
    floor = joints[:, b.FOOT_JOINTS, 1].min(axis=1)  # (T,) lowest foot
    joints[:, :, 1] += (timeline.lift - floor)[:, None]
    spans, phrases = [], []
    for name, side, start, end in placed:
        phrase = _phrase(rng, name, side)
        phrases.append(phrase)
        spans.append(ActionSpan(name, phrase, ACTIONS[name].body_part, side, start, end))
    captions = []
    for _ in range(3):
        variant = [_phrase(rng, n, s) for n, s, _, _ in placed]
        text = _caption(rng, variant)
        captions.append(Caption(text, _tokens(text), 0.0, 0.0))
    return MotionRecord(motion_id, joints.astype(np.float32), captions, spans)


def write_corpus(out: str | Path, config: SynthConfig, *, overwrite: bool = True,
                 progress: bool = False) -> list[str]:
    """Write `config.motions` motions and split files under `out`; returns the ids."""
    if config.version == 2:
        from mochat.synth.v2.generate import write_corpus_v2

        return write_corpus_v2(out, config, overwrite=overwrite, progress=progress)
    root = Path(out)
    if overwrite:
        for sub in ("new_joints", "texts", "spans"):
            shutil.rmtree(root / sub, ignore_errors=True)
    for sub in ("new_joints", "texts", "spans"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(config.seed).spawn(config.motions + 1)
    ids = [f"S{i:06d}" for i in range(config.motions)]
    iterator = range(config.motions)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="synth", unit="motion")
    for i in iterator:
        write_record(root, synthesize_motion(ids[i], np.random.default_rng(seeds[i]), config))
    order = np.random.default_rng(seeds[-1]).permutation(config.motions)
    n_train = int(round(config.split_fractions[0] * config.motions))
    n_val = int(round(config.split_fractions[1] * config.motions))
    splits = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
              "test": order[n_train + n_val:]}
    for split, idx in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{ids[i]}\n" for i in sorted(idx)))
    return ids
