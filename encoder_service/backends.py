"""Model backends behind one interface: (B, T, J, 3) joints + (B, T) mask -> (B, T, D).

`load_backend(settings)` registers the user's layout files, picks ONNX Runtime or TensorRT
and reads the model's sidecar (`mochat.export.sidecar`, torch-free) for its layout, rate,
feature width and frame limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from encoder_service.errors import BackendUnavailableError
from encoder_service.settings import EncoderSettings
from mochat.errors import ConfigError
from mochat.export.sidecar import INPUT_JOINTS, INPUT_MASK, EncoderSidecar, read_sidecar
from mochat.serving import load_layout_files
from mochat.skeleton import SkeletonLayout, get_layout

TENSORRT_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass(frozen=True)
class ModelSpec:
    """What the service validates requests against; built from the sidecar. Windows in any
    registered layout at any rate are brought to `layout` at `fps` before the model."""

    encoder: str  # "<file name>@v<sidecar version>", stamped on every MotionFeatures
    kind: str
    layout: SkeletonLayout
    feature_dim: int
    max_frames: int  # at `fps`
    fps: float = 20.0  # the rate the model was trained at (the sidecar's)

    @classmethod
    def from_sidecar(cls, model: Path, sidecar: EncoderSidecar) -> ModelSpec:
        layout = get_layout(sidecar.layout)
        if layout.num_joints != sidecar.num_joints:
            raise ConfigError(f"{model}: sidecar says {sidecar.num_joints} joints, layout "
                              f"{layout.name!r} has {layout.num_joints}")
        if not (math.isfinite(sidecar.fps) and sidecar.fps > 0):
            raise ConfigError(f"{model}: sidecar fps must be > 0, got {sidecar.fps!r}")
        return cls(encoder=f"{model.name}@v{sidecar.version}", kind=sidecar.kind,
                   layout=layout, feature_dim=sidecar.feature_dim,
                   max_frames=sidecar.max_frames, fps=float(sidecar.fps))


class EncoderBackend(Protocol):
    """A loaded model. `run` is called from one worker thread at a time."""

    name: str
    providers: tuple[str, ...]
    # The largest batch / window the backend accepts (a TensorRT profile), None = any.
    max_batch: int | None
    max_frames: int | None

    def run(self, joints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, T, J, 3) float32 normalised joints, (B, T) bool mask -> (B, T, D) float32."""
        ...

    def close(self) -> None: ...


class OnnxRuntimeBackend:
    """ONNX Runtime on CPU, or CUDA where onnxruntime-gpu provides it."""

    name = "onnxruntime"
    max_batch: int | None = None
    max_frames: int | None = None

    def __init__(self, model: Path, *, device: str = "auto", intra_op_threads: int = 0) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        cuda = "CUDAExecutionProvider" in available
        if device == "cuda" and not cuda:
            raise BackendUnavailableError(
                f"device 'cuda' asked for, but ONNX Runtime offers only {available}; "
                "install onnxruntime-gpu (the `gpu` extra) on a CUDA machine")
        wanted = (["CUDAExecutionProvider"] if device == "cuda" or (device == "auto" and cuda)
                  else []) + ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), sess_options=options, providers=wanted)
        # What ORT actually uses: CUDA can silently fall back to CPU (missing cuDNN, ...).
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        inputs = {i.name: i for i in self._session.get_inputs()}
        if INPUT_JOINTS not in inputs:
            raise ConfigError(f"{model}: no input {INPUT_JOINTS!r}; inputs are {list(inputs)}")
        self._feeds_mask = INPUT_MASK in inputs  # an export may drop an unused mask
        self._mask_is_bool = self._feeds_mask and inputs[INPUT_MASK].type == "tensor(bool)"
        shape = inputs[INPUT_JOINTS].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.fixed_frames = shape[1] if isinstance(shape[1], int) else None
        self.max_frames = self.fixed_frames
        self._output = self._session.get_outputs()[0].name

    def run(self, joints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        frames = joints.shape[1]
        if self.fixed_frames is not None and frames < self.fixed_frames:
            pad = self.fixed_frames - frames  # a static-T export: pad, mask, cut back after
            joints = np.pad(joints, ((0, 0), (0, pad), (0, 0), (0, 0)))
            mask = np.pad(mask, ((0, 0), (0, pad)))
        step = self.fixed_batch or joints.shape[0]
        outs = []
        for start in range(0, joints.shape[0], step):  # a static-B export: run in chunks
            feeds = {INPUT_JOINTS: joints[start:start + step]}
            if self._feeds_mask:
                chunk = mask[start:start + step]
                feeds[INPUT_MASK] = chunk if self._mask_is_bool else chunk.astype(np.float32)
            outs.append(self._session.run([self._output], feeds)[0])
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        return np.asarray(out[:, :frames], dtype=np.float32)

    def close(self) -> None:
        del self._session


def resolve_backend_name(settings: EncoderSettings) -> str:
    if settings.backend != "auto":
        return settings.backend
    return "tensorrt" if settings.model.suffix in TENSORRT_SUFFIXES else "onnxruntime"


def load_backend(settings: EncoderSettings) -> tuple[EncoderBackend, ModelSpec]:
    """Load the model named by the settings; ConfigError subclasses say what is wrong."""
    model = settings.model
    if not model.is_file():
        raise ConfigError(f"model file not found: {model}")
    load_layout_files(settings.layout_files)  # before the sidecar: it may name one of them
    spec = ModelSpec.from_sidecar(model, read_sidecar(model))
    name = resolve_backend_name(settings)
    if name == "onnxruntime":
        backend: EncoderBackend = OnnxRuntimeBackend(
            model, device=settings.device, intra_op_threads=settings.intra_op_threads)
    elif name == "tensorrt":
        from encoder_service.tensorrt_backend import TensorRTBackend

        backend = TensorRTBackend(model, num_joints=spec.layout.num_joints,
                                  feature_dim=spec.feature_dim)
    else:
        raise ConfigError(f"unknown backend {name!r}; expected 'onnxruntime' or 'tensorrt'")
    return backend, spec
