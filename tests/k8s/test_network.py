"""NetworkPolicies: the namespace denies by default, the flows the services need are open,
and flows nothing needs stay shut. A small evaluator of the policies as rendered answers
"may pod A reach pod B on port P" for pods of the namespace (peers in other namespaces are
the operators': Prometheus, KEDA, Strimzi's cluster operator)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.manifests import find, needs_kubectl, render
from tests.k8s.test_manifests import _selects

pytestmark = needs_kubectl

NAMESPACE = "mochat"
# Pods that are not Deployments here: Strimzi's brokers (their labels as Strimzi sets them).
BROKER = {"strimzi.io/cluster": "mochat", "strimzi.io/kind": "Kafka",
          "strimzi.io/broker-role": "true", "strimzi.io/name": "mochat-kafka"}
CONTROLLER = {"strimzi.io/cluster": "mochat", "strimzi.io/kind": "Kafka",
              "strimzi.io/controller-role": "true"}


def _pods(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, str]]:
    pods = {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
            for o in objects if o["kind"] in ("Deployment", "Job")}
    if find(objects, "Kafka"):
        pods |= {"kafka-broker": BROKER, "kafka-controller": CONTROLLER}
    return pods


def _peer_matches(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    """A peer entry against a pod of this namespace."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer and not _selects(
            peer["namespaceSelector"], {"kubernetes.io/metadata.name": NAMESPACE}):
        return False
    return _selects(peer.get("podSelector", {}), labels)


def _allowed(objects, direction: str, pod: dict[str, str], peer: dict[str, str],
             port: int) -> bool:
    """Whether the policies selecting `pod` let `peer` through on `port` (one direction)."""
    key = "ingress" if direction == "Ingress" else "egress"
    peers_key = "from" if direction == "Ingress" else "to"
    selecting = [p for p in find(objects, "NetworkPolicy")
                 if _selects(p["spec"]["podSelector"], pod)
                 and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True  # not isolated
    for policy in selecting:
        for rule in policy["spec"].get(key, []):
            ports = [p.get("port") for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get(peers_key)
            if peers is None or any(_peer_matches(p, peer) for p in peers):
                return True
    return False


def reachable(target: str, source: str, destination: str, port: int) -> bool:
    objects = render(target)
    pods = _pods(objects)
    return (_allowed(objects, "Egress", pods[source], pods[destination], port)
            and _allowed(objects, "Ingress", pods[destination], pods[source], port))


@pytest.mark.parametrize("target", ["overlays/local", "overlays/production", "overlays/gpu"])
def test_the_namespace_denies_by_default(target):
    deny = [p for p in find(render(target), "NetworkPolicy")
            if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) ==
            {"Ingress", "Egress"} and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, f"{target}: no default-deny policy"


@pytest.mark.parametrize("target,kafka,kafka_port", [
    ("overlays/local", "broker", 9092),
    ("overlays/production", "kafka-broker", 9093),
    ("overlays/gpu", "kafka-broker", 9093),
])
def test_needed_flows_are_open_and_the_rest_shut(target, kafka, kafka_port):
    assert reachable(target, "ingest", "encoder-service", 50051)
    assert reachable(target, "llm-service", "encoder-service", 50051)  # uploads
    assert reachable(target, "ingest", kafka, kafka_port)
    assert reachable(target, "llm-service", kafka, kafka_port)
    # what nothing needs
    assert not reachable(target, "encoder-service", kafka, kafka_port)
    assert not reachable(target, "ingest", "llm-service", 50052)
    assert not reachable(target, "encoder-service", "llm-service", 50052)
    assert not reachable(target, "llm-service", "ingest", 9100)
    if kafka == "kafka-broker":
        assert reachable(target, "kafka-broker", "kafka-controller", 9090)  # KRaft quorum
        assert not reachable(target, "ingest", kafka, 9091)  # replication port: brokers only


def test_the_llm_service_takes_clients_from_anywhere_and_metrics_only_prometheus():
    objects = render("overlays/production")
    llm = _pods(objects)["llm-service"]
    stranger = {"app": "somebody-else"}
    assert _allowed(objects, "Ingress", llm, stranger, 50052)  # TLS + token guard it
    assert not _allowed(objects, "Ingress", llm, stranger, 9100)
    metrics = next(p for p in find(objects, "NetworkPolicy") if p["metadata"]["name"] ==
                   "metrics")
    (rule,) = metrics["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def test_batch_pods_have_no_network():
    objects = render("batch")
    pod = _pods(objects)["reprocess"]
    for direction in ("Ingress", "Egress"):
        for port in (53, 443, 9093, 50051):
            assert not _allowed(objects, direction, pod, {"app": "anything"}, port)
