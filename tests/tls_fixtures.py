"""Throwaway TLS material and token files for the services' tests.

At session start a self-signed CA signs a server certificate for 127.0.0.1 / localhost and a
client certificate (mutual TLS), all in a temporary directory; a second, unrelated CA lets a
test present a client certificate the server must not trust. `token_file` writes a token
file of the roles the access tests use, with each token's secret known to the test.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mochat.auth import hash_token


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # signs nothing the server trusts
    other_client_cert: Path
    other_client_key: Path


def _key():  # noqa: ANN202 - cryptography's private key type
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, cert, key=None) -> None:  # noqa: ANN001
    from cryptography.hazmat.primitives import serialization

    if key is None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool,  # noqa: ANN001
          sans: list | None = None, client: bool = False):  # noqa: ANN202
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_name or name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def make_tls_files(out: Path) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate it
    signed, plus another CA with its own client certificate."""
    from cryptography import x509

    paths = {}
    for label in ("", "other_"):
        ca_key = _key()
        ca = _cert(f"mochat test {label}CA", ca_key, None, None, ca=True)
        _write(out / f"{label}ca.crt", ca)
        client_key = _key()
        client = _cert(f"{label}client", client_key, ca.subject, ca_key, ca=False, client=True)
        _write(out / f"{label}client.crt", client)
        _write(out / f"{label}client.key", None, client_key)
        paths[label] = (ca, ca_key)
    ca, ca_key = paths[""]
    server_key = _key()
    server = _cert("mochat test server", server_key, ca.subject, ca_key, ca=False,
                   sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                         x509.DNSName("localhost")])
    _write(out / "server.crt", server)
    _write(out / "server.key", None, server_key)
    return TlsFiles(ca=out / "ca.crt", server_cert=out / "server.crt",
                    server_key=out / "server.key", client_cert=out / "client.crt",
                    client_key=out / "client.key", other_ca=out / "other_ca.crt",
                    other_client_cert=out / "other_client.crt",
                    other_client_key=out / "other_client.key")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    pytest.importorskip("cryptography")
    return make_tls_files(tmp_path_factory.mktemp("tls"))


# token id -> (secret, roles, extra keys); the secrets are what clients send
TOKENS: dict[str, tuple[str, list[str], dict]] = {
    "asker": ("tok-asker-0123456789", ["ask"], {}),
    "asker2": ("tok-asker2-0123456789", ["ask"], {}),
    "uploader": ("tok-uploader-0123456789", ["upload", "ask"], {}),
    "ward": ("tok-ward-0123456789", ["ask"], {"streams": ["ward-*"]}),
    "ingest": ("tok-ingest-0123456789", ["encode"], {}),
    "ops": ("tok-ops-0123456789", ["admin"], {}),
    "gone": ("tok-gone-0123456789", ["ask", "encode"], {"revoked": True}),
    "listed": ("tok-listed-0123456789", ["ask", "encode"], {}),
}


def write_token_file(path: Path, *, revoked: tuple[str, ...] = ("listed",)) -> Path:
    """A token file of TOKENS (hashes only, one plain `token` entry to cover that form)."""
    tokens = {}
    for tid, (secret, roles, extra) in TOKENS.items():
        entry = {"token": secret} if tid == "asker2" else {"sha256": hash_token(secret)}
        tokens[tid] = entry | {"roles": roles} | extra
    path.write_text(yaml.safe_dump({"tokens": tokens, "revoked": list(revoked)}))
    return path


def bearer(token_id: str) -> tuple[tuple[str, str], ...]:
    """Call metadata of the token TOKENS names `token_id`."""
    return (("authorization", f"Bearer {TOKENS[token_id][0]}"),)


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_token_file(tmp_path_factory.mktemp("tokens") / "tokens.yaml")
