"""Encoder-service fixtures: a hand-checkable ONNX model, windows, in-process servers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from encoder_service.server import EncoderServer
from encoder_service.settings import EncoderSettings
from mochat.export.sidecar import EncoderSidecar, write_sidecar
from mochat.security import ChannelSecurity
from protos.convert import array_to_proto
from protos.mochat.v1 import encoder_pb2, frames_pb2

TINY_DIM = 4
TINY_MAX_FRAMES = 128
# features[b, t, d] = mask[b, t] * mean_j(joints[b, t, j, :] @ W[:, d]), W fixed below.
TINY_WEIGHTS = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=np.float32)


def build_tiny_onnx(path: Path) -> Path:
    """(B, T, J, 3) joints, (B, T) bool mask -> (B, T, 4): x, y, z and x+y+z of the mean
    joint, zero on padded frames. Built with onnx.helper (no torch), plus its sidecar."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["joints", "W"], ["per_joint"]),  # (B, T, J, D)
         helper.make_node("ReduceMean", ["per_joint"], ["mean"], axes=[2], keepdims=0),
         helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["mask_f", "last"], ["mask_e"]),  # (B, T, 1)
         helper.make_node("Mul", ["mean", "mask_e"], ["features"])],
        "tiny_encoder",
        [helper.make_tensor_value_info("joints", TensorProto.FLOAT, ["B", "T", 22, 3]),
         helper.make_tensor_value_info("mask", TensorProto.BOOL, ["B", "T"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", "T", TINY_DIM])],
        initializer=[numpy_helper.from_array(TINY_WEIGHTS, "W"),
                     numpy_helper.from_array(np.array([-1], dtype=np.int64), "last")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    write_sidecar(EncoderSidecar(kind="tiny", layout="smpl22", num_joints=22,
                                 feature_dim=TINY_DIM, max_frames=TINY_MAX_FRAMES, opset=17),
                  path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_onnx(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


def random_joints(frames: int, joints: int = 22, seed: int = 0) -> np.ndarray:
    """(T, J, 3) positions in metres with no zero-length bone (normalize needs a scale)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.3, size=(frames, joints, 3)).astype(np.float32)


def make_window(stream_id: str = "s1", first_frame: int = 0, frames: int = 64, *,
                joints: np.ndarray | None = None, layout: str = "smpl22",
                seed: int = 0, fps: float = 20.0) -> frames_pb2.MotionWindow:
    arr = random_joints(frames, seed=seed) if joints is None else joints
    window = frames_pb2.MotionWindow(
        stream_id=stream_id, window_id=f"{stream_id}:{first_frame}", first_frame=first_frame,
        last_frame=first_frame + arr.shape[0] - 1, fps=fps, layout=layout,
        first_capture_time_us=1_000_000, last_capture_time_us=1_000_000 + round(
            1e6 / fps * (arr.shape[0] - 1)))
    array_to_proto(arr, window.joints)
    return window


def encode_request(*windows: frames_pb2.MotionWindow, request_id: str = "r"
                   ) -> encoder_pb2.EncodeRequest:
    return encoder_pb2.EncodeRequest(windows=list(windows), request_id=request_id)


class GatedBackend:
    """The real backend behind a gate the test opens, so queue states are deterministic."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.providers = inner.name, inner.providers
        self.max_batch, self.max_frames = inner.max_batch, inner.max_frames
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batch_sizes: list[int] = []

    def run(self, joints: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=30)
        self.batch_sizes.append(joints.shape[0])
        return self.inner.run(joints, mask)

    def close(self) -> None:
        self.inner.close()


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll a condition of the server under test (a queue depth) until it holds."""
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s} s")


@asynccontextmanager
async def running_server(model: Path, *, client: ChannelSecurity | None = None,
                         **overrides: Any
                         ) -> AsyncIterator[tuple[EncoderServer, grpc.aio.Channel]]:
    """A real server on an ephemeral loopback port and a channel to it: plaintext (the
    explicit development flag) unless the overrides give TLS, and then `client`'s TLS."""
    plain = "tls" not in overrides
    settings = EncoderSettings(model=model, port=0, **({"insecure": plain} | overrides))
    server = EncoderServer(settings)
    port = await server.start()
    client = client or ChannelSecurity(insecure=plain)
    channel = client.channel(f"127.0.0.1:{port}")
    try:
        yield server, channel
    finally:
        await channel.close()
        await server.stop(grace_s=1.0)
