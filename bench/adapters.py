"""The synthetic test split through every adapter: left/right and R@1 beside the canonical.

    python bench/adapters.py --per-task 100          # corpus + dialogues made if missing

Each test motion is written in every rendition of `mochat.skeleton.formats.RENDITIONS`
(SMPL-22 at 20 and 120 fps, z-up cm, NTU-25, Azure Kinect, MediaPipe, CMU/Daz/Mixamo BVH,
ASF/AMC, a user layout file), read back with `read_motion`, adapted by the pipeline
(`MoChatPipeline.conversation`: retarget, convention, resampling) and asked the same
gap (left/right) and "when" questions as `bench/lm_quality.py`. Spans come back in the
rendition's own frames; they are scored in the model's 20 fps frames (seconds x 20). The
goal: every adapter >= 95 % of the canonical input's figure. Trivial baselines in the same
table: the majority side of the sample, and the whole motion as every "when" answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from mochat.dialogue.build import build_dialogues
from mochat.metrics import frame_iou, spatial_accuracy, temporal_recall
from mochat.pipeline import DEFAULT_MODEL_DIR, Conversation, MoChatPipeline
from mochat.skeleton import HumanML3DCorpus, read_motion
from mochat.skeleton.formats import RENDITIONS, Rendition, write_rendition
from mochat.synth import SynthConfig, write_corpus
from training.lm_data import first_turn, read_dialogues
from training.lm_eval import gap_gold

METRICS = ("left_right", "r1_iou_0.5", "r1_iou_0.7")


def ensure_data(corpus: Path, dialogues: Path) -> None:
    """The training corpus's test split (2,000 motions, seed 0) and its dialogues."""
    if not (corpus / "test.txt").exists():
        write_corpus(corpus, SynthConfig(motions=2000, seed=0))
    if not (dialogues / "test" / "temporal.jsonl").exists():
        build_dialogues(corpus, dialogues, seed=0)


def conversations(pipeline: MoChatPipeline, corpus: HumanML3DCorpus, ids: list[str],
                  rendition: Rendition, folder: Path) -> dict[str, Conversation]:
    out = {}
    for motion_id in ids:
        path = write_rendition(corpus.load(motion_id).joints, rendition, folder, motion_id,
                               model_fps=pipeline.fps)
        source = read_motion(path, None if rendition.file == "bvh" else rendition.layout,
                             fps=rendition.fps if rendition.file in ("npy", "amc") else None)
        out[motion_id] = pipeline.conversation(source.joints, fps=source.fps,
                                               layout=source.layout,
                                               convention=rendition.convention)
    return out


def score(pipeline: MoChatPipeline, convs: dict[str, Conversation], gaps: list[dict],
          whens: list[dict], batch: int = 8) -> dict[str, float]:
    def answers(rows: list[dict]) -> list:
        got = []
        for i in range(0, len(rows), batch):
            got += pipeline.answer_batch([(convs[r["motion_id"]], first_turn(r)[0])
                                          for r in rows[i:i + batch]])
        return got

    sides = spatial_accuracy([a.text for a in answers(gaps)], [gap_gold(r) for r in gaps])
    fps = pipeline.fps  # spans in model frames, as the ground truth is
    preds = [(round(a.span.start_s * fps), round(a.span.end_s * fps)) if a.span else (-1, -1)
             for a in answers(whens)]
    gts = [(int(r["span"][0]), int(r["span"][1])) for r in whens]
    recall = temporal_recall(preds, gts, iou=frame_iou)
    return {"left_right": sides, **{k: recall[k] for k in METRICS[1:]}}


def baselines(corpus: HumanML3DCorpus, gaps: list[dict], whens: list[dict]) -> dict[str, float]:
    gold = [gap_gold(r) for r in gaps]
    majority = Counter(gold).most_common(1)[0][0]
    frames = {r["motion_id"]: corpus.load(r["motion_id"]).num_frames for r in whens}
    whole = [(0, frames[r["motion_id"]] - 1) for r in whens]
    recall = temporal_recall(whole, [(int(r["span"][0]), int(r["span"][1])) for r in whens],
                             iou=frame_iou)
    return {"left_right": spatial_accuracy([majority] * len(gold), gold),
            **{k: recall[k] for k in METRICS[1:]}}


def table(results: dict[str, dict[str, float]], canonical: str) -> str:
    head = "| input | " + " | ".join(METRICS) + " | worst / canonical |"
    lines = [head, "|" + "---|" * (len(METRICS) + 2)]
    for name, row in results.items():
        ratios = [row[m] / results[canonical][m] for m in METRICS if results[canonical][m]]
        worst = "" if name.startswith("baseline") else f"{100 * min(ratios):.1f} %"
        lines.append(f"| {name} | " + " | ".join(f"{row[m]:.2f}" for m in METRICS)
                     + f" | {worst} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--corpus", type=Path, default=Path("data/synth"))
    parser.add_argument("--dialogues", type=Path, default=Path("data/dialogues"))
    parser.add_argument("--per-task", type=int, default=100)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    ensure_data(args.corpus, args.dialogues)
    rows = read_dialogues(args.dialogues, args.split, limit_per_task=args.per_task, seed=0)
    gaps = [r for r in rows if r["task"] == "spatial_gap"]
    whens = [r for r in rows if r["task"] == "temporal" and r.get("span")]
    corpus = HumanML3DCorpus(args.corpus)
    ids = sorted({r["motion_id"] for r in gaps + whens})
    pipeline = MoChatPipeline.from_pretrained(args.model, max_new_tokens=32)
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rendition in RENDITIONS:
            start = time.perf_counter()
            convs = conversations(pipeline, corpus, ids, rendition, Path(tmp) / rendition.name)
            results[rendition.name] = score(pipeline, convs, gaps, whens)
            seconds[rendition.name] = round(time.perf_counter() - start, 1)
            print(rendition.name, results[rendition.name], f"{seconds[rendition.name]} s",
                  file=sys.stderr, flush=True)
    results["baseline: majority side / whole motion"] = baselines(corpus, gaps, whens)
    report = {"model": str(args.model), "split": args.split, "gap_questions": len(gaps),
              "when_questions": len(whens), "motions": len(ids), "results": results,
              "seconds": seconds}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    print(table(results, RENDITIONS[0].name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
