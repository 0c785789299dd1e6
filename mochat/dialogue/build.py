"""Build every instruction set of a corpus, split by split, plus the test-split eval files.

Output under `out/`:
    <split>/basic.jsonl, spatial.jsonl, spatial_gap.jsonl, temporal.jsonl   (train/val/test)
    train/general.jsonl                       the general-instruction set (no motion)
    eval/captions_ids.txt, captions_ref{0,1,2}.txt     references of the test motions
    eval/spatial_questions.txt     id+++++question+++++answer, aligned with test/spatial_gap
    eval/temporal_gt.txt           start+++++end, aligned with test/temporal.jsonl
    stats.json                     counts per split and task, left/right balance
A motion's dialogues go to its corpus split only, so no test motion reaches training data.
Temporal spans come from `spans/` when the corpus has them, else from the timestamp
pipeline run on the motion's first caption.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mochat.dialogue import builders as bld
from mochat.dialogue.general import load_general_answers, training_pairs
from mochat.metrics.files import SEP
from mochat.skeleton.corpus import SPLITS, HumanML3DCorpus, MotionRecord
from mochat.timestamps import Annotator, RuleAnnotator, caption_actions, extract_actions

TASKS = ("basic", "spatial", "spatial_gap", "temporal")


@dataclass
class BuildReport:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> task -> n
    gap_sides: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> side -> n
    general: int = 0
    temporal_source: str = "spans"


def motion_spans(record: MotionRecord, annotator: Annotator) -> list[tuple[str, int, int]]:
    """(motion text, start, end) of a motion's actions: ground truth or extracted."""
    if record.spans is not None:
        return [(f"a person {s.phrase}", s.start, s.end) for s in record.spans]
    if not record.captions:
        return []
    actions = caption_actions(record.captions[0].text)
    found = extract_actions(record.joints, actions, annotator)
    return [(e.action, e.span[0], e.span[1]) for e in found if e.span is not None]


def _general_dialogues() -> list[dict[str, Any]]:
    return [{"id": f"general-{k}", "motion_id": None, "task": "general",
             "conversations": [{"from": "human", "value": question},
                               {"from": "gpt", "value": answer}], "span": None}
            for k, (question, answer) in enumerate(training_pairs(load_general_answers()))]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def build_split(corpus: HumanML3DCorpus, split: str, seed: int, annotator: Annotator
                ) -> tuple[dict[str, list[dict[str, Any]]], list[MotionRecord]]:
    sets: dict[str, list[dict[str, Any]]] = {task: [] for task in TASKS}
    gaps: list[bld.GapItem] = []
    records = []
    for record in corpus.iter(split):
        rng = random.Random(f"{seed}-{record.motion_id}")
        captions = [c.text for c in record.captions]
        sets["basic"] += bld.basic_dialogues(record.motion_id, captions, rng)
        sets["spatial"] += bld.spatial_dialogues(record.motion_id, captions, rng)
        gaps += bld.gap_candidates(record.motion_id, captions)
        sets["temporal"] += bld.temporal_dialogues(record.motion_id,
                                                   motion_spans(record, annotator), rng)
        records.append(record)
    sets["spatial_gap"] = bld.gap_dialogues(bld.balance_gaps(gaps, seed))
    return sets, records


def _write_eval_files(out: Path, sets: dict[str, list[dict[str, Any]]],
                      records: list[MotionRecord]) -> None:
    folder = out / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    with_captions = [r for r in records if r.captions]
    (folder / "captions_ids.txt").write_text("".join(f"{r.motion_id}\n" for r in with_captions))
    for k in range(3):  # motions with fewer than 3 captions repeat their last one
        lines = [r.captions[min(k, len(r.captions) - 1)].text.strip() for r in with_captions]
        (folder / f"captions_ref{k}.txt").write_text("".join(f"{t}\n" for t in lines))
    questions = [f"{d['motion_id']}{SEP}{d['conversations'][0]['value'].split(chr(10), 1)[1]}"
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
    for split in SPLITS:
        if not (corpus.root / f"{split}.txt").exists():
            continue
        sets, records = build_split(corpus, split, seed, annotator)
        for task, rows in sets.items():
            _write_jsonl(out / split / f"{task}.jsonl", rows)
        report.counts[split] = {task: len(rows) for task, rows in sets.items()}
        sides = [d["conversations"][1]["value"].rstrip(".").lower() for d in sets["spatial_gap"]]
        report.gap_sides[split] = {s: sides.count(s) for s in ("left", "right")}
        if any(r.spans is None for r in records):
            report.temporal_source = "timestamp pipeline"
        if split == "test":
            _write_eval_files(out, sets, records)
    if general:
        rows = _general_dialogues()
        _write_jsonl(out / "train" / "general.jsonl", rows)
        report.general = len(rows)
    (out / "stats.json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    return report
