"""`mochat replay`: play motion files to Kafka as live `mochat.v1.Frame` streams.

Each of `--streams N` streams plays one file (stream i plays file i mod the number of files)
as the capture system that recorded it would have sent it: in the file's own layout (read
by `mochat.skeleton.read_motion`, which finds a BVH's layout by its joint names), at the
file's own rate, in the file's own coordinates. Receivers (ingest, the encoder service)
apply the layout's convention (up axis, units) when they bring it to the model. `--fps`
resamples every file to one rate; `--units/--up-axis/--handedness` say the files are not in
their layout's convention, and replay rewrites them into it. Frame numbers start at
`--start-frame`; capture times come from the wall clock when a frame is sent (or from the
nominal schedule with `--as-fast-as-possible`). Records are keyed by stream id, as capture
systems must do. `--frames-per-record N` sends each stream's frames N at a time as
`FrameBatch` records (header `mochat-type: frame-batch`), as a capture gateway that forwards
a packet every few frames does: a batch goes out when its last frame is due (so it adds up
to (N - 1) / fps of latency), each frame keeping its own capture time. The default, 1,
sends one `Frame` record per frame, as a gateway forwarding each frame of a
one-frame-per-packet SDK (NatNet, Xsens MVN's network streamer) does.

    mochat replay walk.bvh new_joints/000001.npy --streams 4 --bootstrap-servers 127.0.0.1:9092
    mochat replay a.bvh --bootstrap-servers kafka:9093 --security-protocol SASL_SSL \
        --sasl-mechanism SCRAM-SHA-512 --sasl-username replay --sasl-password-file pw.txt \
        --ssl-cafile ca.crt
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mochat.errors import ConfigError, DataFormatError
from mochat.skeleton import Convention, SkeletonLayout, get_layout, read_motion, resample
from mochat.skeleton.convention import HANDEDNESS, UNITS, UP_AXES
from mochat.skeleton.readers import MOTION_SUFFIXES


@dataclass(frozen=True)
class ReplayStream:
    stream_id: str
    joints: np.ndarray  # (T, J, 3) at `fps`, in the layout's own convention
    layout: str
    fps: float
    start_frame: int = 0

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


@dataclass(frozen=True)
class ReplayStats:
    frames_sent: int
    seconds: float
    max_lag_ms: float  # how far behind the real-time schedule sending fell
    records_sent: int = 0


def motion_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand a directory (a HumanML3D corpus: its new_joints/) to its motion files; keep
    files as given."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            joints_dir = path / "new_joints" if (path / "new_joints").is_dir() else path
            found = sorted(p for p in joints_dir.iterdir()
                           if p.suffix.lower() in MOTION_SUFFIXES)
            if not found:
                raise DataFormatError(f"{path}: no motion files ({', '.join(MOTION_SUFFIXES)})")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise DataFormatError(f"{path}: no such file or directory")
    return out


def into_layout_convention(joints: np.ndarray, given: Convention,
                           layout: SkeletonLayout) -> np.ndarray:
    """(T, J, 3) in the `given` convention -> the same joints in the layout's own, which is
    what receivers assume of a stream in that layout.

    Both conventions are linear maps to the model's frame (rotation, mirror, scale), so the
    layout's is inverted through its matrix. A layout whose units are 'auto' gets metres
    (its receivers guess the unit from the body's size).
    """
    metres = given.to_model(joints)  # (T, J, 3) y up, metres
    own = layout.convention
    scale = 1.0 if own.units == "auto" else UNITS[own.units]
    basis = own.to_model(np.eye(3, dtype=np.float32)[None], scale=1.0)[0]  # row i = f(e_i)
    flat = metres.reshape(-1, 3) / scale @ np.linalg.inv(basis)  # x_model = x_own @ basis
    return flat.reshape(metres.shape).astype(np.float32)


def load_streams(paths: Sequence[str | Path], *, streams: int, fps: float | None = None,
                 layout: str | None = None, file_fps: float | None = None,
                 convention: dict[str, str | None] | None = None, prefix: str = "replay",
                 start_frame: int = 0, stagger_frames: int = 0) -> list[ReplayStream]:
    """N replay streams over the motion files; stream i starts at start_frame + i*stagger.

    `layout` names the files' skeleton (a name or a layout file; default: each file's,
    SMPL-22 for .npy). `fps` resamples every file to that rate (default: each file's own;
    `file_fps` is the rate of files that state none, .npy's 20 otherwise). `convention`
    ({"up_axis", "units", "handedness"}, None = the layout's) says how the files are
    written when that is not the layout's convention.
    """
    if streams < 1:
        raise ConfigError(f"--streams must be >= 1, got {streams}")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ConfigError(f"--fps must be > 0, got {fps}")
    lay = get_layout(layout) if layout else None
    overrides = {k: v for k, v in (convention or {}).items() if v}
    played = []
    for path in motion_files(paths)[:streams]:
        motion = read_motion(path, lay, fps=file_fps)
        joints = motion.joints
        if overrides:
            given = motion.layout.convention.with_overrides(**overrides)
            joints = into_layout_convention(joints, given, motion.layout)
        rate = motion.fps if fps is None else fps
        played.append((resample(joints, motion.fps, rate), motion.layout.name, rate))
    return [ReplayStream(f"{prefix}-{i}", *played[i % len(played)],
                         start_frame=start_frame + i * stagger_frames) for i in range(streams)]


SendFn = Callable[[ReplayStream, int, bytes], object]


async def replay(streams: Sequence[ReplayStream], send: SendFn, *, realtime: bool = True,
                 loops: int = 1, frames_per_record: int = 1) -> ReplayStats:
    """Call `send(stream, frame_index, payload)` for every frame of every stream, each
    stream at its own rate: its frame k is due at t0 + k / its fps.

    Frames go out in due order (streams in order on ties); with `loops` > 1 each motion
    repeats with frame numbers continuing. In real time a late schedule is caught up and
    the worst lag is reported; otherwise capture times follow the nominal schedule.
    With `frames_per_record` N > 1 the payload is a FrameBatch of the stream's next N frames
    (fewer at its end), sent when its last frame is due, and `frame_index` is its first
    frame's.
    """
    from ingest.codec import encode_frame, encode_frame_batch

    if frames_per_record < 1:
        raise ConfigError(f"--frames-per-record must be >= 1, got {frames_per_record}")
    t0, wall0_us = time.monotonic(), int(time.time() * 1e6)
    # (due s of the batch's last frame, stream, its first tick)
    due: list[tuple[float, int, int]] = [
        ((min(frames_per_record, s.num_frames * loops) - 1) / s.fps, i, 0)
        for i, s in enumerate(streams)]
    heapq.heapify(due)
    sent = records = 0
    max_lag = 0.0
    while due:
        at_s, i, tick = heapq.heappop(due)
        s = streams[i]
        if realtime:
            lag = time.monotonic() - (t0 + at_s)
            if lag < 0:
                await asyncio.sleep(-lag)
            else:
                max_lag = max(max_lag, lag)
        end = min(tick + frames_per_record, s.num_frames * loops)
        # the last frame is captured now (or on schedule); the earlier ones 1/fps apart
        last_us = int(time.time() * 1e6) if realtime else wall0_us + round(at_s * 1e6)
        times = [last_us - round((end - 1 - t) * 1e6 / s.fps) for t in range(tick, end)]
        index = s.start_frame + tick
        if frames_per_record == 1:
            payload = encode_frame(s.stream_id, index, s.joints[tick % s.num_frames],
                                   layout=s.layout, capture_time_us=times[0], fps=s.fps)
        else:
            rows = np.arange(tick, end) % s.num_frames
            payload = encode_frame_batch(s.stream_id, index, s.joints[rows], layout=s.layout,
                                         capture_times_us=times, fps=s.fps)
        result = send(s, index, payload)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result
        sent += end - tick
        records += 1
        if end < s.num_frames * loops:
            last = min(end + frames_per_record, s.num_frames * loops) - 1
            heapq.heappush(due, (last / s.fps, i, end))
        if not realtime and records % 256 == 0:
            await asyncio.sleep(0)  # let the producer's sender run
    return ReplayStats(sent, time.monotonic() - t0, 1000.0 * max_lag, records)


async def replay_to_kafka(streams: Sequence[ReplayStream], topic: str,
                          client_kwargs: dict, *, realtime: bool = True,
                          loops: int = 1, frames_per_record: int = 1) -> ReplayStats:
    """Produce the streams to `topic` (acks=all, keyed by stream id) and flush; batches of
    `frames_per_record` > 1 as FrameBatch records."""
    from aiokafka import AIOKafkaProducer

    from ingest.codec import FRAME_BATCH_HEADERS

    headers = FRAME_BATCH_HEADERS if frames_per_record > 1 else None
    producer = AIOKafkaProducer(**client_kwargs, acks="all", linger_ms=2,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        keys = {s.stream_id: s.stream_id.encode() for s in streams}
        stats = await replay(
            streams, lambda s, _i, payload: producer.send(topic, payload, key=keys[s.stream_id],
                                                          headers=headers),
            realtime=realtime, loops=loops, frames_per_record=frames_per_record)
        await producer.flush()
    finally:
        await producer.stop()
    return stats


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Replay motion files as live frame streams, each as its capture system would send "
        "it: in the file's own skeleton layout, at the file's own rate and in the file's own "
        "coordinates (units, up axis), which the receiving services convert with the "
        "layout's convention.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".bvh, .amc, .npz, .npy (T, J, 3), or a directory of them (a HumanML3D "
                        "corpus: its new_joints/)")
    p.add_argument("--topic", default="mocap.frames")
    p.add_argument("--fps", type=float, default=None,
                   help="replay every file at this rate, resampling it (default: each file "
                        "at its own rate: a BVH's frame time, an npz's fps entry, 20 for .npy)")
    p.add_argument("--file-fps", type=float, default=None,
                   help="the rate of files that state none (.npy; default 20, HumanML3D's)")
    p.add_argument("--layout", default=None,
                   help="skeleton layout of the files: a name or a layout file (.yaml/.json); "
                        "default: found from a BVH's joint names, smpl22 for .npy. Streams "
                        "carry its name: a layout file must be registered with the services "
                        "too (their layout_files setting)")
    p.add_argument("--units", choices=sorted(UNITS), default=None,
                   help="the files' length unit when it is not the layout's (e.g. a Kinect "
                        "recording saved in mm); replay rewrites them into the layout's")
    p.add_argument("--up-axis", choices=UP_AXES, default=None,
                   help="the files' up axis when it is not the layout's")
    p.add_argument("--handedness", choices=HANDEDNESS, default=None,
                   help="the files' handedness when it is not the layout's")
    p.add_argument("--streams", type=int, default=1, help="concurrent streams")
    p.add_argument("--as-fast-as-possible", action="store_true",
                   help="do not pace frames at their rate")
    p.add_argument("--stream-prefix", default="replay", help="stream ids are PREFIX-<i>")
    p.add_argument("--start-frame", type=int, default=0, help="frame number of frame 0")
    p.add_argument("--loops", type=int, default=1, help="play each motion this many times")
    p.add_argument("--frames-per-record", type=int, default=1,
                   help="frames per record: N > 1 sends FrameBatch records of N frames (header "
                        "mochat-type: frame-batch), each sent when its last frame is due, as a "
                        "gateway forwarding a packet every N frames does (e.g. 6 at 120 fps: "
                        "every 50 ms); 1 (default) sends one Frame record per frame")
    p.add_argument("--stagger-frames", type=int, default=0,
                   help="stream i starts at frame number start + i * STAGGER, so that the "
                        "streams' windows do not all close at the same moment")
    from ingest.kafka import add_kafka_arguments

    add_kafka_arguments(p)


def run_cli(args: argparse.Namespace) -> int:
    from ingest.kafka import connection_from_args

    kafka = connection_from_args(args, client_id="mochat-replay").client_kwargs()  # fail fast
    streams = load_streams(
        args.files, streams=args.streams, fps=args.fps, layout=args.layout,
        file_fps=args.file_fps, prefix=args.stream_prefix, start_frame=args.start_frame,
        stagger_frames=args.stagger_frames,
        convention={"units": args.units, "up_axis": args.up_axis,
                    "handedness": args.handedness})
    stats = asyncio.run(replay_to_kafka(streams, args.topic, kafka,
                                        realtime=not args.as_fast_as_possible,
                                        loops=args.loops,
                                        frames_per_record=args.frames_per_record))
    rate = stats.frames_sent / max(stats.seconds, 1e-9)
    kinds = sorted({f"{s.layout} at {s.fps:g} fps" for s in streams})
    print(f"sent {stats.frames_sent} frames of {len(streams)} streams ({', '.join(kinds)}) "  # noqa: T201
          f"to {args.topic} in {stats.seconds:.2f} s ({rate:.0f} frames/s, "
          f"{stats.records_sent} records, worst lag {stats.max_lag_ms:.1f} ms)")
    return 0
