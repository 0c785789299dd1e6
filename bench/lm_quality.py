"""Score a MoChat checkpoint on the synthetic test dialogues (training/lm_eval.py).

    python bench/lm_quality.py models/mochat-smollm2-synth --per-task 100
    python bench/lm_quality.py models/mochat-smollm2-synth --per-task 400 \\
        --tasks spatial_gap temporal        # larger samples of the two cheap tasks
    python bench/lm_quality.py models/mochat-smollm2-synth --per-task 400 \\
        --tasks spatial_gap --mirror        # the same sample on mirror-image motions

    python bench/lm_quality.py models/mochat-smollm2-synth --per-task 40 \
        --tasks spatial_gap temporal absent present   # follow-ups, presence, consistency

The sample is the first N test dialogues per task after a `--seed` shuffle, the same one
the training stages score at their end (eval_seed 0); `--tasks` keeps tasks of that sample.
Beside each task's figures: "followup" (the gap and temporal rows asked again as the 2nd-4th
turn of a session opened by a caption question, alone vs follow-up and the difference),
"presence" (from the absent and present sets: absent-action rate, present "when" span rate,
present yes rate, with the always/never "not in this motion" baselines) and "consistency"
(answers naming frames outside the motion, answers whose text frames are not their span).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mochat.models.mochat import MoChat
from training.lm_eval import evaluate_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--corpus", default="data/synth")
    parser.add_argument("--dialogues", default="data/dialogues")
    parser.add_argument("--per-task", type=int, default=100)
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="basic, spatial_gap, temporal, absent, present (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--mirror", action="store_true",
                        help="score the motions' mirror images (side words swapped)")
    parser.add_argument("--split", default="test", help="test (default) or val dialogues")
    parser.add_argument("--no-followups", action="store_true",
                        help="skip asking the gap and temporal rows again as follow-ups")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    metrics = evaluate_model(MoChat.from_pretrained(args.model), args.corpus, args.dialogues,
                             per_task=args.per_task, max_new_tokens=args.max_new_tokens,
                             seed=args.seed, tasks=args.tasks, mirror=args.mirror,
                             split=args.split, followups=not args.no_followups)
    text = json.dumps({"model": str(args.model), "mirror": args.mirror, **metrics}, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
