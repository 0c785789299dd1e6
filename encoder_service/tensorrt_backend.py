"""TensorRT backend: runs a serialized engine built from the exported ONNX (no torch).

Needs the `tensorrt` (10.x) and `cuda-python` packages and a CUDA GPU; without them the
constructor raises BackendUnavailableError with what is missing, so startup fails clearly.
Device buffers are allocated once for the engine profile's largest shapes, which also
cap the service's batch size and window length (`max_batch`, `max_frames`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoder_service.errors import BackendUnavailableError
from mochat.errors import ConfigError
from mochat.export.sidecar import INPUT_JOINTS, INPUT_MASK, OUTPUT_FEATURES

_INSTALL_HINT = ("the TensorRT backend needs the `tensorrt` (10.x) and `cuda-python` packages "
                 "and a CUDA GPU; install them on a GPU host or serve the .onnx model with "
                 "--backend onnxruntime")


def _import_tensorrt() -> tuple[Any, Any]:
    try:
        import tensorrt as trt
    except ImportError as err:
        raise BackendUnavailableError(f"{_INSTALL_HINT} (import tensorrt: {err})") from None
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError as err:
            raise BackendUnavailableError(f"{_INSTALL_HINT} (import cuda: {err})") from None
    return trt, cudart


def _check(result: Any) -> Any:
    """cuda-python returns (error, value...) tuples; raise on a non-zero error."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    return rest[0] if len(rest) == 1 else rest


class TensorRTBackend:
    name = "tensorrt"
    max_batch: int | None
    max_frames: int | None

    def __init__(self, engine_path: Path, *, num_joints: int, feature_dim: int) -> None:
        trt, self._cudart = _import_tensorrt()
        logger = trt.Logger(trt.Logger.WARNING)
        self._engine = trt.Runtime(logger).deserialize_cuda_engine(engine_path.read_bytes())
        if self._engine is None:
            raise ConfigError(f"{engine_path}: TensorRT could not deserialize the engine "
                              "(built by another TensorRT version or for another GPU?)")
        names = {self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)}
        if not {INPUT_JOINTS, OUTPUT_FEATURES} <= names:
            raise ConfigError(f"{engine_path}: engine tensors {sorted(names)} lack "
                              f"{INPUT_JOINTS!r} / {OUTPUT_FEATURES!r}")
        self._has_mask = INPUT_MASK in names
        _, _, max_shape = self._engine.get_tensor_profile_shape(INPUT_JOINTS, 0)
        self.max_batch, self.max_frames = int(max_shape[0]), int(max_shape[1])
        if max_shape[2] != num_joints:
            raise ConfigError(f"{engine_path}: engine takes {max_shape[2]} joints, the sidecar "
                              f"says {num_joints}")
        max_batch, max_frames = int(max_shape[0]), int(max_shape[1])
        self._context = self._engine.create_execution_context()
        self._stream = _check(self._cudart.cudaStreamCreate())
        self._mask_dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(INPUT_MASK))
                                    if self._has_mask else np.bool_)
        sizes = {INPUT_JOINTS: max_batch * max_frames * num_joints * 3 * 4,
                 INPUT_MASK: max_batch * max_frames * self._mask_dtype.itemsize,
                 OUTPUT_FEATURES: max_batch * max_frames * feature_dim * 4}
        self._buffers = {name: _check(self._cudart.cudaMalloc(size))
                         for name, size in sizes.items() if name in names}
        for name, ptr in self._buffers.items():
            self._context.set_tensor_address(name, int(ptr))
        self.providers: tuple[str, ...] = ("TensorRT",)

    def _copy(self, dst: Any, src: Any, nbytes: int, kind: Any) -> None:
        _check(self._cudart.cudaMemcpyAsync(dst, src, nbytes, kind, self._stream))

    def run(self, joints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        h2d = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        joints = np.ascontiguousarray(joints, dtype=np.float32)
        self._context.set_input_shape(INPUT_JOINTS, joints.shape)
        self._copy(self._buffers[INPUT_JOINTS], joints.ctypes.data, joints.nbytes, h2d)
        if self._has_mask:
            mask = np.ascontiguousarray(mask, dtype=self._mask_dtype)
            self._context.set_input_shape(INPUT_MASK, mask.shape)
            self._copy(self._buffers[INPUT_MASK], mask.ctypes.data, mask.nbytes, h2d)
        if not self._context.execute_async_v3(self._stream):
            raise RuntimeError("TensorRT execution failed")
        out = np.empty(tuple(self._context.get_tensor_shape(OUTPUT_FEATURES)), np.float32)
        self._copy(out.ctypes.data, self._buffers[OUTPUT_FEATURES], out.nbytes, d2h)
        _check(self._cudart.cudaStreamSynchronize(self._stream))
        return out  # (B, T, D)

    def close(self) -> None:
        for ptr in self._buffers.values():
            self._cudart.cudaFree(ptr)
        self._buffers = {}
        self._cudart.cudaStreamDestroy(self._stream)
