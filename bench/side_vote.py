"""Left/right answers scored by likelihood, on a motion, on its mirror image, and both.

    python bench/side_vote.py models/mochat-smollm2-synth --per-task 400

For each test gap question ("... sidesteps to the ( ) ..."), the model's log-probability
of "Left." and of "Right." is taken teacher forced (`MoChatPipeline.answer_logprobs`) on
the motion with the question, and on the mirror image with the side words of the question
swapped. A motion whose answer is "Left." has a mirror image whose answer is "Right.", so
the vote adds log p(Left. | motion) + log p(Right. | mirror) against the other pairing.
Reports the accuracy of each view and of the vote, and how often the two views disagree;
then the same for the questions whose blanked action follows a turn and for the others, and
for each kind of blanked action (`training.lm_data.gap_kinds`). The sample is the same as
`bench/lm_quality.py`'s. `--views` reads the motions in other encoder views than the
checkpoint's (its projector widened as a recipe's `encoder_views:` would), untrained.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mochat.dialogue import mirror_text
from mochat.models.mochat import MoChat
from mochat.pipeline import Conversation, MoChatPipeline
from training.lm_data import (
    encode_corpus,
    first_turn,
    gap_kinds,
    kind_groups,
    mirror_dialogue,
    read_dialogues,
)
from training.lm_eval import GAP_TASKS, gap_gold

SIDES = ("Left.", "Right.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--corpus", default="data/synth")
    parser.add_argument("--dialogues", default="data/dialogues")
    parser.add_argument("--per-task", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--views", nargs="+", help="encoder views (default: the model's)")
    args = parser.parse_args(argv)
    model = MoChat.from_pretrained(args.model, encoder_views=args.views)
    pipeline = MoChatPipeline(model)
    rows = [r for r in read_dialogues(args.dialogues, "test", limit_per_task=args.per_task,
                                      seed=args.seed) if r["task"] in GAP_TASKS]
    mirrored = [mirror_dialogue(r) for r in rows]
    features = encode_corpus(model.encoder, args.corpus,
                             [r["motion_id"] for r in [*rows, *mirrored]], progress=False)
    items = [(Conversation(features[r["motion_id"]]), first_turn(r)[0], side)
             for r in [*rows, *mirrored] for side in SIDES]
    logp: list[float] = []
    for i in range(0, len(items), args.batch_size):
        logp.extend(pipeline.answer_logprobs(items[i:i + args.batch_size]))
    n = len(rows)
    # margin > 0: "Left." more likely; on the mirror view, for the mirrored question
    plain = [logp[2 * k] - logp[2 * k + 1] for k in range(n)]
    mirror = [logp[2 * (n + k)] - logp[2 * (n + k) + 1] for k in range(n)]
    gold_left = [gap_gold(r) == "left" for r in rows]
    assert all(mirror_text(first_turn(m)[1]) == first_turn(r)[1]
               for r, m in zip(rows, mirrored, strict=True))

    def accuracy(margins: list[float], flip: bool = False, keep: set[int] | None = None
                 ) -> float:
        picked = range(n) if keep is None else sorted(keep)
        hits = sum(((margins[k] > 0) != flip) == gold_left[k] for k in picked)
        return round(100.0 * hits / max(len(picked), 1), 2)

    vote = [p - m for p, m in zip(plain, mirror, strict=True)]
    result: dict[str, object] = {
        "model": str(args.model), "questions": n,
        "plain": accuracy(plain), "mirror_view": accuracy(mirror, flip=True),
        "vote": accuracy(vote),
        "views_disagree": sum((p > 0) == (m > 0) for p, m in zip(plain, mirror, strict=True))}
    # the side of an action after a turn is the body's, not that of the first frame's facing
    kinds = gap_kinds(rows, args.corpus)
    groups = {"after_turn": {k for k in range(n) if kinds[k] == "after_turn"}}
    groups["others"] = set(range(n)) - groups["after_turn"]
    groups.update({f"kind_{kind}": set(picked) for kind, picked in kind_groups(kinds).items()
                   if kind != "after_turn"})
    for name, keep in groups.items():
        if not keep:
            continue
        result[name] = {"questions": len(keep), "plain": accuracy(plain, keep=keep),
                        "mirror_view": accuracy(mirror, flip=True, keep=keep),
                        "vote": accuracy(vote, keep=keep)}
    sys.stdout.write(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
