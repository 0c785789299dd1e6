"""Batch reprocessing of motion archives (`mochat batch`): sharded, resumable, scored.

    archive (HumanML3D folder | folder of .bvh/.amc/.npy/.npz)  x  questions file
        -> work units (motion, question), sharded by a hash of the motion id
        -> MoChatPipeline.answer_batch, a batch at a time, fsync'd per batch
        -> DIR/shard-I-of-N.jsonl (+ .done, metrics-shard-I.json)
        -> merge: DIR/results.jsonl, DIR/metrics.json

`archive` reads motions, `questions` makes and shards work units, `tasks` makes the
evaluator's task units (with ground truth), `runner` answers a shard, `output` keeps the
files (recovery after a kill, done markers, merge), `scores` computes the evaluator's
metrics over result rows.
"""

from mochat.batch.archive import Archive, ReadOptions, open_archive
from mochat.batch.output import MergeReport, ShardFile, check_settings, merge_shards
from mochat.batch.questions import (
    TASKS,
    QuestionSpec,
    WorkUnit,
    parse_shard,
    question_units,
    read_questions,
    shard_of,
    shard_units,
)
from mochat.batch.runner import ModelInfo, ShardReport, model_info, run_shard
from mochat.batch.scores import task_metrics

__all__ = [
    "TASKS", "Archive", "MergeReport", "ModelInfo", "QuestionSpec", "ReadOptions",
    "ShardFile", "ShardReport", "WorkUnit", "check_settings", "merge_shards", "model_info",
    "open_archive", "parse_shard", "question_units", "read_questions", "run_shard",
    "shard_of", "shard_units", "task_metrics",
]
