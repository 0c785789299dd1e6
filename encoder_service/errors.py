"""Errors of the encoder service; the servicer maps each to one gRPC status code."""

from __future__ import annotations

from mochat.errors import ConfigError, MoChatError


class InvalidRequestError(MoChatError, ValueError):
    """A request does not fit the model (-> INVALID_ARGUMENT). Names the offending window."""

    def __init__(self, message: str, *, stream_id: str = "", window_id: str = "") -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.window_id = window_id


class QueueFullError(MoChatError):
    """The batching queue holds its maximum of windows (-> RESOURCE_EXHAUSTED)."""


class NotServingError(MoChatError):
    """The model is not loaded yet, or the server is shutting down (-> UNAVAILABLE)."""


class BackendUnavailableError(ConfigError):
    """The chosen backend cannot run here (missing package, no GPU); raised at startup."""
