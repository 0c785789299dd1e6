"""`mochat render`: draw a motion file as a GIF, optionally highlighting a frame span."""

from __future__ import annotations

import argparse

from mochat.cli.chat import add_motion_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a motion (.bvh, .amc, .npy, .npz) to an "
                                      "animated GIF")
    p.add_argument("motion", help="motion file: .bvh, .amc, .npy or .npz")
    p.add_argument("--out", required=True, help="output file; must end in .gif")
    add_motion_options(p)
    p.add_argument("--span", nargs=2, type=int, metavar=("START", "END"),
                   help="highlight frames START..END (inclusive, the file's own frame numbers, "
                        "0 <= START <= END < frames)")
    p.add_argument("--stride", type=int, default=1,
                   help="draw every N-th frame (the GIF has ceil(frames / N) frames)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mochat.render import check_output, gif_frames, render_motion
    from mochat.skeleton import SMPL22, Convention, read_motion, to_model

    check_output(args.out)  # before the motion is read: fail fast
    gif_frames(0, args.stride)
    motion = read_motion(args.motion, args.layout, fps=args.fps, asf=args.asf)
    convention: Convention = motion.layout.convention.with_overrides(
        up_axis=args.up_axis, units=args.units, handedness=args.handedness)
    layout, fps = SMPL22, motion.fps  # drawn in the model's layout at the file's own rate
    joints = to_model(motion.joints, motion.layout, fps, model_fps=fps,
                      convention=convention, source=str(args.motion)).joints
    span = tuple(args.span) if args.span else None
    out = render_motion(joints, args.out, layout=layout, fps=fps, span=span,
                        title=str(args.motion).rsplit("/", 1)[-1], stride=args.stride)
    drawn = gif_frames(joints.shape[0], args.stride)
    of = f" of the motion's {joints.shape[0]}, every {args.stride}" if args.stride > 1 else ""
    print(f"wrote {out} ({len(drawn)} frames{of})")  # noqa: T201
    return 0
