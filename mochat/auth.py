"""Bearer-token access control of the MoChat gRPC services.

A token file (YAML or JSON, a mounted secret) names each token by an id and gives its
roles; the token itself is stored as its SHA-256 (or, for development, in clear):

    tokens:
      ingest:  {sha256: 9f86d0..., roles: [encode]}
      ward-3:  {sha256: 2c26b4..., roles: [ask, upload], streams: ["ward-3-*"]}
      ops:     {sha256: fcde2b..., roles: [admin]}
      old-cam: {sha256: 81b637..., roles: [ask], revoked: true}
    revoked: [another-id]

`TokenAuth` is a grpc.aio server interceptor: every method of the server has an explicit
entry in its method -> roles map (any one of the roles grants it; `PUBLIC` for health);
a method without an entry is refused. No, malformed, unknown or revoked token:
UNAUTHENTICATED; a token without the method's role: PERMISSION_DENIED. Tokens are compared
by their SHA-256 with `hmac.compare_digest`, against every entry, and never logged: logs
carry the token id. The handler runs with the caller's `Identity` in a context variable
(`caller()`), so a servicer can check what depends on the request (a session's owner, a
stream a token may read). The file is read again when it changes, so a revocation takes
effect without a restart. Without a token file, authentication is off and every caller is
`ANONYMOUS` (all roles): development on loopback only (the services refuse it elsewhere).
"""

from __future__ import annotations

import contextvars
import fnmatch
import hashlib
import hmac
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
import yaml

from mochat.errors import ConfigError

log = structlog.get_logger("mochat.auth")

ROLES = ("ask", "upload", "admin", "encode")  # every service's; admin passes every check
PUBLIC: frozenset[str] = frozenset()  # a method anyone may call (health)
HEALTH_METHODS = ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch")
REFLECTION_METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def with_common_methods(service_roles: Mapping[str, frozenset[str]]
                        ) -> dict[str, frozenset[str]]:
    """A service's method -> roles map plus what every server has: health (public) and
    reflection (admin; registered only when the `reflection` setting is on)."""
    return {**dict.fromkeys(HEALTH_METHODS, PUBLIC), REFLECTION_METHOD: frozenset({"admin"}),
            **service_roles}


def hash_token(token: str) -> str:
    """The hex SHA-256 a token file stores for `token`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Identity:
    token_id: str
    roles: frozenset[str]
    streams: tuple[str, ...] | None = None  # fnmatch patterns; None: every stream

    def has(self, role: str) -> bool:
        return "admin" in self.roles or role in self.roles

    def may_read(self, stream_id: str) -> bool:
        """Whether this caller may ask about `stream_id` (admin: any stream)."""
        if "admin" in self.roles or self.streams is None:
            return True
        return any(fnmatch.fnmatchcase(stream_id, p) for p in self.streams)


ANONYMOUS = Identity("anonymous", frozenset({"admin"}))  # authentication off
NOBODY = Identity("", frozenset())  # outside an authenticated call: may do nothing
_caller: contextvars.ContextVar[Identity] = contextvars.ContextVar("mochat_caller",
                                                                  default=NOBODY)


def caller() -> Identity:
    """The identity the current RPC was authenticated as (NOBODY outside one)."""
    return _caller.get()


@dataclass(frozen=True)
class _Entry:
    identity: Identity
    digest: bytes  # SHA-256 of the token
    revoked: bool


class TokenStore:
    """The tokens of a token file, matched by SHA-256 in constant time."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        """Parse a token file; ConfigError names what is wrong (never a token)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"token file {path}: {err.strerror or err}") from None
        try:
            data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as err:
            raise ConfigError(f"token file {path}: not valid YAML/JSON ({type(err).__name__})"
                              ) from None
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), dict):
            raise ConfigError(f"token file {path}: expected a mapping with 'tokens: "
                              "{id: {sha256 | token, roles}}'")
        revoked = data.get("revoked") or []
        if not isinstance(revoked, list):
            raise ConfigError(f"token file {path}: 'revoked' must be a list of token ids")
        entries = [cls._entry(path, str(tid), spec, str(tid) in map(str, revoked))
                   for tid, spec in data["tokens"].items()]
        return cls(entries)

    @staticmethod
    def _entry(path: Path, token_id: str, spec: Any, listed_revoked: bool) -> _Entry:
        where = f"token file {path}: token {token_id!r}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected {{sha256 | token, roles}}")
        unknown = set(spec) - {"sha256", "token", "roles", "streams", "revoked"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; expected sha256, "
                              "token, roles, streams, revoked")
        if ("sha256" in spec) == ("token" in spec):
            raise ConfigError(f"{where}: give exactly one of sha256 and token")
        if "sha256" in spec:
            hexdigest = str(spec["sha256"]).strip().lower()
            if not _HEX64.fullmatch(hexdigest):
                raise ConfigError(f"{where}: sha256 must be 64 hex digits")
            digest = bytes.fromhex(hexdigest)
        else:
            digest = hashlib.sha256(str(spec["token"]).encode("utf-8")).digest()
        roles = spec.get("roles") or []
        if not isinstance(roles, list) or not roles:
            raise ConfigError(f"{where}: roles must be a non-empty list of {', '.join(ROLES)}")
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ConfigError(f"{where}: unknown roles {bad}; expected {', '.join(ROLES)}")
        streams = spec.get("streams")
        if streams is not None and not (isinstance(streams, list)
                                        and all(isinstance(s, str) for s in streams)):
            raise ConfigError(f"{where}: streams must be a list of stream id patterns")
        identity = Identity(token_id, frozenset(roles),
                            None if streams is None else tuple(streams))
        return _Entry(identity, digest, bool(spec.get("revoked", False)) or listed_revoked)

    def match(self, token: str) -> _Entry | None:
        """The entry of `token`, comparing its hash with every entry's (no early exit)."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return found


class Refused(Exception):
    """An authentication or authorisation failure: the status code and client message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bearer_token(metadata: Any) -> str:
    """The token of 'authorization: Bearer <token>' metadata; Refused when absent."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Refused(grpc.StatusCode.UNAUTHENTICATED,
                          "malformed authorization metadata; expected 'Bearer <token>'")
    raise Refused(grpc.StatusCode.UNAUTHENTICATED,
                  "no bearer token: send 'authorization: Bearer <token>' metadata")


class TokenAuth(grpc.aio.ServerInterceptor):
    """Authenticates every call by its bearer token and checks the method's roles."""

    def __init__(self, token_file: Path | None, method_roles: Mapping[str, frozenset[str]],
                 *, reload_interval_s: float = 1.0,
                 on_refuse: Callable[[str, grpc.StatusCode], None] | None = None) -> None:
        self.token_file = token_file
        self.method_roles = dict(method_roles)
        self.reload_interval_s = reload_interval_s
        self.on_refuse = on_refuse  # called with (method, code) of each refused call
        self.store: TokenStore | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked_s = 0.0

    @property
    def enabled(self) -> bool:
        return self.token_file is not None

    def load(self) -> None:
        """Read the token file (at start; ConfigError when it is missing or malformed)."""
        if self.token_file is None:
            return
        self.store = TokenStore.load(self.token_file)
        self._stamp = self._file_stamp()
        self._checked_s = time.monotonic()
        log.info("tokens_loaded", token_file=str(self.token_file),
                 tokens=len(self.store.entries),
                 revoked=sum(e.revoked for e in self.store.entries))

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = Path(self.token_file or "").stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _maybe_reload(self) -> None:
        """Read the file again when it changed; a bad new file keeps the old tokens."""
        now = time.monotonic()
        if now - self._checked_s < self.reload_interval_s:
            return
        self._checked_s = now
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return
        try:
            self.store = TokenStore.load(self.token_file)  # type: ignore[arg-type]
            self._stamp = stamp
            log.info("tokens_reloaded", tokens=len(self.store.entries))
        except ConfigError as err:
            log.error("tokens_reload_failed", reason=str(err))

    def authenticate(self, metadata: Any) -> Identity:
        """The caller's identity; Refused(UNAUTHENTICATED) for no/unknown/revoked token."""
        if not self.enabled:
            return ANONYMOUS
        self._maybe_reload()
        token = bearer_token(metadata)
        entry = self.store.match(token) if self.store is not None else None
        if entry is None:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "unknown token")
        if entry.revoked:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED,
                          f"token {entry.identity.token_id!r} is revoked")
        return entry.identity

    def authorize(self, method: str, metadata: Any) -> Identity | None:
        """Authenticate and check `method`'s roles (None: a public method); Refused says
        why not."""
        roles = self.method_roles.get(method)
        if roles is None:  # deny by default: a method must be mapped to be callable
            raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                          f"{method} is not mapped to a role on this server")
        if roles == PUBLIC:
            return None
        identity = self.authenticate(metadata)
        if not any(identity.has(r) for r in roles):
            raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                          f"token {identity.token_id!r} lacks the role for {method.rsplit('/')[-1]}"
                          f" (needs one of: {', '.join(sorted(roles))})")
        return identity

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails],
                                         Awaitable[grpc.RpcMethodHandler]],
            details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED
            return handler
        method: str = details.method  # type: ignore[attr-defined]
        try:
            identity = self.authorize(method, details.invocation_metadata)  # type: ignore[attr-defined]
        except Refused as refused:
            log.info("auth_refused", method=method, code=refused.code.name,
                     reason=refused.message)
            if self.on_refuse is not None:
                self.on_refuse(method.rsplit("/", 1)[-1], refused.code)
            return _refusing(handler, refused)
        return handler if identity is None else _as(handler, identity)


def _refusing(handler: grpc.RpcMethodHandler, refused: Refused) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with `refused`'s status."""
    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(refused.code, refused.message)

    return _rebuild(handler, lambda _inner, _streaming: deny)


def _enter(identity: Identity) -> None:
    """Make `identity` the caller, and its token id part of every log line of the call."""
    _caller.set(identity)
    structlog.contextvars.bind_contextvars(token_id=identity.token_id)


def _as(handler: grpc.RpcMethodHandler, identity: Identity) -> grpc.RpcMethodHandler:
    """`handler`, run with `identity` as the caller. Each RPC runs in its own task (its own
    copy of the context), so the variable is set for that call only."""
    def wrap(inner: Any, _streaming: bool) -> Any:
        if inspect.isasyncgenfunction(inner):
            async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                _enter(identity)
                async for item in inner(request, context):
                    yield item
            return stream

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            _enter(identity)
            return await inner(request, context)
        return call

    return _rebuild(handler, wrap)


def _rebuild(handler: grpc.RpcMethodHandler,
             wrap: Callable[[Any, bool], Any]) -> grpc.RpcMethodHandler:
    """The same kind of handler with its behaviour replaced by wrap(behaviour, streaming)."""
    kinds = ((handler.unary_unary, grpc.unary_unary_rpc_method_handler, False),
             (handler.unary_stream, grpc.unary_stream_rpc_method_handler, True),
             (handler.stream_unary, grpc.stream_unary_rpc_method_handler, False),
             (handler.stream_stream, grpc.stream_stream_rpc_method_handler, True))
    for inner, make, streaming in kinds:
        if inner is not None:
            return make(wrap(inner, streaming),
                        request_deserializer=handler.request_deserializer,
                        response_serializer=handler.response_serializer)
    return handler
