"""Build every instruction set of a corpus, split by split, plus the test-split eval files.

Output under `out/`:
    <split>/basic.jsonl, spatial.jsonl, spatial_gap.jsonl, temporal.jsonl   (train/val/test)
    <split>/multiturn.jsonl, absent.jsonl, present.jsonl   sessions and presence questions
                                   (mochat.dialogue.multiturn), whole motions with spans/
    train/general.jsonl                       the general-instruction set (no motion)
    eval/captions_ids.txt, captions_ref{0,1,2}.txt     whole-motion references of the test
                                   motions (motions with none are left out)
    eval/captions_segments.txt     id+++++first+++++last+++++caption: the test captions of
                                   one segment only (written when there are any)
    eval/spatial_questions.txt     id+++++question+++++answer, aligned with test/spatial_gap;
                                   a question about a segment has id `ID@first-last`
    eval/temporal_gt.txt           start+++++end, aligned with test/temporal.jsonl
    stats.json                     counts per split and task, left/right balance
A motion's dialogues go to its corpus split only, so no test motion reaches training data.

Row format (one JSON object a line; `mochat.dialogue.builders.new_dialogue`):
    {"id", "motion_id", "task", "conversations": [{"from": "human"|"gpt", "value"}...],
     "span": [s, e] | null}
`span` is the ground truth of the last assistant answer, inclusive motion frames (the one
answer of the single-turn sets). A multiturn row adds `"spans"`, one entry per assistant
turn in order ([s, e] for a "when" about a present action, else null), so every turn's
ground truth is kept; its `span` equals `spans[-1]`. Rows of the older sets are unchanged,
byte for byte: they have no "spans" (read as [null, ..., span]). The presence sets answer
a question about an absent action with templates.NOT_IN_MOTION and span null.

Caption times: a HumanML3D caption line `text#tokens#start#end` with start/end (seconds) not
both 0 describes only that segment of the motion (`caption_frames`). Its basic, spatial and
gap dialogues carry `"frames": [first, last]`, and it is never a whole-motion reference.

Temporal spans come from `spans/` when the motion has them; else from its segment captions,
which are exact temporal labels (caption -> the frames it covers); else from the timestamp
pipeline run on the motion's first caption. BuildReport.temporal_source names the sources
used, joined by " + " when motions differ.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from mochat.dialogue import builders as bld
from mochat.dialogue import multiturn as mt
from mochat.dialogue.builders import Frames
from mochat.dialogue.general import load_general_answers, training_pairs
from mochat.metrics.files import SEP
from mochat.skeleton.corpus import SPLITS, Caption, HumanML3DCorpus, MotionRecord
from mochat.skeleton.readers import HUMANML3D_FPS
from mochat.timestamps import Annotator, RuleAnnotator, caption_actions, extract_actions

log = structlog.get_logger(__name__)

TASKS = ("basic", "spatial", "spatial_gap", "temporal", "multiturn", "absent", "present")
SPANS, CAPTION_TIMES, PIPELINE = "spans", "caption times", "timestamp pipeline"


@dataclass
class BuildReport:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> task -> n
    gap_sides: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> side -> n
    general: int = 0
    temporal_source: str = SPANS  # the sources of temporal spans used, " + " between them


def caption_frames(caption: Caption, num_frames: int, fps: float = HUMANML3D_FPS
                   ) -> Frames | None:
    """The motion frames [first, last] (inclusive) a caption describes; None: all of them.

    start/end 0/0 (NaN is read as 0) is the whole motion. Otherwise first =
    round(start_s * fps) and last = round(end_s * fps), clamped to [0, T - 1]: #1.0#2.5 at
    20 fps is frames 20..50, 31 frames. (HumanML3D's own loader slices
    [int(start*20):int(end*20)], an exclusive end, so at most a frame shorter.) A segment
    that clamps to the whole motion is the whole motion (None); one that holds no frame of
    the motion comes back empty, first > last.
    """
    if caption.start_s == 0.0 and caption.end_s == 0.0:
        return None
    first = max(0, round(caption.start_s * fps))
    last = min(num_frames - 1, round(caption.end_s * fps))
    return None if (first, last) == (0, num_frames - 1) else (first, last)


def caption_segments(record: MotionRecord) -> list[tuple[str, Frames | None]]:
    """(text, segment or None) per caption of the motion, in file order; a caption whose
    segment holds no frame of the motion (it starts after the motion ends, or ends before
    it starts) is left out."""
    out = []
    for caption in record.captions:
        frames = caption_frames(caption, record.num_frames, record.fps)
        if frames is None or frames[0] <= frames[1]:
            out.append((caption.text, frames))
    return out


def _motion_text(caption: str) -> str:
    """'A man waves.' -> 'a man waves': a caption as the {motion} of a temporal question."""
    text = caption.strip().rstrip(".!?").strip()
    return text[:1].lower() + text[1:]


@dataclass(frozen=True)
class TemporalLabels:
    source: str | None  # SPANS, CAPTION_TIMES, PIPELINE; None: no caption to label from
    spans: list[tuple[str, int, int]]  # (motion text, start, end), inclusive frames


def motion_spans(record: MotionRecord, annotator: Annotator) -> TemporalLabels:
    """(motion text, start, end) of a motion's actions: ground truth, its segment captions,
    or extracted from its first caption by the timestamp pipeline."""
    if record.spans is not None:
        return TemporalLabels(SPANS, [(f"a person {s.phrase}", s.start, s.end)
                                      for s in record.spans])
    segments = caption_segments(record)
    timed = [(_motion_text(text), *frames) for text, frames in segments if frames is not None]
    if timed:
        return TemporalLabels(CAPTION_TIMES, list(dict.fromkeys(timed)))
    if not segments:
        return TemporalLabels(None, [])
    actions = caption_actions(segments[0][0])  # every caption left is of the whole motion
    found = extract_actions(record.joints, actions, annotator)
    return TemporalLabels(PIPELINE, [(e.action, e.span[0], e.span[1])
                                     for e in found if e.span is not None])


def _general_dialogues() -> list[dict[str, Any]]:
    return [{"id": f"general-{k}", "motion_id": None, "task": "general",
             "conversations": [{"from": "human", "value": question},
                               {"from": "gpt", "value": answer}], "span": None}
            for k, (question, answer) in enumerate(training_pairs(load_general_answers()))]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


@dataclass
class SplitBuild:
    sets: dict[str, list[dict[str, Any]]]  # task -> dialogues
    records: list[MotionRecord]
    temporal_sources: set[str]


def corpus_vocabulary(corpus: HumanML3DCorpus) -> dict[tuple[str, str], tuple[str, ...]]:
    """(action, side) -> phrases of the ground-truth spans of every split: the actions an
    absent-action question may name (phrase templates only; no motion is read)."""
    ids = [m for split in SPLITS if (corpus.root / f"{split}.txt").exists()
           for m in corpus.ids(split)]
    return mt.action_vocabulary(s for m in ids for s in corpus.spans(m) or [])


def _session_sets(record: MotionRecord, segments: list[tuple[str, Frames | None]],
                  vocabulary: mt.Vocabulary, seed: int) -> dict[str, list[dict[str, Any]]]:
    """The multiturn, absent and present rows of one motion, about the whole motion: its
    whole-motion captions, their gap candidates, its spans. Own rng, so the older sets
    draw exactly what they drew before these sets existed."""
    rng = random.Random(f"{seed}-sessions-{record.motion_id}")
    whole = [t for t, f in segments if f is None]
    spans = record.spans or []
    out = mt.presence_dialogues(record.motion_id, spans, vocabulary, rng)
    out["multiturn"] = mt.multiturn_dialogues(
        record.motion_id, [c for c, _ in bld.distinct_captions(whole)],
        bld.gap_candidates(record.motion_id, whole), spans, vocabulary, rng)
    return out


def build_split(corpus: HumanML3DCorpus, split: str, seed: int, annotator: Annotator,
                vocabulary: mt.Vocabulary | None = None) -> SplitBuild:
    sets: dict[str, list[dict[str, Any]]] = {task: [] for task in TASKS}
    vocabulary = corpus_vocabulary(corpus) if vocabulary is None else vocabulary
    gaps: list[bld.GapItem] = []
    records: list[MotionRecord] = []
    sources: set[str] = set()
    for record in corpus.iter(split):
        rng = random.Random(f"{seed}-{record.motion_id}")
        segments = caption_segments(record)
        if len(segments) < len(record.captions):
            log.warning("captions outside the motion left out", motion_id=record.motion_id,
                        left_out=len(record.captions) - len(segments),
                        num_frames=record.num_frames)
        captions, frames = [t for t, _ in segments], [f for _, f in segments]
        sets["basic"] += bld.basic_dialogues(record.motion_id, captions, rng, frames=frames)
        sets["spatial"] += bld.spatial_dialogues(record.motion_id, captions, rng,
                                                 frames=frames)
        gaps += bld.gap_candidates(record.motion_id, captions, frames=frames)
        labels = motion_spans(record, annotator)
        sets["temporal"] += bld.temporal_dialogues(record.motion_id, labels.spans, rng)
        if labels.source is not None:
            sources.add(labels.source)
        for task, rows in _session_sets(record, segments, vocabulary, seed).items():
            sets[task] += rows
        records.append(record)
    sets["spatial_gap"] = bld.gap_dialogues(bld.balance_gaps(gaps, seed))
    return SplitBuild(sets, records, sources)


def _eval_id(row: dict[str, Any]) -> str:
    """A dialogue's motion id, `ID@first-last` when it is about a segment only."""
    frames = row.get("frames")
    return row["motion_id"] if frames is None else f"{row['motion_id']}@{frames[0]}-{frames[1]}"


def _write_eval_files(out: Path, sets: dict[str, list[dict[str, Any]]],
                      records: list[MotionRecord]) -> None:
    """A caption of one segment is no reference for the whole motion: captions_ref holds
    whole-motion captions only, captions_segments the others with their frames."""
    folder = out / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    whole = {r.motion_id: [t for t, f in caption_segments(r) if f is None] for r in records}
    with_captions = [m for m, texts in whole.items() if texts]
    (folder / "captions_ids.txt").write_text("".join(f"{m}\n" for m in with_captions))
    for k in range(3):  # motions with fewer than 3 captions repeat their last one
        lines = [whole[m][min(k, len(whole[m]) - 1)].strip() for m in with_captions]
        (folder / f"captions_ref{k}.txt").write_text("".join(f"{t}\n" for t in lines))
    segments = [f"{r.motion_id}{SEP}{f[0]}{SEP}{f[1]}{SEP}{t.strip()}"
                for r in records for t, f in caption_segments(r) if f is not None]
    if segments:
        (folder / "captions_segments.txt").write_text("".join(f"{s}\n" for s in segments))
    questions = [f"{_eval_id(d)}{SEP}{d['conversations'][0]['value'].split(chr(10), 1)[1]}"
                 f"{SEP}{d['conversations'][1]['value'].rstrip('.').lower()}"
                 for d in sets["spatial_gap"]]
    (folder / "spatial_questions.txt").write_text("".join(f"{q}\n" for q in questions))
    spans = [f"{d['span'][0]}{SEP}{d['span'][1]}" for d in sets["temporal"]]
    (folder / "temporal_gt.txt").write_text("".join(f"{s}\n" for s in spans))


def build_dialogues(data: str | Path, out: str | Path, *, seed: int = 0,
                    annotator: Annotator | None = None, general: bool = True) -> BuildReport:
    """Write all instruction sets of the corpus at `data` under `out`."""
    corpus, out = HumanML3DCorpus(data), Path(out)
    annotator = annotator or RuleAnnotator()
    report = BuildReport()
    sources: set[str] = set()
    vocabulary = corpus_vocabulary(corpus)
    for split in SPLITS:
        if not (corpus.root / f"{split}.txt").exists():
            continue
        built = build_split(corpus, split, seed, annotator, vocabulary)
        for task, rows in built.sets.items():
            _write_jsonl(out / split / f"{task}.jsonl", rows)
        report.counts[split] = {task: len(rows) for task, rows in built.sets.items()}
        sides = [d["conversations"][1]["value"].rstrip(".").lower()
                 for d in built.sets["spatial_gap"]]
        report.gap_sides[split] = {s: sides.count(s) for s in ("left", "right")}
        sources |= built.temporal_sources
        if split == "test":
            _write_eval_files(out, built.sets, built.records)
    if sources:
        report.temporal_source = " + ".join(s for s in (SPANS, CAPTION_TIMES, PIPELINE)
                                            if s in sources)
    if general:
        rows = _general_dialogues()
        _write_jsonl(out / "train" / "general.jsonl", rows)
        report.general = len(rows)
    (out / "stats.json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    return report
