"""Where a MoChat checkpoint loses left/right answers: per action, whole motion vs the blank's span.

    python bench/lm_side_errors.py models/mochat-smollm2-synth --per-task 400
    python bench/lm_side_errors.py MODEL --per-task 400 --split train   # does it fit its data?
    python bench/lm_side_errors.py MODEL --per-task 400 --mirror        # mirror-image motions

Each gap question ("... sidesteps to the ( ) ...") is matched to the action it blanks: the
synthetic corpus's phrase templates name the action kind, and the phrases of that kind
before the blank give which occurrence it is. The question is then answered twice: on the
whole motion's features (as the evaluation does), and on the features of the blanked
action's true span only. "span" far above "whole" means the model reads sides but cannot
find the action; both low means it cannot read the side. Synthetic corpus only (its spans
and phrase templates); the sample is the same as `bench/lm_quality.py`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from mochat.metrics import parse_side
from mochat.models.mochat import MoChat
from mochat.pipeline import Conversation, MoChatPipeline
from mochat.skeleton import HumanML3DCorpus
from training.lm_data import (
    blanked_action,
    encode_corpus,
    first_turn,
    load_record,
    mirror_dialogue,
    read_dialogues,
)
from training.lm_eval import GAP_TASKS, gap_gold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--corpus", default="data/synth")
    parser.add_argument("--dialogues", default="data/dialogues")
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-task", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mirror", action="store_true")
    args = parser.parse_args(argv)

    model = MoChat.from_pretrained(args.model).eval()
    rows = [r for r in read_dialogues(args.dialogues, args.split, limit_per_task=args.per_task,
                                      seed=args.seed) if r["task"] in GAP_TASKS]
    if args.mirror:
        rows = [mirror_dialogue(r) for r in rows]
    corpus = HumanML3DCorpus(args.corpus)
    features = encode_corpus(model.encoder, args.corpus, (r["motion_id"] for r in rows),
                             progress=False)
    items = []
    for row in rows:
        question = first_turn(row)[0]
        action = blanked_action(question, load_record(corpus, row["motion_id"]).spans or [])
        items.append((row, question, gap_gold(row), action))
    pipeline = MoChatPipeline(model, max_new_tokens=4)
    counts: Counter[tuple[str, str]] = Counter()
    for i in range(0, len(items), 8):
        chunk = items[i:i + 8]
        whole = pipeline.answer_batch([(Conversation(features[r["motion_id"]]), q)
                                       for r, q, _, _ in chunk])
        found = [(r, q, g, a, w) for (r, q, g, a), w in zip(chunk, whole, strict=True) if a]
        cut = pipeline.answer_batch([
            (Conversation(features[r["motion_id"]][a.start:a.end + 1]), q)
            for r, q, _, a, _ in found]) if found else []
        for (_, _, gold, action, w), c in zip(found, cut, strict=True):
            for key in (action.action, "all"):
                counts[key, "n"] += 1
                counts[key, "whole"] += parse_side(w.text) == gold
                counts[key, "span"] += parse_side(c.text) == gold
        counts["all", "unmatched"] += len(chunk) - len(found)
        counts["all", "whole_incl_unmatched"] += sum(
            parse_side(w.text) == g for (_, _, g, _), w in zip(chunk, whole, strict=True))
    table = {k: {"n": counts[k, "n"],
                 "whole_pct": round(100 * counts[k, "whole"] / max(counts[k, "n"], 1), 2),
                 "span_pct": round(100 * counts[k, "span"] / max(counts[k, "n"], 1), 2)}
             for k in sorted({k for k, _ in counts})}
    out = {"model": str(args.model), "split": args.split, "mirror": args.mirror,
           "questions": len(items), "unmatched": counts["all", "unmatched"],
           "accuracy_pct": round(100 * counts["all", "whole_incl_unmatched"] / len(items), 2),
           "by_action": table}
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
