"""Access control of the LLM service: TLS, bearer tokens and roles per method, uploads need
`upload`, sessions belong to the token that opened them, token stream patterns, the upload
path to a TLS + token encoder service, `mochat ask` with TLS and a token, refusals at start
and the strict environment.

The matrix in RELIABILITY.md ("Access control") lists each case with the code these tests
observe.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from encoder_service.server import EncoderServer
from encoder_service.settings import EncoderSettings
from llm_service.access import METHOD_ROLES
from llm_service.client import add_arguments, run
from llm_service.server import LlmServer
from llm_service.settings import LlmSettings
from mochat.errors import ConfigError
from mochat.security import ChannelSecurity
from protos.convert import array_to_proto
from protos.mochat.v1 import llm_pb2
from tests.llm_service.conftest import (
    GatedPipeline,
    random_joints,
    running_server,
    stored_window,
)
from tests.tls_fixtures import TOKENS, TlsFiles, bearer

session_loop = pytest.mark.asyncio(loop_scope="session")  # the session's model fixtures
OK, UNAUTHENTICATED = grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


def _tls(files: TlsFiles) -> dict:
    return {"cert_file": files.server_cert, "key_file": files.server_key}


def _upload(frames: int = 24) -> llm_pb2.CreateSessionRequest:
    seq = llm_pb2.UploadedSequence(name="rehab-1", layout="smpl22", fps=20.0)
    array_to_proto(random_joints(frames, seed=3), seq.joints)
    return llm_pb2.CreateSessionRequest(sequence=seq)


async def _code(call) -> grpc.StatusCode:  # noqa: ANN001 - an awaitable gRPC call
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return OK


def test_every_method_is_mapped_to_a_role() -> None:
    service = llm_pb2.DESCRIPTOR.services_by_name["LlmService"]
    methods = {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert methods - set(METHOD_ROLES) == set(), "a method without a role is refused"
    assert METHOD_ROLES["/mochat.v1.LlmService/Ask"] == {"ask"}


@session_loop
async def test_the_token_and_role_matrix_over_tls(gated: GatedPipeline, tiny_checkpoint: Path,
                                                   tls_files: TlsFiles, token_file: Path):
    async with running_server(gated, tiny_checkpoint, tls=_tls(tls_files),
                              auth={"token_file": token_file},
                              client=ChannelSecurity(ca_file=tls_files.ca)) as (server, stub):
        dim = server.pipeline.model.encoder.feature_dim
        for stream in ("s1", "ward-1"):
            server.runtime.store.add(stored_window(stream, 0, 16, dim))
        ask = llm_pb2.AskRequest(stream_id="s1", question="What happens?")
        wrong = (("authorization", "Bearer not-a-token"),)
        codes = {case: await _code(stub.Ask(ask, metadata=metadata)) for case, metadata in {
            "no token": (), "wrong token": wrong, "wrong role (encode)": bearer("ingest"),
            "revoked: true": bearer("gone"), "revoked list": bearer("listed"),
            "ask role": bearer("asker"), "admin": bearer("ops")}.items()}
        streamed = await _code(stub.AskStream(ask, metadata=bearer("ingest")).read())
        ward = {stream: await _code(stub.Ask(llm_pb2.AskRequest(stream_id=stream,
                                                                question="What happens?"),
                                             metadata=bearer("ward")))
                for stream in ("s1", "ward-1")}
        uploads = {tid: await _code(stub.CreateSession(_upload(), metadata=bearer(tid)))
                   for tid in ("asker", "uploader")}
        async with ChannelSecurity(ca_file=tls_files.ca).channel(
                f"127.0.0.1:{server.port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="mochat.v1.LlmService"))  # no token
    assert codes == {"no token": UNAUTHENTICATED, "wrong token": UNAUTHENTICATED,
                     "wrong role (encode)": PERMISSION_DENIED, "revoked: true": UNAUTHENTICATED,
                     "revoked list": UNAUTHENTICATED, "ask role": OK, "admin": OK}
    assert streamed is PERMISSION_DENIED
    assert ward == {"s1": PERMISSION_DENIED, "ward-1": OK}  # streams: ["ward-*"]
    assert uploads == {"asker": PERMISSION_DENIED, "uploader": OK}  # upload needs `upload`
    assert health.status == health_pb2.HealthCheckResponse.SERVING


@session_loop
async def test_a_session_belongs_to_the_token_that_opened_it(
        gated: GatedPipeline, tiny_checkpoint: Path, tls_files: TlsFiles, token_file: Path):
    async with running_server(gated, tiny_checkpoint, tls=_tls(tls_files),
                              auth={"token_file": token_file},
                              client=ChannelSecurity(ca_file=tls_files.ca)) as (server, stub):
        server.runtime.store.add(stored_window("s1", 0, 16,
                                               server.pipeline.model.encoder.feature_dim))
        session = await stub.CreateSession(llm_pb2.CreateSessionRequest(stream_id="s1"),
                                           metadata=bearer("asker"))
        follow_up = llm_pb2.AskRequest(session_id=session.session_id, question="And then?")
        end = llm_pb2.EndSessionRequest(session_id=session.session_id)
        other_ask = await _code(stub.Ask(follow_up, metadata=bearer("asker2")))
        other_end = await _code(stub.EndSession(end, metadata=bearer("asker2")))
        own_ask = await _code(stub.Ask(follow_up, metadata=bearer("asker")))
        admin_end = await _code(stub.EndSession(end, metadata=bearer("ops")))
    assert (other_ask, other_end) == (PERMISSION_DENIED, PERMISSION_DENIED)
    assert (own_ask, admin_end) == (OK, OK)


@session_loop
async def test_calls_in_flight_are_counted_per_token(
        gated: GatedPipeline, tiny_checkpoint: Path, tls_files: TlsFiles, token_file: Path):
    # both tokens come from the same host: with tokens on, each token has its own limit
    async with running_server(gated, tiny_checkpoint, tls=_tls(tls_files),
                              auth={"token_file": token_file}, max_inflight_per_client=1,
                              client=ChannelSecurity(ca_file=tls_files.ca)) as (server, stub):
        server.runtime.store.add(stored_window("s1", 0, 16,
                                               server.pipeline.model.encoder.feature_dim))
        ask = llm_pb2.AskRequest(stream_id="s1", question="What happens?")
        gated.gate.clear()
        held = asyncio.ensure_future(stub.Ask(ask, metadata=bearer("asker")))
        await asyncio.to_thread(gated.entered.wait, 10)
        second = await _code(stub.Ask(ask, metadata=bearer("asker")))
        other = asyncio.ensure_future(stub.Ask(ask, metadata=bearer("asker2")))
        await asyncio.sleep(0.1)
        gated.gate.set()
        await asyncio.gather(held, other)
    assert second is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert set(server.inflight.inflight) == set()  # id:asker and id:asker2 came and went


@session_loop
async def test_a_plaintext_client_cannot_reach_a_tls_server(
        gated: GatedPipeline, tiny_checkpoint: Path, tls_files: TlsFiles):
    async with running_server(gated, tiny_checkpoint, tls=_tls(tls_files),
                              client=ChannelSecurity(ca_file=tls_files.ca)) as (server, _stub):
        channel = ChannelSecurity(insecure=True).channel(f"127.0.0.1:{server.port}")
        code = await _code(health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5))
        await channel.close()
    assert code is grpc.StatusCode.UNAVAILABLE


@session_loop
async def test_uploads_reach_a_tls_encoder_service_with_the_services_token(
        gated: GatedPipeline, tiny_checkpoint: Path, encoder_onnx: Path, tls_files: TlsFiles,
        token_file: Path, tmp_path: Path):
    encoder = EncoderServer(EncoderSettings(model=encoder_onnx, port=0, log_level="warning",
                                            tls=_tls(tls_files),
                                            auth={"token_file": token_file}))
    port = await encoder.start()
    (tmp_path / "llm.token").write_text(TOKENS["ingest"][0] + "\n")  # has `encode`
    (tmp_path / "bad.token").write_text(TOKENS["asker"][0])  # lacks it
    try:
        channel = {"ca_file": tls_files.ca, "token_file": tmp_path / "llm.token"}
        async with running_server(gated, tiny_checkpoint, encoder=f"127.0.0.1:{port}",
                                  encoder_channel=channel) as (server, stub):
            session = await stub.CreateSession(_upload())
            uploaded = server.runtime.sessions.get(session.session_id).uploaded
        bad = LlmServer(LlmSettings(model=tiny_checkpoint, port=0, consume=False,
                                    insecure=True, encoder=f"127.0.0.1:{port}",
                                    encoder_channel=channel | {"token_file":
                                                               tmp_path / "bad.token"}),
                        pipeline=gated)
        with pytest.raises(ConfigError, match="refused this service's token"):
            await bad.start()  # checked at start, not at the first upload
    finally:
        await encoder.stop(grace_s=0.5)
    assert uploaded.features.shape[0] == 24
    assert encoder.metrics.registry.get_sample_value("mochat_encoder_windows_total") == 1


def _ask_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@session_loop
async def test_mochat_ask_speaks_tls_with_a_token(
        gated: GatedPipeline, tiny_checkpoint: Path, tls_files: TlsFiles, token_file: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    async with running_server(gated, tiny_checkpoint, tls=_tls(tls_files),
                              auth={"token_file": token_file},
                              client=ChannelSecurity(ca_file=tls_files.ca)) as (server, _stub):
        server.runtime.store.add(stored_window("cam", 0, 16,
                                               server.pipeline.model.encoder.feature_dim))
        base = ("What happens?", "--server", f"127.0.0.1:{server.port}", "--stream", "cam",
                "--ca-file", str(tls_files.ca), "--json")
        refused = await asyncio.to_thread(run, _ask_args(*base))  # no token
        refused_err = capsys.readouterr().err
        monkeypatch.setenv("MOCHAT_ASK_TOKEN", TOKENS["asker"][0])
        answered = await asyncio.to_thread(run, _ask_args(*base))
        plain = await asyncio.to_thread(run, _ask_args(*base[:5], "--insecure"))
    assert (refused, answered, plain) == (1, 0, 1)
    assert "UNAUTHENTICATED" in refused_err
    with pytest.raises(SystemExit):  # a token is never a command-line argument
        _ask_args(*base, "--token", "x")


@session_loop
async def test_the_server_refuses_to_start_without_tls_or_the_plaintext_flag(
        gated: GatedPipeline, tiny_checkpoint: Path, tls_files: TlsFiles):
    for overrides, match in (({}, "no TLS configured: set MOCHAT_LLM_TLS__CERT_FILE"),
                             ({"insecure": True, "host": "0.0.0.0"}, "not a loopback"),
                             ({"tls": _tls(tls_files), "host": "0.0.0.0"},
                              "MOCHAT_LLM_AUTH__TOKEN_FILE")):
        server = LlmServer(LlmSettings(model=tiny_checkpoint, port=0, consume=False,
                                       **overrides), pipeline=gated)
        with pytest.raises(ConfigError, match=match):
            await server.start()


def test_unknown_environment_variables_are_refused(monkeypatch: pytest.MonkeyPatch):
    from llm_service.cli import register_serve, settings_from_args

    parser = argparse.ArgumentParser()
    register_serve(parser.add_subparsers())
    args = parser.parse_args(["llm", "--insecure", "--token-file", "t.yaml"])
    monkeypatch.setenv("MOCHAT_LLM_KAFKA__SASL_PASSWORD_FILE", "/run/pw")
    monkeypatch.setenv("MOCHAT_LLM_ENCODER_CHANNEL__CA_FILE", "/tls/ca.crt")
    settings = settings_from_args(args)
    assert (settings.insecure, settings.auth.token_file) == (True, Path("t.yaml"))
    assert settings.encoder_channel.ca_file == Path("/tls/ca.crt")
    monkeypatch.setenv("MOCHAT_LLM_BOOTSTRAP_SERVERS", "kafka:9092")  # the old, wrong name
    with pytest.raises(ConfigError, match="unknown MOCHAT_LLM_. environment variable.*: "
                       "MOCHAT_LLM_BOOTSTRAP_SERVERS;.*MOCHAT_LLM_KAFKA__BOOTSTRAP_SERVERS"):
        settings_from_args(args)
