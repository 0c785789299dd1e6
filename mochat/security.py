"""Transport security of every MoChat gRPC server and client, and the services' strict
environment.

Servers speak TLS (a certificate and key; mutual TLS with a client CA and
`require_client_cert`). Plaintext is for development only: it must be asked for
(`insecure: true`, `--insecure`) and is refused on any address that is not loopback, so a
server never listens on a network without TLS by accident. Clients mirror this: TLS with
the system roots or a CA file (a client certificate for mutual TLS, a server-name override
for certificates issued to another name) and a bearer token read from a file or secret;
plaintext only to a loopback target and only when asked.

grpc is imported inside the functions: settings import this module without the `grpc` extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr

from mochat.errors import ConfigError

DEV_WARNING = "plaintext gRPC (development only: no transport security)"


def is_loopback(host: str) -> bool:
    """A host that only this machine can reach: 127.0.0.0/8, ::1, localhost. Names other
    than localhost are not resolved (DNS may say anything), so they count as network."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def target_host(target: str) -> str:
    """The host of a gRPC target 'host:port', '[::1]:port', 'dns:///host:port'; a
    unix socket (local by construction) counts as localhost."""
    if target.startswith("unix:"):
        return "localhost"
    if "///" in target:
        target = target.split("///", 1)[1]
    if target.startswith("["):
        return target[1:].split("]", 1)[0]
    return target.rsplit(":", 1)[0] if target.count(":") == 1 else target


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{what} {path}: {err.strerror or err}") from None


class ServerTLS(BaseModel):
    """A gRPC server's certificate (e.g. MOCHAT_LLM_TLS__CERT_FILE, ..._TLS__KEY_FILE)."""

    cert_file: Path | None = Field(default=None,
                                   description="PEM certificate chain of the server")
    key_file: Path | None = Field(default=None, description="PEM private key of the server")
    client_ca_file: Path | None = Field(
        default=None, description="PEM CA that signs client certificates (mutual TLS; "
        "needs require_client_cert)")
    require_client_cert: bool = Field(
        default=False, description="refuse clients without a certificate signed by "
        "client_ca_file")

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None or self.key_file is not None

    def credentials(self) -> Any:
        """grpc.ServerCredentials; ConfigError for a half or unreadable configuration."""
        import grpc

        if self.cert_file is None or self.key_file is None:
            raise ConfigError("TLS needs both tls.cert_file and tls.key_file")
        if self.require_client_cert != (self.client_ca_file is not None):
            # gRPC Python verifies client certificates only when it requires them, so a CA
            # without the requirement would be silently unused.
            raise ConfigError("mutual TLS needs both tls.client_ca_file and "
                              "tls.require_client_cert=true (one is set without the other)")
        pair = (_read(self.key_file, "tls.key_file"), _read(self.cert_file, "tls.cert_file"))
        return grpc.ssl_server_credentials(
            [pair], root_certificates=_read(self.client_ca_file, "tls.client_ca_file"),
            require_client_auth=self.require_client_cert)


class AuthSettings(BaseModel):
    """Bearer-token authentication of a server (e.g. MOCHAT_LLM_AUTH__TOKEN_FILE)."""

    token_file: Path | None = Field(
        default=None, description="YAML/JSON token file (token id -> sha256 or token, "
        "roles, revoked); unset = no authentication, loopback only")
    reload_interval_s: float = Field(
        default=1.0, ge=0.0, description="how often the token file is checked for changes "
        "(revocations apply without a restart)")


def check_transport(host: str, tls: ServerTLS, insecure: bool, *, env_prefix: str) -> None:
    """A server's transport must be TLS, or plaintext explicitly asked for on loopback."""
    if tls.enabled and insecure:
        raise ConfigError(f"both TLS ({env_prefix}TLS__CERT_FILE) and plaintext "
                          f"({env_prefix}INSECURE) are set; choose one")
    if tls.enabled:
        return
    if not insecure:
        raise ConfigError(
            f"no TLS configured: set {env_prefix}TLS__CERT_FILE and {env_prefix}TLS__KEY_FILE "
            f"(--tls-cert-file/--tls-key-file), or, for development on a loopback address "
            f"only, {env_prefix}INSECURE=true (--insecure)")
    if not is_loopback(host):
        raise ConfigError(f"plaintext (insecure) is refused on {host!r}, which is not a "
                          "loopback address; configure TLS to listen on a network")


class ChannelSecurity(BaseModel):
    """How a client reaches a MoChat gRPC server: TLS options and a bearer token (nested in
    the services' settings, e.g. MOCHAT_INGEST_ENCODER_CHANNEL__CA_FILE)."""

    insecure: bool = Field(default=False, description="plaintext, to a loopback target "
                           "only (development)")
    ca_file: Path | None = Field(default=None, description="PEM CA of the server's "
                                 "certificate (unset: the system roots)")
    cert_file: Path | None = Field(default=None,
                                   description="PEM client certificate (mutual TLS)")
    key_file: Path | None = Field(default=None, description="PEM client key (mutual TLS)")
    server_name: str | None = Field(default=None, description="name to check the server's "
                                    "certificate against, when it is not the target's host")
    token_file: Path | None = Field(default=None, description="file holding the bearer "
                                    "token (a mounted secret)")
    token: SecretStr | None = Field(default=None, description="the bearer token itself "
                                    "(prefer token_file)")

    def bearer(self) -> str | None:
        """The token (from token_file or token), stripped; None when neither is set."""
        if self.token_file is not None and self.token is not None:
            raise ConfigError("set token_file or token, not both")
        if self.token_file is not None:
            raw = _read(self.token_file, "token_file")
            value = (raw or b"").decode("utf-8", "replace").strip()
            if not value:
                raise ConfigError(f"token_file {self.token_file} is empty")
            return value
        return self.token.get_secret_value().strip() if self.token is not None else None

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata carrying the token ('authorization: Bearer ...'), or none."""
        token = self.bearer()
        return (("authorization", f"Bearer {token}"),) if token else ()

    def channel(self, target: str, options: list[tuple[str, Any]] | None = None) -> Any:
        """A grpc.aio channel to `target`: TLS unless `insecure` (loopback only)."""
        import grpc

        return self._open(target, options, grpc.aio.insecure_channel, grpc.aio.secure_channel)

    def sync_channel(self, target: str, options: list[tuple[str, Any]] | None = None) -> Any:
        """The blocking grpc.Channel counterpart of `channel` (CLIs)."""
        import grpc

        return self._open(target, options, grpc.insecure_channel, grpc.secure_channel)

    def _open(self, target: str, options: list[tuple[str, Any]] | None,
              insecure: Any, secure: Any) -> Any:
        import grpc

        opts = list(options or [])
        host = target_host(target)
        if self.insecure:
            if any(v is not None for v in (self.ca_file, self.cert_file, self.key_file)):
                raise ConfigError("insecure (plaintext) and TLS files are both set; choose one")
            if not is_loopback(host):
                raise ConfigError(f"plaintext (insecure) to {target!r} is refused: not a "
                                  "loopback address; use TLS (ca_file, ...) instead")
            return insecure(target, options=opts)
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("a client certificate needs both cert_file and key_file")
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "ca_file"),
            private_key=_read(self.key_file, "key_file"),
            certificate_chain=_read(self.cert_file, "cert_file"))
        if self.server_name:
            opts.append(("grpc.ssl_target_name_override", self.server_name))
        return secure(target, creds, options=opts)


class RefuseSecret(argparse.Action):
    """A flag that would put a secret on the command line (visible in `ps`, shell history):
    refused with a pointer to the file or variable, never echoing the value. It also keeps
    argparse from taking `--token` as an abbreviation of `--token-file`."""

    def __init__(self, option_strings: list[str], dest: str, *, instead: str,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.instead = instead

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parser.error(f"{option_string} is refused: a secret on the command line is visible "
                     f"to other users; use {self.instead}")


def add_server_flags(p: argparse.ArgumentParser, env_prefix: str) -> None:
    """The transport and token flags of a `mochat serve` command (each also a variable)."""
    g = p.add_argument_group("security", f"TLS, tokens and plaintext ({env_prefix}TLS__*, "
                             f"{env_prefix}AUTH__TOKEN_FILE, {env_prefix}INSECURE)")
    g.add_argument("--tls-cert-file", help="PEM certificate chain of the server")
    g.add_argument("--tls-key-file", help="PEM private key of the server")
    g.add_argument("--tls-client-ca-file",
                   help="PEM CA of client certificates (mutual TLS; with --require-client-cert)")
    g.add_argument("--require-client-cert", action="store_true", default=None,
                   help="refuse clients without a certificate from --tls-client-ca-file")
    g.add_argument("--token-file", help="YAML/JSON token file (token id -> sha256, roles, "
                   "revoked); unset = no authentication (loopback only)")
    g.add_argument("--insecure", action="store_true", default=None,
                   help="plaintext gRPC, development only: refused on a non-loopback --host")
    g.add_argument("--reflection", action="store_true", default=None,
                   help="serve gRPC reflection (admin role)")


def server_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings overrides from `add_server_flags`' flags (unset flags leave the env's)."""
    out: dict[str, Any] = {}
    tls = {field: getattr(args, flag, None) for field, flag in (
        ("cert_file", "tls_cert_file"), ("key_file", "tls_key_file"),
        ("client_ca_file", "tls_client_ca_file"), ("require_client_cert", "require_client_cert"))}
    if any(v is not None for v in tls.values()):
        out["tls"] = {k: v for k, v in tls.items() if v is not None}
    if getattr(args, "token_file", None) is not None:
        out["auth"] = {"token_file": args.token_file}
    for name in ("insecure", "reflection"):
        if getattr(args, name, None) is not None:
            out[name] = getattr(args, name)
    return out


def env_names(settings_cls: type[BaseModel], prefix: str, delimiter: str | None) -> set[str]:
    """Every variable name (upper case) a pydantic-settings class reads: each field, and
    each field of a nested model under `delimiter` (PREFIX_KAFKA__BOOTSTRAP_SERVERS)."""
    names: set[str] = set()

    def walk(model: type[BaseModel], head: str) -> None:
        for name, field in model.model_fields.items():
            full = f"{head}{name}".upper()
            names.add(full)
            nested = _model_type(field.annotation)
            if nested is not None and delimiter:
                walk(nested, full + delimiter)

    walk(settings_cls, prefix)
    return names


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside `X`, `X | None`; None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def check_environment(settings_cls: type[Any], environ: Mapping[str, str] | None = None
                      ) -> None:
    """ConfigError naming every variable with the settings' prefix that no field reads (a
    misspelt MOCHAT_INGEST_BOOTSTRAP_SERVERS would otherwise be silently ignored)."""
    config = settings_cls.model_config
    prefix = str(config.get("env_prefix", "")).upper()
    known = env_names(settings_cls, prefix, config.get("env_nested_delimiter"))
    env = os.environ if environ is None else environ
    unknown = sorted(k for k in env if k.upper().startswith(prefix) and k.upper() not in known)
    if unknown:
        raise ConfigError(f"unknown {prefix}* environment variable(s): {', '.join(unknown)}; "
                          f"the known ones are: {', '.join(sorted(known))}")
