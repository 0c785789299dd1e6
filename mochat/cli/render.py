"""`mochat render`: draw a motion file as a GIF, optionally highlighting a frame span."""

from __future__ import annotations

import argparse

from mochat.cli.chat import add_motion_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a motion (.npy or .bvh) to an animated GIF")
    p.add_argument("motion", help="motion file: .bvh, .amc, .npy or .npz")
    p.add_argument("--out", required=True, help="output .gif")
    add_motion_options(p)
    p.add_argument("--span", nargs=2, type=int, metavar=("START", "END"),
                   help="highlight frames START..END (inclusive)")
    p.add_argument("--stride", type=int, default=1, help="draw every N-th frame")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mochat.render import render_motion
    from mochat.skeleton import SMPL22, Convention, read_motion, to_model

    motion = read_motion(args.motion, args.layout, fps=args.fps, asf=args.asf)
    convention: Convention = motion.layout.convention.with_overrides(
        up_axis=args.up_axis, units=args.units, handedness=args.handedness)
    layout, fps = SMPL22, motion.fps  # drawn in the model's layout at the file's own rate
    joints = to_model(motion.joints, motion.layout, fps, model_fps=fps,
                      convention=convention, source=str(args.motion)).joints
    span = tuple(args.span) if args.span else None
    out = render_motion(joints, args.out, layout=layout, fps=fps, span=span,
                        title=str(args.motion).rsplit("/", 1)[-1], stride=args.stride)
    print(f"wrote {out} ({joints.shape[0]} frames)")  # noqa: T201
    return 0
