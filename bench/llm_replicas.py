"""LLM service scale-out: two replicas reading the same features topic, beside one replica,
in one run.

    .venv/bin/python bench/llm_replicas.py [--model DIR] [--streams 8] [--clients 8]
                                           [--rounds 4] [--threads 2] [--partitions 4]

Everything runs on this machine, each server in its own process: the Tansu broker (memory
only) with a features topic of `--partitions` partitions, and `mochat serve llm` replicas
(the shipped checkpoint `models/mochat-smollm2-synth`, or --model; continuous scheduler,
prefix cache on, `--max-new-tokens`) on 127.0.0.1, plaintext, each with a metrics port.
The LLM service's consumer joins no consumer group: every replica assigns itself all
partitions and stores every window, so any replica can answer about any stream.

Windows: before any server starts, this process encodes `--streams` 10 s windows (200 frames
at 20 fps) of synthetic motions with the checkpoint's encoder (`bench/llm_service.py`'s
`windows()`), plus one for a warm-up stream, and produces them to the topic as
MotionFeatures records keyed by stream id (encoder name `ENCODER`, which the replicas are
told to expect: `MOCHAT_LLM_FEATURES_ENCODER`). The replicas read from the earliest offset.

1. one replica, `--threads` torch threads;
2. two replicas, `--threads // 2` threads each (the node's cores split between them),
   started together.
In each: startup = process start -> health SERVING (model load); catch-up = SERVING -> the
store gauge counts every window produced (polled every 50 ms; 0 when they were read during
startup); answerable = streams a CreateSession succeeds for (NOT_FOUND when a stream has no
window), asked of every replica about every stream. Then one warm-up question per replica
(the warm-up stream) and `--clients` closed-loop clients each asking `--rounds` questions
about their own window (caption and grounding alternating, as bench/llm_service.py), client
c against replica c mod replicas; questions/s = answered / wall of the whole phase; server
CPU-seconds are the replica processes' own (/proc), over the same wall.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path and bench/llm_service.py, bench/ingest.py
# would shadow the `llm_service` and `ingest` packages; put the repository there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)

TOPIC = "bench.mocap.features"
ENCODER = "bench-inprocess-encoder@v1"  # stamped on the records, expected by the replicas
WARMUP = "warmup"
CATCH_UP_POLL_S = 0.05


def _bench(name: str) -> Any:
    """bench/<name>.py as a module (bench/ is no package, and its names shadow packages)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while made
    spec.loader.exec_module(module)
    return module


LLM = _bench("llm_service")  # FRAMES, FPS, CAPTION, GROUNDING, windows, percentile, ask
INGEST = _bench("ingest")  # wait_for_line, scrape, cpu_seconds, rss_mb, stop


def stream_ids(streams: int) -> list[str]:
    """The clients' streams (cam0.. as in bench/llm_service.py), then the warm-up stream."""
    return [f"cam{i}" for i in range(streams)] + [WARMUP]


def encode_windows(model: Path, count: int) -> tuple[list[np.ndarray], str]:
    """`count` (T, D) feature windows of the checkpoint's encoder, and its layout name; the
    pipeline is released before the replicas start."""
    from mochat.pipeline import MoChatPipeline

    pipeline = MoChatPipeline.from_pretrained(model)
    if abs(pipeline.fps - LLM.FPS) > 1e-6:
        raise SystemExit(f"{model}: the encoder reads {pipeline.fps:g} fps; the windows here "
                         f"are {LLM.FRAMES} frames at {LLM.FPS:g}")
    feats, layout = LLM.windows(pipeline, count), pipeline.model.encoder.layout.name
    del pipeline
    gc.collect()
    return feats, layout


def features_record(stream: str, features: np.ndarray, layout: str, now_us: int) -> bytes:
    """MotionFeatures of frames 0..T-1 of `stream` at 20 fps, one row per frame, the last
    frame captured at `now_us` (what the encoder service writes, see
    encoder_service/validation.py's features_message)."""
    from protos.convert import array_to_proto
    from protos.mochat.v1 import frames_pb2

    frames = features.shape[0]  # (T, D)
    frame_us = int(1e6 / LLM.FPS)
    msg = frames_pb2.MotionFeatures(
        stream_id=stream, window_id=f"{stream}:0", first_frame=0, last_frame=frames - 1,
        fps=LLM.FPS, feature_fps=LLM.FPS, layout=layout, encoder=ENCODER,
        first_capture_time_us=now_us - (frames - 1) * frame_us, last_capture_time_us=now_us)
    array_to_proto(features, msg.features)
    return msg.SerializeToString()


async def produce(bootstrap: str, records: list[tuple[str, bytes]]) -> list[int]:
    """Send the records keyed by stream id; -> the partition each landed in."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        return [(await producer.send_and_wait(TOPIC, value, key=key.encode())).partition
                for key, value in records]
    finally:
        await producer.stop()


@dataclass
class Replica:
    name: str
    threads: int
    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path
    spawned: float  # time.monotonic() at process start


def start_replica(args: argparse.Namespace, bootstrap: str, workdir: Path, name: str,
                  threads: int) -> Replica:
    from ingest.broker import free_port

    port, metrics_port = free_port(), free_port()
    # Windows are produced once, before phase 1; the default 300 s retention could expire
    # them before phase 2's replicas read them on a slow machine.
    env = dict(os.environ, MOCHAT_LLM_FEATURES_ENCODER=ENCODER,
               MOCHAT_LLM_STORE_MAX_AGE_S="3600")
    cmd = [sys.executable, "-m", "mochat", "serve", "llm", "--model", str(args.model),
           "--host", "127.0.0.1", "--port", str(port), "--insecure",
           "--metrics-port", str(metrics_port), "--bootstrap-servers", bootstrap,
           "--features-topic", TOPIC, "--start-from", "earliest",
           "--torch-threads", str(threads), "--max-batch", str(args.clients),
           "--max-new-tokens", str(args.max_new_tokens)]
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Replica(name, threads, proc, port, metrics_port, log, time.monotonic())


async def catch_up(replica: Replica, windows: int, timeout_s: float) -> dict[str, Any]:
    """Wait for SERVING, then for the store to hold `windows` windows."""
    await asyncio.to_thread(INGEST.wait_for_line, replica.log, '"event": "serving"',
                            replica.proc, timeout_s)
    serving = time.monotonic()
    deadline = serving + timeout_s
    while (stored := INGEST.scrape(replica.metrics_port, "mochat_llm_store_windows")) < windows:
        if time.monotonic() > deadline or replica.proc.poll() is not None:
            break  # reported as fewer windows stored than produced
        await asyncio.sleep(CATCH_UP_POLL_S)
    caught_up = time.monotonic()
    return {"replica": replica.name, "torch_threads": replica.threads,
            "startup_s": serving - replica.spawned, "catch_up_s": caught_up - serving,
            "windows_stored": int(stored),
            "records_read": int(INGEST.scrape(replica.metrics_port,
                                              "mochat_llm_feature_records_total")),
            "store_mb": INGEST.scrape(replica.metrics_port, "mochat_llm_store_bytes") / 1e6}


async def answerable(stub: Any, streams: list[str]) -> int:
    """Streams this replica opens a session on (NOT_FOUND: no window of it stored)."""
    import grpc

    from protos.mochat.v1 import llm_pb2

    found = 0
    for stream in streams:
        try:
            session = await stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id=stream),
                                               timeout=30)
        except grpc.aio.AioRpcError as err:
            if err.code() is not grpc.StatusCode.NOT_FOUND:
                raise
            continue
        found += 1
        await stub.EndSession(llm_pb2.EndSessionRequest(session_id=session.session_id),
                              timeout=30)
    return found


def summary(seconds: list[float], batches: list[int], wall_s: float, cpu_s: float
            ) -> dict[str, Any]:
    n = len(seconds)
    return {"questions": n, "questions_per_s": n / wall_s,
            "total_p50_s": LLM.percentile(seconds, 50), "total_p99_s": LLM.percentile(seconds, 99),
            "mean_batch": float(np.mean(batches)) if batches else float("nan"),
            "cpu_s": cpu_s, "cpu_s_per_question": cpu_s / n if n else float("nan")}


async def closed_loop(stubs: list[Any], pids: list[int], clients: int, rounds: int,
                      streams: int) -> dict[str, Any]:
    """`clients` closed-loop clients, client c on replica c mod len(stubs), about cam{c}."""
    seconds: list[list[float]] = [[] for _ in stubs]
    batches: list[list[int]] = [[] for _ in stubs]

    async def client(c: int) -> None:
        k = c % len(stubs)
        for r in range(rounds):  # bench/llm_service.py's throughput phase
            questions = LLM.CAPTION if (c + r) % 2 == 0 else LLM.GROUNDING
            answer, took = await LLM.ask(stubs[k], f"cam{c % streams}", questions[r % 2])
            seconds[k].append(took)
            batches[k].append(answer.latency.batch_size)

    cpu0 = [INGEST.cpu_seconds(pid) for pid in pids]
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - started
    cpu = [INGEST.cpu_seconds(pid) - c0 for pid, c0 in zip(pids, cpu0, strict=True)]
    return {"wall_s": wall,
            "per_replica": [summary(s, b, wall, c) for s, b, c in zip(seconds, batches, cpu,
                                                                       strict=True)],
            "total": summary(sum(seconds, []), sum(batches, []), wall, sum(cpu))}


async def phase(args: argparse.Namespace, bootstrap: str, workdir: Path, tag: str,
                threads: list[int]) -> dict[str, Any]:
    """Replicas with these torch threads, started together: catch-up, then the load."""
    import grpc

    from protos.mochat.v1 import llm_pb2_grpc

    streams = stream_ids(args.streams)
    replicas: list[Replica] = []
    try:
        for k, t in enumerate(threads):
            replicas.append(start_replica(args, bootstrap, workdir, f"{tag}-r{k}", t))
        ready = await asyncio.gather(*(catch_up(r, len(streams), args.start_timeout_s)
                                       for r in replicas))
        async with contextlib.AsyncExitStack() as stack:
            channels = [await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{r.port}")) for r in replicas]
            stubs = [llm_pb2_grpc.LlmServiceStub(ch) for ch in channels]
            for info, stub in zip(ready, stubs, strict=True):
                info["streams_answerable"] = await answerable(stub, streams)
            for stub in stubs:
                await LLM.ask(stub, WARMUP, LLM.CAPTION[0])
            load = await closed_loop(stubs, [r.proc.pid for r in replicas], args.clients,
                                     args.rounds, args.streams)
        rss = [INGEST.rss_mb(r.proc.pid) for r in replicas]
    finally:
        for r in replicas:
            INGEST.stop(r.proc)
    for info, per, mb in zip(ready, load["per_replica"], rss, strict=True):
        info.update(per, rss_mb=mb)
    load["total"]["rss_mb"] = sum(rss)
    return {"replicas": len(threads), "torch_threads_each": threads[0],
            "windows_produced": len(streams), "per_replica": ready, "total": load["total"],
            "wall_s": load["wall_s"]}


async def run(args: argparse.Namespace, feats: list[np.ndarray], layout: str
              ) -> dict[str, Any]:
    from ingest.broker import LocalBroker

    streams = stream_ids(args.streams)
    now_us = int(time.time() * 1e6)
    records = [(s, features_record(s, f, layout, now_us))
               for s, f in zip(streams, feats, strict=True)]
    with tempfile.TemporaryDirectory() as tmp, \
            LocalBroker(topics={TOPIC: args.partitions}) as broker:
        landed = await produce(broker.bootstrap_servers, records)
        spread = np.bincount(landed, minlength=args.partitions).tolist()
        print(f"produced {len(records)} windows, records per partition {spread}", flush=True)
        results: dict[str, Any] = {"records_per_partition": spread}
        for key, threads in (("one_replica", [args.threads]),
                             ("two_replicas", [max(args.threads // 2, 1)] * 2)):
            results[key] = await phase(args, broker.bootstrap_servers, Path(tmp), key,
                                       threads)
            print(key, json.dumps(results[key]), flush=True)
    one, two = results["one_replica"]["total"], results["two_replicas"]["total"]
    results["two_vs_one_questions_per_s"] = two["questions_per_s"] / one["questions_per_s"]
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "mochat-smollm2-synth")
    p.add_argument("--streams", type=int, default=8, help="windows asked about, one each")
    p.add_argument("--clients", type=int, default=8, help="closed-loop clients")
    p.add_argument("--rounds", type=int, default=4, help="questions per client")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads of the one replica; each of two gets half")
    p.add_argument("--partitions", type=int, default=4, help="of the features topic")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--start-timeout-s", type=float, default=300.0,
                   help="for a replica's SERVING, and again for its catch-up")
    args = p.parse_args()
    if not (args.model / "mochat_config.json").is_file():
        p.error(f"{args.model}: not a MoChat checkpoint (the replicas serve it)")
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    feats, layout = encode_windows(args.model, args.streams + 1)
    results = asyncio.run(run(args, feats, layout))
    results.update(model=str(args.model.relative_to(REPO) if args.model.is_relative_to(REPO)
                              else args.model),
                   cores=os.cpu_count(), machine=platform.processor() or platform.machine(),
                   streams=args.streams, clients=args.clients, rounds=args.rounds,
                   partitions=args.partitions, max_new_tokens=args.max_new_tokens,
                   frames=LLM.FRAMES, load_average=[load0, os.getloadavg()[0]],
                   seconds=time.perf_counter() - started)
    print(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


def markdown(r: dict[str, Any]) -> str:
    """The table and the scale-out reading for BENCHMARKS.md."""
    one, two = r["one_replica"], r["two_replicas"]
    lines = [f"`{' '.join(['.venv/bin/python', 'bench/llm_replicas.py', *sys.argv[1:]])}`",
             "",
             f"Both phases on **one {r['cores']}-core node** ({r['machine']}; 1-minute load "
             f"average {r['load_average'][0]:.1f} at the start, {r['load_average'][1]:.1f} at "
             "the end, other jobs included): the two replicas share its cores, so no gain "
             "from CPU is expected. What the run shows is that every replica holds every "
             "window, and what one replica's figures are when it has the cores to itself.",
             "",
             f"| replicas | torch threads each | replica | windows stored (of "
             f"{one['windows_produced']}) | streams answerable | startup s | catch-up s | "
             "questions | questions/s | answer p50 | answer p99 | server CPU-s / question | "
             "RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ph in (one, two):
        rows = [(v["replica"], v) for v in ph["per_replica"]]
        if ph["replicas"] > 1:
            rows.append(("**total**", ph["total"]))
        for name, v in rows:
            held = (f"{v['windows_stored']} | {v['streams_answerable']} | "
                    f"{v['startup_s']:.1f} | {v['catch_up_s']:.2f}") if "replica" in v \
                else "- | - | - | -"
            lines.append(
                f"| {ph['replicas']} | {ph['torch_threads_each']} | {name} | {held} | "
                f"{v['questions']} | {v['questions_per_s']:.2f} | {v['total_p50_s']:.2f} s | "
                f"{v['total_p99_s']:.2f} s | {v['cpu_s_per_question']:.2f} | "
                f"{v['rss_mb']:.0f} |")
    q1, store_mb = one["total"]["questions_per_s"], one["per_replica"][0]["store_mb"]
    lines += ["",
              f"Two replicas on the shared node: {r['two_vs_one_questions_per_s']:.2f}x the "
              "one replica's questions/s; server CPU-seconds per question "
              f"{one['total']['cpu_s_per_question']:.2f} with one replica, "
              f"{two['total']['cpu_s_per_question']:.2f} with two. Windows: "
              f"{one['windows_produced']} (10 s each, {store_mb:.2f} MB of features in each "
              f"replica's store), keyed by stream over {r['partitions']} partitions "
              f"({r['records_per_partition']} records).",
              "On N nodes like this one, one replica each, clients spread over them: about "
              f"N x {q1:.2f} questions/s (one replica's rate with this node's cores to "
              "itself, other jobs aside; a question needs no other replica), while every "
              "replica still reads the whole topic and stores every window "
              f"({store_mb:.2f} MB here, the same on each node): broker reads grow N-fold "
              "and no replica's store shrinks."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
