"""Connection settings shared by every Kafka client of the ingest package.

Any Kafka works in production: set `bootstrap_servers` and, where the cluster needs them, the
SASL/SSL settings. The local Tansu broker (`mochat broker`) needs none of them.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

DEFAULT_TOPICS = ("mocap.frames", "mocap.features", "mocap.frames.dlq")


class KafkaConnection(BaseModel):
    """Where the brokers are and how to authenticate (nested in the services' settings)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id: str = "mochat-ingest"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient."""
        kw: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers,
                              "security_protocol": self.security_protocol,
                              "client_id": self.client_id}
        if self.security_protocol.startswith("SASL"):
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = (self.sasl_password.get_secret_value()
                                         if self.sasl_password else None)
        if self.security_protocol.endswith("SSL"):
            ctx = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            kw["ssl_context"] = ctx
        return kw
