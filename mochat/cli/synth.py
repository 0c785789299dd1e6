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
    p.add_argument("--version", type=int, choices=(1, 2), default=1,
                   help="corpus version: 1 (default, the shipped model's corpus) or 2 (81 "
                        "action types, planted feet, overlapping actions, varied captions, "
                        "composition splits)")
    p.add_argument("--capture-noise-m", type=float, default=0.0,
                   help="v2: Gaussian marker jitter in metres (0: none; bone lengths then "
                        "vary)")
    p.add_argument("--adapter-share", type=float, default=0.0,
                   help="v2: share of training motions sent through another layout, rate "
                        "and convention and back, as users' files are (0: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mochat.synth import SynthConfig, write_corpus
    from mochat.synth.vocab import corpus_vocabulary

    if args.motions < 1:
        print("mochat synth: --motions must be >= 1", file=sys.stderr)  # noqa: T201
        return 2
    if args.capture_noise_m < 0:
        print("mochat synth: --capture-noise-m must be >= 0", file=sys.stderr)  # noqa: T201
        return 2
    start = time.perf_counter()
    try:
        config = SynthConfig(motions=args.motions, seed=args.seed, max_actions=args.max_actions,
                             version=args.version, capture_noise_m=args.capture_noise_m,
                             adapter_share=args.adapter_share)
    except ValueError as exc:
        print(f"mochat synth: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    write_corpus(args.out, config, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - start
    words = corpus_vocabulary(args.out)
    print(f"wrote {args.motions} motions (corpus v{args.version}) to {args.out} in "  # noqa: T201
          f"{elapsed:.1f} s; caption vocabulary: {len(words)} distinct words")
    return 0
