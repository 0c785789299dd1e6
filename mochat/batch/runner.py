"""Answer one shard's work units with `MoChatPipeline.answer_batch`, resumably.

Units are asked in their run order, `batch_size` at a time, through the same batched
decode the LLM service uses; a motion is read, adapted to the model and encoded once
(`MoChatPipeline.conversation`) and kept while units still ask about it. A unit about a
segment (`frames`, in the motion's own frames) reads that segment's rows of the motion's
features, as the evaluator does (`training.lm_data.row_features`), and its span is given
back in the whole motion's frames. A motion that cannot be read, or a question that fails
alone (a batch that fails is asked again one question at a time), gives rows with `error`
set and no answer; they count as done.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mochat.batch.archive import Archive
from mochat.batch.output import ShardFile
from mochat.batch.questions import WorkUnit
from mochat.batch.scores import task_metrics
from mochat.errors import DataFormatError, MoChatError
from mochat.pipeline import ChatAnswer, Conversation, MoChatPipeline, Span

_CACHED_MOTIONS = 64


@dataclass(frozen=True)
class ModelInfo:
    directory: str
    version: str  # of the whole checkpoint
    encoder_version: str


def checkpoint_version(directory: Path) -> str:
    """A digest of a checkpoint's file names and sizes and its JSON configs (a retrained
    checkpoint changes its weights' sizes rarely, its configs and names often; the model
    card, *.md, is left out: editing it changes no answer)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix != ".md"):
        rel = path.relative_to(directory).as_posix()
        digest.update(f"{rel}\t{path.stat().st_size}\n".encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
    return f"sha256:{digest.hexdigest()[:16]}"


def model_info(directory: str | Path) -> ModelInfo:
    root = Path(directory)
    encoder = root / "encoder"
    return ModelInfo(str(root), checkpoint_version(root),
                     checkpoint_version(encoder) if encoder.is_dir() else "none")


@dataclass
class ShardReport:
    units: int  # in the shard
    skipped: int  # already in its output
    answered: int
    errors: int
    metrics: dict[str, Any] | None
    done: dict[str, Any]


class _Motions:
    """motion id -> its Conversation (or the error reading it), least recently used out."""

    def __init__(self, pipeline: MoChatPipeline, archive: Archive) -> None:
        self.pipeline, self.archive = pipeline, archive
        self.cache: OrderedDict[str, Conversation | str] = OrderedDict()

    def get(self, motion_id: str) -> Conversation | str:
        if motion_id in self.cache:
            self.cache.move_to_end(motion_id)
            return self.cache[motion_id]
        try:
            motion, convention = self.archive.read(motion_id)
            found: Conversation | str = self.pipeline.conversation(
                motion.joints, fps=motion.fps, layout=motion.layout, convention=convention,
                source=str(self.archive.path(motion_id)))
        except (MoChatError, OSError) as err:
            found = f"{type(err).__name__}: {err}"
        self.cache[motion_id] = found
        if len(self.cache) > _CACHED_MOTIONS:
            self.cache.popitem(last=False)
        return found


def _segment(conv: Conversation, frames: tuple[int, int]) -> tuple[Conversation, int]:
    """The conversation about frames first..last (own, inclusive) and its first model row."""
    first, last = frames
    if not 0 <= first <= last < conv.source_frames:
        raise DataFormatError(f"frames [{first}, {last}] outside the motion's "
                              f"{conv.source_frames} frames")
    lo, hi = ((first, last) if conv.frames is None
              else (conv.frames.to_model(first), conv.frames.to_model(last)))
    return Conversation(conv.features[lo:hi + 1], conv.fps), lo  # (T_seg, D_m)


def _span_dict(span: Span | None) -> dict[str, Any] | None:
    return None if span is None else {"start": span.start, "end": span.end,
                                      "start_s": round(span.start_s, 4),
                                      "end_s": round(span.end_s, 4)}


def _row(index: int, unit: WorkUnit, archive: Archive, model: ModelInfo,
         conv: Conversation | None, answer: ChatAnswer | None, span: Span | None,
         error: str | None) -> dict[str, Any]:
    motion = None if conv is None else conv.motion
    return {
        "index": index, "unit": unit.key, "motion_id": unit.motion_id,
        "source": str(archive.path(unit.motion_id)), "question_id": unit.question_id,
        "task": unit.task, "question": unit.question,
        "answer": None if answer is None else answer.text, "span": _span_dict(span),
        "frames": None if unit.frames is None else list(unit.frames),
        "num_frames": None if conv is None else conv.source_frames,
        "fps": None if conv is None else conv.source_fps,
        "layout": None if motion is None else motion.source_layout,
        "warnings": [] if motion is None else list(motion.warnings),
        "model": model.directory, "model_version": model.version,
        "encoder_version": model.encoder_version, "gold": unit.gold, "error": error}


def _answer_all(pipeline: MoChatPipeline, items: list[tuple[Conversation, str]]
                ) -> list[ChatAnswer | str]:
    """Answers in one batched decode; a failing batch is asked again one by one, so only
    the question that fails alone gets its error."""
    try:
        return list(pipeline.answer_batch(items))
    except MoChatError:
        if len(items) == 1:
            raise
    out: list[ChatAnswer | str] = []
    for item in items:
        try:
            out.append(pipeline.answer_batch([item])[0])
        except MoChatError as err:
            out.append(f"{type(err).__name__}: {err}")
    return out


def answer_batch_rows(pipeline: MoChatPipeline, motions: _Motions, archive: Archive,
                      model: ModelInfo, chunk: Sequence[tuple[int, WorkUnit]]
                      ) -> list[dict[str, Any]]:
    """The output rows of one batch of units, in the batch's order."""
    rows: dict[int, dict[str, Any]] = {}
    asked: list[tuple[int, WorkUnit, Conversation, Conversation, int]] = []
    for index, unit in chunk:
        conv = motions.get(unit.motion_id)
        if isinstance(conv, str):
            rows[index] = _row(index, unit, archive, model, None, None, None, conv)
            continue
        try:
            view, offset = (conv, 0) if unit.frames is None else _segment(conv, unit.frames)
        except DataFormatError as err:
            rows[index] = _row(index, unit, archive, model, conv, None, None, str(err))
            continue
        asked.append((index, unit, conv, view, offset))
    if asked:
        try:
            answers = _answer_all(pipeline, [(view, u.question) for _, u, _, view, _ in asked])
        except MoChatError as err:
            answers = [f"{type(err).__name__}: {err}"]
        for (index, unit, conv, view, offset), answer in zip(asked, answers, strict=True):
            if isinstance(answer, str):
                rows[index] = _row(index, unit, archive, model, conv, None, None, answer)
                continue
            span = answer.span
            if span is not None and view is not conv:  # segment rows -> the whole motion's
                span = conv.span(offset + span.start, offset + span.end)
            rows[index] = _row(index, unit, archive, model, conv, answer, span, None)
    return [rows[index] for index, _ in chunk]


def run_shard(pipeline: MoChatPipeline, archive: Archive, units: Sequence[tuple[int, WorkUnit]],
              shard: ShardFile, *, model: ModelInfo, batch_size: int = 8,
              bertscore: bool = True, progress: bool = True) -> ShardReport:
    """Answer the units not yet in the shard's file, a batch at a time; then mark it done."""
    from tqdm import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rows = shard.recover()
    done = {r["unit"] for r in rows}
    todo = [(i, u) for i, u in units if u.key not in done]
    if todo:
        shard.clear_done()
    next_batch = 1 + max((r["batch"] for r in rows), default=-1)
    motions = _Motions(pipeline, archive)
    answered = 0
    with tqdm(total=len(units), initial=len(units) - len(todo), unit="q", file=sys.stderr,
              desc=f"shard {shard.index}/{shard.shards}", disable=not progress,
              dynamic_ncols=True) as bar:
        for lo in range(0, len(todo), batch_size):
            batch = answer_batch_rows(pipeline, motions, archive, model,
                                      todo[lo:lo + batch_size])
            for row in batch:
                row["batch"], row["batch_units"] = next_batch, len(batch)
            shard.append_batch(batch)
            rows += batch
            next_batch += 1
            answered += len(batch)
            bar.update(len(batch))
    metrics = task_metrics(rows, bertscore=bertscore)
    marker = shard.mark_done(rows, metrics)
    return ShardReport(len(units), len(units) - len(todo), answered, marker["errors"], metrics,
                       marker)


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a results or shard file (one JSON object a line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
