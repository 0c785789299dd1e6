"""Who may call what on the encoder service: every method mapped to the roles that grant it.

The ingest service's token (and the LLM service's, for uploads) needs `encode`; `admin`
passes every check. A method missing here is refused (tests/encoder_service/test_security.py
fails first).
"""

from __future__ import annotations

from mochat.auth import with_common_methods

_ENCODE = frozenset({"encode"})

METHOD_ROLES = with_common_methods({
    "/mochat.v1.EncoderService/Encode": _ENCODE,
    "/mochat.v1.EncoderService/EncodeStream": _ENCODE,
    "/mochat.v1.EncoderService/GetModelInfo": _ENCODE,  # clients check the model they use
})
