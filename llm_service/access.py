"""Who may call what on the LLM service, and whose sessions and streams a caller may use.

Every method is mapped to the roles that grant it (any one of them; `admin` passes every
check); a method missing here is refused, and tests/llm_service/test_security.py fails
first. What depends on the request is checked by the servicer with `caller()`:
CreateSession on a stream needs `ask` (and the stream among the token's `streams`), on an
uploaded sequence `upload`; a session belongs to the token id that opened it, and another
token (not admin) gets PERMISSION_DENIED on it.
"""

from __future__ import annotations

from llm_service.errors import PermissionDeniedError
from mochat.auth import Identity, caller, with_common_methods
from mochat.log import clip

_ASK = frozenset({"ask"})

METHOD_ROLES = with_common_methods({
    # ask opens a session on a stream, upload one on an uploaded sequence (checked below)
    "/mochat.v1.LlmService/CreateSession": frozenset({"ask", "upload"}),
    "/mochat.v1.LlmService/EndSession": frozenset({"ask", "upload"}),  # own sessions
    "/mochat.v1.LlmService/Ask": _ASK,
    "/mochat.v1.LlmService/AskStream": _ASK,
})


def require_role(role: str, what: str) -> Identity:
    """The caller, if it has `role`; PermissionDeniedError otherwise."""
    who = caller()
    if not who.has(role):
        raise PermissionDeniedError(f"token {who.token_id!r} lacks the {role} role ({what})")
    return who


def require_stream(stream_id: str) -> Identity:
    """The caller, if it may ask about `stream_id` (the `ask` role, its `streams`)."""
    who = require_role("ask", "asking about a stream")
    if not who.may_read(stream_id):
        raise PermissionDeniedError(f"token {who.token_id!r} may not ask about stream "
                                    f"{clip(stream_id)!r}")
    return who


def require_owner(owner: str, session_id: str) -> Identity:
    """The caller, if it opened the session (or is admin)."""
    who = caller()
    if who.token_id != owner and not who.has("admin"):
        raise PermissionDeniedError(f"session {clip(session_id)!r} belongs to another token")
    return who
