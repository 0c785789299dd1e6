"""Request checks at the service boundary: proto windows -> normalised numpy windows.

A window may come in any registered layout at any rate. Each is brought to the model once,
here, before the batcher: `mochat.skeleton.to_model` applies the layout's convention (up
axis, units), retargets to the model's layout and resamples to the model's rate, then
`normalize` does what training did. A 120 fps window therefore costs the encoder what a
20 fps one of the same length in seconds does. The model's frame limit applies to the
resampled window; the error states it in the window's own frames and seconds.

Everything that can be wrong with a request raises InvalidRequestError naming the window,
so the servicer answers INVALID_ARGUMENT with a message a client can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from encoder_service.backends import ModelSpec
from encoder_service.errors import InvalidRequestError
from mochat.errors import MoChatError
from mochat.log import clip
from mochat.serving import longest_source
from mochat.skeleton import normalize, to_model
from mochat.skeleton.resample import resampled_length
from protos.convert import array_to_proto, joints_from_proto, wire_layout
from protos.mochat.v1 import encoder_pb2, frames_pb2

MAX_FPS = 1000.0  # above this a capture rate is a unit mistake (Hz vs mHz), not a camera


@dataclass(frozen=True)
class RequestLimits:
    max_frames: int  # at the model's rate
    max_windows_per_request: int
    max_request_bytes: int
    max_id_chars: int = 1024  # request_id, stream_id, window_id: echoed in every reply


def _window_label(index: int, window: frames_pb2.MotionWindow) -> str:
    return f"window {index} ({clip(window.window_id, 80) or 'no id'})"


def check_fps(fps: float) -> float:
    """A window's rate, or InvalidRequestError: it must be finite, > 0 and <= MAX_FPS."""
    value = float(fps)
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequestError(f"fps must be a finite rate > 0, got {value!r} (set "
                                  "MotionWindow.fps to the stream's capture rate)")
    if value > MAX_FPS:
        raise InvalidRequestError(f"fps {value:g} is over the limit of {MAX_FPS:g}")
    return value


def check_length(frames: int, fps: float, spec: ModelSpec, max_frames: int) -> None:
    """The window resampled to the model's rate must fit the model's frame limit."""
    rows = resampled_length(frames, fps, spec.fps)
    if rows <= max_frames:
        return
    most = longest_source(max_frames, fps, spec.fps)
    raise InvalidRequestError(
        f"{frames} frames at {fps:g} fps ({(frames - 1) / fps:.3g} s) are {rows} frames at "
        f"the model's {spec.fps:g} fps, over its limit of {max_frames}: send at most {most} "
        f"frames at {fps:g} fps ({(most - 1) / fps:.3g} s)")


def prepare_window(index: int, window: frames_pb2.MotionWindow, spec: ModelSpec,
                   max_frames: int) -> np.ndarray:
    """One MotionWindow -> (T', J_model, 3) normalised joints at the model's rate, or
    InvalidRequestError."""
    label = _window_label(index, window)
    try:
        fps = check_fps(window.fps)
        layout = wire_layout(window.layout)
        joints = joints_from_proto(window.joints, layout, max_frames=None, source="joints")
        frames = joints.shape[0]
        if (window.first_frame or window.last_frame) and (
                window.last_frame - window.first_frame + 1 != frames):
            raise InvalidRequestError(
                f"frames {window.first_frame}..{window.last_frame} are "
                f"{window.last_frame - window.first_frame + 1}, joints hold {frames}")
        if window.first_frame < 0:
            raise InvalidRequestError(f"negative first_frame {window.first_frame}")
        check_length(frames, fps, spec, max_frames)
        motion = to_model(joints, layout, fps, model_layout=spec.layout, model_fps=spec.fps,
                          first_frame=int(window.first_frame), source="joints")
        return normalize(motion.joints, spec.layout, max_frames=max_frames, source="joints")
    except MoChatError as err:  # invalid skeleton, unknown layout, malformed array
        raise InvalidRequestError(f"{label}: {err}", stream_id=window.stream_id,
                                  window_id=window.window_id) from None


def prepare_request(request: encoder_pb2.EncodeRequest, spec: ModelSpec,
                    limits: RequestLimits) -> list[np.ndarray]:
    """All windows of a request, checked, brought to the model and normalised, in order."""
    size = request.ByteSize()
    if size > limits.max_request_bytes:
        raise InvalidRequestError(f"request is {size} bytes, over the limit of "
                                  f"{limits.max_request_bytes}; send fewer windows per request")
    if not request.windows:
        raise InvalidRequestError("request holds no windows")
    if len(request.windows) > limits.max_windows_per_request:
        raise InvalidRequestError(f"{len(request.windows)} windows in one request, over the "
                                  f"limit of {limits.max_windows_per_request}")
    longest = max([len(request.request_id)] + [max(len(w.stream_id), len(w.window_id))
                                               for w in request.windows])
    if longest > limits.max_id_chars:
        raise InvalidRequestError(f"an id of {longest} characters (request_id, stream_id or "
                                  f"window_id), over the limit of {limits.max_id_chars}")
    return [prepare_window(i, w, spec, limits.max_frames) for i, w in enumerate(request.windows)]


def features_message(window: frames_pb2.MotionWindow, features: np.ndarray,
                     spec: ModelSpec) -> frames_pb2.MotionFeatures:
    """The MotionFeatures of one window: its own coordinates (frames, rate, capture times,
    layout) plus (T', D) feature rows at the model's rate (`feature_fps`)."""
    frames = int(window.joints.shape[0])
    last_frame = window.last_frame if (window.first_frame or window.last_frame) else frames - 1
    msg = frames_pb2.MotionFeatures(
        stream_id=window.stream_id, window_id=window.window_id, first_frame=window.first_frame,
        last_frame=last_frame, fps=window.fps, feature_fps=spec.fps,
        first_capture_time_us=window.first_capture_time_us,
        last_capture_time_us=window.last_capture_time_us,
        layout=wire_layout(window.layout).name, encoder=spec.encoder)
    array_to_proto(features, msg.features)
    return msg
