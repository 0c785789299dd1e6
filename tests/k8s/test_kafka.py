"""Strimzi in production agrees with the services' settings: KRaft with node pools, the
topics the settings name exist with partitions and retention, the bootstrap address and
transport match the listener, KEDA watches the ingest group, and each KafkaUser has only
the ACLs its client needs: only ingest (the encoder path) writes mocap.features."""

from __future__ import annotations

import pytest

from tests.k8s.manifests import containers, find, needs_kubectl, one, render
from tests.k8s.test_settings_env import _settings

pytestmark = needs_kubectl
TARGET = "overlays/production"


def _service_settings(name: str, monkeypatch):
    container = next(c for c in containers(TARGET) if c.workload["metadata"]["name"] == name)
    return container, _settings(container, monkeypatch)


def _acls(user: str) -> set[tuple[str, str, str]]:
    """(resource type, name, operation) of a KafkaUser."""
    spec = one(render(TARGET), "KafkaUser", user)["spec"]
    out = set()
    for acl in spec["authorization"]["acls"]:
        assert acl["resource"].get("patternType", "literal") == "literal", acl
        assert acl["resource"]["name"] != "*", acl
        for op in acl.get("operations", [acl.get("operation")]):
            assert op != "All", acl
            out.add((acl["resource"]["type"], acl["resource"]["name"], op))
    return out


def test_kafka_runs_kraft_with_node_pools():
    objects = render(TARGET)
    (kafka,) = find(objects, "Kafka")
    assert kafka["metadata"]["annotations"] == {"strimzi.io/kraft": "enabled",
                                                "strimzi.io/node-pools": "enabled"}
    assert "zookeeper" not in kafka["spec"]
    roles = {r for pool in find(objects, "KafkaNodePool") for r in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    for pool in find(objects, "KafkaNodePool"):
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert pool["spec"]["replicas"] >= 3


def test_topics_the_services_name_exist_with_partitions_and_retention(monkeypatch):
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t["spec"]
              for t in find(render(TARGET), "KafkaTopic")}
    _, ingest = _service_settings("ingest", monkeypatch)
    _, llm = _service_settings("llm-service", monkeypatch)
    named = {ingest.frames_topic, ingest.features_topic, ingest.dlq_topic, llm.features_topic}
    assert named == set(topics) == {"mocap.frames", "mocap.features", "mocap.frames.dlq"}
    for spec in topics.values():
        assert spec["partitions"] >= 1 and spec["replicas"] == 3
        assert int(spec["config"]["retention.ms"]) > 0
    # a restarted LLM replica warms its store from records younger than its retention
    assert int(topics["mocap.features"]["config"]["retention.ms"]) >= \
        llm.store_max_age_s * 1000


def test_clients_connect_to_the_tls_listener_with_their_own_certificates(monkeypatch):
    objects = render(TARGET)
    (kafka,) = find(objects, "Kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"]["type"] == "tls"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    for name, user in (("ingest", "mochat-ingest"), ("llm-service", "mochat-llm")):
        container, settings = _service_settings(name, monkeypatch)
        assert settings.kafka.bootstrap_servers == bootstrap
        kafka_volume = container.volume("kafka")["projected"]["sources"]
        assert {s["secret"]["name"] for s in kafka_volume} == {
            f"{kafka['metadata']['name']}-cluster-ca-cert", user}
        assert one(objects, "KafkaUser", user)["spec"]["authentication"]["type"] == "tls"


def test_each_user_has_only_the_acls_its_client_needs(monkeypatch):
    _, ingest = _service_settings("ingest", monkeypatch)
    frames, features, dlq = ingest.frames_topic, ingest.features_topic, ingest.dlq_topic
    assert _acls("mochat-ingest") == {
        ("topic", frames, "Read"), ("topic", frames, "Describe"),
        ("group", ingest.group_id, "Read"), ("group", ingest.group_id, "Describe"),
        ("topic", features, "Write"), ("topic", features, "Describe"),
        ("topic", dlq, "Write"), ("topic", dlq, "Describe")}
    assert _acls("mochat-llm") == {("topic", features, "Read"), ("topic", features, "Describe")}
    assert _acls("mochat-capture") == {("topic", frames, "Write"), ("topic", frames, "Describe")}
    assert _acls("mochat-keda") == {("topic", frames, "Describe"),
                                    ("group", ingest.group_id, "Describe")}
    writers = {u["metadata"]["name"] for u in find(render(TARGET), "KafkaUser")
               if ("topic", features, "Write") in _acls(u["metadata"]["name"])}
    assert writers == {"mochat-ingest"}


def test_keda_watches_the_ingest_group_on_the_frames_topic(monkeypatch):
    objects = render(TARGET)
    _, ingest = _service_settings("ingest", monkeypatch)
    scaled = one(objects, "ScaledObject", "ingest")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["consumerGroup"] == ingest.group_id
    assert trigger["metadata"]["topic"] == ingest.frames_topic
    assert trigger["metadata"]["bootstrapServers"] == ingest.kafka.bootstrap_servers
    partitions = one(objects, "KafkaTopic", ingest.frames_topic)["spec"]["partitions"]
    assert scaled["spec"]["maxReplicaCount"] <= partitions  # more consumers would idle
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"ca", "cert", "key"}
    assert trigger["metadata"]["tls"] == "enable"


@pytest.mark.parametrize("trigger_type,keys", [
    # KEDA's documented metadata of the two scalers used (keda.sh/docs/scalers): the CRD
    # types trigger metadata as a free string map, so a misspelt key would pass the schema.
    ("kafka", {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
               "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
               "excludePersistentLag", "scaleToZeroOnInvalidOffset",
               "limitToPartitionsWithLag", "partitionLimitation", "version", "sasl", "tls",
               "unsafeSsl"}),
    ("prometheus", {"serverAddress", "query", "threshold", "activationThreshold",
                    "namespace", "customHeaders", "ignoreNullValues", "unsafeSsl",
                    "queryParameters"}),
])
def test_trigger_metadata_keys_are_ones_keda_reads(trigger_type, keys):
    for scaled in find(render(TARGET), "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] == trigger_type:
                assert set(trigger["metadata"]) <= keys, scaled["metadata"]["name"]
