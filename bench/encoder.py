"""Skeleton encoder throughput: PyTorch eager vs ONNX Runtime, side by side in one run.

    .venv/bin/python bench/encoder.py [--kind jgse] [--size small] [--checkpoint DIR]

For windows of 64 and 196 frames at batch 1 and 8 it reports windows/s, p50/p99 latency
of one call and the achieved GFLOP/s (analytic matmul FLOPs, `encoder_flops`, checked
against torch.utils.flop_counter in tests/models) next to this machine's fp32 matmul
peak, measured here with a large torch matmul on the same threads. Every thread count
in --threads gets its own table (both runtimes use that many intra-op threads). With
--int8 a third runtime is timed: the same ONNX model with dynamically quantised int8
matmul weights (onnxruntime.quantization), whose max error vs fp32 is printed. With
--baseline-view VIEW the same encoder reading VIEW instead of its own views is exported and
timed too (e.g. the paper's first_frame against the shipped checkpoint's lagged view).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mochat.export.onnx import export_onnx, ort_session
from mochat.models import build_encoder, encoder_config, load_encoder
from mochat.models.encoder import (
    SkeletonEncoder,
    count_parameters,
    encoder_flops,
    with_views,
)
from mochat.skeleton import get_layout

WINDOWS = (64, 196)
BATCHES = (1, 8)


def matmul_peak_gflops(size: int = 2048, seconds: float = 2.0) -> float:
    """Best fp32 GFLOP/s of a (size x size) @ (size x size) torch matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def time_calls(call: Callable[[], object], seconds: float, min_calls: int = 10) -> np.ndarray:
    """Latencies (s) of repeated calls after a warm-up, for about `seconds`."""
    for _ in range(5):
        call()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < min_calls:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return np.array(times)


def bench(model: SkeletonEncoder, runtimes: dict[str, Path], seconds: float, threads: int
          ) -> list[dict]:
    """Time eager torch and one ORT session per entry of `runtimes` (name -> .onnx)."""
    torch.set_num_threads(threads)
    sessions = {name: ort_session(path, intra_op_threads=threads)
                for name, path in runtimes.items()}
    rows = []
    for frames in WINDOWS:
        for batch in BATCHES:
            joints = torch.randn(batch, frames, model.layout.num_joints, 3)
            mask = torch.ones(batch, frames, dtype=torch.bool)
            feeds = {"joints": joints.numpy(), "mask": mask.numpy()}

            def eager(joints: torch.Tensor = joints, mask: torch.Tensor = mask) -> object:
                with torch.inference_mode():
                    return model(joints, mask)

            calls: dict[str, Callable[[], object]] = {"torch eager": eager}
            for name, session in sessions.items():
                calls[name] = lambda session=session, feeds=feeds: session.run(None, feeds)
            flops = encoder_flops(model.config, model.num_tokens, batch, frames)
            for runtime, call in calls.items():
                lat = time_calls(call, seconds)
                rows.append({"runtime": runtime, "threads": threads, "frames": frames,
                             "batch": batch, "windows_per_s": batch / lat.mean(),
                             "p50_ms": 1e3 * float(np.percentile(lat, 50)),
                             "p99_ms": 1e3 * float(np.percentile(lat, 99)),
                             "gflops": flops / lat.mean() / 1e9, "calls": len(lat),
                             "gflop_per_call": flops / 1e9})
    return rows


def int8_error(fp32: Path, int8: Path, model: SkeletonEncoder) -> float:
    """Max |int8 - fp32| ONNX Runtime output on a ragged (4, 64) batch."""
    joints = torch.randn(4, 64, model.layout.num_joints, 3).numpy()
    feeds = {"joints": joints, "mask": np.ones((4, 64), dtype=bool)}
    a = ort_session(fp32).run(None, feeds)[0]
    b = ort_session(int8).run(None, feeds)[0]
    return float(np.abs(a - b).max())


def markdown(rows: list[dict], peak: float) -> str:
    lines = ["| frames | batch | runtime | windows/s | p50 ms | p99 ms | GFLOP/s | % of peak "
             "| speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    eager = {(r["frames"], r["batch"]): r["windows_per_s"] for r in rows
             if r["runtime"] == "torch eager"}
    for r in rows:
        speedup = r["windows_per_s"] / eager[(r["frames"], r["batch"])]
        lines.append(f"| {r['frames']} | {r['batch']} | {r['runtime']} | "
                     f"{r['windows_per_s']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% | {speedup:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="jgse")
    parser.add_argument("--size", default="small")
    parser.add_argument("--layout", default="smpl22")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="encoder checkpoint (default: a randomly initialised --size model)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per cell")
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}",
                        help="comma-separated intra-op thread counts, one table each")
    parser.add_argument("--int8", action="store_true",
                        help="also time a dynamically int8-quantised copy of the ONNX model")
    parser.add_argument("--baseline-view", default=None,
                        help="also time the ONNX export of the same encoder in this view")
    parser.add_argument("--json", type=Path, default=None, help="also write raw rows here")
    args = parser.parse_args()

    torch.manual_seed(0)
    if args.checkpoint:
        model = load_encoder(args.checkpoint)
    else:
        model = build_encoder(args.kind, encoder_config(args.size), get_layout(args.layout))
    model = model.eval()
    import onnxruntime

    print(f"# {model.kind} {args.checkpoint or args.size}: {count_parameters(model) / 1e6:.2f}M "
          f"parameters, feature dim {model.feature_dim}; {os.cpu_count()} CPUs, "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print(f"# {platform.machine()}, torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__}")
    report: dict = {"tables": []}
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = {"onnxruntime": export_onnx(model, Path(tmp) / "encoder.onnx")}
        if args.int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = Path(tmp) / "encoder.int8.onnx"
            quantize_dynamic(str(runtimes["onnxruntime"]), str(int8),
                             weight_type=QuantType.QInt8)
            err = int8_error(runtimes["onnxruntime"], int8, model)
            runtimes["onnxruntime int8"] = int8
            print(f"# int8 dynamic quantisation: max abs error vs fp32 {err:.4f}")
            report["int8_max_abs_err"] = err
        if args.baseline_view:
            baseline = with_views(model, [args.baseline_view]).eval()
            runtimes[f"onnxruntime, {args.baseline_view} view"] = export_onnx(
                baseline, Path(tmp) / "baseline.onnx")
            print(f"# views {list(model.config.views)}; baseline view {args.baseline_view}")
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            peak = matmul_peak_gflops()
            rows = bench(model, runtimes, args.seconds, threads)
            print(f"\n## {threads} thread(s): measured fp32 matmul peak (2048^3 torch matmul) "
                  f"{peak:.1f} GFLOP/s\n")
            print(markdown(rows, peak))
            report["tables"].append({"threads": threads, "peak_gflops": peak, "rows": rows})
    print(f"# load average at end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
