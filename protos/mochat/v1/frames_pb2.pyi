from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Float32Array(_message.Message):
    __slots__ = ("shape", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("stream_id", "frame_index", "capture_time_us", "layout", "joints", "fps")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    JOINTS_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    frame_index: int
    capture_time_us: int
    layout: str
    joints: Float32Array
    fps: float
    def __init__(self, stream_id: _Optional[str] = ..., frame_index: _Optional[int] = ..., capture_time_us: _Optional[int] = ..., layout: _Optional[str] = ..., joints: _Optional[_Union[Float32Array, _Mapping]] = ..., fps: _Optional[float] = ...) -> None: ...

class FrameBatch(_message.Message):
    __slots__ = ("stream_id", "first_frame_index", "first_capture_time_us", "capture_offsets_us", "layout", "fps", "joints")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    FIRST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_OFFSETS_US_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    JOINTS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    first_frame_index: int
    first_capture_time_us: int
    capture_offsets_us: _containers.RepeatedScalarFieldContainer[int]
    layout: str
    fps: float
    joints: Float32Array
    def __init__(self, stream_id: _Optional[str] = ..., first_frame_index: _Optional[int] = ..., first_capture_time_us: _Optional[int] = ..., capture_offsets_us: _Optional[_Iterable[int]] = ..., layout: _Optional[str] = ..., fps: _Optional[float] = ..., joints: _Optional[_Union[Float32Array, _Mapping]] = ...) -> None: ...

class MotionWindow(_message.Message):
    __slots__ = ("stream_id", "window_id", "first_frame", "last_frame", "fps", "layout", "joints", "first_capture_time_us", "last_capture_time_us", "interpolated_frames")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    JOINTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LAST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    INTERPOLATED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    window_id: str
    first_frame: int
    last_frame: int
    fps: float
    layout: str
    joints: Float32Array
    first_capture_time_us: int
    last_capture_time_us: int
    interpolated_frames: int
    def __init__(self, stream_id: _Optional[str] = ..., window_id: _Optional[str] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., fps: _Optional[float] = ..., layout: _Optional[str] = ..., joints: _Optional[_Union[Float32Array, _Mapping]] = ..., first_capture_time_us: _Optional[int] = ..., last_capture_time_us: _Optional[int] = ..., interpolated_frames: _Optional[int] = ...) -> None: ...

class MotionFeatures(_message.Message):
    __slots__ = ("stream_id", "window_id", "first_frame", "last_frame", "fps", "first_capture_time_us", "last_capture_time_us", "layout", "features", "encoder", "feature_fps")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FIRST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LAST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FPS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    window_id: str
    first_frame: int
    last_frame: int
    fps: float
    first_capture_time_us: int
    last_capture_time_us: int
    layout: str
    features: Float32Array
    encoder: str
    feature_fps: float
    def __init__(self, stream_id: _Optional[str] = ..., window_id: _Optional[str] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., fps: _Optional[float] = ..., first_capture_time_us: _Optional[int] = ..., last_capture_time_us: _Optional[int] = ..., layout: _Optional[str] = ..., features: _Optional[_Union[Float32Array, _Mapping]] = ..., encoder: _Optional[str] = ..., feature_fps: _Optional[float] = ...) -> None: ...
