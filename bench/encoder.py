"""Skeleton encoder throughput: PyTorch eager vs ONNX Runtime, side by side in one run.

    .venv/bin/python bench/encoder.py [--kind jgse] [--size small] [--checkpoint DIR]

For windows of 64 and 196 frames at batch 1 and 8 it reports windows/s, p50/p99 latency
of one call and the achieved GFLOP/s (analytic matmul FLOPs, `encoder_flops`, checked
against torch.utils.flop_counter in tests/models) next to this machine's fp32 matmul
peak, measured here with a large torch matmul on the same threads.
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
from mochat.models.encoder import SkeletonEncoder, count_parameters, encoder_flops
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


def time_calls(call: Callable[[], object], seconds: float, min_calls: int = 20) -> np.ndarray:
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


def bench(model: SkeletonEncoder, onnx_path: Path, seconds: float, threads: int) -> list[dict]:
    session = ort_session(onnx_path, intra_op_threads=threads)
    rows = []
    for frames in WINDOWS:
        for batch in BATCHES:
            joints = torch.randn(batch, frames, model.layout.num_joints, 3)
            mask = torch.ones(batch, frames, dtype=torch.bool)
            feeds = {"joints": joints.numpy(), "mask": mask.numpy()}

            def eager(joints: torch.Tensor = joints, mask: torch.Tensor = mask) -> object:
                with torch.inference_mode():
                    return model(joints, mask)

            def onnx(feeds: dict = feeds) -> object:
                return session.run(None, feeds)

            flops = encoder_flops(model.config, model.num_tokens, batch, frames)
            for runtime, call in (("torch eager", eager), ("onnxruntime", onnx)):
                lat = time_calls(call, seconds)
                rows.append({"runtime": runtime, "frames": frames, "batch": batch,
                             "windows_per_s": batch / lat.mean(),
                             "p50_ms": 1e3 * float(np.percentile(lat, 50)),
                             "p99_ms": 1e3 * float(np.percentile(lat, 99)),
                             "gflops": flops / lat.mean() / 1e9, "calls": len(lat),
                             "gflop_per_call": flops / 1e9})
    return rows


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
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per cell")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="intra-op threads for both runtimes")
    parser.add_argument("--json", type=Path, default=None, help="also write raw rows here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        model = load_encoder(args.checkpoint)
    else:
        model = build_encoder(args.kind, encoder_config(args.size), get_layout(args.layout))
    model = model.eval()
    peak = matmul_peak_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model, Path(tmp) / "encoder.onnx")
        rows = bench(model, onnx_path, args.seconds, args.threads)
    import onnxruntime

    print(f"# {model.kind} {args.size if not args.checkpoint else args.checkpoint}: "
          f"{count_parameters(model) / 1e6:.2f}M parameters, feature dim {model.feature_dim}")
    print(f"# {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")
    print(f"# measured fp32 matmul peak (2048^3 torch matmul): {peak:.1f} GFLOP/s")
    print(markdown(rows, peak))
    if args.json:
        args.json.write_text(json.dumps({"peak_gflops": peak, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
