"""k8s/healthcheck.py, the exec probe: SERVING over mutual TLS passes; NOT_SERVING, a
wrong CA, a missing client certificate and a closed port fail."""

from __future__ import annotations

import datetime
import importlib.util
from concurrent import futures
from pathlib import Path

import pytest

from tests.k8s.manifests import K8S

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_health")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402


def _load_script():
    spec = importlib.util.spec_from_file_location("healthcheck", K8S / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(name: str, issuer_key=None, issuer_name=None, ca: bool = False):
    """A P-256 key and certificate for `name` (self-signed when no issuer is given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_name or subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = (builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                                         critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]),
                                  critical=False))
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA, a server/client certificate it signed (as cert-manager's Secrets hold them:
    tls.crt, tls.key, ca.crt), and an unrelated CA."""
    out = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _issue("mochat-ca", ca=True)
    key, cert = _issue("encoder-service", ca_key, ca_cert.subject)
    _, other_ca = _issue("other-ca", ca=True)
    files = {"ca.crt": ca_cert.public_bytes(serialization.Encoding.PEM),
             "tls.crt": cert.public_bytes(serialization.Encoding.PEM),
             "tls.key": _pem_key(key),
             "other-ca.crt": other_ca.public_bytes(serialization.Encoding.PEM)}
    for name, data in files.items():
        (out / name).write_bytes(data)
    return {name: out / name for name in files}


@pytest.fixture(scope="module")
def server(pki):
    """A mutual-TLS gRPC server with only the health service, like the encoder's."""
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, srv)
    creds = grpc.ssl_server_credentials(
        [(pki["tls.key"].read_bytes(), pki["tls.crt"].read_bytes())],
        root_certificates=pki["ca.crt"].read_bytes(), require_client_auth=True)
    port = srv.add_secure_port("127.0.0.1:0", creds)
    srv.start()
    yield servicer, port
    srv.stop(None)


def _check(pki, port, *extra: str, ca: str = "ca.crt") -> int:
    return _load_script().main(["--port", str(port), "--ca-file", str(pki[ca]),
                                "--server-name", "encoder-service", "--timeout-s", "5",
                                *extra])


def _client_cert(pki) -> list[str]:
    return ["--cert-file", str(pki["tls.crt"]), "--key-file", str(pki["tls.key"])]


def test_serving_over_mutual_tls_passes_and_not_serving_fails(pki, server):
    servicer, port = server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert _check(pki, port, *_client_cert(pki)) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # loading, or draining
    assert _check(pki, port, *_client_cert(pki)) == 1
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)


def test_wrong_ca_missing_client_cert_and_closed_port_fail(pki, server, capsys):
    servicer, port = server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert _check(pki, port, *_client_cert(pki), ca="other-ca.crt") == 1
    assert _check(pki, port) == 1  # the server requires a client certificate
    assert _check(pki, 1, *_client_cert(pki)) == 1  # nothing listens on port 1
    assert "UNAVAILABLE" in capsys.readouterr().err
