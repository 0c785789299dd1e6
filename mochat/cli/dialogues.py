"""`mochat dialogues`: build the instruction sets of a corpus (see `mochat.dialogue.build`).

    mochat dialogues --data DIR --out DIR [--seed 0] [--annotator rule|llm --llm-url URL]
                     [--no-general] [--json]
    mochat dialogues --record-general      re-answer the general questions with the base LLM
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from mochat.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dialogues", help="build the instruction dialogue sets")
    parser.add_argument("--data", help="corpus in HumanML3D layout")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed (same seed, same dialogues)")
    parser.add_argument("--annotator", default="rule", choices=("rule", "llm"),
                        help="timestamp annotator for corpora without spans/")
    parser.add_argument("--llm-url", help="OpenAI-compatible API base for --annotator llm")
    parser.add_argument("--llm-model", default="default",
                        help="model name sent to --llm-url")
    parser.add_argument("--no-general", action="store_true", help="skip the general set")
    parser.add_argument("--record-general", action="store_true",
                        help="answer the general questions with the base LLM (SmolLM2) and "
                             "store them in the package (slow; needs torch)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.record_general:
        from mochat.dialogue.general import ANSWERS_PATH, record_general_answers

        items = record_general_answers()
        sys.stdout.write(f"recorded {len(items)} answers in {ANSWERS_PATH}\n")
        return 0
    if not args.data or not args.out:
        raise ConfigError("--data and --out are required (or --record-general)")
    from mochat.dialogue.build import build_dialogues
    from mochat.timestamps import make_annotator

    annotator = make_annotator(args.annotator, url=args.llm_url, model=args.llm_model)
    report = build_dialogues(args.data, args.out, seed=args.seed, annotator=annotator,
                             general=not args.no_general)
    if args.json:
        print(json.dumps(asdict(report)))  # noqa: T201
        return 0
    lines = [f"{split:<6}" + "  ".join(f"{task} {n}" for task, n in counts.items())
             + f"  (gap left/right {report.gap_sides[split]['left']}/"
               f"{report.gap_sides[split]['right']})"
             for split, counts in report.counts.items()]
    lines += [f"general {report.general}", f"temporal spans from {report.temporal_source}",
              f"wrote {args.out}"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
