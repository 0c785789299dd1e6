"""Kafka SASL/SSL: the one aiokafka kwargs builder every client uses (ingest, the LLM
service's consumer, `mochat replay`), its refusals, replay's security flags; the encoder
channel's refusal of plaintext to a network address; the strict MOCHAT_INGEST_* environment.

Tansu (the test broker) speaks neither SASL nor TLS, so these check the kwargs and the
refusals without a broker; nothing here has run against a real SASL/TLS Kafka.
"""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

import pytest

from ingest.kafka import KafkaConnection
from ingest.replay import add_arguments, run_cli
from mochat.errors import ConfigError
from tests.tls_fixtures import TlsFiles


def test_plaintext_is_just_the_brokers() -> None:
    assert KafkaConnection(bootstrap_servers="k:9092", client_id="c").client_kwargs() == {
        "bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT", "client_id": "c"}


def test_sasl_ssl_with_scram_a_password_file_and_a_client_certificate(
        tls_files: TlsFiles, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    kw = KafkaConnection(
        bootstrap_servers="kafka-0.kafka:9093", security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="ingest",
        sasl_password_file=tmp_path / "pw", ssl_cafile=str(tls_files.ca),
        ssl_certfile=str(tls_files.client_cert), ssl_keyfile=str(tls_files.client_key)
    ).client_kwargs()
    assert (kw["security_protocol"], kw["sasl_mechanism"], kw["sasl_plain_username"],
            kw["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-512", "ingest", "s3cret")
    ctx = kw["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and ctx.check_hostname
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert len(ctx.get_ca_certs()) == 1  # the CA file only, not the system roots


SECRET = "hunter2-secret"


@pytest.mark.parametrize("fields,match", [
    ({"security_protocol": "SASL_SSL", "sasl_password": SECRET}, "needs sasl_username"),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "needs a password"),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": SECRET,
      "sasl_password_file": "pw.txt"}, "not both"),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u",
      "sasl_password_file": "/nonexistent/pw"}, "sasl_password_file /nonexistent/pw"),
    ({"sasl_username": "u", "sasl_password": SECRET}, "would not be sent"),
    ({"ssl_cafile": "ca.crt"}, "would not use TLS"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": SECRET,
      "bootstrap_servers": "kafka:9092"}, "password in clear"),
    ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.crt"}, "no such file"),
    ({"security_protocol": "SSL", "ssl_keyfile": __file__}, "needs ssl_certfile")])
def test_contradictory_or_incomplete_security_is_refused(fields: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        KafkaConnection(**fields).client_kwargs()
    assert SECRET not in str(err.value)


def test_sasl_plaintext_is_allowed_with_scram_or_to_a_loopback_broker() -> None:
    for fields in ({"sasl_mechanism": "SCRAM-SHA-256", "bootstrap_servers": "kafka:9092"},
                   {"sasl_mechanism": "PLAIN", "bootstrap_servers": "127.0.0.1:9092"}):
        kw = KafkaConnection(security_protocol="SASL_PLAINTEXT", sasl_username="u",
                             sasl_password="pw", **fields).client_kwargs()
        assert "ssl_context" not in kw and kw["sasl_plain_password"] == "pw"


def _replay_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["walk.npy", *argv])


def test_replay_takes_sasl_ssl_flags_and_the_password_from_a_file_or_env(
        tls_files: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.kafka import connection_from_args

    (tmp_path / "pw").write_text("from-file")
    flags = ("--bootstrap-servers", "kafka:9093", "--security-protocol", "SASL_SSL",
             "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", "replay",
             "--ssl-cafile", str(tls_files.ca))
    kw = connection_from_args(_replay_args(*flags, "--sasl-password-file", str(tmp_path / "pw")),
                              "mochat-replay").client_kwargs()
    assert (kw["sasl_plain_username"], kw["sasl_plain_password"], kw["client_id"]) == \
        ("replay", "from-file", "mochat-replay")
    monkeypatch.setenv("MOCHAT_REPLAY_SASL_PASSWORD", "from-env")
    kw = connection_from_args(_replay_args(*flags), "mochat-replay").client_kwargs()
    assert kw["sasl_plain_password"] == "from-env"
    with pytest.raises(SystemExit):  # no way to put the password on the command line
        _replay_args(*flags, "--sasl-password", "x")


def test_replay_refuses_bad_security_before_reading_files_or_connecting() -> None:
    args = _replay_args("--security-protocol", "SASL_SSL")  # walk.npy does not exist
    with pytest.raises(ConfigError, match="needs sasl_username"):
        run_cli(args)


def test_the_encoder_channel_refuses_plaintext_to_a_network_address() -> None:
    from ingest.encoder_client import EncoderClient
    from ingest.metrics import IngestMetrics
    from mochat.security import ChannelSecurity

    with pytest.raises(ConfigError, match="not a loopback address"):
        EncoderClient("encoder-service:50051", IngestMetrics(),
                      security=ChannelSecurity(insecure=True))


def test_unknown_environment_variables_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    from ingest.__main__ import build_parser, main, settings_from_args

    (tmp_path / "pw").write_text("pw")
    monkeypatch.setenv("MOCHAT_INGEST_KAFKA__SASL_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("MOCHAT_INGEST_ENCODER_CHANNEL__TOKEN_FILE", "/secrets/token")
    s = settings_from_args(build_parser().parse_args(["--encoder-insecure"]))
    assert s.kafka.sasl_password_file == tmp_path / "pw" and s.encoder_channel.insecure
    assert s.encoder_channel.token_file == Path("/secrets/token")
    # the name k8s/base/configmap.yaml used to set: it was silently ignored
    monkeypatch.setenv("MOCHAT_INGEST_BOOTSTRAP_SERVERS", "kafka:9092")
    with pytest.raises(ConfigError, match="MOCHAT_INGEST_BOOTSTRAP_SERVERS;.*"
                       "MOCHAT_INGEST_KAFKA__BOOTSTRAP_SERVERS"):
        settings_from_args(build_parser().parse_args([]))
    assert main([]) == 2  # the entry point reports it and exits, no traceback
