"""The one error hierarchy of the core. Services translate these to status codes."""


class MoChatError(Exception):
    """Base class of every error MoChat raises on purpose."""


class InvalidSkeletonError(MoChatError, ValueError):
    """A joint array does not fit its layout (shape, NaN/inf, empty, too long)."""


class UnknownLayoutError(MoChatError, KeyError):
    """A layout name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DataFormatError(MoChatError, ValueError):
    """A file on disk is malformed (corpus, BVH, prediction file); the message names it."""


class ConfigError(MoChatError, ValueError):
    """A recipe or setting has a value outside what is allowed."""


class ContextOverflowError(MoChatError, ValueError):
    """A prompt and its generation limit do not fit in the LLM's context window."""
