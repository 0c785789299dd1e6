"""structlog JSON logging for the services, configured once by each entry point.

Client-supplied strings (stream and session ids, questions, layout names) reach status
messages and log lines; `clip` bounds each one, and the `clip_strings` processor bounds
every string a log line carries, so one 8 MB id cannot put megabytes into the log.
Tracebacks are logged without their frames' locals (a local may hold a whole request).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

CLIP_CHARS = 200  # a client string in a status message or a log line
LOG_VALUE_CHARS = 2000  # any string value of a log line (messages quoting clipped strings)


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """`text` if it has at most `limit` characters, else its first `limit` and a marker
    with its full size: 'abc...(8388608 bytes)'."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text.encode('utf-8', 'replace'))} bytes)"


def _clip_value(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, dict):
        return {k: _clip_value(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clip_value(v, limit) for v in value]
    return value


def clip_strings(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """structlog processor: every string of the line clipped to LOG_VALUE_CHARS, and every
    string of a structured traceback (an error's message may quote a request) to
    CLIP_CHARS."""
    return {k: _clip_value(v, CLIP_CHARS if k == "exception" else LOG_VALUE_CHARS)
            for k, v in event.items()}


def processors() -> list[Processor]:
    """The services' processor chain, ending in the JSON renderer."""
    tracebacks = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        tracebacks,
        clip_strings,
        structlog.processors.JSONRenderer(),
    ]


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """One JSON object per line on `stream` (stdout): timestamp, level, event, bound ids."""
    structlog.configure(
        processors=processors(),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=True,
    )
