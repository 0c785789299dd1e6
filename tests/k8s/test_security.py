"""Transport and secrets: every gRPC server on a network address has TLS and a token file,
every client of the encoder brings TLS and a token, Kafka is TLS with client certificates in
production (plaintext only in the local overlay, flagged), and every Secret a pod or KEDA
reads is made by something: cert-manager, Strimzi, or k8s/tokens.sh (run here, dry)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from functools import cache

import pytest
import yaml

from tests.k8s.manifests import K8S, TARGETS, all_containers, find, needs_kubectl, render
from tests.k8s.test_settings_env import _settings

pytestmark = needs_kubectl

PLAINTEXT_FLAG = ("mochat.io/transport", "plaintext-development")
_SERVICES = [c for c in all_containers() if c.command[1:2] == ["serve"]]


def _flagged_plaintext(container) -> bool:
    annotations = container.workload["spec"]["template"]["metadata"].get("annotations", {})
    return annotations.get(PLAINTEXT_FLAG[0]) == PLAINTEXT_FLAG[1]


@pytest.mark.parametrize("container", _SERVICES, ids=lambda c: c.id)
def test_network_servers_have_tls_and_tokens_and_clients_bring_them(container, monkeypatch):
    from mochat.security import is_loopback

    settings = _settings(container, monkeypatch)
    if hasattr(settings, "tls"):  # a gRPC server
        assert not is_loopback(settings.host), f"{container.id}: unreachable from the Service"
        assert settings.tls.enabled and not settings.insecure, container.id
        assert settings.auth.token_file is not None, container.id
    if container.command[2] == "encoder":
        assert settings.tls.require_client_cert and settings.tls.client_ca_file, container.id
    channel = getattr(settings, "encoder_channel", None)
    if channel is not None and getattr(settings, "encoder", None):
        assert not channel.insecure, container.id
        assert None not in (channel.ca_file, channel.cert_file, channel.key_file,
                            channel.token_file), f"{container.id}: {channel}"


@pytest.mark.parametrize("container", _SERVICES, ids=lambda c: c.id)
def test_kafka_is_tls_with_client_certificates_unless_flagged_development(container,
                                                                          monkeypatch):
    settings = _settings(container, monkeypatch)
    kafka = getattr(settings, "kafka", None)
    if kafka is None:
        return
    if container.target == "overlays/local":
        assert kafka.security_protocol == "PLAINTEXT" and _flagged_plaintext(container)
        return
    assert kafka.security_protocol == "SSL", container.id
    assert None not in (kafka.ssl_cafile, kafka.ssl_certfile, kafka.ssl_keyfile), container.id


@pytest.mark.parametrize("target", ["overlays/production", "overlays/gpu", "batch"])
def test_nothing_outside_the_local_overlay_is_flagged_plaintext(target):
    for obj in render(target):
        template = obj.get("spec", {}).get("template", {})
        annotations = template.get("metadata", {}).get("annotations", {})
        assert PLAINTEXT_FLAG[0] not in annotations, obj["metadata"]["name"]


@cache
def _tokens_sh() -> list[dict]:
    out = subprocess.run(["bash", str(K8S / "tokens.sh"), "--dry-run"], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _made_secrets(target: str) -> dict[str, set[str] | None]:
    """Secret name -> its keys (None: keys not known here) of everything the target makes,
    plus k8s/tokens.sh's Secrets."""
    objects = render(target)
    made: dict[str, set[str] | None] = {
        c["spec"]["secretName"]: {"tls.crt", "tls.key", "ca.crt"}
        for c in find(objects, "Certificate")}
    made |= {u["metadata"]["name"]: {"user.crt", "user.key", "user.p12", "user.password",
                                     "ca.crt"} for u in find(objects, "KafkaUser")}
    made |= {f"{k['metadata']['name']}-cluster-ca-cert": {"ca.crt", "ca.p12", "ca.password"}
             for k in find(objects, "Kafka")}
    made |= {s["metadata"]["name"]: set(s["data"]) for s in _tokens_sh()}
    return made


def _secret_uses(target: str) -> list[tuple[str, str, str]]:
    """(where, secret, key) for every Secret key a pod or a TriggerAuthentication reads."""
    uses = []
    for obj in render(target):
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        for ref in obj.get("spec", {}).get("secretTargetRef", []):
            uses.append((name, ref["name"], ref["key"]))
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for volume in pod.get("volumes", []):
            sources = [s["secret"] for s in volume.get("projected", {}).get("sources", [])
                       if "secret" in s]
            if "secret" in volume:
                sources.append({"name": volume["secret"]["secretName"], **volume["secret"]})
            for source in sources:
                for item in source.get("items", [{"key": None}]):
                    uses.append((name, source["name"], item["key"]))
    return uses


@pytest.mark.parametrize("target", TARGETS)
def test_every_secret_read_is_made_by_something(target):
    made = _made_secrets(target)
    for where, secret, key in _secret_uses(target):
        assert secret in made, f"{target}: {where} reads Secret {secret}, which nothing makes"
        if key is not None and made[secret] is not None:
            assert key in made[secret], f"{target}: {where}: {secret} has no key {key}"


def test_tokens_sh_makes_valid_secrets_whose_tokens_match_the_token_files(tmp_path):
    from mochat.auth import TokenStore
    from tests.k8s.test_validation import validate

    secrets = {s["metadata"]["name"]: {k: base64.b64decode(v).decode()
                                       for k, v in s["data"].items()} for s in _tokens_sh()}
    for secret in _tokens_sh():
        assert secret["metadata"]["namespace"] == "mochat"
        validate(secret)

    def roles(token_file: str, token: str) -> set[str]:
        path = tmp_path / f"{hashlib.sha256(token_file.encode()).hexdigest()}.yaml"
        path.write_text(token_file)
        entry = TokenStore.load(path).match(token)
        assert entry is not None and not entry.revoked
        return set(entry.identity.roles)

    encoder = secrets["mochat-encoder-tokens"]["tokens.yaml"]
    assert roles(encoder, secrets["mochat-ingest-encoder-token"]["token"]) == {"encode"}
    assert roles(encoder, secrets["mochat-llm-encoder-token"]["token"]) == {"encode"}
    llm = secrets["mochat-llm-tokens"]["tokens.yaml"]
    assert roles(llm, secrets["mochat-llm-client-token"]["token"]) == {"ask", "upload"}
    assert secrets["mochat-ingest-encoder-token"]["token"] not in encoder  # digests only
    assert len({s["token"] for s in secrets.values() if "token" in s}) == 3  # all different
