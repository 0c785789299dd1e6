"""`mochat render`: draw a motion file as a GIF, optionally highlighting a frame span."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a motion (.npy or .bvh) to an animated GIF")
    p.add_argument("motion", help="motion file: .npy (T, J, 3) or .bvh")
    p.add_argument("--out", required=True, help="output .gif")
    p.add_argument("--layout", default="smpl22", help="skeleton layout of a .npy file")
    p.add_argument("--span", nargs=2, type=int, metavar=("START", "END"),
                   help="highlight frames START..END (inclusive)")
    p.add_argument("--stride", type=int, default=1, help="draw every N-th frame")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mochat.render import render_motion
    from mochat.skeleton import get_layout, load_motion

    layout = get_layout(args.layout)
    joints, fps = load_motion(args.motion, layout)
    span = tuple(args.span) if args.span else None
    out = render_motion(joints, args.out, layout=layout, fps=fps, span=span,
                        title=str(args.motion).rsplit("/", 1)[-1], stride=args.stride)
    print(f"wrote {out} ({joints.shape[0]} frames)")  # noqa: T201
    return 0
