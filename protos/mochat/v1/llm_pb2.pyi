from protos.mochat.v1 import frames_pb2 as _frames_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_LIVE: _ClassVar[Priority]
    PRIORITY_BATCH: _ClassVar[Priority]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_LIVE: Priority
PRIORITY_BATCH: Priority

class UploadedSequence(_message.Message):
    __slots__ = ("name", "layout", "fps", "joints", "first_frame", "first_capture_time_us")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    JOINTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    name: str
    layout: str
    fps: float
    joints: _frames_pb2.Float32Array
    first_frame: int
    first_capture_time_us: int
    def __init__(self, name: _Optional[str] = ..., layout: _Optional[str] = ..., fps: _Optional[float] = ..., joints: _Optional[_Union[_frames_pb2.Float32Array, _Mapping]] = ..., first_frame: _Optional[int] = ..., first_capture_time_us: _Optional[int] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("stream_id", "sequence", "max_turns")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    sequence: UploadedSequence
    max_turns: int
    def __init__(self, stream_id: _Optional[str] = ..., sequence: _Optional[_Union[UploadedSequence, _Mapping]] = ..., max_turns: _Optional[int] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "stream_id", "uploaded", "created_time_us", "idle_timeout_s", "max_turns")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_US_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    stream_id: str
    uploaded: bool
    created_time_us: int
    idle_timeout_s: int
    max_turns: int
    def __init__(self, session_id: _Optional[str] = ..., stream_id: _Optional[str] = ..., uploaded: bool = ..., created_time_us: _Optional[int] = ..., idle_timeout_s: _Optional[int] = ..., max_turns: _Optional[int] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ("turns",)
    TURNS_FIELD_NUMBER: _ClassVar[int]
    turns: int
    def __init__(self, turns: _Optional[int] = ...) -> None: ...

class FrameRange(_message.Message):
    __slots__ = ("first_frame", "last_frame")
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    first_frame: int
    last_frame: int
    def __init__(self, first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ...) -> None: ...

class TimeRange(_message.Message):
    __slots__ = ("start_time_us", "end_time_us")
    START_TIME_US_FIELD_NUMBER: _ClassVar[int]
    END_TIME_US_FIELD_NUMBER: _ClassVar[int]
    start_time_us: int
    end_time_us: int
    def __init__(self, start_time_us: _Optional[int] = ..., end_time_us: _Optional[int] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("session_id", "stream_id", "question", "frames", "times", "priority", "max_new_tokens")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    stream_id: str
    question: str
    frames: FrameRange
    times: TimeRange
    priority: Priority
    max_new_tokens: int
    def __init__(self, session_id: _Optional[str] = ..., stream_id: _Optional[str] = ..., question: _Optional[str] = ..., frames: _Optional[_Union[FrameRange, _Mapping]] = ..., times: _Optional[_Union[TimeRange, _Mapping]] = ..., priority: _Optional[_Union[Priority, str]] = ..., max_new_tokens: _Optional[int] = ...) -> None: ...

class Span(_message.Message):
    __slots__ = ("first_frame", "last_frame", "first_capture_time_us", "last_capture_time_us", "label")
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LAST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    first_frame: int
    last_frame: int
    first_capture_time_us: int
    last_capture_time_us: int
    label: str
    def __init__(self, first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., first_capture_time_us: _Optional[int] = ..., last_capture_time_us: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class WindowRef(_message.Message):
    __slots__ = ("stream_id", "window_ids", "first_frame", "last_frame", "fps", "first_capture_time_us", "last_capture_time_us")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_IDS_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FIRST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LAST_CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    window_ids: _containers.RepeatedScalarFieldContainer[str]
    first_frame: int
    last_frame: int
    fps: float
    first_capture_time_us: int
    last_capture_time_us: int
    def __init__(self, stream_id: _Optional[str] = ..., window_ids: _Optional[_Iterable[str]] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., fps: _Optional[float] = ..., first_capture_time_us: _Optional[int] = ..., last_capture_time_us: _Optional[int] = ...) -> None: ...

class Latency(_message.Message):
    __slots__ = ("queue_wait_ms", "time_to_first_token_ms", "total_ms", "generated_tokens", "tokens_per_s", "batch_size")
    QUEUE_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    queue_wait_ms: float
    time_to_first_token_ms: float
    total_ms: float
    generated_tokens: int
    tokens_per_s: float
    batch_size: int
    def __init__(self, queue_wait_ms: _Optional[float] = ..., time_to_first_token_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., generated_tokens: _Optional[int] = ..., tokens_per_s: _Optional[float] = ..., batch_size: _Optional[int] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("session_id", "turn", "text", "spans", "window", "latency")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn: int
    text: str
    spans: _containers.RepeatedCompositeFieldContainer[Span]
    window: WindowRef
    latency: Latency
    def __init__(self, session_id: _Optional[str] = ..., turn: _Optional[int] = ..., text: _Optional[str] = ..., spans: _Optional[_Iterable[_Union[Span, _Mapping]]] = ..., window: _Optional[_Union[WindowRef, _Mapping]] = ..., latency: _Optional[_Union[Latency, _Mapping]] = ...) -> None: ...

class AnswerChunk(_message.Message):
    __slots__ = ("text_delta", "answer")
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    text_delta: str
    answer: Answer
    def __init__(self, text_delta: _Optional[str] = ..., answer: _Optional[_Union[Answer, _Mapping]] = ...) -> None: ...
