"""Encoder service on loopback: dynamic batching on vs off vs in-process ONNX Runtime.

    .venv/bin/python bench/encoder_service.py [--size small] [--clients 64] [--max-batch 8]

Exports a JGSE encoder (random weights: throughput does not depend on their values) in a
subprocess, then, in one run, modes interleaved over `--rounds` rounds:
1. ceiling: the service's ONNX Runtime backend called in this process on pre-normalised
   (B, 64, 22, 3) batches, B in 1, 8 and max_batch; the best B is the ceiling;
2. `mochat serve encoder` as separate processes (python -m encoder_service), one with
   dynamic batching and one with --no-batching; `--clients` concurrent grpc.aio clients each
   send unary Encode requests of one 64-frame SMPL-22 window in a closed loop.
Reports windows/s and p50/p99 latency (of one request, or of one batch in-process), plus the
mean batch the server ran (from its /metrics). Server and clients share this machine's
cores; the load average before and after is printed with the results. Because wall-clock
rates on a shared machine depend on each process's share of the CPU, windows per CPU-second
(server + client processes, from /proc) is reported too: the service's overhead measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from protos.convert import array_to_proto
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc, frames_pb2

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this file's directory comes first on sys.path and its name would shadow
# the `encoder_service` package imported below; put the repository there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)
FRAMES = 64


def export_model(size: str, out: Path) -> Path:
    """Export JGSE of `size` in a subprocess, so this process stays torch-free."""
    code = ("import torch, sys\n"
            "from mochat.export.onnx import export_onnx\n"
            "from mochat.models import build_encoder, encoder_config\n"
            "from mochat.skeleton import SMPL22\n"
            "torch.manual_seed(0)\n"
            f"export_onnx(build_encoder('jgse', encoder_config({size!r}), SMPL22), {str(out)!r})\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    return out


def make_windows(count: int) -> list[frames_pb2.MotionWindow]:
    rng = np.random.default_rng(0)
    windows = []
    for i in range(count):
        joints = rng.normal(0.0, 0.3, size=(FRAMES, 22, 3)).astype(np.float32)
        w = frames_pb2.MotionWindow(stream_id=f"bench{i}", window_id=f"bench{i}:0",
                                    first_frame=0, last_frame=FRAMES - 1, fps=20.0,
                                    layout="smpl22")
        array_to_proto(joints, w.joints)
        windows.append(w)
    return windows


def percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    arr = np.asarray(latencies_s) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


class InProcess:
    """The ceiling: the service's ORT backend called directly on ready (B, 64, 22, 3) batches."""

    def __init__(self, model: Path, batch: int, threads: int) -> None:
        from encoder_service.backends import OnnxRuntimeBackend
        from mochat.skeleton import SMPL22, normalize, pad_batch

        self.batch = batch
        self.backend = OnnxRuntimeBackend(model, device="cpu", intra_op_threads=threads)
        rng = np.random.default_rng(1)
        self.x, self.mask = pad_batch([normalize(rng.normal(0, 0.3, (FRAMES, 22, 3)), SMPL22)
                                       for _ in range(batch)])
        for _ in range(3):
            self.backend.run(self.x, self.mask)

    def run_for(self, seconds: float) -> tuple[int, list[float]]:
        times: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            self.backend.run(self.x, self.mask)
            times.append(time.perf_counter() - start)
        return self.batch * len(times), times


def start_server(model: Path, args: argparse.Namespace, batching: bool
                 ) -> tuple[subprocess.Popen[str], int, int]:
    cmd = [sys.executable, "-m", "encoder_service", "--model", str(model), "--port", "0",
           "--metrics-port", "0", "--max-batch", str(args.max_batch), "--max-delay-ms",
           str(args.max_delay_ms), "--max-queue-windows", str(4 * args.clients),
           "--intra-op-threads", str(args.threads), "--log-level", "info",
           "--insecure"]  # loopback, development mode
    if not batching:
        cmd.append("--no-batching")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        record = json.loads(line)
        if record["event"] == "serving":
            return proc, int(record["port"]), int(record["metrics_port"])
    raise RuntimeError(f"server exited with {proc.wait()} before serving")


def scrape_mean_batch(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("mochat_encoder_batch_windows_"):
            name, value = line.split()
            values[name] = float(value)
    count = values.get("mochat_encoder_batch_windows_count", 0.0)
    return values.get("mochat_encoder_batch_windows_sum", 0.0) / count if count else 0.0


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def drive(port: int, windows: list[frames_pb2.MotionWindow], clients: int,
                warmup_s: float, seconds: float, server_pid: int | None = None
                ) -> tuple[int, list[float], float, float]:
    """Closed-loop clients; returns (windows done, latencies, measured seconds, CPU seconds
    of clients and server over the measured interval)."""
    requests = [encoder_pb2.EncodeRequest(windows=[w], request_id=w.window_id)
                for w in windows]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(4)]
    stubs = [encoder_pb2_grpc.EncoderServiceStub(c) for c in channels]
    latencies: list[float] = []
    done = 0
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + warmup_s
    stop_at = measure_from + seconds

    cpu: dict[str, float] = {}

    async def sample_cpu() -> None:  # CPU of both processes, over the measured interval
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        cpu["start"] = time.process_time() + (process_cpu_s(server_pid) if server_pid else 0)
        await asyncio.sleep(max(0.0, stop_at - loop.time()))
        cpu["end"] = time.process_time() + (process_cpu_s(server_pid) if server_pid else 0)

    async def client(i: int) -> None:
        nonlocal done
        stub, request = stubs[i % len(stubs)], requests[i % len(requests)]
        while (now := loop.time()) < stop_at:
            await stub.Encode(request)
            if now >= measure_from:
                latencies.append(loop.time() - now)
                done += 1

    await asyncio.gather(sample_cpu(), *(client(i) for i in range(clients)))
    for channel in channels:
        await channel.close()
    return done, latencies, seconds, cpu["end"] - cpu["start"]


@dataclass
class Tally:
    windows: int = 0
    latencies_s: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0  # CPU time of every process involved (server + clients)

    def add(self, windows: int, latencies_s: list[float], seconds: float, cpu_s: float) -> None:
        self.windows += windows
        self.latencies_s += latencies_s
        self.seconds += seconds
        self.cpu_s += cpu_s

    def row(self, mode: str, mean_batch: float) -> dict:
        p50, p99 = percentiles_ms(self.latencies_s)
        return {"mode": mode, "windows_per_s": self.windows / self.seconds, "p50_ms": p50,
                "p99_ms": p99, "mean_batch": mean_batch,
                "windows_per_cpu_s": self.windows / self.cpu_s}


def run_rounds(model: Path, args: argparse.Namespace) -> list[dict]:
    """Modes interleaved round by round, so load from other processes hits all alike.

    The ceiling is in-process ORT at its best batch size among 1, 8 and max_batch (on a CPU
    a larger batch is not always faster per window).
    """
    sizes = sorted({1, 8, args.max_batch})
    ceilings = {b: InProcess(model, b, args.threads) for b in sizes}
    servers = {on: start_server(model, args, batching=on) for on in (True, False)}
    windows = make_windows(args.clients)
    tallies = {key: Tally() for key in (*sizes, "on", "off")}
    try:
        for _, port, _ in servers.values():  # warm each server once
            asyncio.run(drive(port, windows, args.clients, 0.0, args.warmup))
        for _ in range(args.rounds):
            for b, ceiling in ceilings.items():
                cpu = time.process_time()
                done, times = ceiling.run_for(args.seconds / 2)
                tallies[b].add(done, times, sum(times), time.process_time() - cpu)
            for on, (proc, port, _) in servers.items():
                done, latencies, seconds, cpu_s = asyncio.run(
                    drive(port, windows, args.clients, 0.5, args.seconds, proc.pid))
                tallies["on" if on else "off"].add(done, latencies, seconds, cpu_s)
        batches = {on: scrape_mean_batch(metrics_port)
                   for on, (_, _, metrics_port) in servers.items()}
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    rows = [tallies[b].row(f"in-process ORT, batch {b}", float(b)) for b in sizes]
    return [*rows,
            tallies["on"].row(f"server, batching on (max_batch {args.max_batch}, "
                              f"{args.max_delay_ms} ms)", batches[True]),
            tallies["off"].row("server, batching off", batches[False])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=("tiny", "small", "paper"))
    parser.add_argument("--model", type=Path, help="an exported encoder.onnx (skips export)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0, help="per mode and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-delay-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1,
                        help="ORT intra-op threads, ceiling and servers alike (0 = all cores)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or export_model(args.size, Path(tmp) / "encoder.onnx")
        load_before = os.getloadavg()[0]
        rows = run_rounds(model, args)
        load_after = os.getloadavg()[0]
    ceiling = max(r["windows_per_s"] for r in rows if r["mode"].startswith("in-process"))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"JGSE {args.size if not args.model else args.model}, {FRAMES}-frame SMPL-22 "
          f"windows, {args.clients} clients, {args.rounds} rounds x {args.seconds:.0f} s per "
          f"mode; load average {load_before:.1f} before, {load_after:.1f} after")
    cpu_ceiling = max(r["windows_per_cpu_s"] for r in rows
                      if r["mode"].startswith("in-process"))
    print("| mode | windows/s | % of best in-process | windows per CPU-s | % of best "
          "in-process | p50 ms | p99 ms | mean batch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        r["fraction_of_ceiling"] = r["windows_per_s"] / ceiling
        r["cpu_fraction_of_ceiling"] = r["windows_per_cpu_s"] / cpu_ceiling
        print(f"| {r['mode']} | {r['windows_per_s']:.0f} | {100 * r['fraction_of_ceiling']:.0f}% "
              f"| {r['windows_per_cpu_s']:.0f} | {100 * r['cpu_fraction_of_ceiling']:.0f}% "
              f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['mean_batch']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "load_average": [load_before, load_after],
                                         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
