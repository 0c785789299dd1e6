"""Errors of the LLM service; the servicer maps each to one gRPC status code."""

from __future__ import annotations

from mochat.errors import MoChatError


class InvalidRequestError(MoChatError, ValueError):
    """A malformed request: empty question, bad range, bad upload (-> INVALID_ARGUMENT)."""


class NotFoundError(MoChatError, LookupError):
    """Unknown or expired session, unknown stream, range not in the store (-> NOT_FOUND)."""


class PermissionDeniedError(MoChatError, PermissionError):
    """The caller's token lacks a role, or the session or stream is another's
    (-> PERMISSION_DENIED)."""


class QueueFullError(MoChatError):
    """The question queue (or the session table) is full (-> RESOURCE_EXHAUSTED)."""


class DeadlineExpiredError(MoChatError):
    """The question's deadline passed before its answer was ready (-> DEADLINE_EXCEEDED).
    The question is dropped, never answered late."""


class NotServingError(MoChatError):
    """The model is not loaded yet, or the server is shutting down (-> UNAVAILABLE)."""


class EncoderUnavailableError(MoChatError):
    """The encoder service could not encode an upload (-> UNAVAILABLE)."""
