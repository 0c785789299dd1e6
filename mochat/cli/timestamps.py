"""`mochat timestamps`: extract action spans from a corpus and score them against ground truth.

    mochat timestamps --data DIR [--split test] [--annotator rule|llm] [--llm-url URL]
                      [--no-order-prior] [--json]

Each ground-truth action of the synthetic corpus (`spans/*.json`) is handed to the pipeline
as its atomic-action text ("a person <phrase>"), in order; the extracted span is compared
with the true one by the IoU of their frames (`frame_iou`: both spans are inclusive frame
numbers, so the same single frame scores 1, not the paper's continuous IoU's 0). Actions
the annotator cannot place (e.g. "stands still") count as IoU 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from mochat.errors import DataFormatError
from mochat.metrics.grounding import frame_iou
from mochat.skeleton.corpus import HumanML3DCorpus
from mochat.timestamps import Annotator, ExtractorConfig, extract_actions, make_annotator


@dataclass
class TimestampReport:
    split: str
    actions: int = 0
    annotated: int = 0
    mean_iou: float = 0.0
    r_iou_0_5: float = 0.0
    r_iou_0_7: float = 0.0
    per_action: dict[str, float] = field(default_factory=dict)  # mean IoU per action class


def evaluate(corpus: HumanML3DCorpus, split: str, annotator: Annotator, *,
             order_prior: bool = True, config: ExtractorConfig | None = None
             ) -> TimestampReport:
    """Extract every ground-truth action of `split` and score it (IoU x100 percentages)."""
    ious: list[float] = []
    by_action: dict[str, list[float]] = defaultdict(list)
    annotated = 0
    for record in corpus.iter(split):
        if record.spans is None:
            raise DataFormatError(f"{corpus.root}: motion {record.motion_id} has no spans/ "
                                  "file; scoring needs ground-truth spans (a synthetic corpus)")
        texts = [f"a person {span.phrase}" for span in record.spans]
        found = extract_actions(record.joints, texts, annotator, order_prior=order_prior,
                                config=config or ExtractorConfig())
        for truth, got in zip(record.spans, found, strict=True):
            iou = frame_iou(got.span, (truth.start, truth.end)) if got.span else 0.0
            annotated += got.span is not None
            ious.append(iou)
            by_action[truth.action].append(iou)
    if not ious:
        raise DataFormatError(f"{corpus.root}: split {split!r} has no actions")
    n = len(ious)
    return TimestampReport(
        split, n, annotated, 100 * sum(ious) / n, 100 * sum(i >= 0.5 for i in ious) / n,
        100 * sum(i >= 0.7 for i in ious) / n,
        {k: 100 * sum(v) / len(v) for k, v in sorted(by_action.items())})


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("timestamps", help="extract action spans; score vs spans/")
    parser.add_argument("--data", required=True, help="corpus in HumanML3D layout with spans/")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"),
                        help="corpus split to score")
    parser.add_argument("--annotator", default="rule", choices=("rule", "llm"),
                        help="rule-based, or an LLM behind --llm-url")
    parser.add_argument("--llm-url", help="OpenAI-compatible API base, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model", default="default",
                        help="model name sent to --llm-url")
    parser.add_argument("--no-order-prior", action="store_true",
                        help="search the whole motion for every action (paper-style)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    annotator = make_annotator(args.annotator, url=args.llm_url, model=args.llm_model)
    report = evaluate(HumanML3DCorpus(args.data), args.split, annotator,
                      order_prior=not args.no_order_prior)
    if args.json:
        print(json.dumps(asdict(report)))  # noqa: T201
        return 0
    lines = [f"split {report.split}: {report.actions} actions, {report.annotated} placed",
             f"mean IoU      {report.mean_iou:6.2f}",
             f"R@IoU 0.5     {report.r_iou_0_5:6.2f}",
             f"R@IoU 0.7     {report.r_iou_0_7:6.2f}", "mean IoU per action:"]
    lines += [f"  {name:<16}{value:6.2f}" for name, value in report.per_action.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
