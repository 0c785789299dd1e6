"""Ingest pipeline on this machine: live 120 fps streams -> windows -> encoder -> features.

    .venv/bin/python bench/ingest.py [--streams 50,100,150,200] [--seconds 12]
                                     [--model DIR | --size tiny] [--frames-per-record N]
                                     [--backlog-frames 60000] [--append BENCHMARKS.md]

Everything runs locally, each part in its own process: the Tansu broker, `mochat serve
encoder` (the shipped checkpoint's encoder exported to ONNX, or `--model`'s; `--size`: a
random-weight JGSE of that size instead), `python -m ingest`, and `mochat replay`
producing N streams at 120 fps in real time (stream i starts at frame 3*i so that windows do
not all close at once). This process reads, side by side with the pipeline:
- mocap.features: frame-to-feature latency = arrival of a window's features here minus the
  capture time of the window's last frame (the replay stamps capture time when it sends);
  it includes the grace wait (grace_frames / fps) and the encoder call. Only complete
  windows count: the partial window at the end of each stream waits for the idle timeout
  (2 s) by design;
- mocap.frames with a bare aiokafka consumer (no group, no decoding): the ceiling; its latency
  is arrival minus the record's producer timestamp.
A level is sustained when the ingest worker consumed every frame sent, features arrived for
every window and the pipeline's p99 latency is under 250 ms. Then a backlog of
`--backlog-frames` is produced first and drained, once by the bare consumer and once by a
fresh ingest worker: frames/s with nothing paced (the throughput ceiling comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path and this file would shadow `ingest`.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)

from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from ingest.broker import LocalBroker, create_topics, free_port  # noqa: E402
from protos.mochat.v1 import frames_pb2  # noqa: E402

FPS = 120.0
LATENCY_LIMIT_MS = 250.0
# Tansu: a group join waits for the rebalance timeout; a fetch waits for fetch_max_wait_ms
# even when records are there (Kafka answers at once).
GROUP = dict(SESSION_TIMEOUT_MS="3000", HEARTBEAT_INTERVAL_MS="300",
             REBALANCE_TIMEOUT_MS="2000", FETCH_MAX_WAIT_MS="20")
GROUP_REBALANCE_S = 2.0  # REBALANCE_TIMEOUT_MS above


@dataclass
class Level:
    streams: int
    sent: int
    replay_lag_ms: float
    ingest_fps: float
    ingest_consumed_all: bool
    windows: int
    windows_expected: int
    p50_ms: float
    p99_ms: float
    bare_fps: float
    bare_p99_ms: float
    ingest_cores: float  # CPU-seconds per second of the ingest worker while the replay ran
    encoder_cores: float  # ... of the encoder service
    worker_frames: list[int]  # frames each ingest worker consumed (the partitions' spread)
    ingest_rss_mb: float  # resident memory of the ingest worker(s) at the end of the replay

    @property
    def keeps_up(self) -> bool:
        """Consumed at >= 95% of the offered rate (latency aside)."""
        return self.ingest_fps >= 0.95 * self.streams * FPS

    @property
    def sustained(self) -> bool:
        return (self.ingest_consumed_all and self.windows >= self.windows_expected
                and self.p99_ms < LATENCY_LIMIT_MS)


def export_checkpoint(model: Path, out: Path, *, int8: bool = False) -> Path:
    """`mochat export onnx` of a MoChat checkpoint's encoder (with its parity check); with
    `int8`, its int8-weight twin (`--int8`) is the one served."""
    subprocess.run([sys.executable, "-m", "mochat", "export", "onnx", "--checkpoint", str(model),
                    "--out", str(out)] + (["--int8"] if int8 else []), cwd=REPO, check=True,
                   capture_output=True)
    return out.with_suffix(".int8.onnx") if int8 else out


def export_model(size: str, out: Path) -> Path:
    code = ("import torch\nfrom mochat.export.onnx import export_onnx\n"
            "from mochat.models import build_encoder, encoder_config\n"
            "from mochat.skeleton import SMPL22\ntorch.manual_seed(0)\n"
            f"export_onnx(build_encoder('jgse', encoder_config({size!r}), SMPL22), "
            f"{str(out)!r})\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    return out


def wait_for_line(log: Path, pattern: str, proc: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited {proc.returncode}: {log.read_text()[-2000:]}")
        match = re.search(pattern, log.read_text() if log.exists() else "")
        if match:
            return match.group(0)
        time.sleep(0.1)
    raise TimeoutError(f"no {pattern!r} in {log} after {timeout_s} s")


def scrape(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text,
                                                       re.MULTILINE))


def replay_counts(out: str) -> tuple[int, int]:
    """(frames, records) a `mochat replay` run says it sent (a FrameBatch record holds
    several frames)."""
    return (int(re.search(r"sent (\d+) frames", out).group(1)),
            int(re.search(r"(\d+) records", out).group(1)))


def consumed_by(workers: list[tuple[subprocess.Popen, int]]) -> float:
    """Frames consumed by all the ingest workers (each one's metrics port)."""
    return sum(scrape(port, "mochat_ingest_frames_total") for _, port in workers)


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, bootstrap: str,
                 encoder: str, encoder_pid: int) -> None:
        self.args, self.workdir = args, workdir
        self.bootstrap, self.encoder, self.encoder_pid = bootstrap, encoder, encoder_pid
        self._n = 0

    def motion(self, frames_120: int) -> Path:
        """A drifting pose of (T - 1) * 6 + 1 >= frames_120 frames once replayed at 120 fps."""
        frames_20 = -(-(frames_120 - 1) // 6) + 1
        path = self.workdir / f"motion{frames_20}.npy"
        base = np.random.default_rng(0).normal(scale=0.3, size=(1, 22, 3))
        drift = np.zeros((frames_20, 1, 3))
        drift[:, 0, 0] = 0.01 * np.arange(frames_20)
        np.save(path, (base + drift).astype(np.float32))  # at 20 fps, like HumanML3D
        return path

    async def topics(self) -> dict[str, str]:
        self._n += 1
        names = {k: f"b{self._n}.mocap.{k}" for k in ("frames", "features", "dlq")}
        await create_topics({"bootstrap_servers": self.bootstrap},
                            {names["frames"]: 4, names["features"]: 4, names["dlq"]: 1})
        return names

    def start_ingest(self, topics: dict[str, str], tag: str, worker: int = 0
                     ) -> tuple[subprocess.Popen, int]:
        """An ingest worker in consumer group bench-<tag>; started with the same tag, the
        workers share the group and split the frames topic's partitions."""
        a = self.args
        port = free_port()
        env = dict(os.environ, MOCHAT_INGEST_KAFKA__BOOTSTRAP_SERVERS=self.bootstrap,
                   MOCHAT_INGEST_ENCODER=self.encoder, MOCHAT_INGEST_METRICS_PORT=str(port),
                   MOCHAT_INGEST_ENCODER_CHANNEL__INSECURE="true",  # loopback, development
                   MOCHAT_INGEST_FRAMES_TOPIC=topics["frames"],
                   MOCHAT_INGEST_FEATURES_TOPIC=topics["features"],
                   MOCHAT_INGEST_DLQ_TOPIC=topics["dlq"], MOCHAT_INGEST_GROUP_ID=f"bench-{tag}",
                   # the service takes seconds; these frame counts are at the replay's FPS
                   MOCHAT_INGEST_WINDOW_S=str(a.window_frames / FPS),
                   MOCHAT_INGEST_STEP_S=str(a.step_frames / FPS),
                   MOCHAT_INGEST_GRACE_MS=str(1000.0 * a.grace_frames / FPS),
                   **{f"MOCHAT_INGEST_{k}": v for k, v in GROUP.items()})
        log = self.workdir / f"ingest-{tag}-{worker}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        wait_for_line(log, r'"partitions": \[\d', proc, 60)
        return proc, port

    def replay(self, topic: str, streams: int, frames: int, *, realtime: bool
               ) -> subprocess.Popen:
        """`mochat replay` of N streams of `frames` frames (rounded up to a 20 fps frame)."""
        cmd = [sys.executable, "-m", "mochat", "replay", str(self.motion(frames)), "--topic",
               topic, "--fps", str(FPS), "--streams", str(streams), "--stagger-frames", "3",
               "--bootstrap-servers", self.bootstrap,
               "--frames-per-record", str(self.args.frames_per_record)]
        if not realtime:
            cmd.append("--as-fast-as-possible")
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)


def expected_windows(start: int, frames: int, window: int, step: int,
                     min_frames: int = 16) -> int:
    """Windows of one stream of `frames` frames from frame `start` (see ingest/windowing)."""
    first, last = -(-start // step) * step, start + frames - 1
    complete = (last - window + 1 - first) // step + 1 if last - window + 1 >= first else 0
    rest = last - (first + complete * step) + 1
    return complete + (1 if rest >= min_frames else 0)


async def reader(bootstrap: str, topic: str, on_batch, *, from_start: bool) -> None:  # noqa: ANN001
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh topic
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        await (consumer.seek_to_beginning(*tps) if from_start else consumer.seek_to_end(*tps))
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batch.values():
                on_batch(records, now)
    finally:
        await consumer.stop()


async def run_level(bench: Bench, streams: int) -> Level:
    """N live streams for --seconds; latency and rates over the part after a warm-up."""
    a = bench.args
    topics = await bench.topics()
    workers = [bench.start_ingest(topics, f"live{streams}", k) for k in range(a.workers)]
    if a.workers > 1:
        await asyncio.sleep(3.0 * GROUP_REBALANCE_S)  # the first worker's rebalance settles
    feature_lat: list[float] = []
    bare = {"n": 0, "lat": []}
    warm_until = time.time() + 2.0

    def on_features(records, now: float) -> None:  # noqa: ANN001
        for r in records:
            msg = frames_pb2.MotionFeatures.FromString(r.value)
            complete = msg.last_frame - msg.first_frame + 1 == a.window_frames
            if complete and msg.last_capture_time_us / 1e6 >= warm_until:
                feature_lat.append(1000.0 * now - msg.last_capture_time_us / 1000.0)

    def on_frames(records, now: float) -> None:  # noqa: ANN001
        bare["n"] += len(records)
        if now >= warm_until:
            bare["lat"].extend(1000.0 * now - r.timestamp for r in records)

    tasks = [asyncio.create_task(reader(bench.bootstrap, topics["features"], on_features,
                                        from_start=False)),
             asyncio.create_task(reader(bench.bootstrap, topics["frames"], on_frames,
                                        from_start=False))]
    await asyncio.sleep(1.0)  # readers positioned at the end
    frames = int(a.seconds * FPS)
    replay = bench.replay(topics["frames"], streams, frames, realtime=True)
    await asyncio.sleep(2.0)
    t0, ingest0, bare0 = time.time(), consumed_by(workers), bare["n"]
    cpu0 = sum(cpu_seconds(w.pid) for w, _ in workers), cpu_seconds(bench.encoder_pid)
    out, _ = await asyncio.to_thread(replay.communicate)
    t1, ingest1, bare1 = time.time(), consumed_by(workers), bare["n"]
    cpu1 = sum(cpu_seconds(w.pid) for w, _ in workers), cpu_seconds(bench.encoder_pid)
    rss = sum(rss_mb(w.pid) for w, _ in workers)  # every stream's window state is live
    await asyncio.sleep(3.0)  # drain: the last windows close by idle flush after 2 s
    sent, records = replay_counts(out)
    lag = float(re.search(r"worst lag ([\d.]+) ms", out).group(1))
    shares = [scrape(port, "mochat_ingest_frames_total") for _, port in workers]
    consumed = sum(shares)
    windows = int(sum(scrape(port, "mochat_ingest_features_total") for _, port in workers))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for worker, _ in workers:
        stop(worker)
    per_stream = 6 * (-(-(frames - 1) // 6)) + 1  # what Bench.motion made of `frames`
    expected = sum(expected_windows(3 * i, per_stream, a.window_frames, a.step_frames)
                   for i in range(streams))
    lat = np.array(feature_lat or [np.inf])
    return Level(streams=streams, sent=sent, replay_lag_ms=lag,
                 ingest_fps=(ingest1 - ingest0) / (t1 - t0), ingest_consumed_all=consumed >= sent,
                 windows=windows, windows_expected=expected,
                 p50_ms=float(np.percentile(lat, 50)), p99_ms=float(np.percentile(lat, 99)),
                 bare_fps=sent / records * (bare1 - bare0) / (t1 - t0),  # records -> frames
                 bare_p99_ms=float(np.percentile(bare["lat"] or [np.inf], 99)),
                 ingest_cores=(cpu1[0] - cpu0[0]) / (t1 - t0),
                 encoder_cores=(cpu1[1] - cpu0[1]) / (t1 - t0),
                 worker_frames=[int(x) for x in shares], ingest_rss_mb=rss)


@dataclass
class Backlog:
    frames: int
    bare_fps: float
    bare_per_cpu_s: float
    ingest_fps: float
    ingest_per_cpu_s: float  # frames per CPU-second of the ingest worker alone
    pipeline_per_cpu_s: float  # ... of the ingest worker + the encoder service


async def run_backlog(bench: Bench, frames: int, streams: int = 50) -> Backlog:
    """Drain a pre-produced backlog: bare consumer, then a fresh ingest worker.

    Rates per wall second depend on how much of the shared CPU each process got; rates per
    CPU-second of the processes doing the work do not.
    """
    topics = await bench.topics()
    replay = bench.replay(topics["frames"], streams, frames // streams, realtime=False)
    out, _ = await asyncio.to_thread(replay.communicate)
    sent, records = replay_counts(out)
    seen = {"n": 0, "t0": 0.0, "t1": 0.0, "c0": 0.0, "c1": 0.0}
    done = asyncio.Event()

    def on_frames(batch, now: float) -> None:  # noqa: ANN001
        if seen["n"] == 0:
            seen["t0"], seen["c0"] = time.perf_counter(), time.process_time()
        seen["n"] += len(batch)
        if seen["n"] >= records:
            seen["t1"], seen["c1"] = time.perf_counter(), time.process_time()
            done.set()

    task = asyncio.create_task(reader(bench.bootstrap, topics["frames"], on_frames,
                                      from_start=True))
    await asyncio.wait_for(done.wait(), 120)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    ingest, port = bench.start_ingest(topics, "backlog")
    samples = []  # (time, frames consumed, ingest CPU-s, encoder CPU-s) while draining
    while True:
        samples.append((time.perf_counter(), scrape(port, "mochat_ingest_frames_total"),
                        cpu_seconds(ingest.pid), cpu_seconds(bench.encoder_pid)))
        if samples[-1][1] >= sent:
            break
        await asyncio.sleep(0.2)
    stop(ingest)
    t0, f0, i0, e0 = next(x for x in samples if x[1] > 0)
    t1, f1, i1, e1 = samples[-1]
    return Backlog(frames=sent, bare_fps=sent / (seen["t1"] - seen["t0"]),
                   bare_per_cpu_s=sent / max(seen["c1"] - seen["c0"], 1e-3),
                   ingest_fps=(f1 - f0) / (t1 - t0), ingest_per_cpu_s=(f1 - f0) / (i1 - i0),
                   pipeline_per_cpu_s=(f1 - f0) / (i1 - i0 + e1 - e0))


def encoder_name(args: argparse.Namespace) -> str:
    if args.size:
        return f"JGSE `{args.size}`, random weights"
    weights = "int8 weights" if args.int8 else "fp32"
    return (f"`{args.model.name}` encoder ({weights}), {args.frames_per_record} frame(s) per "
            "record")


def report(args: argparse.Namespace, levels: list[Level], backlog: Backlog, seconds: float,
           load: tuple[float, float]) -> str:
    best = max((lv.streams for lv in levels if lv.sustained), default=0)
    lines = [
        "## Ingest pipeline (bench/ingest.py)",
        "",
        f"`{' '.join(['.venv/bin/python', 'bench/ingest.py', *sys.argv[1:]])}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
        f"Tansu broker, encoder service ({encoder_name(args)}, "
        f"{args.encoder_threads or 'default'} ORT thread(s)), {args.workers} ingest "
        f"worker(s) in one consumer group (live levels), replay producer and this script's "
        f"two readers all on this machine "
        f"(window_frames={args.window_frames}, step_frames={args.step_frames}, "
        f"grace_frames={args.grace_frames}); {seconds:.0f} s in all. The machine is shared: "
        f"1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
        "(other jobs included).",
        "",
        "| streams @120 fps | frames/s sent | ingest frames/s | windows (got/expected) "
        "| p50 ms | p99 ms | bare consumer frames/s | bare p99 ms | replay worst lag ms "
        "| ingest / encoder cores | frames per ingest worker | ingest RSS MB | sustained |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        lines.append(
            f"| {lv.streams} | {lv.streams * FPS:.0f} | {lv.ingest_fps:.0f} | "
            f"{lv.windows}/{lv.windows_expected} | {lv.p50_ms:.0f} | {lv.p99_ms:.0f} | "
            f"{lv.bare_fps:.0f} | {lv.bare_p99_ms:.0f} | {lv.replay_lag_ms:.0f} | "
            f"{lv.ingest_cores:.2f} / {lv.encoder_cores:.2f} | "
            f"{' + '.join(str(n) for n in lv.worker_frames)} | {lv.ingest_rss_mb:.0f} | "
            f"{'yes' if lv.sustained else 'no'} |")
    lines += [
        "",
        f"Largest sustained level: **{best} streams** ({best * FPS:.0f} frames/s) with p99 "
        f"frame-to-feature latency < {LATENCY_LIMIT_MS:.0f} ms.",
        f"Backlog drain ({backlog.frames} frames, nothing paced): bare aiokafka consumer "
        f"{backlog.bare_fps:.0f} frames/s ({backlog.bare_per_cpu_s:.0f} per CPU-second), "
        f"ingest worker {backlog.ingest_fps:.0f} frames/s = "
        f"{100 * backlog.ingest_fps / backlog.bare_fps:.1f}% of the bare rate; per CPU-second "
        f"the ingest worker does {backlog.ingest_per_cpu_s:.0f} frames "
        f"({100 * backlog.ingest_per_cpu_s / backlog.bare_per_cpu_s:.1f}% of bare), the ingest "
        f"worker + encoder service {backlog.pipeline_per_cpu_s:.0f}.",
        "",
    ]
    return "\n".join(lines)


async def run_all(bench: Bench) -> tuple[list[Level], Backlog]:
    levels: list[Level] = []
    for streams in bench.args.streams:
        levels.append(await run_level(bench, streams))
        print(levels[-1], flush=True)
        if len(levels) > 1 and not (levels[-1].keeps_up or levels[-2].keeps_up):
            break  # two levels in a row that fell behind: larger ones fall further behind
    return levels, await run_backlog(bench, bench.args.backlog_frames)


def run(args: argparse.Namespace) -> str:
    started, load0 = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(topics={}) as broker:
        workdir = Path(tmp)
        model = export_model(args.size, workdir / "encoder.onnx") if args.size else \
            export_checkpoint(args.model, workdir / "encoder.onnx", int8=args.int8)
        port, enc_log = free_port(), workdir / "encoder.log"
        with open(enc_log, "wb") as log:
            encoder = subprocess.Popen(
                [sys.executable, "-m", "encoder_service", "--model", str(model), "--port",
                 str(port), "--intra-op-threads", str(args.encoder_threads), "--insecure"],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_line(enc_log, '"event": "serving"', encoder, 60)
            bench = Bench(args, workdir, broker.bootstrap_servers, f"127.0.0.1:{port}",
                          encoder.pid)
            levels, backlog = asyncio.run(run_all(bench))
        finally:
            stop(encoder)
    return report(args, levels, backlog, time.monotonic() - started,
                  (load0, os.getloadavg()[0]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", default="50,100,150,200",
                   type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--seconds", type=float, default=12.0, help="live replay per level")
    p.add_argument("--model", type=Path, default=REPO / "models" / "mochat-smollm2-synth",
                   help="MoChat checkpoint whose encoder runs (default: the shipped one)")
    p.add_argument("--size", default=None,
                   help="instead of --model: a random-weight JGSE of this size (tiny, small, "
                        "paper)")
    p.add_argument("--frames-per-record", type=int, default=1,
                   help="frames per Kafka record (FrameBatch when > 1; default: %(default)s)")
    p.add_argument("--backlog-frames", type=int, default=60_000)
    p.add_argument("--encoder-threads", type=int, default=1,
                   help="ONNX Runtime intra-op threads of the encoder service (0 = ORT default)")
    p.add_argument("--workers", type=int, default=1,
                   help="ingest workers in one consumer group for the live levels "
                        "(default: %(default)s; the backlog drain always uses one)")
    p.add_argument("--int8", action="store_true",
                   help="serve the encoder's int8-weight export (`mochat export onnx --int8`)")
    # 384 / 96 frames at 120 fps are the ingest service's defaults (3.2 s windows, 0.8 s
    # hop); the grace wait is 4 frames (33 ms), not its 200 ms, which alone would spend
    # most of the 250 ms latency budget.
    p.add_argument("--window-frames", type=int, default=384, help="default: %(default)s")
    p.add_argument("--step-frames", type=int, default=96, help="default: %(default)s")
    p.add_argument("--grace-frames", type=int, default=4, help="default: %(default)s")
    p.add_argument("--append", type=Path, help="append the markdown report to this file")
    args = p.parse_args()
    text = run(args)
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
