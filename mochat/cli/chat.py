"""`mochat chat MOTION`: ask a MoChat checkpoint about a motion, once or interactively.

Any supported file (BVH of the built-in conventions, CMU ASF/AMC, npy/npz in any layout)
at any rate: the motion is adapted to the checkpoint (layout, rate, axes, units) and every
span comes back in the file's own frame numbers.
"""

from __future__ import annotations

import argparse
import json
import sys

from mochat.skeleton.convention import HANDEDNESS, UNITS, UP_AXES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to MoChat about a motion file (.bvh, .amc, .npy, "
                                    ".npz)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("motion", help="motion file: .bvh, .amc (with its .asf), .npy or .npz")
    p.add_argument("--ask", help="answer this one question and exit (no prompt)")
    p.add_argument("--json", action="store_true", help="with --ask: print one JSON object")
    p.add_argument("--model", default=None,
                   help="MoChat checkpoint dir (default: the shipped models/mochat-smollm2-synth)")
    add_motion_options(p)
    p.add_argument("--max-new-tokens", type=int, default=48, help="longest answer, in tokens")
    p.add_argument("--verbose", action="store_true",
                   help="show the libraries' model-loading output (progress bar, notices)")
    p.set_defaults(func=run)


def add_motion_options(p: argparse.ArgumentParser) -> None:
    """The options that say how to read a motion file: layout, rate, convention."""
    p.add_argument("--layout", default=None,
                   help="the file's skeleton: a layout name (mochat.skeleton.layout_names()) "
                        "or a layout file (.yaml/.json); default: found from a BVH's joint "
                        "names, cmu_asf for .amc, smpl22 for .npy, the npz's own 'layout'")
    p.add_argument("--fps", type=float, default=None,
                   help="the file's frame rate; default: the file's own (BVH frame time, the "
                        "npz's 'fps'), 20 for .npy")
    p.add_argument("--up-axis", choices=UP_AXES, default=None,
                   help="the file's up axis; default: the layout's convention")
    p.add_argument("--units", choices=["auto", *UNITS], default=None,
                   help="the file's length unit ('cmu' = CMU's ASF unit, 'auto' = guess from "
                        "the body's height); default: the layout's convention")
    p.add_argument("--handedness", choices=HANDEDNESS, default=None,
                   help="the file's coordinate handedness; default: the layout's convention")
    p.add_argument("--asf", default=None, help="skeleton file of an .amc (default: beside it)")


def load_conversation(args: argparse.Namespace, pipeline):  # -> Conversation
    """Read the motion file named in args and open a conversation about it."""
    from mochat.skeleton import read_motion

    motion = read_motion(args.motion, args.layout, fps=args.fps, asf=args.asf)
    convention = motion.layout.convention.with_overrides(
        up_axis=args.up_axis, units=args.units, handedness=args.handedness)
    return pipeline.conversation(motion.joints, fps=motion.fps, layout=motion.layout,
                                 convention=convention, source=str(args.motion))


def _as_dict(answer, conversation) -> dict:
    span = None if answer.span is None else {
        "start": answer.span.start, "end": answer.span.end,
        "start_s": round(answer.span.start_s, 3), "end_s": round(answer.span.end_s, 3)}
    motion = conversation.motion
    return {"text": answer.text, "span": span, "num_frames": answer.num_frames,
            "fps": answer.fps, "latency_s": round(answer.latency_s, 3),
            "layout": motion.source_layout, "units": motion.units,
            "synthesized_joints": list(motion.synthesized), "warnings": list(motion.warnings)}


def run(args: argparse.Namespace) -> int:
    from mochat.pipeline import DEFAULT_MODEL_DIR, MoChatPipeline

    pipeline = MoChatPipeline.from_pretrained(args.model or DEFAULT_MODEL_DIR,
                                              verbose=args.verbose,
                                              max_new_tokens=args.max_new_tokens)
    conversation = load_conversation(args, pipeline)
    motion = conversation.motion
    for warning in motion.warnings:
        print(f"warning: {warning}", file=sys.stderr)  # noqa: T201
    if args.ask:
        answer = pipeline.chat(conversation, args.ask)
        if args.json:
            print(json.dumps(_as_dict(answer, conversation)))  # noqa: T201
        else:
            _show(answer)
        return 0
    frames = motion.frames
    print(f"{frames.source_frames} frames at {frames.source_fps:g} fps, layout "  # noqa: T201
          f"{motion.source_layout} ({motion.units}); the model reads "
          f"{motion.joints.shape[0]} frames at {frames.model_fps:g} fps"
          + (f", synthesising {', '.join(motion.synthesized)}" if motion.synthesized else "")
          + ". Ask about the motion; an empty line quits.")
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
