"""`mochat eval captions|spatial|temporal`: score prediction files like the paper's tables.

    mochat eval captions --pred P --refs R0 R1 R2 [--json] [--no-bertscore]
    mochat eval spatial --pred P --ref QUESTIONS [--json]
    mochat eval temporal --pred P --ref GT [--json]

Files are aligned by line; see `mochat.metrics.files` for the formats. Scores are x100.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mochat.metrics.files import (
    check_line_count,
    read_answers,
    read_captions,
    read_gap_questions,
    read_spans,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("eval", help="score predictions (captions, spatial, temporal)")
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")

    cap = tasks.add_parser("captions", help="BLEU@1/4, ROUGE-L, CIDEr-D, bertscore_minilm")
    cap.add_argument("--pred", required=True, help="one predicted caption per line")
    cap.add_argument("--refs", required=True, nargs="+", help="reference files, line-aligned")
    cap.add_argument("--no-bertscore", action="store_true",
                     help="skip bertscore_minilm (needs torch + transformers, ~1-2 min)")
    cap.set_defaults(func=_captions)

    spa = tasks.add_parser("spatial", help="left/right gap-filling accuracy")
    spa.add_argument("--pred", required=True, help="one answer per line")
    spa.add_argument("--ref", required=True, help="questions: id+++++question+++++answer")
    spa.set_defaults(func=_spatial)

    tem = tasks.add_parser("temporal", help="R@1 at IoU 0.3 / 0.5 / 0.7")
    tem.add_argument("--pred", required=True, help="one span per line: start+++++end")
    tem.add_argument("--ref", required=True, help="ground-truth spans, same format")
    tem.set_defaults(func=_temporal)

    for sub in (cap, spa, tem):
        sub.add_argument("--json", action="store_true", help="print one JSON object")


def _captions(args: argparse.Namespace) -> int:
    from mochat.metrics.captions import caption_scores

    refs_by_file = [read_captions(path) for path in args.refs]
    for path, lines in zip(args.refs[1:], refs_by_file[1:], strict=True):
        check_line_count(path, lines, len(refs_by_file[0]), args.refs[0])
    preds = read_captions(args.pred)
    check_line_count(args.pred, preds, len(refs_by_file[0]), args.refs[0])
    refs = [list(per_line) for per_line in zip(*refs_by_file, strict=True)]
    scores = caption_scores(preds, refs, bertscore=not args.no_bertscore)
    return _report(scores, args, {"bleu_1": "BLEU@1", "bleu_4": "BLEU@4", "rouge_l": "ROUGE-L",
                                  "cider": "CIDEr-D", "bertscore_minilm": "BERTScore (MiniLM)"})


def _spatial(args: argparse.Namespace) -> int:
    from mochat.metrics.grounding import spatial_accuracy

    questions = read_gap_questions(args.ref)
    preds = read_answers(args.pred)
    check_line_count(args.pred, preds, len(questions), args.ref)
    scores = {"accuracy": spatial_accuracy(preds, [q.answer for q in questions])}
    return _report(scores, args, {"accuracy": "accuracy"})


def _temporal(args: argparse.Namespace) -> int:
    """The paper's protocol: its answer files are continuous spans, scored with the
    continuous `interval_iou` (the default), which reproduces its Table 4."""
    from mochat.metrics.grounding import temporal_recall

    gt = read_spans(args.ref)
    preds = read_spans(args.pred)
    check_line_count(args.pred, preds, len(gt), args.ref)
    scores = temporal_recall(preds, gt)
    labels = {k: k.replace("r1_iou_", "R@1 IoU=") for k in scores if k.startswith("r1_")}
    return _report(scores, args, {**labels, "mean_iou": "mean IoU"})


def _report(scores: dict[str, float], args: argparse.Namespace, labels: dict[str, str]) -> int:
    if args.json:
        print(json.dumps(scores))  # noqa: T201
        return 0
    width = max(len(labels[k]) for k in scores)
    lines = [f"{labels[k]:<{width}}  {v:6.2f}" for k, v in scores.items()]
    sys.stdout.write(f"{args.pred}\n" + "\n".join(lines) + "\n")
    return 0
