"""Sequences a client uploads (a rehab device's recording): checked, encoded, made a view.

An upload may come in any registered layout at any rate, like a live stream. Encoding goes
through the encoder service (`EncoderService.Encode`, the same features the live spine
uses: the service retargets and resamples to the model); without `--encoder` the
checkpoint's own encoder runs in-process after `mochat.skeleton.to_model` did the same,
and the server logs that at startup. Either way the view keeps the upload's own frames and
rate, and its rows are at the model's rate, so answers come in the upload's own frames.
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
from llm_service.store import MotionView
from mochat.errors import ConfigError, MoChatError
from mochat.security import ChannelSecurity
from mochat.serving import longest_source
from mochat.skeleton import SkeletonLayout, to_model
from mochat.skeleton.resample import resampled_length
from protos.convert import array_to_proto, features_from_proto, joints_from_proto, wire_layout
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc, frames_pb2, llm_pb2

log = structlog.get_logger("llm_service")
MAX_FPS = 1000.0  # the encoder service's limit too


def check_upload(seq: llm_pb2.UploadedSequence, *, max_bytes: int) -> tuple[str, np.ndarray]:
    """-> (stream name, validated (T, J, 3) joints in the upload's own layout), or
    InvalidRequestError saying why. Its length is checked against the model's limit once
    its rate is known to the encoder (`UploadEncoder.encode`)."""
    size = seq.ByteSize()
    if size > max_bytes:
        raise InvalidRequestError(f"uploaded sequence is {size} bytes, over the limit of "
                                  f"{max_bytes}")
    if not (math.isfinite(seq.fps) and 0 < seq.fps <= MAX_FPS):
        raise InvalidRequestError(f"uploaded sequence needs fps in (0, {MAX_FPS:g}], got "
                                  f"{seq.fps}")
    if seq.first_frame < 0 or seq.first_capture_time_us < 0:
        raise InvalidRequestError("first_frame and first_capture_time_us must be >= 0")
    try:
        joints = joints_from_proto(seq.joints, wire_layout(seq.layout),
                                   source="uploaded joints")
    except MoChatError as err:  # unknown layout, malformed array, invalid skeleton
        raise InvalidRequestError(f"uploaded sequence: {err}") from None
    return seq.name or f"upload-{uuid.uuid4().hex[:12]}", np.array(joints)


class UploadEncoder:
    """Uploaded joints -> features at the model's rate (`fps`), through the encoder service
    or in-process."""

    def __init__(self, target: str | None, pipeline: Any, *, feature_dim: int,
                 layout: SkeletonLayout, fps: float, max_frames: int,
                 timeout_s: float = 10.0, security: ChannelSecurity | None = None) -> None:
        self.target = target
        self.pipeline = pipeline
        self.feature_dim = feature_dim
        self.layout = layout  # the model's
        self.fps = fps  # the model's rate
        self.max_frames = max_frames  # at the model's rate
        self.timeout_s = timeout_s
        self.model_encoder: str | None = None  # what the encoder service serves, once checked
        security = security or ChannelSecurity()
        self._channel = None if target is None else security.channel(target, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self._metadata = security.metadata() if target is not None else ()
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
                                                 timeout=timeout_s, wait_for_ready=True,
                                                 metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.UNAUTHENTICATED,
                              grpc.StatusCode.PERMISSION_DENIED):
                raise ConfigError(f"encoder service {self.target} refused this service's "
                                  f"token ({err.code().name}: {err.details()}); set "
                                  "encoder_channel.token_file to a token with the encode "
                                  "role") from None
            log.warning("encoder_unreachable", encoder=self.target, code=err.code().name,
                        detail=err.details())
            return
        rate = info.fps or self.fps  # an older service states none
        if info.feature_dim != self.feature_dim or info.layout != self.layout.name or \
                abs(rate - self.fps) > 1e-6 * self.fps:
            raise ConfigError(f"encoder service {self.target} serves {info.encoder} "
                              f"({info.layout}, {info.feature_dim}-d features at {rate:g} fps)"
                              f" but the checkpoint expects {self.layout.name}, "
                              f"{self.feature_dim}-d at {self.fps:g} fps")
        self.model_encoder = info.encoder
        log.info("encoder_checked", encoder=self.target, model=info.encoder,
                 backend=info.backend, feature_dim=info.feature_dim)

    def check_length(self, frames: int, fps: float) -> None:
        """An upload resampled to the model's rate must fit its frame limit; the error says
        so in the upload's own frames and seconds."""
        rows = resampled_length(frames, fps, self.fps)
        if rows <= self.max_frames:
            return
        most = longest_source(self.max_frames, fps, self.fps)
        raise InvalidRequestError(
            f"uploaded sequence: {frames} frames at {fps:g} fps ({(frames - 1) / fps:.3g} s) "
            f"are {rows} frames at the model's {self.fps:g} fps, over its limit of "
            f"{self.max_frames}: upload at most {most} frames at {fps:g} fps "
            f"({(most - 1) / fps:.3g} s)")

    async def encode(self, name: str, joints: np.ndarray, seq: llm_pb2.UploadedSequence
                     ) -> MotionView:
        """(T, J, 3) joints in the upload's layout at seq.fps -> a view in the upload's own
        frames with (T', D) rows at the model's rate."""
        frames, fps = joints.shape[0], float(seq.fps)
        self.check_length(frames, fps)
        if self._stub is None:
            features = await asyncio.to_thread(self._local, joints, seq)
            feature_fps = self.fps
        else:
            features, feature_fps = await self._remote(name, joints, seq)
        rows = resampled_length(frames, fps, feature_fps)
        if features.shape != (rows, self.feature_dim) or \
                abs(feature_fps - self.fps) > 1e-6 * self.fps:
            raise EncoderUnavailableError(
                f"encoder returned features {features.shape} at {feature_fps:g} fps, expected "
                f"({rows}, {self.feature_dim}) at {self.fps:g} fps")
        last_us = 0 if not seq.first_capture_time_us else \
            seq.first_capture_time_us + round((frames - 1) * 1e6 / fps)
        first = int(seq.first_frame)
        return MotionView.of_window(name, f"{name}:{first}", first, first + frames - 1, fps,
                                    features, feature_fps=feature_fps,
                                    first_capture_time_us=seq.first_capture_time_us,
                                    last_capture_time_us=last_us)

    def _local(self, joints: np.ndarray, seq: llm_pb2.UploadedSequence) -> np.ndarray:
        """In-process: to the model's layout and rate, then the checkpoint's encoder."""
        try:
            motion = to_model(joints, wire_layout(seq.layout), float(seq.fps),
                              model_layout=self.layout, model_fps=self.fps,
                              first_frame=int(seq.first_frame), source="uploaded joints")
        except MoChatError as err:  # a layout that cannot stand in for the model's body
            raise InvalidRequestError(f"uploaded sequence: {err}") from None
        tensor = self.pipeline.features(motion.joints, self.layout)
        return np.asarray(tensor.detach().cpu().numpy(), dtype=np.float32)  # (T', D)

    async def _remote(self, name: str, joints: np.ndarray, seq: llm_pb2.UploadedSequence
                      ) -> tuple[np.ndarray, float]:
        """The upload as one window in its own layout and rate -> (rows, their rate)."""
        window = frames_pb2.MotionWindow(
            stream_id=name, window_id=f"{name}:{seq.first_frame}", first_frame=seq.first_frame,
            last_frame=seq.first_frame + joints.shape[0] - 1, fps=seq.fps,
            layout=wire_layout(seq.layout).name)
        array_to_proto(joints, window.joints)  # (T, J, 3)
        request = encoder_pb2.EncodeRequest(windows=[window], request_id=f"llm-{name}")
        assert self._stub is not None
        try:
            response = await self._stub.Encode(request, timeout=self.timeout_s,
                                               metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            if err.code() is grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidRequestError(f"encoder refused the sequence: {err.details()}"
                                          ) from None
            raise EncoderUnavailableError(f"encoder service {self.target}: "
                                          f"{err.code().name} {err.details()}") from None
        msg = response.features[0]
        return np.array(features_from_proto(msg)), float(msg.feature_fps or msg.fps)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
