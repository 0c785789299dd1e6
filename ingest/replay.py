"""`mochat replay`: play motion files to Kafka as live `mochat.v1.Frame` streams.

Each of `--streams N` streams plays one file (stream i plays file i mod the number of files),
resampled to `--fps`, with frame numbers from `--start-frame` on and capture times taken
from the wall clock when the frame is sent (or from the nominal schedule with
`--as-fast-as-possible`). Records are keyed by stream id, as capture systems must do.

    mochat replay new_joints/000001.npy --topic mocap.frames --fps 120 --streams 4 \
        --bootstrap-servers 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mochat.errors import ConfigError, DataFormatError
from mochat.skeleton import get_layout, load_motion


@dataclass(frozen=True)
class ReplayStream:
    stream_id: str
    joints: np.ndarray  # (T, J, 3) at the replay fps
    layout: str
    start_frame: int = 0

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


@dataclass(frozen=True)
class ReplayStats:
    frames_sent: int
    seconds: float
    max_lag_ms: float  # how far behind the real-time schedule sending fell


def resample(joints: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, J, 3) at src_fps -> (T', J, 3) at dst_fps by linear interpolation in time.

    T' = floor((T - 1) * dst_fps / src_fps) + 1, so the last frame never extrapolates.
    """
    if src_fps <= 0 or dst_fps <= 0:
        raise ConfigError(f"fps must be > 0, got {src_fps} -> {dst_fps}")
    if src_fps == dst_fps or joints.shape[0] < 2:
        return joints.astype(np.float32, copy=False)
    src_t = np.arange(joints.shape[0]) / src_fps
    num = int(np.floor((joints.shape[0] - 1) * dst_fps / src_fps + 1e-9)) + 1
    dst_t = np.arange(num) / dst_fps
    flat = joints.reshape(joints.shape[0], -1)  # (T, J*3)
    out = np.stack([np.interp(dst_t, src_t, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape(num, *joints.shape[1:]).astype(np.float32)  # (T', J, 3)


def motion_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand a HumanML3D corpus directory to its new_joints/*.npy; keep files as given."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            joints_dir = path / "new_joints" if (path / "new_joints").is_dir() else path
            found = sorted(joints_dir.glob("*.npy")) + sorted(joints_dir.glob("*.bvh"))
            if not found:
                raise DataFormatError(f"{path}: no .npy or .bvh motion files")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise DataFormatError(f"{path}: no such file or directory")
    return out


def load_streams(paths: Sequence[str | Path], *, streams: int, fps: float,
                 layout: str = "smpl22", prefix: str = "replay",
                 start_frame: int = 0, stagger_frames: int = 0) -> list[ReplayStream]:
    """N replay streams over the motion files; stream i starts at start_frame + i*stagger."""
    if streams < 1:
        raise ConfigError(f"--streams must be >= 1, got {streams}")
    lay = get_layout(layout)
    files = motion_files(paths)
    motions = [resample(*load_motion(f, lay), fps) for f in files[:streams]]
    return [ReplayStream(f"{prefix}-{i}", motions[i % len(motions)], lay.name,
                         start_frame + i * stagger_frames) for i in range(streams)]


SendFn = Callable[[ReplayStream, int, bytes], object]


async def replay(streams: Sequence[ReplayStream], send: SendFn, *, fps: float,
                 realtime: bool = True, loops: int = 1) -> ReplayStats:
    """Call `send(stream, frame_index, payload)` for every frame, tick by tick at `fps`.

    All streams send frame k of their motion at tick k; with `loops` > 1 each motion repeats
    with frame numbers continuing. In real time, tick k is due at t0 + k / fps; a late
    schedule is caught up, and the worst lag is reported.
    """
    from ingest.codec import encode_frame

    t0, wall0 = time.monotonic(), time.time()
    total = max(s.num_frames for s in streams) * loops
    sent, max_lag = 0, 0.0
    for tick in range(total):
        due = t0 + tick / fps
        if realtime:
            lag = time.monotonic() - due
            if lag < 0:
                await asyncio.sleep(-lag)
            else:
                max_lag = max(max_lag, lag)
        capture_us = int(time.time() * 1e6) if realtime else int((wall0 + tick / fps) * 1e6)
        for s in streams:
            if tick >= s.num_frames * loops:
                continue
            index = s.start_frame + tick
            payload = encode_frame(s.stream_id, index, s.joints[tick % s.num_frames],
                                   layout=s.layout, capture_time_us=capture_us, fps=fps)
            result = send(s, index, payload)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
            sent += 1
        if not realtime and tick % 64 == 63:
            await asyncio.sleep(0)  # let the producer's sender run
    return ReplayStats(sent, time.monotonic() - t0, 1000.0 * max_lag)


async def replay_to_kafka(streams: Sequence[ReplayStream], topic: str,
                          client_kwargs: dict, *, fps: float, realtime: bool = True,
                          loops: int = 1) -> ReplayStats:
    """Produce the streams to `topic` (acks=all, keyed by stream id) and flush."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs, acks="all", linger_ms=2,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        keys = {s.stream_id: s.stream_id.encode() for s in streams}
        stats = await replay(
            streams, lambda s, _i, payload: producer.send(topic, payload, key=keys[s.stream_id]),
            fps=fps, realtime=realtime, loops=loops)
        await producer.flush()
    finally:
        await producer.stop()
    return stats


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".npy (T, J, 3), .bvh, or a HumanML3D corpus directory")
    p.add_argument("--topic", default="mocap.frames")
    p.add_argument("--fps", type=float, default=120.0, help="replay rate (files are resampled)")
    p.add_argument("--streams", type=int, default=1, help="concurrent streams")
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    p.add_argument("--as-fast-as-possible", action="store_true",
                   help="do not pace frames at --fps")
    p.add_argument("--layout", default="smpl22", help="skeleton layout of the files")
    p.add_argument("--stream-prefix", default="replay", help="stream ids are PREFIX-<i>")
    p.add_argument("--start-frame", type=int, default=0, help="frame number of frame 0")
    p.add_argument("--loops", type=int, default=1, help="play each motion this many times")
    p.add_argument("--stagger-frames", type=int, default=0,
                   help="stream i starts at frame number start + i * STAGGER, so that the "
                        "streams' windows do not all close at the same moment")


def run_cli(args: argparse.Namespace) -> int:
    from ingest.kafka import KafkaConnection

    streams = load_streams(args.files, streams=args.streams, fps=args.fps, layout=args.layout,
                           prefix=args.stream_prefix, start_frame=args.start_frame,
                           stagger_frames=args.stagger_frames)
    conn = KafkaConnection(bootstrap_servers=args.bootstrap_servers, client_id="mochat-replay")
    stats = asyncio.run(replay_to_kafka(streams, args.topic, conn.client_kwargs(),
                                        fps=args.fps, realtime=not args.as_fast_as_possible,
                                        loops=args.loops))
    rate = stats.frames_sent / max(stats.seconds, 1e-9)
    print(f"sent {stats.frames_sent} frames of {len(streams)} streams to {args.topic} in "  # noqa: T201
          f"{stats.seconds:.2f} s ({rate:.0f} frames/s, worst lag {stats.max_lag_ms:.1f} ms)")
    return 0
