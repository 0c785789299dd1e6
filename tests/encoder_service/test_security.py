"""Access control of the encoder service: TLS (and mutual TLS), bearer tokens and roles,
refusals at start, the strict environment, and ingest's TLS + token channel to it.

The matrix in RELIABILITY.md ("Access control") lists each case with the code these tests
observe.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from encoder_service.access import METHOD_ROLES
from encoder_service.server import EncoderServer
from encoder_service.settings import EncoderSettings
from ingest.encoder_client import EncoderClient
from ingest.metrics import IngestMetrics
from ingest.windowing import Window
from mochat.errors import ConfigError
from mochat.security import ChannelSecurity
from protos.mochat.v1 import encoder_pb2, encoder_pb2_grpc
from tests.encoder_service.conftest import encode_request, make_window, running_server
from tests.tls_fixtures import TlsFiles, bearer

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


def _tls(files: TlsFiles, **extra: object) -> dict:
    return {"cert_file": files.server_cert, "key_file": files.server_key, **extra}


def test_every_method_is_mapped_to_a_role() -> None:
    methods = {f"/{s.full_name}/{m.name}" for s in (
        encoder_pb2.DESCRIPTOR.services_by_name["EncoderService"],
        health_pb2.DESCRIPTOR.services_by_name["Health"],
        reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]) for m in s.methods}
    assert methods - set(METHOD_ROLES) == set(), "a method without a role is refused"
    assert METHOD_ROLES["/mochat.v1.EncoderService/Encode"] == {"encode"}


async def _code(call) -> grpc.StatusCode:  # noqa: ANN001 - an awaitable gRPC call
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_the_token_and_role_matrix_over_tls(tiny_model: Path, tls_files: TlsFiles,
                                                   token_file: Path) -> None:
    client = ChannelSecurity(ca_file=tls_files.ca)
    async with running_server(tiny_model, client=client, tls=_tls(tls_files),
                              auth={"token_file": token_file}) as (server, channel):
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        request = encode_request(make_window("s1", 0, 16))
        wrong = (("authorization", "Bearer not-a-token"),)
        codes = {case: await _code(stub.Encode(request, metadata=metadata)) for case, metadata in {
            "no token": (), "wrong token": wrong, "wrong role (ask)": bearer("asker"),
            "revoked: true": bearer("gone"), "revoked list": bearer("listed"),
            "encode role": bearer("ingest"), "admin": bearer("ops")}.items()}
        info = await _code(stub.GetModelInfo(encoder_pb2.GetModelInfoRequest(),
                                             metadata=bearer("asker")))
        stream = stub.EncodeStream(iter([request]), metadata=bearer("asker"))
        streamed = await _code(stream.read())
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="mochat.v1.EncoderService"))  # no token
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
            metadata=bearer("ops"))
        reflected = await _code(reflection.read())
        value = server.metrics.registry.get_sample_value
        refused = value("mochat_encoder_requests_total",
                        {"method": "Encode", "code": "UNAUTHENTICATED"})
    assert codes == {"no token": UNAUTHENTICATED, "wrong token": UNAUTHENTICATED,
                     "wrong role (ask)": PERMISSION_DENIED, "revoked: true": UNAUTHENTICATED,
                     "revoked list": UNAUTHENTICATED, "encode role": grpc.StatusCode.OK,
                     "admin": grpc.StatusCode.OK}
    assert (info, streamed) == (PERMISSION_DENIED, PERMISSION_DENIED)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert reflected is grpc.StatusCode.UNIMPLEMENTED  # off unless `reflection: true`
    assert refused == 4  # refusals are counted like any other status


async def test_plaintext_and_untrusting_clients_cannot_connect_to_tls(
        tiny_model: Path, tls_files: TlsFiles) -> None:
    async with running_server(tiny_model, client=ChannelSecurity(ca_file=tls_files.ca),
                              tls=_tls(tls_files)) as (server, _channel):
        target = f"127.0.0.1:{server.port}"
        plain = ChannelSecurity(insecure=True).channel(target)
        other_ca = ChannelSecurity(ca_file=tls_files.other_ca).channel(target)
        codes = []
        for channel in (plain, other_ca):
            stub = health_pb2_grpc.HealthStub(channel)
            codes.append(await _code(stub.Check(health_pb2.HealthCheckRequest(), timeout=5)))
            await channel.close()
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2


async def test_mutual_tls_requires_a_client_certificate_from_the_client_ca(
        tiny_model: Path, tls_files: TlsFiles) -> None:
    mtls = _tls(tls_files, client_ca_file=tls_files.ca, require_client_cert=True)
    with_cert = ChannelSecurity(ca_file=tls_files.ca, cert_file=tls_files.client_cert,
                                key_file=tls_files.client_key)
    async with running_server(tiny_model, client=with_cert, tls=mtls) as (server, channel):
        ok = await _code(health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5))
        target = f"127.0.0.1:{server.port}"
        codes = []
        for security in (ChannelSecurity(ca_file=tls_files.ca),  # no certificate
                         ChannelSecurity(ca_file=tls_files.ca,  # signed by another CA
                                         cert_file=tls_files.other_client_cert,
                                         key_file=tls_files.other_client_key)):
            other = security.channel(target)
            codes.append(await _code(health_pb2_grpc.HealthStub(other).Check(
                health_pb2.HealthCheckRequest(), timeout=5)))
            await other.close()
    assert ok is grpc.StatusCode.OK
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2


async def test_ingest_reaches_the_encoder_over_tls_with_its_token(
        tiny_model: Path, tls_files: TlsFiles, token_file: Path) -> None:
    joints = np.random.default_rng(0).normal(0, 0.3, (16, 22, 3)).astype(np.float32)
    window = Window(stream_id="s1", window_id="s1:0", first_frame=0, last_frame=15,
                    layout="smpl22", fps=20.0, joints=joints, first_capture_time_us=0,
                    last_capture_time_us=750_000, interpolated_frames=0, min_offset=0,
                    complete=True)
    async with running_server(tiny_model, client=ChannelSecurity(ca_file=tls_files.ca),
                              tls=_tls(tls_files), auth={"token_file": token_file}) as (
            server, _channel):
        client = EncoderClient(f"localhost:{server.port}", IngestMetrics(), timeout_s=5.0,
                               security=ChannelSecurity(ca_file=tls_files.ca,
                                                        token="tok-ingest-0123456789"))
        try:
            (features,) = await client.encode([window])
        finally:
            await client.close()
    assert features is not None and features.window_id == "s1:0"


async def test_a_server_without_tls_or_the_plaintext_flag_refuses_to_start(
        tiny_model: Path, tls_files: TlsFiles) -> None:
    refusals = {
        "neither": ({}, "no TLS configured"),
        "plaintext on a network address": ({"insecure": True, "host": "0.0.0.0"},
                                           "not a loopback address"),
        "network address without tokens": ({"tls": _tls(tls_files), "host": "0.0.0.0"},
                                           "every caller would be anonymous"),
        "missing token file": ({"insecure": True,
                                "auth": {"token_file": tls_files.ca.parent / "none.yaml"}},
                               "token file .*none.yaml")}
    for overrides, match in refusals.values():
        server = EncoderServer(EncoderSettings(model=tiny_model, port=0, **overrides))
        with pytest.raises(ConfigError, match=match):
            await server.start()


def test_unknown_environment_variables_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                   tiny_model: Path) -> None:
    from encoder_service.cli import settings_from_args
    from mochat.cli import build_parser

    args = build_parser().parse_args(["serve", "encoder", "--model", str(tiny_model),
                                      "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"])
    monkeypatch.setenv("MOCHAT_ENCODER_TLS__CLIENT_CA_FILE", "ca.pem")  # nested: known
    settings = settings_from_args(args)
    assert (settings.tls.cert_file, settings.tls.client_ca_file) == (Path("c.pem"),
                                                                    Path("ca.pem"))
    monkeypatch.setenv("MOCHAT_ENCODER_TLS_CERT_FILE", "c.pem")  # one underscore: unknown
    with pytest.raises(ConfigError, match="MOCHAT_ENCODER_TLS_CERT_FILE; the known ones are"
                       ".*MOCHAT_ENCODER_TLS__CERT_FILE"):
        settings_from_args(args)

