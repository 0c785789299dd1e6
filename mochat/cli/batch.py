"""`mochat batch`: answer questions about every motion of an archive, sharded and resumable.

    mochat batch --archive data/synth --split test --questions q.yaml --out out/ \\
                 [--shard I/N] [--batch-size 8] [--model DIR]
    mochat batch --archive mocap/ --layout ntu25 --fps 30 --questions q.jsonl --out out/
    mochat batch --archive data/synth --split test --tasks captions spatial temporal \\
                 --dialogues data/dialogues --per-task 100 --out out/   # = bench/lm_quality.py
    mochat batch merge --out out/ --shards N

Each shard writes `OUT/shard-I-of-N.jsonl` (one line per motion and question), fsync'd a
batch at a time; rerun after a kill, it skips what is there and finishes. A finished shard
writes `OUT/shard-I-of-N.done` and, when the questions have ground truth (the evaluator's
tasks), `OUT/metrics-shard-I.json`. `merge` checks every shard is complete and writes
`OUT/results.jsonl` and `OUT/metrics.json`. See `mochat.batch`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mochat.cli.chat import add_motion_options
from mochat.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("batch", help="answer questions about a motion archive "
                                            "(sharded, resumable; `batch merge` joins shards)")
    p.add_argument("--archive", help="a HumanML3D folder (new_joints/, texts/, spans/) or a "
                                     "folder of .bvh/.amc/.npy/.npz files (recursive)")
    p.add_argument("--split", default=None,
                   help="HumanML3D archive: the split to read (train/val/test); default: "
                        "every motion (tasks: test)")
    p.add_argument("--questions", help="YAML or JSONL: `questions: [...]` for every motion, "
                                       "`MOTION_ID: [...]` for one, `tasks: [...]`")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="also ask the paper's tasks as the evaluator does: captions, "
                        "spatial, temporal")
    p.add_argument("--dialogues", default=None,
                   help="dialogues the tasks are asked from (`mochat dialogues` output, e.g. "
                        "data/dialogues); default: built from a HumanML3D archive")
    p.add_argument("--per-task", type=int, default=100,
                   help="tasks: the first N dialogues per task after the --seed shuffle, as "
                        "bench/lm_quality.py; 0 = all")
    p.add_argument("--seed", type=int, default=0, help="tasks: the sample's shuffle seed")
    p.add_argument("--out", help="output folder")
    p.add_argument("--shard", default="0/1", help="this job's shard I/N (I from 0)")
    p.add_argument("--model", default=None,
                   help="MoChat checkpoint dir (default: the shipped models/mochat-smollm2-synth)")
    p.add_argument("--batch-size", type=int, default=8, help="questions per batched decode")
    p.add_argument("--max-new-tokens", type=int, default=32,
                   help="longest answer, in tokens (32 as bench/lm_quality.py)")
    p.add_argument("--no-bertscore", action="store_true",
                   help="caption metrics without bertscore_minilm")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_motion_options(p)
    for action in p._actions:  # a folder's BVH and AMC files find their own layout
        if action.dest == "layout":
            action.help = ("the skeleton of a folder's .npy/.npz files: a layout name or a "
                           "layout file (.yaml/.json, registered, so BVH files in it are "
                           "found too); default: smpl22, the npz's own 'layout'")
    p.set_defaults(func=_run)
    sub = p.add_subparsers(dest="batch_action", metavar="ACTION")
    merge = sub.add_parser("merge", help="check every shard is complete and merge them")
    merge.add_argument("--out", required=True, help="the shards' output folder")
    merge.add_argument("--shards", type=int, required=True, help="N, the number of shards")
    merge.set_defaults(func=_merge)


def _run(args: argparse.Namespace) -> int:
    from mochat.batch import (
        TASKS,
        QuestionSpec,
        ReadOptions,
        ShardFile,
        check_settings,
        model_info,
        open_archive,
        parse_shard,
        question_units,
        read_questions,
        run_shard,
        shard_units,
    )
    from mochat.batch.questions import parse_tasks
    from mochat.pipeline import DEFAULT_MODEL_DIR, MoChatPipeline

    if not args.archive or not args.out or not (args.questions or args.tasks):
        raise ConfigError("mochat batch needs --archive, --out and --questions (or --tasks); "
                          "`mochat batch merge --out DIR --shards N` merges shards")
    index, shards = parse_shard(args.shard)
    spec = read_questions(args.questions) if args.questions else QuestionSpec()
    if args.tasks:
        spec = spec.merged(QuestionSpec(tasks=parse_tasks(args.tasks, source="--tasks")))
    options = ReadOptions(args.layout, args.fps, args.asf, args.up_axis, args.units,
                          args.handedness)
    split = args.split or ("test" if spec.tasks else None)
    archive = open_archive(args.archive, split=split, options=options)
    units = question_units(spec, archive.ids())
    if spec.tasks:
        from mochat.batch.tasks import task_rows, task_units

        rows = task_rows(archive, spec.tasks, dialogues=args.dialogues, split=split or "test",
                         per_task=args.per_task or None, seed=args.seed)
        units += task_units(archive, rows)
    model_dir = Path(args.model or DEFAULT_MODEL_DIR).resolve()
    model = model_info(model_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out, {
        "archive": str(Path(args.archive).resolve()), "split": split,
        "questions": spec.digest(), "units": len(units),
        "tasks": [k for k, v in TASKS.items() if v in spec.tasks],
        "dialogues": None if args.dialogues is None else str(Path(args.dialogues).resolve()),
        "per_task": args.per_task if spec.tasks else None,
        "seed": args.seed if spec.tasks else None,
        "read_options": [args.layout, args.fps, args.asf, args.up_axis, args.units,
                         args.handedness],
        "model": model.directory, "model_version": model.version,
        "encoder_version": model.encoder_version, "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size, "shards": shards, "bertscore": not args.no_bertscore})
    mine = shard_units(units, index, shards)
    pipeline = MoChatPipeline.from_pretrained(model_dir, max_new_tokens=args.max_new_tokens)
    shard = ShardFile(out, index, shards)
    report = run_shard(pipeline, archive, mine, shard, model=model,
                       batch_size=args.batch_size, bertscore=not args.no_bertscore,
                       progress=not args.no_progress)
    summary = {"shard": f"{index}/{shards}", "units": report.units,
               "skipped": report.skipped, "answered": report.answered,
               "errors": report.errors, "output": str(shard.path)}
    if report.metrics is not None:
        summary["metrics"] = str(shard.metrics_path)
    print(json.dumps(summary))  # noqa: T201
    return 0


def _merge(args: argparse.Namespace) -> int:
    from mochat.batch import merge_shards

    report = merge_shards(args.out, args.shards)
    print(json.dumps({"results": str(report.results), "rows": report.rows,  # noqa: T201
                      "errors": report.errors,
                      "metrics": None if report.metrics is None
                      else str(Path(args.out) / "metrics.json")}))
    if report.errors:
        print(f"mochat batch merge: {report.errors} rows have errors (see `error` in "  # noqa: T201
              f"{report.results})", file=sys.stderr)
    return 0
