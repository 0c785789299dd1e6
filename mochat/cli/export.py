"""`mochat export onnx|tensorrt`: turn an encoder checkpoint into a serving artifact."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export the skeleton encoder (ONNX, TensorRT)")
    sub = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")

    onnx = sub.add_parser("onnx", help="export an encoder checkpoint to ONNX")
    onnx.add_argument("--checkpoint", required=True, type=Path,
                      help="encoder checkpoint directory, or a MoChat checkpoint with encoder/")
    onnx.add_argument("--out", required=True, type=Path, help="output .onnx path")
    onnx.add_argument("--opset", type=int, default=18, help="ONNX opset version")
    onnx.add_argument("--no-check", action="store_true",
                      help="skip the torch vs ONNX Runtime parity check")
    onnx.add_argument("--int8", action="store_true",
                      help="also write OUT with .int8.onnx: int8 matmul weights (CPU speed-up; "
                           "not checked against the 1e-4 parity bar: its max abs error vs "
                           "torch on the parity inputs is printed; 0.32 on the shipped "
                           "encoder, whose features have std ~1, mean error 0.018)")
    onnx.set_defaults(func=_run_onnx)

    trt = sub.add_parser("tensorrt", help="build a TensorRT engine from an exported ONNX model")
    trt.add_argument("--onnx", required=True, type=Path,
                     help="exported .onnx model (its .json sidecar beside it)")
    trt.add_argument("--out", required=True, type=Path, help="output .plan path")
    trt.add_argument("--fp16", action="store_true", help="allow fp16 kernels")
    trt.add_argument("--max-batch", type=int, default=8,
                     help="largest batch of the engine's shape profile")
    trt.add_argument("--opt-frames", type=int, default=64,
                     help="frames the engine is tuned for (at most the model's max_frames)")
    trt.set_defaults(func=_run_tensorrt)


def _run_onnx(args: argparse.Namespace) -> int:
    from mochat.export.onnx import PARITY_TOLERANCE, check_parity, export_onnx, quantize_int8
    from mochat.export.sidecar import sidecar_path
    from mochat.models import load_encoder

    model = load_encoder(args.checkpoint)
    out = export_onnx(model, args.out, opset=args.opset)
    print(f"wrote {out} and {sidecar_path(out)}")  # noqa: T201
    if not args.no_check:
        report = check_parity(model, out)
        shapes = list(report.shapes)
        print(f"parity vs torch on (batch, frames) {shapes}: max abs err "  # noqa: T201
              f"{report.max_abs_err:.2e} (tolerance {PARITY_TOLERANCE:.0e})")
        if not report.ok:
            print("mochat export: error: parity check failed", file=sys.stderr)  # noqa: T201
            return 1
    if args.int8:
        int8 = quantize_int8(out, out.with_suffix(".int8.onnx"))
        err = check_parity(model, int8).max_abs_err
        print(f"wrote {int8}: int8 weights, max abs err vs torch {err:.2e}")  # noqa: T201
    return 0


def _run_tensorrt(args: argparse.Namespace) -> int:
    from mochat.export.sidecar import read_sidecar
    from mochat.export.tensorrt import ShapeProfile, build_engine

    max_frames = read_sidecar(args.onnx).max_frames
    profile = ShapeProfile(batch=(1, 1, args.max_batch),
                           frames=(1, min(args.opt_frames, max_frames), max_frames))
    out = build_engine(args.onnx, args.out, fp16=args.fp16, profile=profile)
    print(f"wrote {out}")  # noqa: T201
    return 0
