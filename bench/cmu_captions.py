"""The eleven real CMU trials: the model's caption and "when" answer beside CMU's own
description (../shared/data/cmu-bvh/README.md), as a Markdown table.

    python bench/cmu_captions.py [--model DIR] [--question "When does the person walk?"]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mochat.pipeline import DEFAULT_MODEL_DIR, MoChatPipeline
from mochat.skeleton import read_motion

CMU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu-bvh"


def descriptions() -> dict[str, str]:
    """Trial -> CMU description, from the folder README's table."""
    rows = re.findall(r"^\| (\d+_\d+) \| ([^|]+) \|", (CMU / "README.md").read_text(), re.M)
    return {trial: text.strip() for trial, text in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--question", default="When does the person walk?")
    args = parser.parse_args(argv)
    pipeline = MoChatPipeline.from_pretrained(args.model)
    print("| trial | CMU description | convention | s | caption | " + args.question + " |")
    print("|---|---|---|---|---|---|")
    for trial, text in descriptions().items():
        source = read_motion(CMU / f"{trial}.bvh")
        conv = pipeline.conversation(source.joints, fps=source.fps, layout=source.layout)
        caption = pipeline.chat(conv, "Describe the motion.").text
        when = pipeline.chat(conv, args.question)
        span = "-" if when.span is None else f"{when.span.start_s:.1f}-{when.span.end_s:.1f} s"
        seconds = source.joints.shape[0] / source.fps
        print(f"| {trial} | {text} | {source.layout.name} | {seconds:.1f} | {caption} | "
              f"{span} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
