from protos.mochat.v1 import frames_pb2 as _frames_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EncodeRequest(_message.Message):
    __slots__ = ("windows", "request_id")
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    windows: _containers.RepeatedCompositeFieldContainer[_frames_pb2.MotionWindow]
    request_id: str
    def __init__(self, windows: _Optional[_Iterable[_Union[_frames_pb2.MotionWindow, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EncodeResponse(_message.Message):
    __slots__ = ("features", "request_id")
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    features: _containers.RepeatedCompositeFieldContainer[_frames_pb2.MotionFeatures]
    request_id: str
    def __init__(self, features: _Optional[_Iterable[_Union[_frames_pb2.MotionFeatures, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EncodeError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class EncodeStreamResponse(_message.Message):
    __slots__ = ("request_id", "response", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    response: EncodeResponse
    error: EncodeError
    def __init__(self, request_id: _Optional[str] = ..., response: _Optional[_Union[EncodeResponse, _Mapping]] = ..., error: _Optional[_Union[EncodeError, _Mapping]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("encoder", "layout", "num_joints", "feature_dim", "max_frames", "backend", "providers", "max_batch", "fps", "layouts")
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    NUM_JOINTS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_DIM_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    LAYOUTS_FIELD_NUMBER: _ClassVar[int]
    encoder: str
    layout: str
    num_joints: int
    feature_dim: int
    max_frames: int
    backend: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    max_batch: int
    fps: float
    layouts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, encoder: _Optional[str] = ..., layout: _Optional[str] = ..., num_joints: _Optional[int] = ..., feature_dim: _Optional[int] = ..., max_frames: _Optional[int] = ..., backend: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., max_batch: _Optional[int] = ..., fps: _Optional[float] = ..., layouts: _Optional[_Iterable[str]] = ...) -> None: ...
