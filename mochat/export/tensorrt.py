"""Build a TensorRT engine from the exported ONNX encoder (needs `tensorrt` and a GPU).

Written against the TensorRT 8.6/10 Python API: Builder -> explicit-batch network ->
OnnxParser -> one optimisation profile spanning the dynamic batch and frame axes ->
serialized plan. Where `tensorrt` cannot be imported the builder raises
TensorRTUnavailableError with an install hint; nothing here has a CPU fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mochat.errors import MoChatError
from mochat.export.sidecar import (
    INPUT_JOINTS,
    INPUT_MASK,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)

INSTALL_HINT = ("TensorRT is not installed: `mochat export tensorrt` needs an NVIDIA GPU "
                "machine with the `tensorrt` Python package (pip install tensorrt); "
                "the ONNX model runs without it under ONNX Runtime")


class TensorRTUnavailableError(MoChatError, ImportError):
    """`tensorrt` cannot be imported on this machine."""


class TensorRTBuildError(MoChatError, RuntimeError):
    """TensorRT rejected the ONNX model or failed to build an engine."""


@dataclass(frozen=True)
class ShapeProfile:
    """Batch and frame ranges the engine accepts: (min, opt, max) each."""

    batch: tuple[int, int, int] = (1, 1, 8)
    frames: tuple[int, int, int] = (1, 64, 196)


def import_tensorrt():  # -> module
    try:
        import tensorrt as trt
    except ImportError as err:
        raise TensorRTUnavailableError(f"{INSTALL_HINT} ({err})") from None
    return trt


def build_engine(onnx_path: str | Path, out_path: str | Path, *, fp16: bool = False,
                 profile: ShapeProfile | None = None, workspace_mib: int = 1024) -> Path:
    """Parse `onnx_path`, build an engine for `profile` and write the serialized plan."""
    trt = import_tensorrt()
    sidecar = read_sidecar(onnx_path)
    profile = profile or ShapeProfile(frames=(1, min(64, sidecar.max_frames),
                                              sidecar.max_frames))
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # implicit in TRT 10
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTBuildError(f"{onnx_path}: TensorRT could not parse the model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if fp16:
        if not builder.platform_has_fast_fp16:
            raise TensorRTBuildError("--fp16 asked for, but this GPU has no fast fp16")
        config.set_flag(trt.BuilderFlag.FP16)
    opt = builder.create_optimization_profile()
    j = sidecar.num_joints
    (b0, b1, b2), (t0, t1, t2) = profile.batch, profile.frames
    opt.set_shape(INPUT_JOINTS, (b0, t0, j, 3), (b1, t1, j, 3), (b2, t2, j, 3))
    opt.set_shape(INPUT_MASK, (b0, t0), (b1, t1), (b2, t2))
    config.add_optimization_profile(opt)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTBuildError(f"{onnx_path}: TensorRT failed to build an engine")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(plan))
    if sidecar_path(out) != sidecar_path(onnx_path):
        write_sidecar(sidecar, out)
    return out
