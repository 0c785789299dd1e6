"""Connection settings shared by every Kafka client: the ingest consumer and producer, the
LLM service's features consumer, `mochat replay` and the topic admin.

Any Kafka works in production: set `bootstrap_servers` and, where the cluster needs them, the
SASL/SSL settings (nested in the services' settings: MOCHAT_INGEST_KAFKA__SECURITY_PROTOCOL,
MOCHAT_LLM_KAFKA__SASL_PASSWORD_FILE, ...; `mochat replay --security-protocol ...`). The
aiokafka keyword arguments of all of them come from `KafkaConnection.client_kwargs`, which
refuses a configuration that would not do what it says (a password nobody sends, a CA file
on a plaintext connection, a PLAIN password in clear over the network). The local Tansu
broker (`mochat broker`) needs none of them.
"""

from __future__ import annotations

import argparse
import os
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

from mochat.errors import ConfigError
from mochat.security import RefuseSecret, is_loopback

DEFAULT_TOPICS = ("mocap.frames", "mocap.features", "mocap.frames.dlq")
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
REPLAY_PASSWORD_ENV = "MOCHAT_REPLAY_SASL_PASSWORD"


class KafkaConnection(BaseModel):
    """Where the brokers are and how to authenticate (nested in the services' settings)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(default=None, description="file holding the "
                                            "SASL password (a mounted secret)")
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    client_id: str = "mochat-ingest"

    def password(self) -> str:
        """The SASL password, from sasl_password_file or sasl_password (one of them)."""
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ConfigError("Kafka: set sasl_password or sasl_password_file, not both")
        if self.sasl_password_file is not None:
            try:
                value = Path(self.sasl_password_file).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigError(f"Kafka: sasl_password_file {self.sasl_password_file}: "
                                  f"{err.strerror or err}") from None
            if not value:
                raise ConfigError(f"Kafka: sasl_password_file {self.sasl_password_file} is "
                                  "empty")
            return value
        if self.sasl_password is None or not self.sasl_password.get_secret_value():
            raise ConfigError(f"Kafka: {self.security_protocol} needs a password "
                              "(sasl_password_file or sasl_password)")
        return self.sasl_password.get_secret_value()

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient;
        ConfigError for a contradictory or incomplete security configuration."""
        protocol = self.security_protocol
        kw: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                              "security_protocol": protocol, "client_id": self.client_id}
        sasl = protocol.startswith("SASL")
        tls = protocol.endswith("SSL")
        if not sasl and (self.sasl_username or self.sasl_password or self.sasl_password_file):
            raise ConfigError(f"Kafka: SASL credentials are set but security_protocol is "
                              f"{protocol}, so they would not be sent; use SASL_SSL")
        ssl_files = {"ssl_cafile": self.ssl_cafile, "ssl_certfile": self.ssl_certfile,
                     "ssl_keyfile": self.ssl_keyfile}
        if not tls and any(ssl_files.values()):
            named = ", ".join(k for k, v in ssl_files.items() if v)
            raise ConfigError(f"Kafka: {named} set but security_protocol is {protocol}, so "
                              "the connection would not use TLS; use SSL or SASL_SSL")
        if sasl:
            if not self.sasl_username:
                raise ConfigError(f"Kafka: {protocol} needs sasl_username")
            if protocol == "SASL_PLAINTEXT" and self.sasl_mechanism == "PLAIN" and \
                    not all(is_loopback(h.rsplit(":", 1)[0])
                            for h in self.bootstrap_servers.split(",") if h.strip()):
                raise ConfigError("Kafka: SASL PLAIN over SASL_PLAINTEXT sends the password in "
                                  "clear to a non-loopback broker; use SASL_SSL (or SCRAM)")
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = self.password()
        if tls:
            kw["ssl_context"] = self._ssl_context()
        return kw

    def _ssl_context(self) -> ssl.SSLContext:
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ConfigError(f"Kafka: {name} {path}: no such file")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ConfigError("Kafka: ssl_keyfile needs ssl_certfile")
        try:
            ctx = ssl.create_default_context(cafile=self.ssl_cafile)
            ctx.check_hostname = self.ssl_check_hostname
            if self.ssl_certfile:
                ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        except ssl.SSLError as err:
            raise ConfigError(f"Kafka: cannot load the TLS files: {err.reason or err}") from None
        return ctx


def add_kafka_arguments(p: argparse.ArgumentParser) -> None:
    """`--bootstrap-servers` and the SASL/SSL flags of a Kafka CLI (`mochat replay`); the
    password comes from a file or MOCHAT_REPLAY_SASL_PASSWORD, never from the command line."""
    p.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    g = p.add_argument_group("Kafka security", "SASL/SSL of the connection to the brokers")
    g.add_argument("--security-protocol", choices=PROTOCOLS, default="PLAINTEXT")
    g.add_argument("--sasl-mechanism", choices=MECHANISMS, default="PLAIN")
    g.add_argument("--sasl-username")
    g.add_argument("--sasl-password-file", help="file holding the SASL password (default: "
                   f"the {REPLAY_PASSWORD_ENV} variable)")
    g.add_argument("--sasl-password", action=RefuseSecret,
                   instead=f"--sasl-password-file or {REPLAY_PASSWORD_ENV}")
    g.add_argument("--ssl-cafile", help="PEM CA of the brokers' certificates")
    g.add_argument("--ssl-certfile", help="PEM client certificate (mutual TLS)")
    g.add_argument("--ssl-keyfile", help="PEM client key (mutual TLS)")


def connection_from_args(args: argparse.Namespace, client_id: str) -> KafkaConnection:
    """The KafkaConnection of `add_kafka_arguments`' flags."""
    password = os.environ.get(REPLAY_PASSWORD_ENV) if args.sasl_password_file is None else None
    return KafkaConnection(
        bootstrap_servers=args.bootstrap_servers, security_protocol=args.security_protocol,
        sasl_mechanism=args.sasl_mechanism, sasl_username=args.sasl_username,
        sasl_password=SecretStr(password) if password else None,
        sasl_password_file=args.sasl_password_file, ssl_cafile=args.ssl_cafile,
        ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile, client_id=client_id)
