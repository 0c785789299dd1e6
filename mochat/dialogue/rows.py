"""Dialogue rows as `mochat dialogues` writes them: reading, mirroring, and their gold.

Torch-free, so the evaluator (training/), batch reprocessing (mochat.batch) and benchmarks
read the same rows the same way. A row is {"id", "motion_id", "task", "conversations":
[{"from", "value"}...], "span": [s, e] | null} (+ "frames", "spans"; see training/lm_data.py).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from mochat.dialogue import mirror_text
from mochat.dialogue.build import caption_segments
from mochat.errors import DataFormatError
from mochat.skeleton import ActionSpan, HumanML3DCorpus, MotionRecord, mirror_joints
from mochat.synth.actions import ACTIONS

MIRROR_SUFFIX = "~mirror"
SWAPPED_SUFFIX = "~swapped"  # a gap question whose other side words are swapped


def _dialogue_files(source: Path, split: str) -> list[Path]:
    """A JSONL file itself, or every `<source>/<split>/*.jsonl` (`mochat dialogues` output)."""
    if source.is_file():
        return [source]
    files = sorted((source / split).glob("*.jsonl"))
    if not files:
        raise DataFormatError(f"{source}: no {split}/*.jsonl dialogue files")
    return files


def read_dialogues(source: str | Path, split: str = "train", *,
                   tasks: Sequence[str] | None = None, limit_per_task: int | None = None,
                   seed: int = 0) -> list[dict]:
    """Read dialogues (errors name file and line); optionally keep some tasks, capped each.

    Rows with `"motion_id": null` are text-only (the general-instruction set).
    """
    rows = []
    for path in _dialogue_files(Path(source), split):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row["motion_id"], row["conversations"]  # noqa: B018 - required keys
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataFormatError(f"{path}:{n}: not a dialogue line: {err}") from err
            if tasks is None or row.get("task") in tasks:
                rows.append(row)
    if limit_per_task is not None:
        rng = random.Random(seed)
        by_task: dict[str, list[dict]] = {}
        for row in rows:
            by_task.setdefault(row.get("task", ""), []).append(row)
        rows = []
        for task in sorted(by_task):
            items = by_task[task]
            rng.shuffle(items)
            rows.extend(items[:limit_per_task])
    return rows


def mirror_dialogue(row: dict) -> dict:
    """The same dialogue about the mirror-image motion: side words swapped, span kept."""
    if row.get("motion_id") is None:
        raise DataFormatError(f"dialogue {row.get('id')!r} has no motion to mirror")
    turns = [{**turn, "value": mirror_text(turn["value"])} for turn in row["conversations"]]
    return {**row, "id": f"{row.get('id')}{MIRROR_SUFFIX}",
            "motion_id": row["motion_id"] + MIRROR_SUFFIX, "conversations": turns}


def swap_other_sides(row: dict) -> dict | None:
    """The dialogue about the same motion with the *other* side words of its gap questions
    swapped and every answer kept, or None when no gap question has another side word. In
    generated captions the blanked side is correlated with the caption's other sides (the
    corpus v2 training set answers the opposite of them 62 % of the time, and a mirror
    image keeps that, since it swaps them all), so a model can answer from the text alone;
    trained on both versions, only the motion tells the answer. The swapped caption
    misstates the other actions' sides: training data only, never scored."""
    turns = [{**turn, "value": mirror_text(turn["value"])}  # the blank and the instruction
             if turn.get("from", turn.get("role")) in ("human", "user")  # keep their sides
             and GAP_BLANK in turn["value"] else turn
             for turn in row["conversations"]]
    if turns == row["conversations"]:
        return None
    return {**row, "id": f"{row.get('id')}{SWAPPED_SUFFIX}", "conversations": turns}


def variant_base(row_id: str) -> str:
    """The id a mirrored or side-swapped row was made from."""
    while row_id.endswith((MIRROR_SUFFIX, SWAPPED_SUFFIX)):
        row_id = row_id.removesuffix(MIRROR_SUFFIX).removesuffix(SWAPPED_SUFFIX)
    return row_id


def first_turn(row: dict) -> tuple[str, str]:
    """A dialogue's first question (without the `<skeleton>` placeholder) and answer."""
    turns = row["conversations"]
    question = turns[0]["value"].replace("<skeleton>", "").strip()
    return question, turns[1]["value"]


def load_record(corpus: HumanML3DCorpus, motion_id: str) -> MotionRecord:
    """The corpus record of `motion_id`; for an id ending in MIRROR_SUFFIX, the record of the
    mirror image: joints mirrored, side words of captions and spans swapped."""
    if not motion_id.endswith(MIRROR_SUFFIX):
        return corpus.load(motion_id)
    record = corpus.load(motion_id.removesuffix(MIRROR_SUFFIX))
    return replace(
        record, motion_id=motion_id, joints=mirror_joints(record.joints, record.layout),
        captions=[replace(c, text=mirror_text(c.text), tokens=mirror_text(c.tokens))
                  for c in record.captions],
        spans=None if record.spans is None else [
            replace(s, side=mirror_text(s.side), phrase=mirror_text(s.phrase))
            for s in record.spans])


GAP_BLANK = "( )"


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A phrase template as a regex: '{side}' matches a side word or the blank."""
    parts = [re.escape(p) for p in phrase.split("{side}")]
    return re.compile(r"(?:left|right|both|\( \))".join(parts), re.IGNORECASE)


_SIDED = {name: [_phrase_pattern(p) for p in spec.phrases]
          for name, spec in ACTIONS.items() if "{side}" in "".join(spec.phrases)}


def blanked_action(question: str, spans: Sequence[ActionSpan]) -> ActionSpan | None:
    """The action whose side a gap question ("... sidesteps to the ( ) ...") blanks, or None
    if it cannot be told. Synthetic corpus only: its phrase templates name the action kind,
    and the phrases of that kind before the blank give which occurrence it is."""
    for name, patterns in _SIDED.items():
        matches = sorted({(m.start(), GAP_BLANK in m.group(0))
                          for p in patterns for m in p.finditer(question)})
        blanks = [k for k, (_, is_blank) in enumerate(matches) if is_blank]
        if not blanks:
            continue
        same = [s for s in spans if s.action == name]  # in time order, as in the caption
        return same[blanks[0]] if blanks[0] < len(same) else None
    return None


GAP_KINDS = ("after_turn", "turn", "step_side", "other")


def gap_kinds(rows: Iterable[dict], corpus_dir: str | Path) -> list[str | None]:
    """Per dialogue, what its gap question blanks (synthetic corpus only): 'after_turn' (an
    action that starts after the body has turned: its side is the body's, no longer the
    world's of the first frame), else 'turn', 'step_side' or 'other' by the action; None
    for a dialogue that is no gap question or whose action cannot be told."""
    corpus = HumanML3DCorpus(corpus_dir)
    spans: dict[str, list[ActionSpan]] = {}
    out: list[str | None] = []
    for row in rows:
        if row.get("task") != "spatial_gap":
            out.append(None)
            continue
        motion = row["motion_id"].removesuffix(MIRROR_SUFFIX)  # same actions, same times
        if motion not in spans:
            spans[motion] = corpus.spans(motion) or []
        action = blanked_action(first_turn(row)[0], spans[motion])
        if action is None:
            out.append(None)
        elif any(s.action == "turn" and s.end < action.start for s in spans[motion]):
            out.append("after_turn")
        else:
            out.append(action.action if action.action in GAP_KINDS else "other")
    return out


def kind_groups(kinds: Sequence[str | None]) -> dict[str, list[int]]:
    """Gap kind ('unknown' for None) -> the positions of `kinds` (`gap_kinds`'s output) that
    have it, in GAP_KINDS order; kinds that do not occur are left out."""
    groups: dict[str, list[int]] = {}
    for kind in [*GAP_KINDS, None]:
        if picked := [k for k, found in enumerate(kinds) if found == kind]:
            groups[kind or "unknown"] = picked
    return groups


CAPTION_TASKS = ("basic",)
GAP_TASKS = ("spatial_gap",)
TEMPORAL_TASKS = ("temporal",)


def gap_gold(row: dict) -> str:
    """A gap dialogue's gold side ('left' / 'right'), as answers are scored against it."""
    return first_turn(row)[1].strip().rstrip(".").lower()


def caption_refs(corpus: HumanML3DCorpus, row: dict) -> list[str]:
    """The captions a basic dialogue is scored against: those of the same frames (the whole
    motion, or the row's "frames"), so a segment's caption never scores the whole motion."""
    frames = None if row.get("frames") is None else tuple(row["frames"])
    return [text for text, segment in caption_segments(load_record(corpus, row["motion_id"]))
            if segment == frames]
