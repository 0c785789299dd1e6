"""`mochat chat MOTION`: ask a MoChat checkpoint about a motion, once or interactively."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to MoChat about a motion file (.npy or .bvh)")
    p.add_argument("motion", help="motion file: .npy (T, J, 3) world joints, or .bvh")
    p.add_argument("--ask", help="answer this one question and exit (no prompt)")
    p.add_argument("--json", action="store_true", help="with --ask: print one JSON object")
    p.add_argument("--model", default=None,
                   help="MoChat checkpoint dir (default: the shipped models/mochat-smollm2-synth)")
    p.add_argument("--layout", default="smpl22", help="skeleton layout of a .npy file")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.set_defaults(func=run)


def _as_dict(answer) -> dict:
    span = None if answer.span is None else {
        "start": answer.span.start, "end": answer.span.end,
        "start_s": round(answer.span.start_s, 3), "end_s": round(answer.span.end_s, 3)}
    return {"text": answer.text, "span": span, "num_frames": answer.num_frames,
            "fps": answer.fps, "latency_s": round(answer.latency_s, 3)}


def run(args: argparse.Namespace) -> int:
    from mochat.pipeline import DEFAULT_MODEL_DIR, MoChatPipeline
    from mochat.skeleton import get_layout, load_motion

    layout = get_layout(args.layout)
    joints, fps = load_motion(args.motion, layout)
    pipeline = MoChatPipeline.from_pretrained(args.model or DEFAULT_MODEL_DIR,
                                              max_new_tokens=args.max_new_tokens)
    conversation = pipeline.conversation(joints, fps=fps, layout=layout)
    if args.ask:
        answer = pipeline.chat(conversation, args.ask)
        if args.json:
            print(json.dumps(_as_dict(answer)))  # noqa: T201
        else:
            _show(answer)
        return 0
    print(f"{joints.shape[0]} frames at {fps:g} fps. Ask about the motion; "  # noqa: T201
          "an empty line quits.")
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        answer = pipeline.chat(conversation, question, history=conversation.turns)
        conversation.turns.append((question, answer.text))
        _show(answer)


def _show(answer) -> None:
    print(f"mochat> {answer.text}")  # noqa: T201
    if answer.span is not None:
        s = answer.span
        print(f"        span: frames {s.start}-{s.end} "  # noqa: T201
              f"({s.start_s:.2f}-{s.end_s:.2f} s)", file=sys.stdout)
