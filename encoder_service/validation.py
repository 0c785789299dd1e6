"""Request checks at the service boundary: proto windows -> normalised numpy windows.

Everything that can be wrong with a request raises InvalidRequestError naming the window,
so the servicer answers INVALID_ARGUMENT with a message a client can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoder_service.backends import ModelSpec
from encoder_service.errors import InvalidRequestError
from mochat.errors import MoChatError
from mochat.skeleton import get_layout, normalize
from protos.convert import array_to_proto, joints_from_proto
from protos.mochat.v1 import encoder_pb2, frames_pb2


@dataclass(frozen=True)
class RequestLimits:
    max_frames: int
    max_windows_per_request: int
    max_request_bytes: int


def _window_label(index: int, window: frames_pb2.MotionWindow) -> str:
    return f"window {index} ({window.window_id or 'no id'})"


def prepare_window(index: int, window: frames_pb2.MotionWindow, spec: ModelSpec,
                   max_frames: int) -> np.ndarray:
    """One MotionWindow -> (T, J, 3) normalised joints, or InvalidRequestError."""
    label = _window_label(index, window)
    try:
        layout = get_layout(window.layout)
        if layout.name != spec.layout.name:
            raise InvalidRequestError(f"layout {layout.name!r} is not the model's layout "
                                      f"{spec.layout.name!r}")
        joints = joints_from_proto(window.joints, layout, max_frames=max_frames, source="joints")
        frames = joints.shape[0]
        if (window.first_frame or window.last_frame) and (
                window.last_frame - window.first_frame + 1 != frames):
            raise InvalidRequestError(
                f"frames {window.first_frame}..{window.last_frame} are "
                f"{window.last_frame - window.first_frame + 1}, joints hold {frames}")
        if window.first_frame < 0:
            raise InvalidRequestError(f"negative first_frame {window.first_frame}")
        return normalize(joints, layout, max_frames=max_frames, source="joints")
    except MoChatError as err:  # invalid skeleton, unknown layout, malformed array
        raise InvalidRequestError(f"{label}: {err}", stream_id=window.stream_id,
                                  window_id=window.window_id) from None


def prepare_request(request: encoder_pb2.EncodeRequest, spec: ModelSpec,
                    limits: RequestLimits) -> list[np.ndarray]:
    """All windows of a request, checked and normalised, in order."""
    size = request.ByteSize()
    if size > limits.max_request_bytes:
        raise InvalidRequestError(f"request is {size} bytes, over the limit of "
                                  f"{limits.max_request_bytes}; send fewer windows per request")
    if not request.windows:
        raise InvalidRequestError("request holds no windows")
    if len(request.windows) > limits.max_windows_per_request:
        raise InvalidRequestError(f"{len(request.windows)} windows in one request, over the "
                                  f"limit of {limits.max_windows_per_request}")
    return [prepare_window(i, w, spec, limits.max_frames) for i, w in enumerate(request.windows)]


def features_message(window: frames_pb2.MotionWindow, features: np.ndarray,
                     spec: ModelSpec) -> frames_pb2.MotionFeatures:
    """The MotionFeatures of one window: its coordinates plus (T, D) features."""
    frames = features.shape[0]
    last_frame = window.last_frame if (window.first_frame or window.last_frame) else frames - 1
    msg = frames_pb2.MotionFeatures(
        stream_id=window.stream_id, window_id=window.window_id, first_frame=window.first_frame,
        last_frame=last_frame, fps=window.fps, first_capture_time_us=window.first_capture_time_us,
        last_capture_time_us=window.last_capture_time_us, layout=spec.layout.name,
        encoder=spec.encoder)
    array_to_proto(features, msg.features)
    return msg
