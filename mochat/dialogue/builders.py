"""Builders of the four instruction sets from a corpus in HumanML3D layout.

Every dialogue is one JSON object:
    {"id", "motion_id", "task", "conversations": [{"from": "human", "value": "<skeleton>\\n..."},
     {"from": "gpt", "value": ...}, ...], "span": [start, end] or null}
plus `"frames": [first, last]` (inclusive motion frames) on a dialogue about one segment of
the motion only: one built from a HumanML3D caption with start/end times. Training then
shows the model only those frames; a dialogue without "frames" is about the whole motion.
The human turn of the first exchange carries the `<skeleton>` placeholder. Randomness (which
template, which gap) comes from an rng seeded per motion, so a motion's dialogues do not
depend on which other motions are built with it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mochat.dialogue import templates as tpl

Dialogue = dict[str, Any]
Frames = tuple[int, int]  # a caption's segment: first and last motion frame, inclusive

_SUBJECT = re.compile(
    r"^\s*((?:a|an|the|this|one)\s+(?:person|man|woman|human|figure|guy|individual|"
    r"character|subject|player|lady|boy|girl|child|kid)|someone|somebody|person|he|she)\b\s*",
    re.IGNORECASE)
# Clause boundaries: commas, semicolons, and sequencing words.
_CLAUSE_SPLIT = re.compile(r"\s*(?:[,;]\s*(?:and\s+then|then|after\s+that|and)?|"
                           r"\s+and\s+then|\s+after\s+that|\s+then|\s+and|\s+before|"
                           r"\s+while)\s+", re.IGNORECASE)
# A clause that names no body part but points back to one ("... and lowers it").
_ANAPHOR = re.compile(r"\b(?:it|them|they|both|each|one|other)\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)
# Side words that name no side: "right away", "all right", "right after" ..., and the
# choice itself ("... with left or right"), which a mirror image must not turn around:
# "right or left" would mark every mirrored question for the model to read.
_NOT_A_SIDE = re.compile(r"\ball right\b|\bright (?:away|now|after|before|back)\b|"
                         r"\bleft or right\b|\bright or left\b", re.IGNORECASE)


def new_dialogue(task: str, motion_id: str, index: int,
                 turns: Sequence[tuple[str, str]], span: tuple[int, int] | None = None,
                 frames: Frames | None = None) -> Dialogue:
    """A dialogue from (question, answer) turns; the first question gets `<skeleton>`.
    `frames`: the segment the dialogue is about (no "frames" key: the whole motion)."""
    conversations = []
    for k, (question, answer) in enumerate(turns):
        value = tpl.with_skeleton(question) if k == 0 else question
        conversations += [{"from": "human", "value": value}, {"from": "gpt", "value": answer}]
    row: Dialogue = {"id": f"{task}-{motion_id}-{index}", "motion_id": motion_id, "task": task,
                     "conversations": conversations, "span": list(span) if span else None}
    if frames is not None:
        row["frames"] = list(frames)
    return row


def distinct_captions(captions: Sequence[str], frames: Sequence[Frames | None] | None = None
                      ) -> list[tuple[str, Frames | None]]:
    """(stripped caption, its segment or None for the whole motion), each pair once, in
    order, blanks dropped. `frames` lines up with `captions`; None: all whole-motion. The
    same text over two segments stays two items: they describe different frames."""
    segments = [None] * len(captions) if frames is None else list(frames)
    if len(segments) != len(captions):
        raise ValueError(f"{len(captions)} captions but {len(segments)} segments")
    return list(dict.fromkeys((c.strip(), f) for c, f in zip(captions, segments, strict=True)
                              if c.strip()))


def split_subject(caption: str) -> tuple[str, str]:
    """'A man waves.' -> ('A man', 'waves.'); no subject -> ('the person', caption)."""
    match = _SUBJECT.match(caption)
    if match is None:
        return "the person", caption.strip()
    return match.group(1), caption[match.end():].strip()


def split_clauses(text: str) -> list[str]:
    """Split a caption body into clauses at commas and sequencing words."""
    text = text.strip().rstrip(".").strip()
    return [c.strip() for c in _CLAUSE_SPLIT.split(text) if c and c.strip()]


def body_parts_in(text: str) -> list[str]:
    """Body parts (paper's five) whose keywords occur in `text` as whole words."""
    lower = f" {re.sub(r'[^a-z ]', ' ', text.lower())} "
    return [part for part, words in tpl.BODY_PART_KEYWORDS.items()
            if any(f" {w} " in lower for w in words)]


def _sentence(subject: str, clauses: Sequence[str]) -> str:
    body = clauses[0] if len(clauses) == 1 else f"{', '.join(clauses[:-1])} and {clauses[-1]}"
    text = f"{subject} {body}".strip()
    return text[0].upper() + text[1:] + "."


def basic_dialogues(motion_id: str, captions: Sequence[str], rng: random.Random, *,
                    frames: Sequence[Frames | None] | None = None) -> list[Dialogue]:
    """One dialogue per distinct caption: a random basic instruction, the caption as answer.
    `frames`: each caption's segment (`distinct_captions`)."""
    out: list[Dialogue] = []
    for k, (caption, segment) in enumerate(distinct_captions(captions, frames)):
        question = rng.choice(tpl.BASIC_INSTRUCTIONS)
        out.append(new_dialogue("basic", motion_id, k, [(question, caption)], frames=segment))
    return out


def part_answers(caption: str) -> dict[str, str]:
    """Split a caption per body part: {part: sentence of the clauses that mention it}.

    A clause that names no body part but refers back ('... and lowers it') belongs to the
    clause before it; other clauses without a body part (whole-body actions) are left out.
    """
    subject, body = split_subject(caption)
    groups: list[list[str]] = []
    for clause in split_clauses(body):
        if body_parts_in(clause):
            groups.append([clause])
        elif groups and _ANAPHOR.search(clause):
            groups[-1].append(clause)
    by_part: dict[str, list[str]] = {}
    for group in groups:
        text = " and ".join(group)
        for part in body_parts_in(text):
            by_part.setdefault(part, []).append(text)
    return {part: _sentence(subject, clauses) for part, clauses in by_part.items()}


def spatial_dialogues(motion_id: str, captions: Sequence[str], rng: random.Random, *,
                      frames: Sequence[Frames | None] | None = None) -> list[Dialogue]:
    """Per caption with body-part keywords: one multi-turn dialogue, one turn per part.
    `frames`: each caption's segment (`distinct_captions`)."""
    out: list[Dialogue] = []
    for caption, segment in distinct_captions(captions, frames):
        answers = part_answers(caption)
        if not answers:
            continue
        turns = [(rng.choice(tpl.SPATIAL_INSTRUCTIONS).format(body_part=part), answer)
                 for part, answer in answers.items()]
        out.append(new_dialogue("spatial", motion_id, len(out), turns, frames=segment))
    return out


@dataclass(frozen=True)
class GapItem:
    """One gap-filling candidate: `caption` with the side word at `start:end` blanked;
    `frames` the caption's segment (None: the whole motion)."""

    motion_id: str
    caption: str
    start: int
    end: int
    frames: Frames | None = None

    @property
    def answer(self) -> str:
        return self.caption[self.start:self.end].lower()

    @property
    def question(self) -> str:
        gapped = self.caption[:self.start] + tpl.GAP + self.caption[self.end:]
        if not gapped.endswith((".", "!", "?")):
            gapped += "."
        return tpl.GAP_FILLING_INSTRUCTION.format(motion_with_gap=gapped)


def side_words(text: str) -> list[re.Match[str]]:
    """Every 'left'/'right' of `text` that names a side (not 'right away', 'all right',
    'left or right')."""
    skip = [m.span() for m in _NOT_A_SIDE.finditer(text)]
    return [m for m in _SIDE.finditer(text)
            if not any(start <= m.start() < end for start, end in skip)]


def mirror_text(text: str) -> str:
    """Swap every side word, keeping its case: the text of the mirror-image motion."""
    swap = {"left": "right", "right": "left"}
    out, last = [], 0
    for m in side_words(text):
        word = swap[m.group(0).lower()]
        if m.group(0).isupper():
            word = word.upper()
        elif m.group(0)[0].isupper():
            word = word.capitalize()
        out += [text[last:m.start()], word]
        last = m.end()
    return "".join(out) + text[last:]


def gap_candidates(motion_id: str, captions: Sequence[str], *,
                   frames: Sequence[Frames | None] | None = None) -> list[GapItem]:
    """Every side word ('left'/'right', not 'right away') of every distinct caption.
    `frames`: each caption's segment (`distinct_captions`)."""
    items = []
    for caption, segment in distinct_captions(captions, frames):
        items += [GapItem(motion_id, caption, m.start(), m.end(), segment)
                  for m in side_words(caption)]
    return items


def balance_gaps(items: Sequence[GapItem], seed: int) -> list[GapItem]:
    """Keep as many `left` as `right` answers: the majority side is subsampled."""
    rng = random.Random(f"gap-balance-{seed}")
    left = [i for i in items if i.answer == "left"]
    right = [i for i in items if i.answer == "right"]
    n = min(len(left), len(right))
    kept = rng.sample(left, n) + rng.sample(right, n)
    # the segment only breaks ties (same text over two segments): whole-motion items keep
    # the order they had before segments existed
    return sorted(kept, key=lambda i: (i.motion_id, i.caption, i.start, i.frames or (-1, -1)))


def gap_dialogues(items: Sequence[GapItem]) -> list[Dialogue]:
    counts: dict[str, int] = {}
    out: list[Dialogue] = []
    for item in items:
        k = counts[item.motion_id] = counts.get(item.motion_id, -1) + 1
        out.append(new_dialogue("spatial_gap", item.motion_id, k,
                                [(item.question, item.answer.capitalize() + ".")],
                                frames=item.frames))
    return out


def temporal_dialogues(motion_id: str, spans: Sequence[tuple[str, int, int]],
                       rng: random.Random) -> list[Dialogue]:
    """One dialogue per (motion text, start, end): random template, 'From frame S to frame E.'"""
    out: list[Dialogue] = []
    for k, (motion, start, end) in enumerate(spans):
        question = rng.choice(tpl.TEMPORAL_INSTRUCTIONS).format(motion=motion)
        answer = tpl.TEMPORAL_ANSWER.format(start=start, end=end)
        out.append(new_dialogue("temporal", motion_id, k, [(question, answer)], (start, end)))
    return out
