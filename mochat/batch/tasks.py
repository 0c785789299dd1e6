"""The paper's three tasks as work units, asked and scored as the evaluator does.

The rows are the evaluator's (`training.lm_eval.evaluate_model`): test dialogues read with
`read_dialogues(..., limit_per_task, seed)` (the same first N per task after the same
shuffle as `bench/lm_quality.py`), kept to the asked tasks, in its order: captions, then
gap questions, then temporal ones. Each unit carries its ground truth, found with the
evaluator's own functions: caption references (`caption_refs`: the captions of the same
frames), the gap's side (`gap_gold`) and kind (`gap_kinds`), the temporal span.

The dialogues come from `--dialogues DIR` (`mochat dialogues` output, e.g. data/dialogues);
for a HumanML3D archive without one they are built the way `mochat dialogues` builds them
(seed 0, rule annotator). Rows are read with `mochat.dialogue.rows`, as training reads them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mochat.batch.archive import Archive
from mochat.batch.questions import WorkUnit
from mochat.dialogue.rows import (
    CAPTION_TASKS,
    GAP_TASKS,
    TEMPORAL_TASKS,
    caption_refs,
    first_turn,
    gap_gold,
    gap_kinds,
    read_dialogues,
)
from mochat.errors import ConfigError, DataFormatError

DIALOGUE_SEED = 0  # `mochat dialogues --seed`'s default: the shipped data/dialogues


def task_rows(archive: Archive, tasks: Sequence[str], *, dialogues: str | Path | None,
              split: str, per_task: int | None, seed: int) -> list[dict[str, Any]]:
    """The evaluator's dialogue rows of `tasks` about motions of the archive."""

    if dialogues is not None:
        rows = read_dialogues(dialogues, split, limit_per_task=per_task, seed=seed)
    elif archive.corpus is not None:
        with tempfile.TemporaryDirectory(prefix="mochat-batch-dialogues-") as tmp:
            _build(archive, split, Path(tmp))
            rows = read_dialogues(tmp, split, limit_per_task=per_task, seed=seed)
    else:
        raise ConfigError("tasks need dialogues: a HumanML3D archive, or --dialogues DIR "
                          "for a folder of motion files")
    rows = [r for r in rows if r.get("task") in tasks and r.get("motion_id") is not None]
    missing = sorted({r["motion_id"] for r in rows} - set(archive.ids()))
    if missing:
        raise DataFormatError(f"dialogues ask about {len(missing)} motions the archive "
                              f"lacks: {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    return rows


def _build(archive: Archive, split: str, out: Path) -> None:
    from mochat.dialogue.build import build_split
    from mochat.timestamps import RuleAnnotator

    assert archive.corpus is not None
    built = build_split(archive.corpus, split, DIALOGUE_SEED, RuleAnnotator())
    (out / split).mkdir(parents=True)
    for task, rows in built.sets.items():
        (out / split / f"{task}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def task_units(archive: Archive, rows: Sequence[dict[str, Any]]) -> list[WorkUnit]:
    """Rows -> units with their ground truth, in the evaluator's order."""
    corpus = archive.corpus
    caption_rows = [r for r in rows if r["task"] in CAPTION_TASKS]
    gap_rows = [r for r in rows if r["task"] in GAP_TASKS]
    temporal_rows = [r for r in rows if r["task"] in TEMPORAL_TASKS and r.get("span")]
    kinds = (gap_kinds(gap_rows, archive.root) if corpus is not None and gap_rows
             else [None] * len(gap_rows))
    units = []
    for r in caption_rows:
        # references: the corpus's captions of the same frames; else the dialogue's answer
        refs = caption_refs(corpus, r) if corpus is not None else [first_turn(r)[1]]
        units.append(_unit(r, {"refs": refs}))
    for r, kind in zip(gap_rows, kinds, strict=True):
        units.append(_unit(r, {"side": gap_gold(r), "kind": kind}))
    for r in temporal_rows:
        units.append(_unit(r, {"span": [int(r["span"][0]), int(r["span"][1])]}))
    return units


def _unit(row: dict[str, Any], gold: dict[str, Any]) -> WorkUnit:
    frames = None if row.get("frames") is None else (int(row["frames"][0]),
                                                     int(row["frames"][1]))
    question_id = str(row.get("id") or f"{row['task']}-{row['motion_id']}")
    return WorkUnit(row["motion_id"], question_id, first_turn(row)[0], task=row["task"],
                    frames=frames, gold=gold)
