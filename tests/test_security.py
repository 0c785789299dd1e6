"""mochat.security (transport rules, client channels, the strict environment) and
mochat.auth (token files, bearer metadata, method roles), without a server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from mochat.auth import (
    ANONYMOUS,
    HEALTH_METHODS,
    PUBLIC,
    Refused,
    TokenAuth,
    TokenStore,
    bearer_token,
    hash_token,
)
from mochat.errors import ConfigError
from mochat.security import (
    ChannelSecurity,
    ServerTLS,
    check_environment,
    check_transport,
    is_loopback,
    target_host,
)
from tests.tls_fixtures import TOKENS, TlsFiles, write_token_file


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.7", False),
    ("encoder-service", False)])  # names other than localhost are not resolved
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_target_hosts() -> None:
    assert [target_host(t) for t in ("127.0.0.1:50051", "[::1]:5", "dns:///svc:443",
                                      "unix:/tmp/s", "llm")] == \
        ["127.0.0.1", "::1", "svc", "localhost", "llm"]


def test_a_server_needs_tls_or_the_explicit_plaintext_flag_on_loopback(
        tls_files: TlsFiles) -> None:
    tls = ServerTLS(cert_file=tls_files.server_cert, key_file=tls_files.server_key)
    check_transport("0.0.0.0", tls, False, env_prefix="P_")  # TLS: any address
    check_transport("127.0.0.1", ServerTLS(), True, env_prefix="P_")  # dev: loopback
    with pytest.raises(ConfigError, match="no TLS configured: set P_TLS__CERT_FILE"):
        check_transport("127.0.0.1", ServerTLS(), False, env_prefix="P_")
    with pytest.raises(ConfigError, match="not a loopback address"):
        check_transport("0.0.0.0", ServerTLS(), True, env_prefix="P_")
    with pytest.raises(ConfigError, match="choose one"):
        check_transport("127.0.0.1", tls, True, env_prefix="P_")


def test_server_tls_refuses_half_configurations(tls_files: TlsFiles, tmp_path: Path) -> None:
    ServerTLS(cert_file=tls_files.server_cert, key_file=tls_files.server_key).credentials()
    with pytest.raises(ConfigError, match="both tls.cert_file and tls.key_file"):
        ServerTLS(cert_file=tls_files.server_cert).credentials()
    with pytest.raises(ConfigError, match="mutual TLS needs both"):
        ServerTLS(cert_file=tls_files.server_cert, key_file=tls_files.server_key,
                  client_ca_file=tls_files.ca).credentials()  # CA without the requirement
    with pytest.raises(ConfigError, match="tls.key_file .*gone.key"):
        ServerTLS(cert_file=tls_files.server_cert, key_file=tmp_path / "gone.key").credentials()


def test_client_channels_refuse_plaintext_to_a_network_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        ChannelSecurity(insecure=True).channel("encoder-service:50051")
    with pytest.raises(ConfigError, match="choose one"):
        ChannelSecurity(insecure=True, ca_file=tmp_path / "ca.crt").channel("127.0.0.1:1")
    with pytest.raises(ConfigError, match="both cert_file and key_file"):
        ChannelSecurity(cert_file=tmp_path / "c.crt").channel("127.0.0.1:1")


def test_the_client_token_comes_from_a_file_or_the_setting(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("s3cret\n")
    assert ChannelSecurity(token_file=tmp_path / "t").metadata() == \
        (("authorization", "Bearer s3cret"),)  # the file's newline is not part of it
    assert ChannelSecurity(token="abc").metadata() == (("authorization", "Bearer abc"),)
    assert ChannelSecurity().metadata() == ()
    with pytest.raises(ConfigError, match="not both"):
        ChannelSecurity(token="abc", token_file=tmp_path / "t").bearer()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        ChannelSecurity(token_file=tmp_path / "empty").bearer()


class _Inner(BaseModel):
    bootstrap_servers: str = "x"


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="T_SVC_", env_nested_delimiter="__")
    port: int = 1
    kafka: _Inner = _Inner()
    maybe: _Inner | None = None


def test_unknown_prefixed_variables_are_an_error_listing_the_known_names() -> None:
    check_environment(_Settings, {"T_SVC_PORT": "2", "T_SVC_KAFKA__BOOTSTRAP_SERVERS": "h",
                                  "t_svc_maybe__bootstrap_servers": "h",  # any case
                                  "T_SVC_KAFKA": "{}", "T_OTHER_X": "ignored", "PATH": "/"})
    with pytest.raises(ConfigError) as err:
        check_environment(_Settings, {"T_SVC_BOOTSTRAP_SERVERS": "h", "T_SVC_PROT": "1"})
    message = str(err.value)
    assert "T_SVC_BOOTSTRAP_SERVERS, T_SVC_PROT;" in message
    assert "T_SVC_KAFKA__BOOTSTRAP_SERVERS" in message and "T_SVC_PORT" in message


# -- tokens ------------------------------------------------------------------------------

def test_a_token_file_matches_hashed_and_plain_tokens(tmp_path: Path) -> None:
    store = TokenStore.load(write_token_file(tmp_path / "t.yaml"))
    for tid, (secret, roles, _extra) in TOKENS.items():
        entry = store.match(secret)
        assert entry is not None and entry.identity.token_id == tid
        assert entry.identity.roles == frozenset(roles)
        assert entry.revoked is (tid in ("gone", "listed"))  # revoked: true, or listed
    assert store.match("tok-asker-012345678") is None  # one character short
    ward = store.match(TOKENS["ward"][0]).identity  # type: ignore[union-attr]
    assert ward.may_read("ward-3-bed-1") and not ward.may_read("icu-1")
    ops = store.match(TOKENS["ops"][0]).identity  # type: ignore[union-attr]
    assert ops.has("encode") and ops.has("upload") and ops.may_read("icu-1")  # admin


@pytest.mark.parametrize("spec,match", [
    ({"roles": ["ask"]}, "exactly one of sha256 and token"),
    ({"sha256": "ab", "roles": ["ask"]}, "64 hex digits"),
    ({"token": "t", "roles": ["aks"]}, r"unknown roles \['aks'\]; expected ask, upload"),
    ({"token": "t", "roles": []}, "non-empty list"),
    ({"token": "t", "roles": ["ask"], "role": "x"}, "unknown keys"),
    ({"token": "t", "roles": ["ask"], "streams": "a*"}, "list of stream id patterns")])
def test_a_malformed_token_entry_is_a_config_error(tmp_path: Path, spec: dict,
                                                    match: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"tokens": {"x": spec}}))
    with pytest.raises(ConfigError, match=match):
        TokenStore.load(path)


def test_token_file_errors_never_quote_a_token(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"tokens": {"x": {"token": "very-secret", "roles": ["nope"]}}}')
    with pytest.raises(ConfigError) as err:
        TokenStore.load(path)
    assert "very-secret" not in str(err.value)
    with pytest.raises(ConfigError, match="token file .*gone.yaml"):
        TokenStore.load(tmp_path / "gone.yaml")
    assert hash_token("abc") == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")


@pytest.mark.parametrize("metadata,code_or_token", [
    ((("authorization", "Bearer abc"),), "abc"),
    ((("authorization", "bearer  abc "),), "abc"),
    ((("x-other", "1"), ("authorization", b"Bearer abc")), "abc"),
    ((), grpc.StatusCode.UNAUTHENTICATED),
    ((("authorization", "Basic YTpi"),), grpc.StatusCode.UNAUTHENTICATED),
    ((("authorization", "Bearer "),), grpc.StatusCode.UNAUTHENTICATED)])
def test_bearer_metadata(metadata: tuple, code_or_token: object) -> None:
    if isinstance(code_or_token, str):
        assert bearer_token(metadata) == code_or_token
    else:
        with pytest.raises(Refused) as err:
            bearer_token(metadata)
        assert err.value.code is code_or_token


def test_authorize_maps_methods_to_roles_and_denies_unmapped_ones(tmp_path: Path) -> None:
    roles = {**dict.fromkeys(HEALTH_METHODS, PUBLIC), "/s/Do": frozenset({"ask"})}
    auth = TokenAuth(write_token_file(tmp_path / "t.yaml"), roles)
    auth.load()
    ask = (("authorization", f"Bearer {TOKENS['asker'][0]}"),)
    assert auth.authorize("/s/Do", ask).token_id == "asker"  # type: ignore[union-attr]
    assert auth.authorize(HEALTH_METHODS[0], ()) is None  # public: no identity needed
    cases = {"/s/Other": (ask, grpc.StatusCode.PERMISSION_DENIED),  # not mapped
             "/s/Do": ((("authorization", f"Bearer {TOKENS['ingest'][0]}"),),
                       grpc.StatusCode.PERMISSION_DENIED)}
    for method, (metadata, code) in cases.items():
        with pytest.raises(Refused) as err:
            auth.authorize(method, metadata)
        assert err.value.code is code
    for secret in ("nope", TOKENS["gone"][0], TOKENS["listed"][0]):
        with pytest.raises(Refused) as err:
            auth.authorize("/s/Do", (("authorization", f"Bearer {secret}"),))
        assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
        assert secret not in err.value.message  # the message names the id, never the token
    off = TokenAuth(None, roles)  # no token file: everyone is the anonymous admin
    assert off.authorize("/s/Do", ()) == ANONYMOUS


def test_a_changed_token_file_is_read_again(tmp_path: Path) -> None:
    path = write_token_file(tmp_path / "t.yaml")
    auth = TokenAuth(path, {"/s/Do": frozenset({"ask"})}, reload_interval_s=0.0)
    auth.load()
    ask = (("authorization", f"Bearer {TOKENS['asker'][0]}"),)
    auth.authorize("/s/Do", ask)
    write_token_file(path, revoked=("listed", "asker"))
    with pytest.raises(Refused, match="'asker' is revoked"):
        auth.authorize("/s/Do", ask)
    path.write_text("tokens: [broken")  # a bad new file keeps the tokens it had
    with pytest.raises(Refused, match="'asker' is revoked"):
        auth.authorize("/s/Do", ask)
