"""`mochat demo` (entry point `demo` in pyproject.toml).

    mochat demo                                  # 4 streams, whole motions, GIFs
    mochat demo --streams 2 --seconds 4 --no-gif # a short run
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STREAMS = 4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the live pipeline end to end: broker, encoder, ingest and LLM services "
        "on 127.0.0.1, streams in several layouts and rates, questions answered as they play",
        description="Start the embedded broker, the encoder service, ingest and the LLM "
        "service on 127.0.0.1 (TLS and tokens made for the run), replay several capture "
        "streams in real time, each in its own skeleton layout and frame rate, ask each one "
        "for a caption, a side and a 'when' span as soon as its motion is in, print every "
        "answer beside the expected one (spans in the stream's own frames and capture "
        "times), stop every process, and draw a GIF per stream with the answered span. "
        "Ctrl-C stops everything.")
    p.add_argument("--out", type=Path, default=Path("artifacts/demo"),
                   help="folder of answers.jsonl, GIFs, logs and the run's files")
    p.add_argument("--streams", type=int, default=DEFAULT_STREAMS,
                   help="streams played at once: SMPL-22 at 20 fps, NTU-25 at 30 fps, CMU BVH "
                   "at 120 fps, the real CMU trial 131_03 (when ../shared/data/cmu-bvh "
                   "exists), then Azure Kinect, MediaPipe, Mixamo, ...")
    p.add_argument("--seconds", type=float, default=None,
                   help="at most this long a stream (synthetic motions are picked to fit, "
                   "the CMU trial is cut); default: whole motions, up to 9.8 s")
    p.add_argument("--no-gif", dest="gif", action="store_false",
                   help="draw no GIFs at the end (default: one GIF per stream, "
                   "OUT/<stream>.gif)")
    p.add_argument("--plaintext-dev", action="store_true",
                   help="plaintext gRPC and no tokens (development, loopback only); default: "
                   "TLS with a throwaway CA and bearer tokens made for the run")
    p.add_argument("--model", type=Path, default=None,
                   help="MoChat checkpoint (default models/mochat-smollm2-synth)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from demo.run import DemoOptions, run_demo
    from llm_service.settings import DEFAULT_MODEL_DIR

    return run_demo(DemoOptions(out=args.out, streams=args.streams, seconds=args.seconds,
                                gif=args.gif, plaintext_dev=args.plaintext_dev,
                                model=args.model or DEFAULT_MODEL_DIR))
