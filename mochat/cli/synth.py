"""`mochat synth`: write a synthetic corpus in HumanML3D layout."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate a synthetic SMPL-22 corpus (HumanML3D layout)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--motions", type=int, default=2000, help="number of motions")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--max-actions", type=int, default=4, help="actions per motion, at most")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mochat.synth import SynthConfig, write_corpus

    if args.motions < 1:
        print("mochat synth: --motions must be >= 1", file=sys.stderr)  # noqa: T201
        return 2
    start = time.perf_counter()
    config = SynthConfig(motions=args.motions, seed=args.seed, max_actions=args.max_actions)
    write_corpus(args.out, config, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - start
    print(f"wrote {args.motions} motions to {args.out} in {elapsed:.1f} s")  # noqa: T201
    return 0
