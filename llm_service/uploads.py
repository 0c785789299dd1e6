"""Sequences a client uploads (a rehab device's recording): checked, encoded, made a view.

Encoding goes through the encoder service (`EncoderService.Encode`, the same features the
live spine uses). Without `--encoder` the checkpoint's own encoder runs in-process, and the
server logs that at startup.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import grpc
import numpy as np
import structlog

from llm_service.errors import EncoderUnavailableError, InvalidRequestError
from llm_service.store import MotionView, capture_times
from mochat.errors import ConfigError, MoChatError
from mochat.skeleton import SkeletonLayout, get_layout
from protos.convert import array_to_proto, features_from_proto, joints_from_proto
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc, frames_pb2, llm_pb2

log = structlog.get_logger("llm_service")


def check_upload(seq: llm_pb2.UploadedSequence, layout: SkeletonLayout, *, max_frames: int,
                 max_bytes: int) -> tuple[str, np.ndarray]:
    """-> (stream name, validated (T, J, 3) joints), or InvalidRequestError saying why."""
    size = seq.ByteSize()
    if size > max_bytes:
        raise InvalidRequestError(f"uploaded sequence is {size} bytes, over the limit of "
                                  f"{max_bytes}")
    if not (math.isfinite(seq.fps) and seq.fps > 0):
        raise InvalidRequestError(f"uploaded sequence needs fps > 0, got {seq.fps}")
    if seq.first_frame < 0 or seq.first_capture_time_us < 0:
        raise InvalidRequestError("first_frame and first_capture_time_us must be >= 0")
    try:
        given = get_layout(seq.layout)
        if given.name != layout.name:
            raise InvalidRequestError(f"layout {given.name!r} is not the model's layout "
                                      f"{layout.name!r}")
        joints = joints_from_proto(seq.joints, given, max_frames=max_frames,
                                   source="uploaded joints")
    except InvalidRequestError:
        raise
    except MoChatError as err:  # unknown layout, malformed array, invalid skeleton
        raise InvalidRequestError(f"uploaded sequence: {err}") from None
    return seq.name or f"upload-{uuid.uuid4().hex[:12]}", np.array(joints)


class UploadEncoder:
    """Uploaded joints -> features, through the encoder service or in-process."""

    def __init__(self, target: str | None, pipeline: Any, *, feature_dim: int,
                 layout: SkeletonLayout, timeout_s: float = 10.0) -> None:
        self.target = target
        self.pipeline = pipeline
        self.feature_dim = feature_dim
        self.layout = layout
        self.timeout_s = timeout_s
        self._channel = None if target is None else grpc.aio.insecure_channel(target, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self._stub = None if self._channel is None else \
            encoder_pb2_grpc.EncoderServiceStub(self._channel)

    async def check(self, timeout_s: float = 5.0) -> None:
        """Compare the encoder service's model with the checkpoint's: a different feature
        width or layout is a ConfigError; an unreachable service is only logged."""
        if self._stub is None:
            log.warning("encoder_in_process", reason="no --encoder configured; uploads are "
                        "encoded by the checkpoint's encoder inside this process")
            return
        try:
            info = await self._stub.GetModelInfo(encoder_pb2.GetModelInfoRequest(),
                                                 timeout=timeout_s, wait_for_ready=True)
        except grpc.aio.AioRpcError as err:
            log.warning("encoder_unreachable", encoder=self.target, code=err.code().name,
                        detail=err.details())
            return
        if info.feature_dim != self.feature_dim or info.layout != self.layout.name:
            raise ConfigError(f"encoder service {self.target} serves {info.encoder} "
                              f"({info.layout}, {info.feature_dim}-d features) but the "
                              f"checkpoint expects {self.layout.name}, {self.feature_dim}-d")
        log.info("encoder_checked", encoder=self.target, model=info.encoder,
                 backend=info.backend, feature_dim=info.feature_dim)

    async def encode(self, name: str, joints: np.ndarray, seq: llm_pb2.UploadedSequence
                     ) -> MotionView:
        frames = joints.shape[0]
        if self._stub is None:
            tensor = await asyncio.to_thread(self.pipeline.features, joints, self.layout)
            features = tensor.detach().cpu().numpy().astype(np.float32)  # (T, D)
        else:
            features = await self._remote(name, joints, seq)
        if features.shape != (frames, self.feature_dim):
            raise EncoderUnavailableError(f"encoder returned features {features.shape}, "
                                          f"expected ({frames}, {self.feature_dim})")
        last_us = 0 if not seq.first_capture_time_us else \
            seq.first_capture_time_us + round((frames - 1) * 1e6 / seq.fps)
        return MotionView(name, (f"{name}:{seq.first_frame}",), int(seq.first_frame), seq.fps,
                          features, capture_times(seq.first_capture_time_us, last_us, frames))

    async def _remote(self, name: str, joints: np.ndarray, seq: llm_pb2.UploadedSequence
                      ) -> np.ndarray:
        window = frames_pb2.MotionWindow(
            stream_id=name, window_id=f"{name}:{seq.first_frame}", first_frame=seq.first_frame,
            last_frame=seq.first_frame + joints.shape[0] - 1, fps=seq.fps,
            layout=self.layout.name)
        array_to_proto(joints, window.joints)  # (T, J, 3)
        request = encoder_pb2.EncodeRequest(windows=[window], request_id=f"llm-{name}")
        assert self._stub is not None
        try:
            response = await self._stub.Encode(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidRequestError(f"encoder refused the sequence: {err.details()}"
                                          ) from None
            raise EncoderUnavailableError(f"encoder service {self.target}: "
                                          f"{err.code().name} {err.details()}") from None
        return np.array(features_from_proto(response.features[0]))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
