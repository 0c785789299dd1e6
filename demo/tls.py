"""Throwaway transport security for one demo run: a CA, a server certificate for the
loopback address and bearer tokens, all written under the run folder.

The CA and the server certificate (127.0.0.1 and localhost, valid one day) are made with
`cryptography`, as tests/tls_fixtures.py makes the tests'. One token file serves both gRPC
servers: `demo-ingest` may encode (ingest -> encoder service), `demo-client` may ask
(this demo -> LLM service); the file stores their SHA-256 only, and each secret sits in its
own 0600 file that the client reads (never a command line or a log).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from mochat.auth import hash_token

# token id -> roles
DEMO_TOKENS: dict[str, list[str]] = {"demo-ingest": ["encode"], "demo-client": ["ask"]}


@dataclass(frozen=True)
class DemoSecurity:
    ca: Path  # PEM CA that signed the server certificate (clients trust it)
    server_cert: Path
    server_key: Path
    token_file: Path  # the servers' token file (hashes and roles)
    ingest_token: Path  # the secret of demo-ingest (role encode)
    client_token: Path  # the secret of demo-client (role ask)


def _private_write(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_demo_security(folder: Path) -> DemoSecurity:
    """Create the CA, the loopback server certificate and the tokens under `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def builder(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
                *, ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (builder("mochat demo CA (throwaway)", name("mochat demo CA (throwaway)"), ca_key,
                       ca=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, key_cert_sign=True, crl_sign=True,
                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, encipher_only=False, decipher_only=False),
                   critical=True)
               .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (builder("mochat demo server", ca_cert.subject, server_key, ca=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False)
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.DNSName("localhost")]), critical=False)
                   .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    (folder / "server.crt").write_bytes(server_cert.public_bytes(pem))
    _private_write(folder / "server.key", server_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    entries = {}
    for token_id, roles in DEMO_TOKENS.items():
        secret = secrets.token_urlsafe(24)
        _private_write(folder / f"{token_id}.token", secret.encode())
        entries[token_id] = {"sha256": hash_token(secret), "roles": roles}
    (folder / "tokens.yaml").write_text(yaml.safe_dump({"tokens": entries}))
    return DemoSecurity(ca=folder / "ca.crt", server_cert=folder / "server.crt",
                        server_key=folder / "server.key", token_file=folder / "tokens.yaml",
                        ingest_token=folder / "demo-ingest.token",
                        client_token=folder / "demo-client.token")
